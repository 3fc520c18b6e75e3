/* fuzz_query_text.c - what a search query's text goes through before any model:
 * keyword words (core/keyword_query.c), the cache key normalisation
 * (cache/query_cache.c) and the semantic guard (cache/query_guard.c) on
 * two queries, and filter times (core/filter.c).
 *
 * Input: "QUERY_A\nQUERY_B".
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "filter.h"
#include "keyword_query.h"
#include "mem.h"
#include "query_cache.h"
#include "query_guard.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 1 << 14) return 0;
    const char *s = (const char *)data, *nl = memchr(s, '\n', size);
    size_t alen = nl ? (size_t)(nl - s) : size;
    const char *b = nl ? nl + 1 : s;
    size_t blen = nl ? size - alen - 1 : size;
    char **w = NULL;
    int n = keyword_words(s, alen, &w);
    if (n < 0) abort();
    keyword_words_free(w, n);
    n = keyword_split(b, blen, 1, &w);
    if (n < 0) abort();
    keyword_words_free(w, n);
    char *norm = qcache_normalize(s, alen, 1);
    if (norm && !memchr(s, '\0', alen)) { /* (the service refuses queries with NUL before they get here) */
        char *again = qcache_normalize(norm, strlen(norm), 1);
        if (!again || strcmp(again, norm) != 0) abort(); /* a key normalises to itself */
        mem_free(again);
    }
    mem_free(norm);
    int v = qguard_check(s, alen, b, blen, 3);
    if (v < 0 || v >= QG_VERDICT_COUNT || !qguard_reason(v)) abort();
    if (qguard_check(s, alen, s, alen, 3) != QG_ACCEPT) abort(); /* a query always matches itself */
    char *t = mem_strndup(s, alen < 64 ? alen : 64);
    int64_t when;
    filter_parse_time(t, &when);
    mem_free(t);
    return 0;
}
