/* test_llm_response.c - chat replies, stream chunks and SSE framing (service/llm_response.c), and Retry-After */
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "llm_response.h"
#include "mem.h"
#include "test.h"
#include "upstream.h"

TEST(test_completion) {
    llm_reply r;
    char err[RAGD_ERR_LEN];
    const char *ok = "{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"Hi [1]\"},\"finish_reason\":\"stop\"}],"
                     "\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":3}}";
    CHECK(llm_parse_completion(ok, strlen(ok), &r, err) == 0);
    CHECK(strcmp(r.text, "Hi [1]") == 0 && strcmp(r.finish, "stop") == 0);
    CHECK(r.usage.known && r.usage.prompt_tokens == 12 && r.usage.completion_tokens == 3);
    llm_reply_clear(&r);
    const char *nousage = "{\"choices\":[{\"message\":{\"content\":\"\"}}]}";
    CHECK(llm_parse_completion(nousage, strlen(nousage), &r, err) == 0 && !r.usage.known && r.text[0] == '\0');
    llm_reply_clear(&r);
    const char *bad[] = {"", "[]", "{\"choices\":[]}", "{\"choices\":[{\"message\":{\"content\":5}}]}",
                         "{\"choices\":[{\"message\":{\"content\":\"x\""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK(llm_parse_completion(bad[i], strlen(bad[i]), &r, err) == -1);
        CHECK(r.text == NULL);
    }
}

TEST(test_chunks) {
    llm_reply r = {0};
    char err[RAGD_ERR_LEN];
    size_t n;
    const char *c1 = "{\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"Hel\"},\"finish_reason\":null}]}";
    const char *c2 = " {\"choices\":[{\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}]}";
    const char *c3 = "{\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":2}}";
    CHECK(llm_parse_chunk(c1, strlen(c1), &r, &n, err) == 0 && n == 3);
    CHECK(llm_parse_chunk(c2, strlen(c2), &r, &n, err) == 0 && n == 2);
    CHECK(llm_parse_chunk(c3, strlen(c3), &r, &n, err) == 0 && n == 0);
    CHECK(strcmp(r.text, "Hello") == 0 && strcmp(r.finish, "stop") == 0 && r.usage.completion_tokens == 2);
    CHECK(llm_parse_chunk(" [DONE]", 7, &r, &n, err) == 1);
    const char *e = "{\"error\":{\"message\":\"overloaded\\nnow\"}}";
    CHECK(llm_parse_chunk(e, strlen(e), &r, &n, err) == -1 && strstr(err, "overloaded now"));
    CHECK(llm_parse_chunk("nope", 4, &r, &n, err) == -1);
    const char *num = "{\"choices\":[{\"delta\":{\"content\":1}}]}";
    CHECK(llm_parse_chunk(num, strlen(num), &r, &n, err) == -1);
    CHECK(strcmp(r.text, "Hello") == 0); /* failed chunks add nothing */
    llm_reply_clear(&r);
}

typedef struct events {
    char got[8][64];
    int n;
} events;

static int collect(void *ud, const char *data, size_t len) {
    events *e = ud;
    if (e->n < 8) snprintf(e->got[e->n++], 64, "%.*s", (int)len, data);
    return 0;
}

/* Feed s in pieces of `step` bytes. */
static int feed(const char *s, size_t step, events *e) {
    sse_reader r = {.max_event = 1024};
    memset(e, 0, sizeof(*e));
    int rc = 0;
    for (size_t i = 0; i < strlen(s) && rc == 0; i += step) {
        size_t n = strlen(s) - i < step ? strlen(s) - i : step;
        rc = sse_feed(&r, s + i, n, collect, e);
    }
    sse_reader_clear(&r);
    return rc;
}

TEST(test_sse_framing_any_split_any_line_end) {
    const char *streams[] = {"data: a\n\ndata: b\ndata: c\n\n: keep-alive\n\nevent: x\ndata:d\n\n",
                             "data: a\r\n\r\ndata: b\r\ndata: c\r\n\r\n: keep-alive\r\n\r\nevent: x\r\ndata:d\r\n\r\n",
                             "data: a\r\rdata: b\rdata: c\r\r: keep-alive\r\revent: x\rdata:d\r\r"};
    for (int s = 0; s < 3; s++)
        for (size_t step = 1; step <= strlen(streams[s]); step++) {
            events e;
            CHECK(feed(streams[s], step, &e) == 0);
            CHECK_EQ_INT(e.n, 3);
            CHECK(strcmp(e.got[0], "a") == 0 && strcmp(e.got[1], "b\nc") == 0 && strcmp(e.got[2], "d") == 0);
        }
    events e;
    CHECK(feed("data: unterminated", 3, &e) == 0 && e.n == 0); /* no blank line: nothing dispatched */
}

TEST(test_sse_limit) {
    char big[3000];
    memset(big, 'x', sizeof(big));
    memcpy(big, "data: ", 6);
    big[sizeof(big) - 1] = '\0';
    events e;
    CHECK(feed(big, 100, &e) == -1);
}

TEST(test_retry_after) {
    CHECK(upstream_retry_after_ms("2", NULL) == 2000);
    CHECK(upstream_retry_after_ms("2", "350") == 350);
    CHECK(upstream_retry_after_ms(NULL, NULL) == -1 && upstream_retry_after_ms("soon", "") == -1);
    CHECK(upstream_retry_after_ms("-5", NULL) == -1 && upstream_retry_after_ms("", "x") == -1);
    CHECK(upstream_retry_after_ms("Wed, 21 Oct 2015 07:28:00 GMT", NULL) == 0); /* a past date: now */
    char msg[256];
    int quota;
    const char *q = "{\"error\":{\"message\":\"You exceeded\",\"code\":\"insufficient_quota\"}}";
    upstream_error_message(q, strlen(q), msg, sizeof(msg), &quota);
    CHECK(quota == 1 && strcmp(msg, "You exceeded") == 0);
}

int main(void) {
    RUN(test_completion);
    RUN(test_chunks);
    RUN(test_sse_framing_any_split_any_line_end);
    RUN(test_sse_limit);
    RUN(test_retry_after);
    return test_summary("llm_response");
}
