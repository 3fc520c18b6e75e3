/* fuzz_llm_response.c - an LLM upstream's replies: whole completions, SSE framing, stream chunks (service/llm_response.c)
 *
 * The first byte picks the feed step for the SSE reader (1..64 bytes);
 * the rest is the reply body. Checked: a parsed completion's answer is a
 * NUL-terminated string within the limit; events are at most max_event
 * bytes; chunk parsing never lets the answer pass its limit, and a failed
 * chunk adds nothing.
 */
#include <stdint.h>
#include <string.h>

#include "err.h"
#include "llm_response.h"

typedef struct ctx {
    llm_reply r;
    size_t max;
} ctx;

static int on_event(void *ud, const char *data, size_t len) {
    ctx *c = ud;
    if (len > c->max) __builtin_trap();
    size_t before = c->r.text ? strlen(c->r.text) : 0, n;
    char err[RAGD_ERR_LEN];
    int rc = llm_parse_chunk(data, len, &c->r, &n, err);
    size_t after = c->r.text ? strlen(c->r.text) : 0;
    if (rc != 0 && after != before) __builtin_trap();
    if (rc == 0 && after != before + n) __builtin_trap();
    if (after > LLM_MAX_ANSWER_BYTES) __builtin_trap();
    return rc == 1; /* [DONE] ends the feed */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    size_t step = 1 + data[0] % 64;
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    char err[RAGD_ERR_LEN];
    llm_reply r;
    if (llm_parse_completion(body, len, &r, err) == 0) {
        if (!r.text || strlen(r.text) > LLM_MAX_ANSWER_BYTES || strlen(r.finish) >= sizeof(r.finish)) __builtin_trap();
    } else if (r.text) {
        __builtin_trap();
    }
    llm_reply_clear(&r);
    ctx c = {.max = 4096};
    sse_reader s = {.max_event = c.max};
    for (size_t i = 0; i < len; i += step)
        if (sse_feed(&s, body + i, len - i < step ? len - i : step, on_event, &c) != 0) break;
    sse_reader_clear(&s);
    llm_reply_clear(&c.r);
    return 0;
}
