/* fuzz_url.c - URL resolution and scope (loaders/url.c): links from crawled pages
 *
 * Input: "BASE\nHREF". Checks that what comes out is a normalised http(s)
 * URL that normalises to itself, and that a scope check on it is stable.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "mem.h"
#include "url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 4 * URL_MAX_LEN) return 0;
    char *in = mem_strndup((const char *)data, size);
    char *nl = strchr(in, '\n');
    const char *base = nl ? in : "http://example.com/docs/index.html", *href = nl ? nl + 1 : in;
    if (nl) *nl = '\0';
    char *u = url_resolve(base, href);
    if (u) {
        if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0) abort();
        char *again = url_normalize(u);
        if (!again || strcmp(again, u) != 0) abort(); /* normalisation is idempotent */
        mem_free(again);
        url_scope s;
        char err[RAGD_ERR_LEN];
        if (url_scope_init(&s, u, err) == 0) {
            if (!url_in_scope(&s, u) || !url_same_origin(&s, u)) abort();
            url_scope_clear(&s);
        }
        char *pq = url_path_query(u);
        if (pq[0] != '/') abort();
        mem_free(pq);
    }
    mem_free(u);
    mem_free(in);
    return 0;
}
