/* url.h - URL resolution, normalisation and crawl scope, on libcurl's URL API
 *
 * Every link the crawler sees is resolved against its page (or <base>)
 * and normalised with curl's CURLU parser: fragment dropped, dot segments
 * removed, default port dropped, scheme and host lowercased, escaped
 * unreserved characters decoded and the hex case of other escapes
 * canonicalised, so that two spellings of one page are one URL. Only http
 * and https survive. The scope is the seed's scheme, host, port and path
 * folder: "http://h/docs/index.html" scopes to "http://h/docs/".
 *
 *     url_scope s;
 *     url_scope_init(&s, "http://127.0.0.1:8000/docs/", err);
 *     char *u = url_resolve("http://127.0.0.1:8000/docs/a.html", "b.html#top");
 *     if (u && url_in_scope(&s, u)) crawl(u);
 *     mem_free(u); url_scope_clear(&s);
 */
#ifndef RAGD_URL_H
#define RAGD_URL_H

#include <stddef.h>

#define URL_MAX_LEN 4096

typedef struct url_scope {
    char *origin; /* "http://host:port" without default port */
    char *prefix; /* origin + path folder, e.g. "http://h/docs/" */
} url_scope;

/* Resolve href against base and normalise. NULL if the result is not a
 * valid http(s) URL or longer than URL_MAX_LEN. Caller frees. */
char *url_resolve(const char *base, const char *href);

/* Normalise an absolute URL (url_resolve with no base). */
char *url_normalize(const char *url);

int url_scope_init(url_scope *s, const char *seed, char *err);
void url_scope_clear(url_scope *s);

/* 1 if url (normalised) is inside the scope. */
int url_in_scope(const url_scope *s, const char *url);

/* 1 if url is on the scope's origin (same scheme, host and port). */
int url_same_origin(const url_scope *s, const char *url);

/* Path plus query of a normalised URL ("/a/b?x=1"), as robots.txt rules
 * match it. Caller frees. */
char *url_path_query(const char *url);

#endif
