/* query_cache.c - the Redis semantic cache: exact vectors, exact results, near-duplicate queries */
#include "query_cache.h"
#include "clock.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <utf8proc.h>

#include "cache_codec.h"
#include "err.h"
#include "log.h"
#include "mem.h"
#include "local_cache.h"
#include "query_guard.h"
#include "semantic_mirror.h"
#include "sha256.h"

#define QC_FEED "ragd:v1:semfeed"
/* Set once per Redis dataset (SET NX); a FLUSHDB or a restart without
 * persistence removes it, and a replica that sees it change drops its mirror. */
#define QC_EPOCH "ragd:v1:epoch"
#define QC_MAX_TEXT 2048 /* longer queries get no semantic entry (the guard needs the whole text) */

typedef struct wjob {
    qkey key;
    float *vec, *kvec; /* kvec: the key vector, NULL = no semantic entry */
    int dim, kdim, store_vector;
    char *text; /* the query as typed (normalised, case kept), with kvec */
    size_t text_len;
    int exact_only; /* tiers 1 and 2 only (write-back after a semantic hit) */
    char epoch[40]; /* exact_only: the dataset epoch the hit was served from */
    char *results; /* the payload: a result list, or an answer */
    size_t results_len;
    int64_t ttl_ms; /* of the payload and the semantic entry */
    struct wjob *next;
} wjob;

struct qcache {
    qcache_opts o;
    qcache_hooks hooks;
    rpool *pool;
    mirror *mirror;
    lcache *l1; /* NULL when off */
    pthread_t writer, feeder;
    pthread_mutex_t mu;
    pthread_cond_t cv, idle_cv;
    wjob *head, *tail;
    int pending, busy;
    atomic_int stopping;
    char epoch[40];      /* the dataset epoch the mirror was fed from (written under mu) */
    char epoch_new[40];  /* the value this replica offers when the key is missing (feeder thread) */
};


static int64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void event(qcache *c, const char *name) {
    if (c->hooks.event) c->hooks.event(name);
}

qcache_opts qcache_opts_default(void) {
    qcache_opts o = {.redis = rpool_opts_default(), .vector_ttl_ms = 7LL * 24 * 3600 * 1000,
                     .results_ttl_ms = 3600LL * 1000, .threshold = 0.94f, .guard = 1,
                     .guard_max_words = QGUARD_MAX_WORDS_DEFAULT, .mirror_max = 10000,
                     .feed_maxlen = 10000, .max_pending_writes = 1000, .l1_max = 10000};
    return o;
}

/* ---- keys ---- */

char *qcache_normalize(const char *text, size_t len, int uncased) {
    utf8proc_uint8_t *mapped = NULL;
    int flags = UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT | (uncased ? UTF8PROC_CASEFOLD : 0);
    utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)text, (utf8proc_ssize_t)len, &mapped, flags);
    const char *src = n >= 0 ? (const char *)mapped : text;
    size_t sl = n >= 0 ? (size_t)n : len;
    char *out = mem_alloc(sl + 1);
    size_t o = 0;
    int space = 0;
    for (size_t i = 0; i < sl; i++) {
        if (isspace((unsigned char)src[i])) {
            space = o > 0;
            continue;
        }
        if (space) out[o++] = ' ';
        space = 0;
        out[o++] = src[i];
    }
    out[o] = '\0';
    free(mapped);
    return out;
}

static void hash_parts(char *hex, size_t hexlen, const char *const *parts, int n) {
    sha256_ctx s;
    char full[SHA256_HEX_LEN + 1];
    sha256_init(&s);
    for (int i = 0; i < n; i++) sha256_update(&s, parts[i], strlen(parts[i]) + 1);
    sha256_final_hex(&s, full);
    snprintf(hex, hexlen + 1, "%.*s", (int)hexlen, full);
}

/* The namespace as it appears in keys: itself if tame, else a hash. The
 * full namespace is inside every key's hash anyway. */
static void ns_tag(const char *ns, char *out, size_t cap) {
    size_t n = strlen(ns);
    int tame = n > 0 && n <= 32;
    for (size_t i = 0; tame && i < n; i++) tame = isalnum((unsigned char)ns[i]) || ns[i] == '-' || ns[i] == '_';
    if (tame) snprintf(out, cap, "%s", ns);
    else {
        char h[17];
        const char *p[] = {ns};
        hash_parts(h, 16, p, 1);
        snprintf(out, cap, "h%s", h);
    }
}

void qcache_key(const qcache *c, qkey *key, const char *ns, const char *version, const char *model_id,
                const char *key_model_id, int uncased, const char *text, size_t len, int k, const char *url_prefix) {
    (void)c;
    char *norm = qcache_normalize(text, len, uncased), tag[40], ks[16], h[33];
    const char *prefix = url_prefix ? url_prefix : "";
    snprintf(ks, sizeof(ks), "%d", k);
    ns_tag(ns, tag, sizeof(tag));
    const char *vp[] = {"vec", ns, model_id, norm};
    hash_parts(h, 32, vp, 4);
    snprintf(key->vec_key, sizeof(key->vec_key), "ragd:v1:%s:vec:%s", tag, h);
    const char *rp[] = {"res", ns, version, model_id, norm, ks, prefix};
    hash_parts(h, 32, rp, 7);
    snprintf(key->res_key, sizeof(key->res_key), "ragd:v1:%s:res:%s", tag, h);
    const char *gp[] = {"grp", ns, version, model_id, key_model_id ? key_model_id : "", ks, prefix};
    hash_parts(key->group, 64, gp, 7);
    const char *sp[] = {"sem", key->group, norm};
    hash_parts(h, 32, sp, 3);
    snprintf(key->sem_key, sizeof(key->sem_key), "ragd:v1:%s:sem:%s", tag, h);
    key->k = k;
    mem_free(norm);
}

/* ---- lookups ---- */

/* The L1: 1 and the hits if this replica holds the result list. */
static int l1_lookup(qcache *c, const qkey *key, fused_hit *hits, int *n) {
    void *blob;
    size_t len;
    if (!c->l1 || !lcache_get(c->l1, key->res_key, wall_ms(), &blob, &len)) return 0;
    int ok = codec_decode_results(blob, len, key->k, hits, n) == 0;
    mem_free(blob);
    if (ok) event(c, "l1_hits");
    return ok;
}

/* MGET results + vector and PTTL of the results, in one round trip. */
static redisReply *lookup_round_trip(qcache *c, redisContext *ctx, const qkey *key, long long *pttl) {
    const char *mget[] = {"MGET", key->res_key, key->vec_key};
    const char *ttl[] = {"PTTL", key->res_key};
    double t = clock_ms();
    redisAppendCommandArgv(ctx, 3, mget, NULL);
    redisAppendCommandArgv(ctx, 2, ttl, NULL);
    redisReply *r = NULL, *tr = NULL;
    if (redisGetReply(ctx, (void **)&r) != REDIS_OK) r = NULL;
    if (r && redisGetReply(ctx, (void **)&tr) != REDIS_OK) tr = NULL;
    if (c->hooks.latency) c->hooks.latency((clock_ms() - t) / 1000.0);
    *pttl = tr && tr->type == REDIS_REPLY_INTEGER ? tr->integer : -1;
    if (tr) freeReplyObject(tr);
    else if (r) freeReplyObject(r), r = NULL; /* half a pipeline: the connection is unusable */
    return r;
}

int qcache_lookup(qcache *c, const qkey *key, int dim, fused_hit *hits, int *n, float *vec, int *have_vec) {
    *have_vec = 0;
    *n = 0;
    if (l1_lookup(c, key, hits, n)) return CACHE_RESULTS;
    redisContext *ctx = rpool_get(c->pool);
    if (!ctx) return CACHE_BYPASS;
    long long pttl;
    redisReply *r = lookup_round_trip(c, ctx, key, &pttl);
    int ok = r && r->type == REDIS_REPLY_ARRAY && r->elements == 2;
    rpool_put(c->pool, ctx, ok);
    if (!ok) {
        event(c, "redis_errors");
        if (r) freeReplyObject(r);
        return CACHE_BYPASS;
    }
    int status = CACHE_MISS;
    redisReply *res = r->element[0], *v = r->element[1];
    if (res->type == REDIS_REPLY_STRING) {
        if (codec_decode_results(res->str, res->len, key->k, hits, n) == 0) status = CACHE_RESULTS;
        else event(c, "corrupt_entries");
        if (status == CACHE_RESULTS && c->l1 && pttl > 0) lcache_put(c->l1, key->res_key, res->str, res->len, wall_ms() + pttl);
    }
    if (status == CACHE_MISS && v->type == REDIS_REPLY_STRING) {
        if (codec_decode_vector(v->str, v->len, dim, vec) == 0) *have_vec = 1;
        else event(c, "corrupt_entries");
    }
    freeReplyObject(r);
    return status;
}

int qcache_semantic_on(const qcache *c) {
    return c->o.key_model != NULL && c->o.threshold <= 1.0f;
}

int qcache_semantic(qcache *c, const qkey *key, const float *kvec, int kdim, const char *text, size_t len,
                    fused_hit *hits, int *n, float *score) {
    if (!qcache_semantic_on(c)) return 0;
    void *blob = NULL;
    size_t blen = 0;
    if (!mirror_lookup(c->mirror, key->group, kvec, kdim, c->o.threshold, wall_ms(), score, &blob, &blen)) return 0;
    const char *cached;
    size_t clen;
    int ok = codec_decode_tail(blob, blen, key->k, &cached, &clen, hits, n) == 0;
    if (!ok) event(c, "corrupt_entries");
    if (ok && c->o.guard) {
        char *mine = qcache_normalize(text, len, 0);
        int v = qguard_check(mine, strlen(mine), cached, clen, c->o.guard_max_words);
        mem_free(mine);
        if (v != QG_ACCEPT) {
            ok = 0;
            if (c->hooks.guard_reject) c->hooks.guard_reject(qguard_reason(v));
        }
    }
    mem_free(blob);
    return ok;
}

/* ---- answers (POST /v1/answer) ---- */

static void queue_store(qcache *c, const qkey *key, const float *vec, int dim, int store_vector, int exact_only,
                        const float *kvec, int kdim, const char *text, size_t len, char *payload, size_t plen,
                        int64_t ttl_ms);

void qcache_answer_key(const qcache *c, qkey *key, const char *ns, const char *version, const char *llm_model,
                       const char *key_model_id, int uncased, const char *spec, const char *text, size_t len) {
    (void)c;
    char *norm = qcache_normalize(text, len, uncased), tag[40], h[33];
    ns_tag(ns, tag, sizeof(tag));
    const char *ap[] = {"ans", ns, version, llm_model, spec, norm};
    hash_parts(h, 32, ap, 6);
    snprintf(key->res_key, sizeof(key->res_key), "ragd:v1:%s:ans:%s", tag, h);
    key->vec_key[0] = '\0';
    const char *gp[] = {"agrp", ns, version, llm_model, key_model_id ? key_model_id : "", spec};
    hash_parts(key->group, 64, gp, 6);
    const char *sp[] = {"asem", key->group, norm};
    hash_parts(h, 32, sp, 3);
    snprintf(key->sem_key, sizeof(key->sem_key), "ragd:v1:%s:sem:a%s", tag, h);
    key->k = 0;
    mem_free(norm);
}

int qcache_answer_lookup(qcache *c, const qkey *key, char **json, size_t *len) {
    *json = NULL;
    redisContext *ctx = rpool_get(c->pool);
    if (!ctx) return CACHE_BYPASS;
    double t = clock_ms();
    redisReply *r = redisCommand(ctx, "GET %s", key->res_key);
    if (c->hooks.latency) c->hooks.latency((clock_ms() - t) / 1000.0);
    int ok = r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_NIL);
    rpool_put(c->pool, ctx, ok);
    if (!ok) {
        event(c, "redis_errors");
        if (r) freeReplyObject(r);
        return CACHE_BYPASS;
    }
    int status = CACHE_MISS;
    const char *j;
    if (r->type == REDIS_REPLY_STRING) {
        if (codec_decode_answer(r->str, r->len, &j, len) == 0) {
            *json = mem_strndup(j, *len);
            status = CACHE_RESULTS;
        } else event(c, "corrupt_entries");
    }
    freeReplyObject(r);
    return status;
}

/* The guard's verdict on a candidate's text (1: accept). */
static int guard_accepts(qcache *c, const char *text, size_t len, const char *cached, size_t clen) {
    if (!c->o.guard) return 1;
    char *mine = qcache_normalize(text, len, 0);
    int v = qguard_check(mine, strlen(mine), cached, clen, c->o.guard_max_words);
    mem_free(mine);
    if (v != QG_ACCEPT && c->hooks.guard_reject) c->hooks.guard_reject(qguard_reason(v));
    return v == QG_ACCEPT;
}

int qcache_answer_semantic(qcache *c, const qkey *key, const float *kvec, int kdim, const char *text, size_t len,
                           char **json, size_t *jlen, float *score) {
    *json = NULL;
    if (!qcache_semantic_on(c)) return 0;
    void *blob = NULL;
    size_t blen = 0;
    if (!mirror_lookup(c->mirror, key->group, kvec, kdim, c->o.threshold, wall_ms(), score, &blob, &blen)) return 0;
    const char *cached, *j;
    size_t clen;
    int ok = codec_decode_answer_tail(blob, blen, &cached, &clen, &j, jlen) == 0;
    if (!ok) event(c, "corrupt_entries");
    if (ok && (ok = guard_accepts(c, text, len, cached, clen))) *json = mem_strndup(j, *jlen);
    mem_free(blob);
    return ok;
}

void qcache_answer_store(qcache *c, const qkey *key, const float *kvec, int kdim, const char *text, size_t len,
                         const char *json, size_t jlen, int64_t ttl_ms) {
    size_t plen;
    char *payload = codec_encode_answer(json, jlen, &plen);
    queue_store(c, key, NULL, 0, 0, 0, kvec, kdim, text, len, payload, plen, ttl_ms);
}

void qcache_answer_store_exact(qcache *c, const qkey *key, const char *json, size_t jlen, int64_t ttl_ms) {
    size_t plen;
    char *payload = codec_encode_answer(json, jlen, &plen);
    queue_store(c, key, NULL, 0, 0, 1, NULL, 0, NULL, 0, payload, plen, ttl_ms);
}

/* ---- writes (background thread) ---- */

static void wjob_free(wjob *j) {
    mem_free(j->vec), mem_free(j->kvec), mem_free(j->text), mem_free(j->results), mem_free(j);
}

/* Queue one write job; payload (a result list or an answer) is taken over. */
static void queue_store(qcache *c, const qkey *key, const float *vec, int dim, int store_vector, int exact_only,
                        const float *kvec, int kdim, const char *text, size_t len, char *payload, size_t plen,
                        int64_t ttl_ms) {
    if (!rpool_up(c->pool)) {
        mem_free(payload);
        return;
    }
    wjob *j = mem_calloc(1, sizeof(*j));
    if (kvec && qcache_semantic_on(c)) {
        j->text = qcache_normalize(text, len, 0);
        j->text_len = strlen(j->text);
        if (j->text_len <= QC_MAX_TEXT) {
            j->kdim = kdim;
            j->kvec = mem_alloc(sizeof(float) * (size_t)kdim);
            memcpy(j->kvec, kvec, sizeof(float) * (size_t)kdim);
        } else {
            mem_free(j->text);
            j->text = NULL;
        }
    }
    j->exact_only = exact_only;
    if (exact_only) {
        pthread_mutex_lock(&c->mu);
        snprintf(j->epoch, sizeof(j->epoch), "%s", c->epoch);
        pthread_mutex_unlock(&c->mu);
    }
    j->key = *key;
    j->dim = dim;
    j->store_vector = store_vector && vec;
    if (vec) {
        j->vec = mem_alloc(sizeof(float) * (size_t)dim);
        memcpy(j->vec, vec, sizeof(float) * (size_t)dim);
    }
    j->results = payload;
    j->results_len = plen;
    j->ttl_ms = ttl_ms;
    pthread_mutex_lock(&c->mu);
    if (c->pending >= c->o.max_pending_writes) {
        pthread_mutex_unlock(&c->mu);
        event(c, "write_errors");
        wjob_free(j);
        return;
    }
    if (c->tail) c->tail->next = j;
    else c->head = j;
    c->tail = j;
    c->pending++;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

void qcache_store(qcache *c, const qkey *key, const float *vec, int dim, int store_vector, const float *kvec,
                  int kdim, const char *text, size_t len, const fused_hit *hits, int n) {
    size_t plen;
    char *payload = codec_encode_results(hits, n, &plen);
    queue_store(c, key, vec, dim, store_vector, 0, kvec, kdim, text, len, payload, plen, c->o.results_ttl_ms);
    /* Fresh results: the L1 may hold them as long as Redis will. (Not for
     * semantic write-backs: Redis may refuse those after a purge.) */
    if (c->l1 && rpool_up(c->pool)) {
        size_t len;
        char *blob = codec_encode_results(hits, n, &len);
        lcache_put(c->l1, key->res_key, blob, len, wall_ms() + c->o.results_ttl_ms);
        mem_free(blob);
    }
}

void qcache_store_exact(qcache *c, const qkey *key, const float *vec, int dim, const fused_hit *hits, int n) {
    size_t plen;
    char *payload = codec_encode_results(hits, n, &plen);
    queue_store(c, key, vec, dim, vec != NULL, 1, NULL, 0, NULL, 0, payload, plen, c->o.results_ttl_ms);
}

/* Write a semantic hit's results (and vector) under the query's own keys,
 * but only if the dataset is still the one the hit came from: a hit served
 * in the moment before a FLUSHDB reached the mirror must not bring purged
 * results back as exact keys. One script, so the check and writes are atomic. */
static int write_back(redisContext *ctx, const wjob *j, const char *vval, size_t vlen, const char *rttl,
                      const char *vttl) {
    static const char script[] =
        "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end "
        "redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3]) "
        "if ARGV[4] ~= '' then redis.call('SET', KEYS[3], ARGV[4], 'PX', ARGV[5]) end return 1";
    const char *a[] = {"EVAL", script, "3", QC_EPOCH, j->key.res_key, j->key.vec_key,
                       j->epoch, j->results, rttl, vval ? vval : "", vttl};
    size_t l[] = {4, sizeof(script) - 1, 1, strlen(QC_EPOCH), strlen(j->key.res_key), strlen(j->key.vec_key),
                  strlen(j->epoch), j->results_len, strlen(rttl), vval ? vlen : 0, strlen(vttl)};
    redisReply *r = redisCommandArgv(ctx, 11, a, l);
    int ok = r && r->type == REDIS_REPLY_INTEGER;
    if (r) freeReplyObject(r);
    return ok;
}

static int write_job(qcache *c, redisContext *ctx, const wjob *j) {
    char rttl[32], vttl[32], maxlen[32];
    snprintf(rttl, sizeof(rttl), "%lld", (long long)j->ttl_ms);
    snprintf(vttl, sizeof(vttl), "%lld", (long long)c->o.vector_ttl_ms);
    snprintf(maxlen, sizeof(maxlen), "%d", c->o.feed_maxlen);
    size_t elen = 0, vlen = 0;
    char *entry = j->kvec ? codec_encode_entry(c->o.key_model, j->key.group, wall_ms() + j->ttl_ms, j->kvec,
                                               j->kdim, j->text, j->text_len, j->results, j->results_len, &elen)
                          : NULL;
    char *vval = j->store_vector ? codec_encode_vector(j->vec, j->dim, &vlen) : NULL;
    const char *a1[] = {"SET", j->key.res_key, j->results, "PX", rttl};
    size_t l1[] = {3, strlen(j->key.res_key), j->results_len, 2, strlen(rttl)};
    const char *a2[] = {"SET", j->key.sem_key, entry, "PX", rttl};
    size_t l2[] = {3, strlen(j->key.sem_key), elen, 2, strlen(rttl)};
    const char *a3[] = {"XADD", QC_FEED, "MAXLEN", "~", maxlen, "*", "k", j->key.sem_key};
    size_t l3[] = {4, strlen(QC_FEED), 6, 1, strlen(maxlen), 1, 1, strlen(j->key.sem_key)};
    if (j->exact_only) {
        int ok = write_back(ctx, j, vval, vlen, rttl, vttl);
        mem_free(entry);
        mem_free(vval);
        return ok;
    }
    int cmds = 1;
    redisAppendCommandArgv(ctx, 5, a1, l1);
    if (entry) {
        redisAppendCommandArgv(ctx, 5, a2, l2);
        redisAppendCommandArgv(ctx, 8, a3, l3);
        cmds += 2;
    }
    if (vval) {
        const char *a4[] = {"SET", j->key.vec_key, vval, "PX", vttl};
        size_t l4[] = {3, strlen(j->key.vec_key), vlen, 2, strlen(vttl)};
        redisAppendCommandArgv(ctx, 5, a4, l4);
        cmds++;
    }
    int ok = 1;
    for (int i = 0; i < cmds; i++) {
        redisReply *r = NULL;
        if (redisGetReply(ctx, (void **)&r) != REDIS_OK || !r || r->type == REDIS_REPLY_ERROR) ok = 0;
        if (r) freeReplyObject(r);
        if (ctx->err) break;
    }
    mem_free(entry);
    mem_free(vval);
    return ok;
}

static void *writer_loop(void *arg) {
    qcache *c = arg;
    for (;;) {
        pthread_mutex_lock(&c->mu);
        while (!c->head && !atomic_load(&c->stopping)) pthread_cond_wait(&c->cv, &c->mu);
        wjob *j = c->head;
        if (j) {
            c->head = j->next;
            if (!c->head) c->tail = NULL;
            c->busy = 1;
        }
        pthread_mutex_unlock(&c->mu);
        if (!j) return NULL;
        redisContext *ctx = rpool_get(c->pool);
        int ok = ctx && write_job(c, ctx, j);
        if (ctx) rpool_put(c->pool, ctx, ok);
        event(c, ok ? "writes" : "write_errors");
        wjob_free(j);
        pthread_mutex_lock(&c->mu);
        c->pending--;
        c->busy = 0;
        pthread_cond_broadcast(&c->idle_cv);
        pthread_mutex_unlock(&c->mu);
    }
}

/* ---- the semantic feed (background thread) ---- */

/* Mirror one announced entry if it is valid, unexpired and made by this
 * replica's key embedder. Entries of another format or key embedder are
 * foreign: counted, never mirrored. */
static void feed_entry(qcache *c, redisContext *ctx, const char *key) {
    if (!qcache_semantic_on(c)) return;
    redisReply *r = redisCommand(ctx, "GET %s", key);
    if (!r || r->type != REDIS_REPLY_STRING) {
        if (r) freeReplyObject(r);
        return;
    }
    codec_entry e;
    int st = codec_decode_entry(r->str, r->len, &e);
    if (st != CODEC_ENTRY_OK) {
        event(c, st == CODEC_ENTRY_FOREIGN ? "foreign_entries" : "corrupt_entries");
    } else if (e.key_model_len != strlen(c->o.key_model) || memcmp(e.key_model, c->o.key_model, e.key_model_len) != 0) {
        event(c, "foreign_entries"); /* another key embedder: its vectors are not comparable to ours */
    } else if (e.expires > wall_ms()) {
        float *v = mem_alloc(sizeof(float) * (size_t)e.dim);
        memcpy(v, e.vec, sizeof(float) * (size_t)e.dim);
        mirror_add(c->mirror, key, e.group, v, e.dim, e.expires, e.tail, e.tail_len);
        mem_free(v);
    }
    freeReplyObject(r);
}

/* Has the dataset changed under us (FLUSHDB, FLUSHALL, a restart without
 * persistence)? Then drop the mirror and read the feed from its start.
 * Called before every feed read, so a purge reaches every replica within
 * one read period (500 ms) plus a round trip. -1 on a connection error. */
static void fresh_epoch(char out[40]) {
    unsigned char rnd[8] = {0};
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
        uint64_t x = (uint64_t)wall_ms() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)clock_ms();
        memcpy(rnd, &x, sizeof(rnd));
    }
    for (int i = 0; i < 8; i++) snprintf(out + 2 * i, 3, "%02x", rnd[i]);
}

static int check_epoch(qcache *c, redisContext *ctx, char *last, size_t last_cap) {
    fresh_epoch(c->epoch_new); /* a re-created key must never repeat an old value */
    redisReply *r = redisCommand(ctx, "SET %s %s NX", QC_EPOCH, c->epoch_new);
    if (r) freeReplyObject(r);
    r = redisCommand(ctx, "GET %s", QC_EPOCH);
    if (!r || ctx->err) {
        if (r) freeReplyObject(r);
        return -1;
    }
    if (r->type == REDIS_REPLY_STRING && r->len < sizeof(c->epoch) && strcmp(c->epoch, r->str) != 0) {
        if (c->epoch[0] || mirror_size(c->mirror) > 0) {
            mirror_clear(c->mirror);
            if (c->l1) lcache_clear(c->l1);
            event(c, "mirror_purges");
            log_info("redis dataset changed (epoch %s -> %s): semantic mirror cleared", c->epoch[0] ? c->epoch : "-",
                     r->str);
        }
        pthread_mutex_lock(&c->mu);
        snprintf(c->epoch, sizeof(c->epoch), "%s", r->str);
        pthread_mutex_unlock(&c->mu);
        snprintf(last, last_cap, "0");
    }
    freeReplyObject(r);
    return 0;
}

static void *feeder_loop(void *arg) {
    qcache *c = arg;
    char last[64] = "0", feed_err[160] = "";
    int feed_backoff_ms = 100;
    redisContext *ctx = NULL;
    while (!atomic_load(&c->stopping)) {
        if (!ctx && !(ctx = rpool_connect(c->pool, 1500))) {
            rpool_note(c->pool, 0);
            for (int i = 0; i < 5 && !atomic_load(&c->stopping); i++) usleep(100 * 1000);
            continue;
        }
        if (check_epoch(c, ctx, last, sizeof(last)) != 0) {
            rpool_note(c->pool, 0);
            redisFree(ctx);
            ctx = NULL;
            continue;
        }
        redisReply *r = redisCommand(ctx, "XREAD COUNT 256 BLOCK 500 STREAMS %s %s", QC_FEED, last);
        if (!r || ctx->err) {
            if (r) freeReplyObject(r);
            rpool_note(c->pool, 0);
            redisFree(ctx);
            ctx = NULL;
            continue;
        }
        if (r->type == REDIS_REPLY_ERROR) {
            /* WRONGTYPE (the key is not a stream), LOADING, BUSY, an ACL
             * refusal: the reply comes at once, so back off (0.1 s doubling
             * to 5 s), count every one and log when the error changes,
             * instead of asking again at once (security review finding 4). */
            event(c, "feed_errors");
            if (strncmp(feed_err, r->str ? r->str : "", sizeof(feed_err) - 1) != 0) {
                snprintf(feed_err, sizeof(feed_err), "%s", r->str ? r->str : "");
                log_warn("semantic cache feed %s: redis says \"%s\"; retrying with back-off", QC_FEED, feed_err);
            }
            freeReplyObject(r);
            for (int waited = 0; waited < feed_backoff_ms && !atomic_load(&c->stopping); waited += 50) usleep(50 * 1000);
            feed_backoff_ms = feed_backoff_ms * 2 > 5000 ? 5000 : feed_backoff_ms * 2;
            continue;
        }
        feed_backoff_ms = 100;
        feed_err[0] = '\0';
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 && r->element[0]->elements == 2) {
            redisReply *msgs = r->element[0]->element[1];
            for (size_t i = 0; i < msgs->elements; i++) {
                redisReply *m = msgs->element[i];
                if (m->type != REDIS_REPLY_ARRAY || m->elements != 2 || m->element[0]->type != REDIS_REPLY_STRING)
                    continue;
                snprintf(last, sizeof(last), "%s", m->element[0]->str);
                redisReply *f = m->element[1];
                if (f->type != REDIS_REPLY_ARRAY) continue;
                for (size_t j = 0; j + 1 < f->elements; j += 2)
                    if (f->element[j]->type == REDIS_REPLY_STRING && f->element[j + 1]->type == REDIS_REPLY_STRING &&
                        !strcmp(f->element[j]->str, "k"))
                        feed_entry(c, ctx, f->element[j + 1]->str);
            }
        }
        freeReplyObject(r);
    }
    if (ctx) redisFree(ctx);
    return NULL;
}

/* ---- lifecycle ---- */

qcache *qcache_new(const qcache_opts *o, const qcache_hooks *hooks, char *err) {
    if (o->results_ttl_ms < 1 || o->vector_ttl_ms < 1) {
        err_set(err, "cache TTLs must be positive");
        return NULL;
    }
    if (o->threshold <= 0) {
        err_set(err, "--cache-threshold must be in (0, 1] (or above 1 to turn the semantic tier off)");
        return NULL;
    }
    qcache *c = mem_calloc(1, sizeof(*c));
    c->o = *o;
    if (hooks) c->hooks = *hooks;
    c->pool = rpool_new(&o->redis, 16);
    c->mirror = mirror_new(o->mirror_max);
    if (o->l1_max > 0) c->l1 = lcache_new(o->l1_max);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    pthread_cond_init(&c->idle_cv, NULL);
    pthread_create(&c->writer, NULL, writer_loop, c);
    pthread_create(&c->feeder, NULL, feeder_loop, c);
    return c;
}

int qcache_up(qcache *c) {
    return rpool_up(c->pool);
}

void qcache_epoch(qcache *c, char *out, size_t cap) {
    pthread_mutex_lock(&c->mu);
    snprintf(out, cap, "%s", c->epoch);
    pthread_mutex_unlock(&c->mu);
}

size_t qcache_mirror_size(qcache *c) {
    return mirror_size(c->mirror);
}

void qcache_flush(qcache *c, int timeout_ms) {
    double end = clock_ms() + timeout_ms;
    pthread_mutex_lock(&c->mu);
    while ((c->head || c->busy) && clock_ms() < end) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000000;
        if (ts.tv_nsec >= 1000000000) ts.tv_sec++, ts.tv_nsec -= 1000000000;
        pthread_cond_timedwait(&c->idle_cv, &c->mu, &ts);
    }
    pthread_mutex_unlock(&c->mu);
}

void qcache_free(qcache *c) {
    if (!c) return;
    qcache_flush(c, 2000);
    atomic_store(&c->stopping, 1);
    pthread_mutex_lock(&c->mu);
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->writer, NULL);
    pthread_join(c->feeder, NULL);
    for (wjob *j = c->head, *next; j; j = next) {
        next = j->next;
        wjob_free(j);
    }
    mirror_free(c->mirror);
    lcache_free(c->l1);
    rpool_free(c->pool);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    pthread_cond_destroy(&c->idle_cv);
    mem_free(c);
}
