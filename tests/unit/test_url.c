/* test_url.c - URL resolution, normalisation and scope on libcurl's URL API */
#include "err.h"
#include "mem.h"
#include "test.h"
#include "url.h"

static int resolves_to(const char *base, const char *href, const char *expect) {
    char *u = url_resolve(base, href);
    int ok = expect ? (u && strcmp(u, expect) == 0) : u == NULL;
    if (!ok) printf("    %s + %s -> %s, expected %s\n", base, href, u ? u : "NULL", expect ? expect : "NULL");
    mem_free(u);
    return ok;
}

TEST(test_resolution_and_normalisation) {
    const char *b = "http://127.0.0.1:8000/docs/guide/index.html";
    CHECK(resolves_to(b, "page.html#frag", "http://127.0.0.1:8000/docs/guide/page.html"));
    CHECK(resolves_to(b, "../up.html", "http://127.0.0.1:8000/docs/up.html"));
    CHECK(resolves_to(b, "./a/../b.html", "http://127.0.0.1:8000/docs/guide/b.html"));
    CHECK(resolves_to(b, "HTTP://Example.COM:80/A/%7euser/%2f?q=%aa", "http://example.com/A/~user/%2f?q=%aa"));
    CHECK(resolves_to(b, "/A/%2F%7E", "http://127.0.0.1:8000/A/%2f~"));
    CHECK(resolves_to(b, "https://h:443/x", "https://h/x"));
    CHECK(resolves_to(b, "//other.host/x", "http://other.host/x"));
    CHECK(resolves_to(b, "?q=1", "http://127.0.0.1:8000/docs/guide/index.html?q=1"));
    CHECK(resolves_to(b, "a b.html", "http://127.0.0.1:8000/docs/guide/a%20b.html"));
    CHECK(resolves_to(b, "http://user:pw@h/x", "http://h/x"));
    CHECK(resolves_to(b, " https://h/x\n ", "https://h/x"));
    CHECK(resolves_to(b, "pa\tge.html", "http://127.0.0.1:8000/docs/guide/page.html"));
    CHECK(resolves_to(b, "mailto:a@b.c", NULL));
    CHECK(resolves_to(b, "javascript:void(0)", NULL));
    CHECK(resolves_to(b, "ftp://h/x", NULL));
    CHECK(resolves_to(b, "data:text/html,hi", NULL));
}

TEST(test_scope) {
    url_scope s;
    char err[RAGD_ERR_LEN];
    CHECK(url_scope_init(&s, "http://127.0.0.1:8000/docs/index.html?x=1", err) == 0);
    CHECK(strcmp(s.prefix, "http://127.0.0.1:8000/docs/") == 0);
    CHECK(strcmp(s.origin, "http://127.0.0.1:8000") == 0);
    CHECK(url_in_scope(&s, "http://127.0.0.1:8000/docs/a/b.html"));
    CHECK(!url_in_scope(&s, "http://127.0.0.1:8000/docsx/a.html"));
    CHECK(!url_in_scope(&s, "http://127.0.0.1:8001/docs/a.html"));
    CHECK(!url_in_scope(&s, "https://127.0.0.1:8000/docs/a.html"));
    CHECK(url_same_origin(&s, "http://127.0.0.1:8000/robots.txt"));
    CHECK(!url_same_origin(&s, "http://127.0.0.1:80001/x"));
    url_scope_clear(&s);
    CHECK(url_scope_init(&s, "http://h", err) == 0);
    CHECK(strcmp(s.prefix, "http://h/") == 0);
    url_scope_clear(&s);
    CHECK(url_scope_init(&s, "not a url", err) == -1);
    CHECK(url_scope_init(&s, "file:///etc/passwd", err) == -1);
    char *pq = url_path_query("http://h:1/a/b?c=d");
    CHECK(strcmp(pq, "/a/b?c=d") == 0);
    mem_free(pq);
}

/* Security review finding 1: escaped dots are decoded before dot segments
 * are removed, so "%2e%2e" cannot climb out of a scope (or a robots rule)
 * while the request goes elsewhere. */
TEST(test_escaped_dot_segments) {
    const char *b = "http://h/guide/index.html";
    CHECK(resolves_to(b, "/guide/%2e%2e/secret.html", "http://h/secret.html"));
    CHECK(resolves_to(b, "/guide/%2E%2e/secret.html", "http://h/secret.html"));
    CHECK(resolves_to(b, "%2e%2e/%2E%2E/x", "http://h/x"));
    CHECK(resolves_to(b, ".%2e/a", "http://h/a"));
    CHECK(resolves_to(b, "%2e/a", "http://h/guide/a"));
    CHECK(resolves_to(NULL, "http://h/guide/%2e%2e/secret.html", "http://h/secret.html"));
    CHECK(resolves_to("http://h/guide/%2e%2e/", "x", "http://h/x"));
    CHECK(resolves_to(b, "/guide/%2e%2e%2fsecret", "http://h/guide/..%2fsecret")); /* %2f stays a byte of the name */
    url_scope s;
    char err[RAGD_ERR_LEN];
    CHECK(url_scope_init(&s, b, err) == 0);
    char *u = url_resolve(b, "/guide/%2e%2e/secret.html");
    CHECK(u && !url_in_scope(&s, u));
    mem_free(u);
    url_scope_clear(&s);
}

int main(void) {
    RUN(test_resolution_and_normalisation);
    RUN(test_escaped_dot_segments);
    RUN(test_scope);
    return test_summary("url");
}
