/* llm.c - chat completions through the shared upstream client, whole or streamed */
#include "llm.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "fsio.h"
#include "mem.h"
#include "metrics.h"

#define LLM_MAX_STREAM_EVENT (1u << 20)

struct llm {
    upstream *up;
    char *model;
};

llm_opts llm_opts_default(void) {
    llm_opts o = {.timeout_ms = 30000, .retries = 2, .backoff_ms = 500, .breaker_failures = 5,
                  .breaker_cooldown_ms = 30000};
    return o;
}

/* BASE/chat/completions; an Azure URL keeps its query after the path. */
static char *endpoint(const char *base) {
    const char *q = strchr(base, '?');
    size_t n = q ? (size_t)(q - base) : strlen(base);
    while (n && base[n - 1] == '/') n--;
    return mem_printf("%.*s/chat/completions%s", (int)n, base, q ? q : "");
}

static void on_attempt(void *ud, int url, enum upstream_error e) {
    (void)ud;
    metrics_llm_attempt(url, e);
}

static void on_failover(void *ud, int from) {
    (void)ud, (void)from;
    metrics_llm_failover();
}

static int read_key(const char *path, char **key, char *err) {
    *key = NULL;
    if (!path) return RAGD_OK;
    if (fsio_read_file(path, 64 * 1024, key, NULL, err) != 0) return err_prefix(err, "--llm-api-key-file");
    (*key)[strcspn(*key, "\r\n")] = '\0';
    return RAGD_OK;
}

llm *llm_new(const llm_opts *o, char *err) {
    if (!o->model || !*o->model) return err_set(err, "--llm-model is required with --llm-url"), NULL;
    if (o->n_urls < 1) return err_set(err, "--llm-url is required"), NULL;
    char *key, *urls[UPSTREAM_MAX_URLS];
    if (read_key(o->key_file, &key, err) != RAGD_OK) return NULL;
    for (int i = 0; i < o->n_urls; i++) urls[i] = endpoint(o->urls[i]);
    upstream_opts uo = upstream_opts_default();
    uo.name = "LLM";
    uo.key = key;
    uo.timeout_ms = o->timeout_ms;
    uo.retries = o->retries;
    uo.backoff_ms = o->backoff_ms;
    uo.breaker_failures = o->breaker_failures;
    uo.breaker_cooldown_ms = o->breaker_cooldown_ms;
    uo.hooks = (upstream_hooks){.attempt = on_attempt, .failover = on_failover};
    upstream *up = upstream_new(&uo, (const char *const *)urls, o->n_urls, err);
    for (int i = 0; i < o->n_urls; i++) mem_free(urls[i]);
    if (key) {
        memset(key, 0, strlen(key));
        mem_free(key);
    }
    if (!up) return NULL;
    llm *l = mem_calloc(1, sizeof(*l));
    l->up = up;
    l->model = mem_strdup(o->model);
    return l;
}

static char *request_json(const llm *l, const llm_call *c) {
    json_t *msgs = json_pack("[{s:s, s:s}, {s:s, s:s}]", "role", "system", "content", c->system, "role", "user",
                             "content", c->user);
    json_t *req = json_pack("{s:s, s:o, s:i, s:b}", "model", l->model, "messages", msgs, "max_tokens",
                            c->max_tokens, "stream", c->stream);
    if (c->stream) json_object_set_new(req, "stream_options", json_pack("{s:b}", "include_usage", 1));
    char *s = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    return s;
}

/* A streamed reply: SSE events -> chunks -> the caller's on_delta. */
typedef struct stream_ctx {
    llm_call *c;
    sse_reader sse;
    int done, client_gone;
    char err[RAGD_ERR_LEN];
} stream_ctx;

static int on_event(void *ud, const char *data, size_t len) {
    stream_ctx *s = ud;
    size_t n;
    int rc = llm_parse_chunk(data, len, &s->c->reply, &n, s->err);
    if (rc == 1) s->done = 1;
    if (rc < 0) return -1;
    if (n && s->c->on_delta) {
        const char *t = s->c->reply.text + strlen(s->c->reply.text) - n;
        if (s->c->on_delta(s->c->delta_ud, t, n) != 0) return s->client_gone = 1, -1;
    }
    return 0;
}

static int on_bytes(void *ud, const char *p, size_t n) {
    stream_ctx *s = ud;
    if (sse_feed(&s->sse, p, n, on_event, s) == 0) return 0;
    if (!s->err[0] && !s->client_gone) snprintf(s->err, sizeof(s->err), "an event passes %u bytes", LLM_MAX_STREAM_EVENT);
    return 1;
}

int llm_chat(llm *l, llm_call *c, char *err) {
    char *payload = request_json(l, c);
    stream_ctx sc = {.c = c, .sse = {.max_event = LLM_MAX_STREAM_EVENT}};
    upstream_call uc = {.payload = payload, .cancelled = c->cancelled, .cancel_ud = c->cancel_ud};
    if (c->stream) uc.sink = on_bytes, uc.sink_ud = &sc;
    memset(&c->reply, 0, sizeof(c->reply));
    int rc = upstream_post(l->up, &uc, err);
    c->attempts = uc.attempts;
    c->error = uc.error;
    if (rc == RAGD_OK && !c->stream && llm_parse_completion(uc.body, uc.len, &c->reply, err) != RAGD_OK) {
        err_prefix(err, "LLM");
        c->error = UPSTREAM_ERR_STREAM;
        rc = RAGD_ERR;
    }
    if (c->stream && sc.client_gone) {
        err_set(err, "the client went away; the LLM call was cancelled");
        c->error = UPSTREAM_ERR_CANCELLED;
        rc = RAGD_ERR;
    } else if (c->stream && (sc.err[0] || (rc == RAGD_OK && !sc.done && !c->reply.finish[0]))) {
        if (sc.err[0]) err_set(err, "LLM stream: %s", sc.err);
        else err_set(err, "LLM stream ended without [DONE] or a finish_reason");
        c->error = UPSTREAM_ERR_STREAM;
        rc = RAGD_ERR;
    }
    sse_reader_clear(&sc.sse);
    upstream_call_clear(&uc);
    free(payload);
    metrics_llm_call(rc == RAGD_OK, c->reply.usage.known ? c->reply.usage.prompt_tokens : 0,
                     c->reply.usage.known ? c->reply.usage.completion_tokens : 0);
    return rc;
}

void llm_call_clear(llm_call *c) {
    llm_reply_clear(&c->reply);
}

const char *llm_model(const llm *l) {
    return l->model;
}

int llm_upstreams(const llm *l) {
    return upstream_count(l->up);
}

int llm_breaker_open(llm *l, int i) {
    return upstream_breaker_open(l->up, i);
}

void llm_free(llm *l) {
    if (!l) return;
    upstream_free(l->up);
    mem_free(l->model);
    mem_free(l);
}
