/* llm_response.h - reading an OpenAI-compatible chat server's replies: whole completions, SSE streams, chunks
 *
 * The LLM upstream is not ours: its bytes are untrusted. These parsers do
 * no I/O (tests/fuzz/fuzz_llm_response.c feeds them arbitrary bytes):
 * a whole /chat/completions reply, the Server-Sent Events framing of a
 * streamed one (lines, "data:" fields, blank-line dispatch, any line
 * ending), and each streamed chunk's delta.
 *
 *     llm_reply r;
 *     if (llm_parse_completion(body, len, &r, err) == 0) ... r.text, r.usage ...
 *     sse_reader s = {.max_event = 1 << 20};
 *     sse_feed(&s, bytes, n, on_event, ud);   // on_event(ud, data, len) per event
 *     sse_reader_clear(&s);
 */
#ifndef RAGD_LLM_RESPONSE_H
#define RAGD_LLM_RESPONSE_H

#include <stddef.h>

#define LLM_MAX_ANSWER_BYTES (1u << 20) /* an answer longer than this is an upstream fault */

typedef struct llm_usage {
    long prompt_tokens, completion_tokens;
    int known; /* the upstream reported usage */
} llm_usage;

typedef struct llm_reply {
    char *text;         /* the answer (owned), UTF-8 as the upstream sent it */
    char finish[24];    /* finish_reason: "stop", "length", ... ("" unknown) */
    llm_usage usage;
} llm_reply;

/* {"choices": [{"message": {"content": "..."}, "finish_reason": ...}],
 * "usage": {"prompt_tokens", "completion_tokens"}}: 0 and *r (free with
 * llm_reply_clear), or -1 + err saying what is missing. */
int llm_parse_completion(const char *body, size_t len, llm_reply *r, char *err);

/* One streamed event's data. 1 for the terminator "[DONE]"; 0 with the
 * chunk's text appended to r->text (choices[0].delta.content, may be
 * none), finish_reason and usage when present; -1 + err if malformed or
 * the answer would pass LLM_MAX_ANSWER_BYTES. *delta_len: bytes appended. */
int llm_parse_chunk(const char *data, size_t len, llm_reply *r, size_t *delta_len, char *err);

void llm_reply_clear(llm_reply *r);

/* SSE framing. Feed bytes as they arrive; each complete event's data
 * (its "data:" lines joined by "\n") goes to on_event, whose non-zero
 * return stops the feed and is returned. -1 if an event passes
 * max_event bytes. Comments, "event:", "id:" and "retry:" are skipped. */
typedef struct sse_reader {
    size_t max_event;
    char *line;   /* the partial line carried over between feeds */
    size_t line_len;
    char *data;   /* the event being assembled */
    size_t data_len;
    int has_data;
    int after_cr; /* the last byte was \r: a following \n ends nothing */
} sse_reader;

int sse_feed(sse_reader *s, const char *p, size_t n, int (*on_event)(void *ud, const char *data, size_t len),
             void *ud);

void sse_reader_clear(sse_reader *s);

#endif
