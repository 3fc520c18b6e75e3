/* rate_limit.c - token-bucket rate limits */
#include "rate_limit.h"
#include "clock.h"

#include <pthread.h>
#include <time.h>

#include "mem.h"
#include "strmap.h"

typedef struct bucket {
    double tokens, last;
} bucket;

struct rate_limit {
    double rate, burst;
    strmap *buckets;
    pthread_mutex_t mu;
};

static double now_s(void) {
    return clock_ms() / 1000.0;
}

rate_limit *rate_limit_new(double rate, double burst) {
    rate_limit *rl = mem_calloc(1, sizeof(*rl));
    rl->rate = rate;
    rl->burst = burst < 1 ? 1 : burst;
    rl->buckets = strmap_new();
    pthread_mutex_init(&rl->mu, NULL);
    return rl;
}

/* Full table: forget every bucket that has refilled (idle ones). */
static void prune(rate_limit *rl, double now) {
    strmap *keep = strmap_new();
    size_t it = 0;
    const char *k;
    void *v;
    while (strmap_next(rl->buckets, &it, &k, &v)) {
        bucket *b = v;
        if (b->tokens + (now - b->last) * rl->rate < rl->burst) strmap_put(keep, k, b);
        else mem_free(b);
    }
    strmap_free(rl->buckets, NULL);
    rl->buckets = keep;
    if (strmap_len(keep) >= RATE_LIMIT_MAX_BUCKETS) {
        strmap_free(keep, mem_free); /* still full: start over rather than grow */
        rl->buckets = strmap_new();
    }
}

int rate_limit_take(rate_limit *rl, const char *key, double rate, double burst, double *retry_after_s) {
    if (rate <= 0) rate = rl->rate;
    if (burst <= 0) burst = rl->burst;
    return rate_limit_take_n(rl, key, rate, burst, 1.0, retry_after_s);
}

/* The bucket of key, created full and refilled to now (under rl->mu). */
static bucket *refill(rate_limit *rl, const char *key, double rate, double burst) {
    double now = now_s();
    bucket *b = strmap_get(rl->buckets, key);
    if (!b) {
        if (strmap_len(rl->buckets) >= RATE_LIMIT_MAX_BUCKETS) prune(rl, now);
        b = mem_alloc(sizeof(*b));
        b->tokens = burst;
        b->last = now;
        strmap_put(rl->buckets, key, b);
    }
    b->tokens += (now - b->last) * rate;
    if (b->tokens > burst) b->tokens = burst;
    b->last = now;
    return b;
}

int rate_limit_take_n(rate_limit *rl, const char *key, double rate, double burst, double n, double *retry_after_s) {
    if (rate <= 0) return 1;
    if (burst < 1) burst = 1;
    if (n > burst) n = burst; /* a request bigger than the bucket waits for a full one, not forever */
    pthread_mutex_lock(&rl->mu);
    bucket *b = refill(rl, key, rate, burst);
    int ok = b->tokens >= n;
    if (ok) b->tokens -= n;
    else *retry_after_s = (n - b->tokens) / rate;
    pthread_mutex_unlock(&rl->mu);
    return ok;
}

void rate_limit_give(rate_limit *rl, const char *key, double rate, double burst, double n) {
    if (rate <= 0 || n <= 0) return;
    pthread_mutex_lock(&rl->mu);
    bucket *b = refill(rl, key, rate, burst);
    b->tokens = b->tokens + n > burst ? burst : b->tokens + n;
    pthread_mutex_unlock(&rl->mu);
}

void rate_limit_free(rate_limit *rl) {
    if (!rl) return;
    strmap_free(rl->buckets, mem_free);
    pthread_mutex_destroy(&rl->mu);
    mem_free(rl);
}
