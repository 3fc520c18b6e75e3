/* fuzz_shard_request.c - POST /internal/v1/search and /internal/v1/rows bodies a router sends a shard server
 *
 * Behind the peer secret, but still bytes off the network. A parsed
 * request names a version, has a depth within 1..HYBRID_DEPTH(max_k), a
 * vector of finite floats in modes vector and hybrid, query text within
 * the limit in modes keyword and hybrid; an error is a 400 with a code and
 * a UTF-8 message. The same bytes as a rows request: ids and shards in
 * range, at most SHARD_ROWS_MAX (service/request_parse.c).
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "request_parse.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    search_limits l = {.max_query_bytes = 256, .max_k = 20, .default_k = 5, .default_mode = MODE_HYBRID,
                       .default_alpha = 0.5f, .default_fusion = FUSION_CONVEX};
    shard_search_request r;
    api_error e;
    if (parse_shard_search_json(&l, (const char *)data, size, &r, &e) == 0) {
        const search_query *q = &r.s.q;
        if (!r.version || !*r.version || r.depth < 1 || r.depth > HYBRID_DEPTH(l.max_k)) __builtin_trap();
        if (q->mode != MODE_KEYWORD) {
            if (!q->vector || q->vector_dim < 1) __builtin_trap();
            for (int i = 0; i < q->vector_dim; i++)
                if (!isfinite(q->vector[i])) __builtin_trap();
        }
        if (q->mode != MODE_VECTOR && (!q->text || q->len > l.max_query_bytes || !utf8_valid(q->text, q->len)))
            __builtin_trap();
    } else if (e.status != 400 || !e.code || !utf8_valid(e.message, strlen(e.message))) {
        __builtin_trap();
    }
    shard_search_request_clear(&r);
    shard_rows_request rr; /* the same bytes as a rows request */
    if (parse_shard_rows_json((const char *)data, size, &rr, &e) == 0) {
        if (!rr.version || !*rr.version || rr.n < 0 || rr.n > SHARD_ROWS_MAX) __builtin_trap();
        for (int i = 0; i < rr.n; i++)
            if (rr.ids[i] < 0 || rr.shards[i] < 0 || rr.shards[i] >= MANIFEST_MAX_SHARDS) __builtin_trap();
    } else if (e.status != 400 || !e.code) {
        __builtin_trap();
    }
    shard_rows_request_clear(&rr);
    return 0;
}
