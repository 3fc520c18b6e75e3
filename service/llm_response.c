/* llm_response.c - OpenAI-compatible chat replies and their SSE framing, parsed without I/O */
#include "llm_response.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "mem.h"

static void read_usage(json_t *root, llm_usage *u) {
    json_t *us = json_object_get(root, "usage");
    json_t *p = json_object_get(us, "prompt_tokens"), *c = json_object_get(us, "completion_tokens");
    if (!json_is_integer(p) && !json_is_integer(c)) return;
    long pt = json_is_integer(p) ? (long)json_integer_value(p) : 0, ct = json_is_integer(c) ? (long)json_integer_value(c) : 0;
    if (pt < 0 || ct < 0 || pt > 100000000 || ct > 100000000) return; /* nonsense: treat as unknown */
    u->prompt_tokens = pt;
    u->completion_tokens = ct;
    u->known = 1;
}

static void read_finish(json_t *choice, llm_reply *r) {
    const char *f = json_string_value(json_object_get(choice, "finish_reason"));
    if (f) snprintf(r->finish, sizeof(r->finish), "%s", f);
}

int llm_parse_completion(const char *body, size_t len, llm_reply *r, char *err) {
    memset(r, 0, sizeof(*r));
    json_error_t je;
    json_t *j = json_loadb(body ? body : "", len, 0, &je);
    json_t *choice = json_array_get(json_object_get(j, "choices"), 0);
    json_t *content = json_object_get(json_object_get(choice, "message"), "content");
    int rc = RAGD_OK;
    if (!j) rc = err_set(err, "malformed reply: %s", je.text);
    else if (!choice) rc = err_set(err, "malformed reply: no \"choices\"");
    else if (!json_is_string(content)) rc = err_set(err, "malformed reply: choices[0].message.content is not a string");
    else if (json_string_length(content) > LLM_MAX_ANSWER_BYTES)
        rc = err_set(err, "reply has %zu bytes of answer, more than %u", json_string_length(content), LLM_MAX_ANSWER_BYTES);
    if (rc == RAGD_OK) {
        r->text = mem_strndup(json_string_value(content), json_string_length(content));
        read_finish(choice, r);
        read_usage(j, &r->usage);
    }
    json_decref(j);
    return rc;
}

int llm_parse_chunk(const char *data, size_t len, llm_reply *r, size_t *delta_len, char *err) {
    *delta_len = 0;
    while (len && (*data == ' ' || *data == '\t')) data++, len--;
    if (len == 6 && !memcmp(data, "[DONE]", 6)) return 1;
    json_error_t je;
    json_t *j = json_loadb(data, len, 0, &je);
    if (!json_is_object(j)) {
        json_decref(j);
        return err_set(err, "malformed stream chunk: %s", j ? "not an object" : je.text);
    }
    int rc = RAGD_OK;
    json_t *err_obj = json_object_get(j, "error");
    json_t *choice = json_array_get(json_object_get(j, "choices"), 0);
    json_t *content = json_object_get(json_object_get(choice, "delta"), "content");
    size_t have = r->text ? strlen(r->text) : 0;
    if (err_obj) {
        char msg[200] = "";
        const char *m = json_string_value(json_object_get(err_obj, "message"));
        snprintf(msg, sizeof(msg), "%s", m ? m : "no message");
        for (char *p = msg; *p; p++)
            if ((unsigned char)*p < 0x20) *p = ' ';
        rc = err_set(err, "the stream reported an error: %s", msg);
    } else if (content && !json_is_null(content) && !json_is_string(content)) {
        rc = err_set(err, "malformed stream chunk: delta.content is not a string");
    } else if (json_is_string(content)) {
        size_t n = json_string_length(content);
        if (have + n > LLM_MAX_ANSWER_BYTES) rc = err_set(err, "streamed answer passes %u bytes", LLM_MAX_ANSWER_BYTES);
        else {
            r->text = mem_realloc(r->text, have + n + 1);
            memcpy(r->text + have, json_string_value(content), n);
            r->text[have + n] = '\0';
            *delta_len = n;
        }
    }
    if (rc == RAGD_OK) {
        if (choice) read_finish(choice, r);
        read_usage(j, &r->usage);
    }
    json_decref(j);
    return rc;
}

void llm_reply_clear(llm_reply *r) {
    mem_free(r->text);
    memset(r, 0, sizeof(*r));
}

/* ---- SSE ---- */

/* One complete line (without its ending). Field "data" appends to the
 * event; an empty line dispatches it. */
static int sse_line(sse_reader *s, const char *l, size_t n, int (*on_event)(void *, const char *, size_t), void *ud) {
    if (n == 0) {
        int rc = 0;
        if (s->has_data) rc = on_event(ud, s->data ? s->data : "", s->data_len);
        s->data_len = 0;
        s->has_data = 0;
        return rc;
    }
    if (l[0] == ':') return 0; /* comment (keep-alive) */
    const char *colon = memchr(l, ':', n);
    size_t fl = colon ? (size_t)(colon - l) : n;
    if (fl != 4 || memcmp(l, "data", 4) != 0) return 0;
    const char *v = colon ? colon + 1 : l + n;
    size_t vn = colon ? n - fl - 1 : 0;
    if (vn && *v == ' ') v++, vn--;
    size_t add = vn + (s->has_data ? 1 : 0);
    if (s->data_len + add > s->max_event) return -1;
    s->data = mem_realloc(s->data, s->data_len + add + 1);
    if (s->has_data) s->data[s->data_len++] = '\n';
    memcpy(s->data + s->data_len, v, vn);
    s->data_len += vn;
    s->data[s->data_len] = '\0';
    s->has_data = 1;
    return 0;
}

int sse_feed(sse_reader *s, const char *p, size_t n, int (*on_event)(void *ud, const char *data, size_t len),
             void *ud) {
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = p[i];
        if (ch != '\n' && ch != '\r') {
            s->after_cr = 0;
            continue;
        }
        if (ch == '\n' && s->after_cr && i == start && s->line_len == 0) { /* the \n of a \r\n */
            s->after_cr = 0;
            start = i + 1;
            continue;
        }
        s->after_cr = ch == '\r';
        /* the line is what was carried over plus p[start..i) */
        const char *l = p + start;
        size_t ln = i - start;
        if (s->line_len) {
            if (s->line_len + ln > s->max_event) return -1;
            s->line = mem_realloc(s->line, s->line_len + ln + 1);
            memcpy(s->line + s->line_len, l, ln);
            l = s->line;
            ln += s->line_len;
            s->line_len = 0;
        }
        int rc = sse_line(s, l, ln, on_event, ud);
        if (rc != 0) return rc;
        start = i + 1;
    }
    size_t rest = n - start;
    if (rest) {
        if (s->line_len + rest > s->max_event) return -1;
        s->line = mem_realloc(s->line, s->line_len + rest + 1);
        memcpy(s->line + s->line_len, p + start, rest);
        s->line_len += rest;
    }
    return 0;
}

void sse_reader_clear(sse_reader *s) {
    mem_free(s->line);
    mem_free(s->data);
    s->line = s->data = NULL;
    s->line_len = s->data_len = 0;
    s->has_data = 0;
    s->after_cr = 0;
}
