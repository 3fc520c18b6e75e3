/* test_robots.c - robots.txt per RFC 9309: groups, longest match, wildcards */
#include "robots.h"
#include "test.h"

static const char *txt =
    "# comment line\n"
    "User-agent: *\n"
    "Disallow: /\n"
    "\n"
    "User-agent: otherbot\n"
    "Disallow: /other/\n"
    "\n"
    "user-agent: RAGD\n"
    "user-agent: friend\n"
    "disallow: /private/\n"
    "allow: /private/open/\n"
    "disallow: /*.pdf$\n"
    "disallow: /tmp*/x\n"
    "Disallow:\n"
    "Sitemap: http://h/sitemap.xml\n"
    "\n"
    "User-agent: ragd\n"
    "Disallow: /merged/ # groups that name us are merged\n";

TEST(test_our_group_wins_over_star) {
    robots *r = robots_parse(txt, strlen(txt), "ragd");
    CHECK(robots_allowed(r, "/"));                 /* "*" would disallow everything */
    CHECK(robots_allowed(r, "/other/page"));
    CHECK(!robots_allowed(r, "/private/x.html"));
    CHECK(robots_allowed(r, "/private/open/x.html")); /* longer allow wins */
    CHECK(!robots_allowed(r, "/merged/a"));
    CHECK(robots_allowed(r, "/robots.txt"));
    robots_free(r);
    r = robots_parse(txt, strlen(txt), "somebody");
    CHECK(!robots_allowed(r, "/anything"));        /* falls back to "*" */
    CHECK(robots_allowed(r, "/robots.txt"));
    robots_free(r);
}

TEST(test_wildcards_and_anchor) {
    robots *r = robots_parse(txt, strlen(txt), "ragd");
    CHECK(!robots_allowed(r, "/docs/a.pdf"));
    CHECK(robots_allowed(r, "/docs/a.pdf?x=1"));   /* $ anchors the end */
    CHECK(!robots_allowed(r, "/tmp123/x"));
    CHECK(!robots_allowed(r, "/tmp/x/y"));
    CHECK(robots_allowed(r, "/tmp/y"));
    robots_free(r);
}

TEST(test_tie_goes_to_allow) {
    const char *t = "User-agent: *\nDisallow: /page\nAllow: /page\n";
    robots *r = robots_parse(t, strlen(t), "ragd");
    CHECK(robots_allowed(r, "/page"));
    robots_free(r);
}

TEST(test_sitemaps_and_degenerate_input) {
    robots *r = robots_parse(txt, strlen(txt), "ragd");
    CHECK_EQ_INT(robots_sitemap_count(r), 1);
    CHECK(strcmp(robots_sitemap(r, 0), "http://h/sitemap.xml") == 0);
    robots_free(r);
    const char *junk[] = {"", "\n\n\n", "Disallow: /\n", "User-agent ragd\nDisallow /\n", "::::\n",
                          "User-agent: ragd\nDisallow: ****\n"};
    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
        r = robots_parse(junk[i], strlen(junk[i]), "ragd");
        CHECK(robots_allowed(r, "/robots.txt"));
        robots_free(r);
    }
    /* Rules before any user-agent line belong to no group. */
    r = robots_parse("Disallow: /\n", 12, "ragd");
    CHECK(robots_allowed(r, "/x"));
    robots_free(r);
    r = robots_disallow_all();
    CHECK(!robots_allowed(r, "/x") && robots_allowed(r, "/robots.txt"));
    robots_free(r);
}

TEST(test_crawl_delay_of_our_group) {
    const char *t = "User-agent: *\nCrawl-delay: 30\n\nUser-agent: ragd\nCrawl-delay: 1.5\nDisallow: /x/\n";
    robots *r = robots_parse(t, strlen(t), "ragd");
    CHECK(robots_crawl_delay_ms(r) == 1500);
    CHECK(!robots_allowed(r, "/x/y")); /* the delay line does not end the group */
    robots_free(r);
    r = robots_parse(t, strlen(t), "other");
    CHECK(robots_crawl_delay_ms(r) == 30000);
    robots_free(r);
    const char *bad = "User-agent: *\nCrawl-delay: soon\nCrawl-delay: -4\nCrawl-delay: 1e9\n";
    r = robots_parse(bad, strlen(bad), "ragd");
    CHECK(robots_crawl_delay_ms(r) == -1);
    robots_free(r);
    r = robots_allow_all();
    CHECK(robots_crawl_delay_ms(r) == -1);
    robots_free(r);
}

int main(void) {
    RUN(test_our_group_wins_over_star);
    RUN(test_wildcards_and_anchor);
    RUN(test_tie_goes_to_allow);
    RUN(test_sitemaps_and_degenerate_input);
    RUN(test_crawl_delay_of_our_group);
    return test_summary("robots");
}
