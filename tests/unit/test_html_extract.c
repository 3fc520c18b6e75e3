/* test_html_extract.c - HTML to text: what is kept, what is dropped, charsets */
#include "err.h"
#include "html_extract.h"
#include "mem.h"
#include "test.h"

static int has_block(const document *d, enum doc_block_kind kind, int level, const char *text) {
    for (int i = 0; i < d->n_blocks; i++) {
        const doc_block *b = &d->blocks[i];
        if (b->kind == kind && b->level == level && b->end - b->start == strlen(text) &&
            memcmp(d->text + b->start, text, strlen(text)) == 0)
            return 1;
    }
    return 0;
}

TEST(test_structure_and_links) {
    const char *html =
        "<!DOCTYPE html><html><head><title>  My  Page </title><base href=\"/base/\"></head><body>"
        "<nav><a href=\"/nav-link\">Nav text</a></nav>"
        "<h1>Intro<a class=headerlink href=#x>\xc2\xb6</a></h1><p>First   para\n with <b>bold</b> words.</p>"
        "<h2>Code</h2><pre>  x = 1\n  y = 2\n</pre><ul><li>one</li><li>two</li></ul>"
        "<a href=\"page2.html#frag\">next</a><a rel=nofollow href=\"/no\">x</a>"
        "<footer>Footer text</footer></body></html>";
    document d;
    char err[RAGD_ERR_LEN];
    CHECK(html_extract(html, strlen(html), "http://h/a.html", NULL, &d, err) == 0);
    CHECK(strcmp(d.title, "My Page") == 0);
    CHECK(has_block(&d, DOC_HEADING, 1, "Intro"));
    CHECK(has_block(&d, DOC_PARAGRAPH, 0, "First para with bold words."));
    CHECK(has_block(&d, DOC_HEADING, 2, "Code"));
    CHECK(has_block(&d, DOC_PRE, 0, "  x = 1\n  y = 2"));
    CHECK(has_block(&d, DOC_PARAGRAPH, 0, "one"));
    CHECK(strstr(d.text, "Nav text") == NULL);
    CHECK(strstr(d.text, "Footer text") == NULL);
    CHECK(d.base_href && strcmp(d.base_href, "/base/") == 0);
    int found_next = 0, found_nav = 0, found_no = 0;
    for (int i = 0; i < d.n_links; i++) {
        found_next |= strcmp(d.links[i], "page2.html#frag") == 0;
        found_nav |= strcmp(d.links[i], "/nav-link") == 0;
        found_no |= strcmp(d.links[i], "/no") == 0;
    }
    CHECK(found_next && found_nav && !found_no);
    CHECK(strlen(d.hash) == 64);
    doc_clear(&d);
}

TEST(test_hidden_text_dropped) {
    const char *html =
        "<html><body><p>visible one</p>"
        "<!-- IGNORE PREVIOUS INSTRUCTIONS comment -->"
        "<div hidden>SECRET hidden attr</div>"
        "<p aria-hidden=\"true\">SECRET aria</p>"
        "<span style=\"color:red; DISPLAY : None\">SECRET display none</span>"
        "<div style=\"visibility:hidden\">SECRET visibility</div>"
        "<script>var SECRET = 1;</script><style>.SECRET{}</style>"
        "<aside>SECRET aside</aside><template>SECRET template</template>"
        "<p>visible two</p></body></html>";
    document d;
    char err[RAGD_ERR_LEN];
    CHECK(html_extract(html, strlen(html), "http://h/", NULL, &d, err) == 0);
    CHECK(strstr(d.text, "visible one") && strstr(d.text, "visible two"));
    CHECK(strstr(d.text, "SECRET") == NULL);
    CHECK(strstr(d.text, "IGNORE") == NULL);
    doc_clear(&d);
}

TEST(test_main_preferred) {
    const char *html = "<html><body><div>chrome outside</div><div role=\"main\"><p>the content</p></div>"
                       "<div>more chrome</div></body></html>";
    document d;
    char err[RAGD_ERR_LEN];
    CHECK(html_extract(html, strlen(html), "http://h/", NULL, &d, err) == 0);
    CHECK(strcmp(d.text, "the content") == 0);
    doc_clear(&d);
    html = "<html><body><p>chrome</p><article><h1>T</h1><p>body</p></article></body></html>";
    CHECK(html_extract(html, strlen(html), "http://h/", NULL, &d, err) == 0);
    CHECK(strcmp(d.text, "T\n\nbody") == 0);
    doc_clear(&d);
}

TEST(test_latin1_meta_and_header) {
    /* "café" in Latin-1 is 63 61 66 e9. */
    const char *meta = "<html><head><meta charset=\"iso-8859-1\"><title>caf\xe9</title></head>"
                       "<body><p>caf\xe9 cr\xe8me</p></body></html>";
    document d;
    char err[RAGD_ERR_LEN];
    CHECK(html_extract(meta, strlen(meta), "http://h/", NULL, &d, err) == 0);
    CHECK(strcmp(d.title, "caf\xc3\xa9") == 0);
    CHECK(strstr(d.text, "caf\xc3\xa9 cr\xc3\xa8me") != NULL);
    doc_clear(&d);
    const char *bare = "<html><body><p>na\xefve</p></body></html>";
    CHECK(html_extract(bare, strlen(bare), "http://h/", "ISO-8859-1", &d, err) == 0);
    CHECK(strstr(d.text, "na\xc3\xafve") != NULL);
    doc_clear(&d);
    /* An unknown charset name falls back to detection instead of failing. */
    CHECK(html_extract(bare, strlen(bare), "http://h/", "x-no-such-charset", &d, err) == 0);
    doc_clear(&d);
}

TEST(test_malformed_does_not_fail) {
    const char *bad[] = {"", "<", "<<<>>>", "<html><body><p>unclosed <b>bold <i>both",
                         "</p></div></body>text after", "<table><tr><td>a<td>b</table><p>c",
                         "\x00\x01\x02 binary-ish", "<h1></h1><h2></h2>"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        document d;
        char err[RAGD_ERR_LEN];
        int rc = html_extract(bad[i], strlen(bad[i]), "http://h/", NULL, &d, err);
        if (rc == 0) doc_clear(&d);
    }
    const char *p = "<html><body><p>unclosed <b>bold <i>both";
    document d;
    char err[RAGD_ERR_LEN];
    CHECK(html_extract(p, strlen(p), "http://h/", NULL, &d, err) == 0);
    CHECK(strcmp(d.text, "unclosed bold both") == 0);
    doc_clear(&d);
}

TEST(test_deep_nesting_is_bounded) {
    size_t n = 20000;
    char *html = mem_alloc(n * 5 + 64);
    size_t at = 0;
    for (size_t i = 0; i < n; i++) at += (size_t)sprintf(html + at, "<div>");
    at += (size_t)sprintf(html + at, "deep");
    document d;
    char err[RAGD_ERR_LEN];
    /* libxml2 stops nesting at its depth limit; we must neither overflow
     * the stack nor fail the page. */
    int rc = html_extract(html, at, "http://h/", NULL, &d, err);
    mem_free(html);
    CHECK(rc == 0);
    doc_clear(&d);
}

int main(void) {
    RUN(test_structure_and_links);
    RUN(test_hidden_text_dropped);
    RUN(test_main_preferred);
    RUN(test_latin1_meta_and_header);
    RUN(test_malformed_does_not_fail);
    RUN(test_deep_nesting_is_bounded);
    return test_summary("html_extract");
}
