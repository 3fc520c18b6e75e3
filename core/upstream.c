/* upstream.c - POSTs to OpenAI-compatible model servers on libcurl: retries, failover, breakers */
#include "upstream.h"

#include <ctype.h>
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "err.h"
#include "log.h"
#include "mem.h"

typedef struct target {
    char *url;
    int azure;
    int failures;     /* failed attempts in a row */
    double open_until; /* breaker open until (clock_ms), 0 = closed */
    int open;         /* reported open (for the hook's transitions) */
} target;

struct upstream {
    upstream_opts o;
    char *key;
    target t[UPSTREAM_MAX_URLS];
    int n;
    pthread_mutex_t mu; /* guards the breakers and rng */
    unsigned rng;
};

static const char *const error_names[UPSTREAM_ERR_COUNT] = {
    "ok", "connect", "timeout", "http_5xx", "http_429", "http_4xx", "quota", "breaker_open", "cancelled",
    "deadline", "stream"};

const char *upstream_error_name(enum upstream_error e) {
    return (unsigned)e < UPSTREAM_ERR_COUNT ? error_names[e] : "?";
}

upstream_opts upstream_opts_default(void) {
    upstream_opts o = {.name = "upstream", .timeout_ms = 30000, .retries = 4, .backoff_ms = 500,
                       .breaker_failures = 5, .breaker_cooldown_ms = 30000};
    return o;
}

/* ---- one attempt ---- */

/* What one transfer collects; the sink sees a 200 body as it arrives. */
typedef struct xfer {
    upstream_call *c;
    CURL *h;
    char *s;
    size_t len;
    int to_sink; /* decided at the first body byte: status 200 and a sink */
    int decided;
    int sink_stop;
    char retry_after[40], retry_after_ms[32];
} xfer;

static size_t on_data(char *p, size_t size, size_t n, void *ud) {
    xfer *x = ud;
    size_t k = size * n;
    if (!x->decided) {
        long st = 0;
        curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &st);
        x->to_sink = st == 200 && x->c->sink;
        x->decided = 1;
    }
    if (x->to_sink) {
        if (x->c->sink(x->c->sink_ud, p, k) != 0) {
            x->sink_stop = 1;
            return 0;
        }
        x->c->streamed += k;
        return k;
    }
    if (x->len + k > UPSTREAM_MAX_RESPONSE) return 0;
    x->s = mem_realloc(x->s, x->len + k + 1);
    memcpy(x->s + x->len, p, k);
    x->len += k;
    x->s[x->len] = '\0';
    return k;
}

static void header_value(const char *line, size_t n, const char *name, char *out, size_t cap) {
    size_t nl = strlen(name);
    if (n <= nl || strncasecmp(line, name, nl) != 0) return;
    const char *v = line + nl;
    size_t vn = n - nl;
    while (vn && isspace((unsigned char)*v)) v++, vn--;
    while (vn && isspace((unsigned char)v[vn - 1])) vn--;
    if (vn >= cap) vn = cap - 1;
    memcpy(out, v, vn);
    out[vn] = '\0';
}

static size_t on_header(char *p, size_t size, size_t n, void *ud) {
    xfer *x = ud;
    header_value(p, size * n, "retry-after:", x->retry_after, sizeof(x->retry_after));
    header_value(p, size * n, "retry-after-ms:", x->retry_after_ms, sizeof(x->retry_after_ms));
    return size * n;
}

/* libcurl calls this about once a second while idle, and on progress. */
static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un) {
    (void)dt, (void)dn, (void)ut, (void)un;
    upstream_call *c = ud;
    return c->cancelled && c->cancelled(c->cancel_ud);
}

double upstream_retry_after_ms(const char *retry_after, const char *retry_after_ms) {
    char *end;
    if (retry_after_ms && *retry_after_ms) {
        double ms = strtod(retry_after_ms, &end);
        if (end != retry_after_ms && *end == '\0' && ms >= 0 && ms < 1e9) return ms;
    }
    if (!retry_after || !*retry_after) return -1;
    double s = strtod(retry_after, &end);
    if (end != retry_after && *end == '\0') return s >= 0 && s < 1e6 ? s * 1000.0 : -1;
    time_t when = curl_getdate(retry_after, NULL);
    if (when <= 0) return -1;
    double ms = ((double)when - (double)time(NULL)) * 1000.0;
    return ms < 0 ? 0 : ms;
}

void upstream_error_message(const char *s, size_t len, char *out, size_t cap, int *quota) {
    json_t *j = s ? json_loadb(s, len, 0, NULL) : NULL;
    json_t *e = json_object_get(j, "error");
    const char *msg = json_string_value(json_object_get(e, "message"));
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *type = json_string_value(json_object_get(e, "type"));
    if (!msg && json_is_string(e)) msg = json_string_value(e);
    *quota = (code && !strcmp(code, "insufficient_quota")) || (type && !strcmp(type, "insufficient_quota"));
    if (msg) snprintf(out, cap, "%.200s", msg);
    else snprintf(out, cap, "%.*s", s ? (int)(len < 200 ? len : 200) : 0, s ? s : ""); /* s need not end in NUL */
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20) *p = ' ';
    json_decref(j);
}

static struct curl_slist *headers(const upstream *u, int i) {
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    char auth[1024] = "";
    if (u->key && u->t[i].azure) snprintf(auth, sizeof(auth), "api-key: %s", u->key);
    else if (u->key) snprintf(auth, sizeof(auth), "Authorization: Bearer %s", u->key);
    if (auth[0]) h = curl_slist_append(h, auth);
    memset(auth, 0, sizeof(auth));
    return h;
}

/* The transfer's outcome as an error kind; a 200 is UPSTREAM_OK. */
static enum upstream_error classify(const upstream *u, int i, xfer *x, CURLcode rc, long status, int capped,
                                    double *wait_ms, char *err) {
    const char *url = u->t[i].url;
    int quota = 0;
    char msg[256];
    *wait_ms = -1;
    if (rc != CURLE_OK) {
        if (x->sink_stop || rc == CURLE_ABORTED_BY_CALLBACK)
            return err_set(err, "%s: cancelled", url), UPSTREAM_ERR_CANCELLED;
        err_set(err, "%s: %s", url, curl_easy_strerror(rc));
        if (x->c->streamed) return UPSTREAM_ERR_STREAM;
        if (rc == CURLE_OPERATION_TIMEDOUT) {
            if (capped) deadline_note_hit();
            return UPSTREAM_ERR_TIMEOUT;
        }
        return UPSTREAM_ERR_CONNECT;
    }
    if (status == 200) return UPSTREAM_OK;
    upstream_error_message(x->s, x->len, msg, sizeof(msg), &quota);
    err_set(err, "%s: HTTP %ld: %s", url, status, msg);
    if (status == 429 && !quota) {
        *wait_ms = upstream_retry_after_ms(x->retry_after, x->retry_after_ms);
        return UPSTREAM_ERR_HTTP_429;
    }
    if (quota) return UPSTREAM_ERR_QUOTA;
    if (status >= 500 || status == 408 || status == 409) {
        *wait_ms = upstream_retry_after_ms(x->retry_after, x->retry_after_ms);
        return UPSTREAM_ERR_HTTP_5XX;
    }
    return UPSTREAM_ERR_HTTP_4XX;
}

static enum upstream_error attempt_once(upstream *u, int i, upstream_call *c, double *wait_ms, char *err) {
    xfer x = {.c = c};
    CURL *h = curl_easy_init();
    x.h = h;
    struct curl_slist *hd = headers(u, i);
    curl_easy_setopt(h, CURLOPT_URL, u->t[i].url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, c->payload);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
    if (c->cancelled) {
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, c);
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    }
    /* The caller's deadline bounds each attempt as much as timeout_ms does. */
    double left = deadline_left_ms();
    int capped = left < (double)u->o.timeout_ms;
    long timeout = capped ? (long)left : (long)u->o.timeout_ms;
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout > 1 ? timeout : 1L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "ragd/0.1");
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    c->status = status;
    enum upstream_error e = classify(u, i, &x, rc, status, capped, wait_ms, err);
    if (e == UPSTREAM_OK && !c->sink) {
        c->body = x.s ? x.s : mem_strdup("");
        c->len = x.len;
        x.s = NULL;
    }
    mem_free(x.s);
    return e;
}

/* ---- breakers ---- */

/* 1 if URL i may be tried now (closed, or half-open after the cool-down). */
static int breaker_allows(upstream *u, int i) {
    pthread_mutex_lock(&u->mu);
    int ok = u->t[i].open_until <= clock_ms();
    pthread_mutex_unlock(&u->mu);
    return ok;
}

static void breaker_record(upstream *u, int i, int ok) {
    int changed = -1;
    pthread_mutex_lock(&u->mu);
    target *t = &u->t[i];
    if (ok) {
        t->failures = 0;
        t->open_until = 0;
        if (t->open) t->open = 0, changed = 0;
    } else if (++t->failures >= u->o.breaker_failures) {
        t->open_until = clock_ms() + u->o.breaker_cooldown_ms;
        t->failures = u->o.breaker_failures - 1; /* half-open: the next failure reopens it */
        if (!t->open) t->open = 1, changed = 1;
    }
    pthread_mutex_unlock(&u->mu);
    if (changed == 1)
        log_warn("%s: %s failed %d times in a row; skipping it for %d ms", u->o.name, u->t[i].url,
                 u->o.breaker_failures, u->o.breaker_cooldown_ms);
    if (changed >= 0 && u->o.hooks.breaker) u->o.hooks.breaker(u->o.hooks.ud, i, changed);
}

int upstream_breaker_open(upstream *u, int i) {
    if (i < 0 || i >= u->n) return 0;
    return !breaker_allows(u, i);
}

int upstream_count(const upstream *u) {
    return u->n;
}

/* ---- a call: rounds over the URLs ---- */

static int retryable(enum upstream_error e) {
    return e == UPSTREAM_ERR_CONNECT || e == UPSTREAM_ERR_TIMEOUT || e == UPSTREAM_ERR_HTTP_5XX ||
           e == UPSTREAM_ERR_HTTP_429;
}

/* One pass over the URLs whose breakers allow it. The last error in c. */
static void one_round(upstream *u, upstream_call *c, double *wait_ms, char *err) {
    int tried = 0;
    for (int i = 0; i < u->n; i++) {
        if (!breaker_allows(u, i)) continue;
        if (tried && u->o.hooks.failover) u->o.hooks.failover(u->o.hooks.ud, c->url);
        tried = 1;
        c->url = i;
        c->attempts++;
        double w = -1;
        c->error = attempt_once(u, i, c, &w, err);
        if (u->o.hooks.attempt) u->o.hooks.attempt(u->o.hooks.ud, i, c->error);
        /* a client's 4xx says nothing about the upstream's health */
        if (c->error != UPSTREAM_ERR_CANCELLED && c->error != UPSTREAM_ERR_HTTP_4XX)
            breaker_record(u, i, c->error == UPSTREAM_OK);
        if (w > *wait_ms) *wait_ms = w;
        if (!retryable(c->error)) return;
    }
    if (!tried) {
        c->error = UPSTREAM_ERR_BREAKER;
        err_set(err, "%s unavailable: every URL's circuit breaker is open after repeated failures", u->o.name);
    }
}

/* Back-off before round `tryno + 1`: the server's wait if it named one. */
static double backoff_ms(upstream *u, int tryno, double server_wait) {
    if (server_wait >= 0) return server_wait;
    pthread_mutex_lock(&u->mu);
    double base = (double)u->o.backoff_ms * (double)(1 << (tryno < 16 ? tryno : 16));
    double w = base + (double)(rand_r(&u->rng) % (unsigned)(base / 2 + 1));
    pthread_mutex_unlock(&u->mu);
    return w;
}

/* Sleep in short steps so a cancelled caller stops waiting. */
static int wait_or_cancel(const upstream_call *c, double ms) {
    double end = clock_ms() + ms;
    for (double left = ms; left > 0; left = end - clock_ms()) {
        if (c->cancelled && c->cancelled(c->cancel_ud)) return -1;
        usleep((useconds_t)((left < 50 ? left : 50) * 1000));
    }
    return 0;
}

int upstream_post(upstream *u, upstream_call *c, char *err) {
    c->attempts = 0;
    c->streamed = 0;
    for (int tryno = 0; tryno <= u->o.retries; tryno++) {
        double wait = -1;
        one_round(u, c, &wait, err);
        if (c->error == UPSTREAM_OK) return RAGD_OK;
        if (!retryable(c->error) || c->streamed || tryno == u->o.retries) break;
        if (deadline_expired()) {
            deadline_note_hit();
            c->error = UPSTREAM_ERR_DEADLINE;
            err_prefix(err, "deadline reached after %d attempts", c->attempts);
            break;
        }
        wait = backoff_ms(u, tryno, wait);
        if (wait > UPSTREAM_MAX_BACKOFF_MS) {
            err_prefix(err, "server asks to wait %.0f ms, more than %d", wait, UPSTREAM_MAX_BACKOFF_MS);
            break;
        }
        if (wait >= deadline_left_ms()) {
            deadline_note_hit();
            c->error = UPSTREAM_ERR_DEADLINE;
            err_prefix(err, "the deadline comes before the next attempt (in %.0f ms)", wait);
            break;
        }
        if (wait_or_cancel(c, wait) != 0) {
            c->error = UPSTREAM_ERR_CANCELLED;
            err_set(err, "%s: cancelled", u->o.name);
            break;
        }
    }
    return RAGD_ERR;
}

void upstream_call_clear(upstream_call *c) {
    mem_free(c->body);
    c->body = NULL;
    c->len = 0;
}

/* ---- lifecycle ---- */

upstream *upstream_new(const upstream_opts *o, const char *const *urls, int n, char *err) {
    if (n < 1 || n > UPSTREAM_MAX_URLS)
        return err_set(err, "%s: %d URLs (1 to %d)", o->name, n, UPSTREAM_MAX_URLS), NULL;
    for (int i = 0; i < n; i++)
        if (strncmp(urls[i], "http://", 7) && strncmp(urls[i], "https://", 8))
            return err_set(err, "%s: \"%s\" is not an http(s) URL", o->name, urls[i]), NULL;
    if (o->key && strpbrk(o->key, "\r\n")) return err_set(err, "%s: the API key contains a line break", o->name), NULL;
    upstream *u = mem_calloc(1, sizeof(*u));
    u->o = *o;
    upstream_opts d = upstream_opts_default();
    if (u->o.timeout_ms <= 0) u->o.timeout_ms = d.timeout_ms;
    if (u->o.retries < 0) u->o.retries = d.retries;
    if (u->o.backoff_ms <= 0) u->o.backoff_ms = d.backoff_ms;
    if (u->o.breaker_failures <= 0) u->o.breaker_failures = d.breaker_failures;
    if (u->o.breaker_cooldown_ms <= 0) u->o.breaker_cooldown_ms = d.breaker_cooldown_ms;
    u->key = o->key && *o->key ? mem_strdup(o->key) : NULL;
    u->o.key = NULL;
    for (int i = 0; i < n; i++) {
        u->t[i].url = mem_strdup(urls[i]);
        u->t[i].azure = strstr(urls[i], "api-version=") != NULL;
    }
    u->n = n;
    pthread_mutex_init(&u->mu, NULL);
    u->rng = (unsigned)time(NULL) ^ (unsigned)getpid();
    return u;
}

void upstream_free(upstream *u) {
    if (!u) return;
    for (int i = 0; i < u->n; i++) mem_free(u->t[i].url);
    if (u->key) {
        memset(u->key, 0, strlen(u->key));
        mem_free(u->key);
    }
    pthread_mutex_destroy(&u->mu);
    mem_free(u);
}
