/* test_filter.c - filter plans, dates, and the metadata loaders extract (HTML <meta>, Markdown front matter) */
#include <string.h>

#include "document.h"
#include "filter.h"
#include "html_extract.h"
#include "test.h"
#include "text_extract.h"

TEST(test_parse_time) {
    int64_t t;
    CHECK(filter_parse_time("1700000000", &t) == 0 && t == 1700000000);
    CHECK(filter_parse_time("2024-05-01", &t) == 0 && t == 1714521600);
    CHECK(filter_parse_time("2024-05-01T12:30:00Z", &t) == 0 && t == 1714566600);
    CHECK(filter_parse_time("2024-05-01T12:30:00+02:00", &t) == -1); /* UTC only */
    CHECK(filter_parse_time("yesterday", &t) == -1);
    CHECK(filter_parse_time("2024-05-01x", &t) == -1);
    CHECK(filter_parse_time("", &t) == -1);
    CHECK(filter_parse_time("-5", &t) == -1);
}

TEST(test_plans) {
    char err[256];
    filter_plan p;
    search_filter none = {0};
    CHECK(filter_plan_make(&none, &p, err) == 0 && !p.active && p.row_sql[0] == '\0' && !p.match);
    filter_plan_clear(&p);
    search_filter f = {.url_prefix = "http://h/a", .heading = "Tuning the scheduler", .source = "/srv/docs",
                       .modified_after = 100, .n_meta = 1, .meta_names = {"lang"}, .meta_values = {"en"}};
    CHECK(filter_plan_make(&f, &p, err) == 0);
    CHECK(p.active && p.documents && strstr(p.match, "headings : \"Tuning the scheduler\"") != NULL);
    /* prefix, prefix end, source, modified, meta path and value, in SQL order */
    CHECK_EQ_INT(p.n_binds, 6);
    CHECK(!strcmp(p.binds[0].text, "http://h/a") && !strcmp(p.binds[1].text, "http://h/b"));
    CHECK(!strcmp(p.binds[2].text, "/srv/docs") && !p.binds[3].text && p.binds[3].integer == 100);
    CHECK(!strcmp(p.binds[4].text, "$.\"lang\"") && !strcmp(p.binds[5].text, "en"));
    filter_plan_clear(&p);
    search_filter nowords = {.title_contains = "?! --"};
    CHECK(filter_plan_make(&nowords, &p, err) == -1 && strstr(err, "title_contains"));
    search_filter allff = {.url_prefix = "\xff\xff"};
    CHECK(filter_plan_make(&allff, &p, err) == 0 && p.n_binds == 1); /* no upper bound after 0xff bytes */
    filter_plan_clear(&p);
}

TEST(test_html_meta) {
    const char *html = "<html><head><title>T</title><meta name=\"Author\" content=\"Ada\">"
                       "<meta name=\"author\" content=\"second\"><meta property=\"og:type\" content=\"article\">"
                       "<meta name=\"bad name!\" content=\"x\"><meta charset=\"utf-8\"></head><body><p>x</p></body></html>";
    document d;
    char err[256];
    CHECK(html_extract(html, strlen(html), "http://h/", NULL, &d, err) == 0);
    int ok = d.n_meta == 2 && !strcmp(d.meta_names[0], "author") && !strcmp(d.meta_values[0], "Ada") &&
             !strcmp(d.meta_names[1], "og:type") && !strcmp(d.meta_values[1], "article");
    doc_clear(&d);
    CHECK(ok);
}

TEST(test_front_matter) {
    const char *md = "---\nauthor: Grace Hopper\nlang: 'en'\ntags: [a, b]\n  nested: x\ntitle: \"Q\"\n---\n# Body\n\nText.\n";
    document d;
    text_extract(md, strlen(md), "file:///a.md", TEXT_MARKDOWN, &d);
    int ok = d.n_meta == 3 && !strcmp(d.meta_values[0], "Grace Hopper") && !strcmp(d.meta_values[1], "en") &&
             !strcmp(d.meta_names[2], "title") && !strcmp(d.meta_values[2], "Q") && !strstr(d.text, "Hopper") &&
             strstr(d.text, "Text.") != NULL;
    doc_clear(&d);
    CHECK(ok);
    /* an unclosed block is text, not front matter */
    const char *open = "---\nauthor: x\n# Body\n";
    text_extract(open, strlen(open), "file:///b.md", TEXT_MARKDOWN, &d);
    ok = d.n_meta == 0 && strstr(d.text, "author") != NULL;
    doc_clear(&d);
    CHECK(ok);
}

int main(void) {
    RUN(test_parse_time);
    RUN(test_plans);
    RUN(test_html_meta);
    RUN(test_front_matter);
    return test_summary("filter");
}
