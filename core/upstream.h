/* upstream.h - POSTs to model servers we do not own: retries, back-off, Retry-After, failover, a breaker per URL
 *
 * One HTTP client (libcurl) for every OpenAI-compatible upstream ragd
 * calls: the openai embedder's /embeddings and the answer route's
 * /chat/completions. An upstream is an ordered list of endpoint URLs (the
 * failover order) sharing one API key ("Authorization: Bearer KEY", or
 * Azure OpenAI's "api-key: KEY" for a URL with an api-version). A call
 * tries the URLs in order; a round that fails on every URL is retried
 * after exponential back-off with jitter, or after the server's
 * Retry-After / retry-after-ms on 429. 5xx, 408, 409, 429, timeouts and
 * connection errors are retried; other 4xx and OpenAI's insufficient_quota
 * are not. Each URL has its own circuit breaker: after `breaker_failures`
 * failed attempts in a row it is skipped for `breaker_cooldown_ms`, then
 * one attempt decides (half-open). The calling thread's deadline
 * (clock.h) bounds every attempt and the waits between them. A streamed
 * answer (a sink) goes to the caller as it arrives and is never retried
 * once bytes went out; a cancel callback (a client that went away) ends
 * the transfer within about a second.
 *
 *     upstream *u = upstream_new(&opts, urls, n, err);
 *     upstream_call c = {.payload = json};
 *     if (upstream_post(u, &c, err) == 0) ... c.body, c.len (200) ...
 *     upstream_call_clear(&c);
 *     upstream_free(u);
 */
#ifndef RAGD_UPSTREAM_H
#define RAGD_UPSTREAM_H

#include <stddef.h>

#define UPSTREAM_MAX_URLS 8
#define UPSTREAM_MAX_RESPONSE (256u << 20)
#define UPSTREAM_MAX_BACKOFF_MS 20000

/* Why an attempt (or a call) failed; metrics count them by name. */
enum upstream_error {
    UPSTREAM_OK = 0,
    UPSTREAM_ERR_CONNECT,  /* refused, reset, DNS */
    UPSTREAM_ERR_TIMEOUT,  /* the attempt's timeout (or the deadline) */
    UPSTREAM_ERR_HTTP_5XX, /* 5xx, 408, 409 */
    UPSTREAM_ERR_HTTP_429, /* rate limited (retried after Retry-After) */
    UPSTREAM_ERR_HTTP_4XX, /* 400, 401, 403, 404, ...: not retried */
    UPSTREAM_ERR_QUOTA,    /* 429 insufficient_quota: not retried */
    UPSTREAM_ERR_BREAKER,  /* every URL's breaker is open */
    UPSTREAM_ERR_CANCELLED, /* the cancel callback said stop */
    UPSTREAM_ERR_DEADLINE, /* no time left for another attempt */
    UPSTREAM_ERR_STREAM,   /* a streamed answer broke after bytes went out */
    UPSTREAM_ERR_COUNT
};

/* What happened, for the caller's metrics (may be NULL). */
typedef struct upstream_hooks {
    void (*attempt)(void *ud, int url, enum upstream_error outcome); /* every attempt */
    void (*failover)(void *ud, int from_url);                          /* moved on to the next URL */
    void (*breaker)(void *ud, int url, int open);                      /* a breaker opened (1) or closed (0) */
    void *ud;
} upstream_hooks;

typedef struct upstream_opts {
    const char *name;        /* for messages: "embeddings API", "LLM" */
    const char *key;         /* API key or NULL; copied, wiped on free, never logged */
    int timeout_ms;          /* per attempt (30000) */
    int retries;             /* rounds after the first (4) */
    int backoff_ms;          /* first back-off step (500) */
    int breaker_failures;    /* failed attempts in a row that open a URL's breaker (5) */
    int breaker_cooldown_ms; /* how long it stays open (30000) */
    upstream_hooks hooks;
} upstream_opts;

typedef struct upstream upstream;

/* One POST. In: payload (JSON), and optionally a sink for a streamed 200
 * answer and a cancel check. Out: the 200 body (unless streamed), the
 * last status, what went wrong and how many attempts it took. */
typedef struct upstream_call {
    const char *payload;
    /* A 200 answer's bytes as they arrive; return 0 to go on, else abort
     * (the call then fails with UPSTREAM_ERR_CANCELLED). */
    int (*sink)(void *ud, const char *p, size_t n);
    void *sink_ud;
    /* Polled during the transfer and between attempts: 1 = stop. */
    int (*cancelled)(void *ud);
    void *cancel_ud;
    char *body; /* the 200 body (without a sink); owned, NUL-terminated */
    size_t len;
    long status;
    enum upstream_error error;
    int attempts, url; /* url: the one that answered (or failed last) */
    size_t streamed;   /* bytes given to the sink */
} upstream_call;

/* Defaults above. */
upstream_opts upstream_opts_default(void);

/* n endpoint URLs (complete: ".../v1/chat/completions"), tried in order;
 * a URL with "api-version=" in its query is Azure OpenAI (api-key header).
 * NULL + err for a URL that is not http(s). */
upstream *upstream_new(const upstream_opts *o, const char *const *urls, int n, char *err);

/* 0 with c->body (or everything given to the sink); -1 + err (which names
 * the URL, the status and the server's message) and c->error. */
int upstream_post(upstream *u, upstream_call *c, char *err);

void upstream_call_clear(upstream_call *c);

/* Number of URLs, and whether URL i's breaker is open now. */
int upstream_count(const upstream *u);
int upstream_breaker_open(upstream *u, int i);

/* "connect", "timeout", "http_5xx", ... ("ok" for UPSTREAM_OK). */
const char *upstream_error_name(enum upstream_error e);

/* Wipes the key. NULL is fine. */
void upstream_free(upstream *u);

/* Parse a Retry-After value (seconds or an HTTP date) or retry-after-ms
 * into milliseconds from now; -1 if absent or unreadable. No I/O. */
double upstream_retry_after_ms(const char *retry_after, const char *retry_after_ms);

/* The message of an OpenAI-style error reply ({"error": {"message",
 * "code", "type"}} or {"error": "..."}), else the body's start; control
 * characters become spaces. *quota: 1 if it is insufficient_quota. */
void upstream_error_message(const char *body, size_t len, char *out, size_t cap, int *quota);

#endif
