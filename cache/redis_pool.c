/* redis_pool.c - Redis connections behind a circuit breaker */
#include "redis_pool.h"
#include "clock.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "err.h"
#include "log.h"
#include "mem.h"

#define RPOOL_MAX_IDLE 64
#define RPOOL_PROBE_MS 250

struct rpool {
    rpool_opts o;
    pthread_mutex_t mu;
    redisContext *idle[RPOOL_MAX_IDLE];
    int n_idle, max_idle;
    int failures, backoff_ms, up;
    double open_until;
    pthread_t prober;
    pthread_cond_t stop_cv;
    int stopping;
};


rpool_opts rpool_opts_default(void) {
    rpool_opts o = {.port = 6379, .connect_timeout_ms = 200, .command_timeout_ms = 100, .fail_threshold = 3,
                    .backoff_ms = 1000, .max_backoff_ms = 30000};
    snprintf(o.host, sizeof(o.host), "127.0.0.1");
    return o;
}

int rpool_parse_url(const char *url, rpool_opts *o, char *err) {
    if (strncmp(url, "redis://", 8) != 0) return err_set(err, "--redis %s: expected redis://[:password@]host[:port][/db]", url);
    const char *p = url + 8, *at = strchr(p, '@');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *pw = colon ? colon + 1 : p;
        if ((size_t)(at - pw) >= sizeof(o->password)) return err_set(err, "--redis: password too long");
        memcpy(o->password, pw, (size_t)(at - pw));
        o->password[at - pw] = '\0';
        p = at + 1;
    }
    size_t hl = strcspn(p, ":/");
    if (hl == 0 || hl >= sizeof(o->host)) return err_set(err, "--redis %s: no host", url);
    memcpy(o->host, p, hl);
    o->host[hl] = '\0';
    p += hl;
    if (*p == ':') {
        char *end;
        long port = strtol(p + 1, &end, 10);
        if (port < 1 || port > 65535 || (*end && *end != '/')) return err_set(err, "--redis %s: bad port", url);
        o->port = (int)port;
        p = end;
    }
    if (*p == '/' && p[1]) {
        char *end;
        long db = strtol(p + 1, &end, 10);
        if (db < 0 || db > 1000 || *end) return err_set(err, "--redis %s: bad database number", url);
        o->db = (int)db;
    }
    return RAGD_OK;
}

static void record(rpool *p, int ok);
static int ok_reply(redisContext *c, const char *fmt, const char *arg);

/* While the breaker is open, ping Redis every RPOOL_PROBE_MS off the
 * request path, and close the breaker as soon as it answers: hits resume
 * within a probe period of Redis coming back, however long the outage
 * (the request path's doubling back-off only spares requests the wait). */
static void *probe_loop(void *arg) {
    rpool *p = arg;
    pthread_mutex_lock(&p->mu);
    while (!p->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += RPOOL_PROBE_MS * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&p->stop_cv, &p->mu, &until);
        if (p->stopping || p->up) continue;
        pthread_mutex_unlock(&p->mu);
        redisContext *c = rpool_connect(p, p->o.command_timeout_ms);
        int ok = c && ok_reply(c, "PING", NULL);
        pthread_mutex_lock(&p->mu);
        if (ok) {
            record(p, 1);
            p->open_until = 0;
            if (p->n_idle < p->max_idle) p->idle[p->n_idle++] = c, c = NULL;
        }
        if (c) redisFree(c);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

rpool *rpool_new(const rpool_opts *o, int max_idle) {
    rpool *p = mem_calloc(1, sizeof(*p));
    p->o = *o;
    p->max_idle = max_idle < 1 ? 1 : max_idle > RPOOL_MAX_IDLE ? RPOOL_MAX_IDLE : max_idle;
    p->backoff_ms = o->backoff_ms;
    p->up = 1; /* until proven otherwise */
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->stop_cv, NULL);
    pthread_create(&p->prober, NULL, probe_loop, p);
    return p;
}

static struct timeval tv_ms(int ms) {
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    return tv;
}

static int ok_reply(redisContext *c, const char *fmt, const char *arg) {
    redisReply *r = arg ? redisCommand(c, fmt, arg) : redisCommand(c, fmt);
    int ok = r && r->type != REDIS_REPLY_ERROR;
    if (r) freeReplyObject(r);
    return ok;
}

redisContext *rpool_connect(const rpool *p, int command_timeout_ms) {
    redisContext *c = redisConnectWithTimeout(p->o.host, p->o.port, tv_ms(p->o.connect_timeout_ms));
    if (!c || c->err) {
        if (c) redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv_ms(command_timeout_ms));
    char db[16];
    snprintf(db, sizeof(db), "%d", p->o.db);
    if ((p->o.password[0] && !ok_reply(c, "AUTH %s", p->o.password)) || (p->o.db && !ok_reply(c, "SELECT %s", db))) {
        redisFree(c);
        return NULL;
    }
    return c;
}

static void record(rpool *p, int ok) {
    /* caller holds p->mu */
    if (ok) {
        if (!p->up) log_info("redis %s:%d is back; cache enabled", p->o.host, p->o.port);
        p->failures = 0;
        p->backoff_ms = p->o.backoff_ms;
        p->up = 1;
        return;
    }
    if (++p->failures >= p->o.fail_threshold) {
        if (p->up || p->failures == p->o.fail_threshold)
            log_warn("redis %s:%d unavailable; bypassing the cache for %d ms", p->o.host, p->o.port, p->backoff_ms);
        p->open_until = clock_ms() + p->backoff_ms;
        p->backoff_ms = p->backoff_ms * 2 > p->o.max_backoff_ms ? p->o.max_backoff_ms : p->backoff_ms * 2;
        p->failures = 0;
        p->up = 0;
        for (int i = 0; i < p->n_idle; i++) redisFree(p->idle[i]);
        p->n_idle = 0;
    }
}

redisContext *rpool_get(rpool *p) {
    pthread_mutex_lock(&p->mu);
    if (clock_ms() < p->open_until) {
        pthread_mutex_unlock(&p->mu);
        return NULL;
    }
    redisContext *c = p->n_idle ? p->idle[--p->n_idle] : NULL;
    pthread_mutex_unlock(&p->mu);
    if (c) return c;
    c = rpool_connect(p, p->o.command_timeout_ms);
    if (!c) {
        pthread_mutex_lock(&p->mu);
        record(p, 0);
        pthread_mutex_unlock(&p->mu);
    }
    return c;
}

void rpool_put(rpool *p, redisContext *c, int ok) {
    if (!c) return;
    if (c->err) ok = 0;
    pthread_mutex_lock(&p->mu);
    record(p, ok);
    if (ok && p->n_idle < p->max_idle) {
        p->idle[p->n_idle++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&p->mu);
    if (c) redisFree(c);
}

void rpool_note(rpool *p, int ok) {
    pthread_mutex_lock(&p->mu);
    if (ok ? !p->up || p->failures : clock_ms() >= p->open_until) record(p, ok);
    pthread_mutex_unlock(&p->mu);
}

int rpool_up(rpool *p) {
    pthread_mutex_lock(&p->mu);
    int up = p->up && clock_ms() >= p->open_until;
    pthread_mutex_unlock(&p->mu);
    return up;
}

void rpool_free(rpool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stopping = 1;
    pthread_cond_signal(&p->stop_cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->prober, NULL);
    pthread_cond_destroy(&p->stop_cv);
    for (int i = 0; i < p->n_idle; i++) redisFree(p->idle[i]);
    pthread_mutex_destroy(&p->mu);
    mem_free(p);
}
