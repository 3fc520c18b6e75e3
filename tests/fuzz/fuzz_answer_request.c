/* fuzz_answer_request.c - POST /v1/answer bodies (service/request_parse.c)
 *
 * A parsed request holds non-empty query text within the limit, k within
 * 1..max_k, max_tokens 0 (the default) or within 1..limit and stream 0 or
 * 1; an error is a 400 with a code and a UTF-8 message.
 */
#include <stdint.h>
#include <string.h>

#include "request_parse.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    search_limits l = {.max_query_bytes = 256, .max_k = 20, .default_k = 5, .default_mode = MODE_HYBRID,
                       .default_alpha = 0.5f, .default_fusion = FUSION_CONVEX};
    answer_request r;
    api_error e;
    if (parse_answer_json(&l, 1000, (const char *)data, size, &r, &e) == 0) {
        const search_query *q = &r.s.q;
        if (!q->text || q->len == 0 || q->len > l.max_query_bytes || !utf8_valid(q->text, q->len)) __builtin_trap();
        if (q->k < 1 || q->k > l.max_k || q->vector) __builtin_trap();
        if (r.max_tokens < 0 || r.max_tokens > 1000 || (r.stream != 0 && r.stream != 1)) __builtin_trap();
    } else if (e.status != 400 || !e.code || !utf8_valid(e.message, strlen(e.message))) {
        __builtin_trap();
    }
    answer_request_clear(&r);
    return 0;
}
