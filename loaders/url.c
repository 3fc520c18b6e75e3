/* url.c - URL resolution, normalisation and crawl scope, on libcurl's URL API */
#include "url.h"

#include <ctype.h>
#include <curl/curl.h>
#include <string.h>
#include <strings.h>

#include "err.h"
#include "mem.h"

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    c = (char)tolower((unsigned char)c);
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Decode %XX of unreserved characters (RFC 3986 6.2.2.2) and escape a
 * '%' that starts no %XX as "%25", into a new string; the case of the
 * remaining escapes is canonicalised by libcurl itself when the part is
 * set back (7.88 writes them in lower case). Escaping stray '%' makes this
 * idempotent: "%%33" used to decode to "%3", which a second pass read
 * differently (found by tests/fuzz/fuzz_url.c). */
static char *canon_escapes(const char *s) {
    char *out = mem_alloc(3 * strlen(s) + 1), *w = out;
    for (const char *r = s; *r;) {
        int hi, lo;
        if (r[0] == '%' && (hi = hexval(r[1])) >= 0 && (lo = hexval(r[2])) >= 0) {
            int c = hi * 16 + lo;
            if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
                *w++ = (char)c;
                r += 3;
                continue;
            }
            memcpy(w, r, 3), w += 3, r += 3;
            continue;
        }
        if (r[0] == '%') {
            memcpy(w, "%25", 3), w += 3, r++;
            continue;
        }
        *w++ = *r++;
    }
    *w = '\0';
    return out;
}

/* Copy of href as browsers read it (WHATWG URL): leading and trailing
 * C0 controls and spaces stripped, tabs and newlines removed. */
static char *clean_href(const char *href) {
    while (*href && (unsigned char)*href <= 0x20) href++;
    size_t n = strlen(href);
    while (n > 0 && (unsigned char)href[n - 1] <= 0x20) n--;
    char *out = mem_alloc(n + 1), *w = out;
    for (size_t i = 0; i < n; i++)
        if (href[i] != '\t' && href[i] != '\n' && href[i] != '\r') *w++ = href[i];
    *w = '\0';
    return out;
}

static char *resolve_once(const char *base, const char *raw_href) {
    if (!raw_href || strlen(raw_href) > URL_MAX_LEN || (base && strlen(base) > URL_MAX_LEN)) return NULL;
    /* Decode unreserved escapes first, then let libcurl resolve the dot
     * segments (RFC 3986 6.2.2.2, then 5.2.4): decoding after would turn
     * "/guide/%2e%2e/secret" into "/guide/../secret", a URL that passes a
     * "/guide/" scope or robots rule while the server serves /secret. */
    char *cleaned = clean_href(raw_href), *href = canon_escapes(cleaned), *base_c = base ? canon_escapes(base) : NULL;
    mem_free(cleaned);
    CURLU *h = curl_url();
    char *out = NULL, *scheme = NULL, *host = NULL, *path = NULL, *query = NULL;
    if (base_c && curl_url_set(h, CURLUPART_URL, base_c, 0) != CURLUE_OK) goto done;
    if (curl_url_set(h, CURLUPART_URL, href, CURLU_URLENCODE) != CURLUE_OK) goto done;
    if (curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK) goto done;
    if (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0) goto done;
    curl_url_set(h, CURLUPART_FRAGMENT, NULL, 0);
    curl_url_set(h, CURLUPART_USER, NULL, 0);
    curl_url_set(h, CURLUPART_PASSWORD, NULL, 0);
    if (curl_url_get(h, CURLUPART_HOST, &host, 0) != CURLUE_OK) goto done;
    for (char *p = host; *p; p++) *p = (char)tolower((unsigned char)*p);
    curl_url_set(h, CURLUPART_HOST, host, 0);
    if (curl_url_get(h, CURLUPART_PATH, &path, 0) == CURLUE_OK) {
        char *p = canon_escapes(path);
        curl_url_set(h, CURLUPART_PATH, p, 0);
        mem_free(p);
    }
    if (curl_url_get(h, CURLUPART_QUERY, &query, 0) == CURLUE_OK) {
        char *q = canon_escapes(query);
        curl_url_set(h, CURLUPART_QUERY, q, 0);
        mem_free(q);
    }
    char *u = NULL;
    if (curl_url_get(h, CURLUPART_URL, &u, CURLU_NO_DEFAULT_PORT) == CURLUE_OK && strlen(u) <= URL_MAX_LEN)
        out = mem_strdup(u);
    curl_free(u);
done:
    curl_free(scheme);
    curl_free(host);
    curl_free(path);
    curl_free(query);
    curl_url_cleanup(h);
    mem_free(href);
    mem_free(base_c);
    return out;
}

/* Only a URL that normalises to itself comes out: one whose host holds
 * bytes libcurl drops or refuses the second time ("//%7fe%7e" gave
 * "http://e~~/", which no longer parses; found by tests/fuzz/fuzz_url.c)
 * is refused, so every URL the crawler stores, fetches and compares has
 * one spelling. */
char *url_resolve(const char *base, const char *raw_href) {
    char *u = resolve_once(base, raw_href);
    if (!u) return NULL;
    char *again = resolve_once(NULL, u);
    int same = again && strcmp(again, u) == 0;
    mem_free(again);
    if (same) return u;
    mem_free(u);
    return NULL;
}

char *url_normalize(const char *url) {
    return url_resolve(NULL, url);
}

int url_scope_init(url_scope *s, const char *seed, char *err) {
    memset(s, 0, sizeof(*s));
    char *u = url_normalize(seed);
    if (!u) return err_set(err, "%s: not a valid http(s) URL", seed);
    char *p = strstr(u, "://");
    char *slash = strchr(p + 3, '/');
    s->origin = mem_strndup(u, (size_t)(slash - u));
    char *q = strchr(slash, '?');
    if (q) *q = '\0';
    char *last = strrchr(slash, '/');
    s->prefix = mem_strndup(u, (size_t)(last - u) + 1);
    mem_free(u);
    return RAGD_OK;
}

void url_scope_clear(url_scope *s) {
    mem_free(s->origin);
    mem_free(s->prefix);
    memset(s, 0, sizeof(*s));
}

int url_in_scope(const url_scope *s, const char *url) {
    return strncmp(url, s->prefix, strlen(s->prefix)) == 0;
}

int url_same_origin(const url_scope *s, const char *url) {
    size_t n = strlen(s->origin);
    return strncmp(url, s->origin, n) == 0 && (url[n] == '/' || url[n] == '\0');
}

char *url_path_query(const char *url) {
    const char *p = strstr(url, "://");
    p = p ? strchr(p + 3, '/') : NULL;
    return mem_strdup(p ? p : "/");
}
