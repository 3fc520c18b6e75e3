/* fuzz_search_request.c - search requests as clients send them (service/request_parse.c)
 *
 * The first byte picks the request kind: GET /v1/search arguments, a POST
 * /v1/search JSON body, or the seed route's GET /?query=. Arguments are
 * the rest split at '&' and the first '=' (libmicrohttpd hands them over
 * decoded, so any byte, NUL included, may appear in a key or value).
 * Checked: a parsed request is within every limit (a "vector" has 1 to
 * MANIFEST_MAX_DIM finite floats and never goes with mode keyword); an error is a 4xx
 * with a code and a message that is valid UTF-8 (messages quote client
 * bytes).
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "manifest.h"
#include "mem.h"
#include "request_parse.h"
#include "utf8.h"

static const search_limits L = {.max_query_bytes = 64, .max_k = 100, .default_k = 10, .default_mode = MODE_HYBRID,
                                 .default_alpha = 0.5f, .default_fusion = FUSION_CONVEX};

/* Split into args; values are NUL-terminated copies (as from libmicrohttpd). */
static int split(const char *s, size_t n, query_arg *a, char **copies) {
    int count = 0;
    size_t i = 0;
    while (i <= n && count < REQUEST_MAX_ARGS + 1) {
        const char *amp = memchr(s + i, '&', n - i);
        size_t end = amp ? (size_t)(amp - s) : n;
        const char *eq = memchr(s + i, '=', end - i);
        size_t kend = eq ? (size_t)(eq - s) : end;
        a[count].key = copies[2 * count] = mem_strndup(s + i, kend - i);
        a[count].key_len = kend - i;
        if (eq) {
            a[count].value = copies[2 * count + 1] = mem_strndup(eq + 1, end - kend - 1);
            a[count].value_len = end - kend - 1;
        } else {
            a[count].value = copies[2 * count + 1] = NULL;
            a[count].value_len = 0;
        }
        count++;
        if (!amp) break;
        i = end + 1;
    }
    return count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int kind = data[0] % 3;
    const char *rest = (const char *)data + 1;
    size_t n = size - 1;
    search_request r;
    api_error e;
    int rc;
    query_arg args[REQUEST_MAX_ARGS + 1];
    char *copies[2 * (REQUEST_MAX_ARGS + 1)] = {0};
    int nargs = 0;
    if (kind == 1) {
        rc = parse_search_json(&L, rest, n, &r, &e);
    } else {
        nargs = split(rest, n, args, copies);
        rc = kind == 0 ? parse_search_args(&L, args, nargs, &r, &e) : parse_compat_args(&L, args, nargs, &r, &e);
    }
    if (rc == 0 && !r.empty) {
        /* text, unless a vector alone searches in mode vector */
        int text_optional = r.q.vector && r.q.mode == MODE_VECTOR;
        if (!r.q.text || (r.q.len == 0 && !text_optional) || r.q.len > L.max_query_bytes ||
            !utf8_valid(r.q.text, r.q.len) || memchr(r.q.text, '\0', r.q.len))
            __builtin_trap();
        if (r.q.vector) {
            if (kind != 1 || r.q.vector_dim < 1 || r.q.vector_dim > MANIFEST_MAX_DIM || r.q.mode == MODE_KEYWORD)
                __builtin_trap();
            for (int i = 0; i < r.q.vector_dim; i++)
                if (!isfinite(r.q.vector[i])) __builtin_trap();
        }
        if (r.q.k < 1 || r.q.k > L.max_k || !(r.q.alpha >= 0 && r.q.alpha <= 1)) __builtin_trap();
        if (r.q.filter.n_meta < 0 || r.q.filter.n_meta > FILTER_MAX_META) __builtin_trap();
        if (r.q.filter.url_prefix && strlen(r.q.filter.url_prefix) > FILTER_MAX_BYTES) __builtin_trap();
    } else if (rc != 0) {
        if (e.status < 400 || e.status > 414 || !e.code || !utf8_valid(e.message, strlen(e.message))) __builtin_trap();
    }
    search_request_clear(&r);
    for (int i = 0; i < 2 * nargs; i++) mem_free(copies[i]);
    return 0;
}
