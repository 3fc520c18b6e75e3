/* query_cache.h - the Redis semantic cache: exact vectors, exact results, near-duplicate queries
 *
 * Three tiers, every key gated by the namespace (the API key's tenant):
 *   1. vector  (ns, embedder, normalised query)                 -> query vector, long TTL
 *   2. results (ns, index version, embedder, query, k, filter)  -> result list, short TTL
 *   3. semantic: an entry (key vector + query text + results) per tier-2
 *      write, announced on a Redis stream; every replica mirrors the key
 *      vectors in memory and serves the results of the nearest earlier
 *      query of the same group (ns, version, embedder, key embedder, k,
 *      filter) when cosine >= threshold and the guard (query_guard)
 *      finds no word that changes the meaning. The key vector comes from
 *      a cheap local key embedder, so a semantic hit can skip a remote
 *      index embedder entirely.
 * Tier 2 has an in-process L1 (local_cache) filled from Redis reads (with
 * Redis's remaining TTL) and from this replica's writes, so an exact repeat
 * needs no Redis round trip. A semantic hit writes tiers 1 and 2 back under its own keys. Every
 * replica drops its mirror when Redis's dataset changes (an epoch key that
 * FLUSHDB or a restart removes), so purged entries stop being served.
 * A new index version changes tier-2 and tier-3 keys, so a reindex never
 * serves stale results. TTLs are set at write and never extended by reads.
 * Values are compact binary and validated on read (a corrupt or foreign
 * value is a miss plus an event). Writes go to a background thread and are
 * pipelined. When Redis is unreachable the breaker (redis_pool) makes every
 * call return CACHE_BYPASS at once.
 *
 *     qcache *c = qcache_new(&opts, &hooks, err);
 *     qkey k;
 *     qcache_key(c, &k, tenant, version, model_id, key_model_id, uncased, text, len, 10, NULL);
 *     int st = qcache_lookup(c, &k, dim, hits, &n, vec, &have_vec);   // tiers 1 and 2
 *     if (st == CACHE_MISS && qcache_semantic(c, &k, kvec, kdim, text, len, hits2, &n2, &score)) ...;
 *     qcache_store(c, &k, vec, dim, store_vector, kvec, kdim, text, len, hits, n);   // async
 */
#ifndef RAGD_QUERY_CACHE_H
#define RAGD_QUERY_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "fusion.h"
#include "index_version.h"
#include "redis_pool.h"

#define QC_KEY_LEN 160

/* How the cache answered a query: the service's responses and metrics
 * use these names as they are. */
enum cache_outcome {
    CACHE_MISS = 0,
    CACHE_EXACT,    /* query vector from the cache, embedder skipped */
    CACHE_RESULTS,  /* whole result list from the cache */
    CACHE_SEMANTIC, /* results of a near-duplicate query */
    CACHE_BYPASS,   /* cache unreachable or disabled for this request */
    CACHE_OUTCOME_COUNT
};

typedef struct qcache_opts {
    rpool_opts redis;
    int64_t vector_ttl_ms;  /* tier 1, default 7 days */
    int64_t results_ttl_ms; /* tiers 2 and 3, default 1 hour */
    float threshold;        /* tier 3 cosine threshold, default 0.94; > 1 disables tier 3 */
    int guard;              /* tier 3 candidates checked word by word (query_guard), default 1 */
    int guard_max_words;    /* content words one side only the guard allows, default 3 */
    const char *key_model;  /* model id of the key embedder; entries of another are foreign. NULL: tier 3 off */
    int mirror_max;         /* entries mirrored in memory, default 10000 */
    int feed_maxlen;        /* semantic feed stream length, default 10000 */
    int max_pending_writes; /* queued writes before new ones are dropped, default 1000 */
    int l1_max;             /* exact result lists kept in process (local_cache), default 10000; 0 = off */
} qcache_opts;

/* Callbacks into the service's metrics (may be NULL). */
typedef struct qcache_hooks {
    void (*event)(const char *name); /* redis_errors, corrupt_entries, writes, write_errors, ... */
    void (*latency)(double seconds);
    void (*guard_reject)(const char *reason); /* a semantic candidate the guard turned down */
} qcache_hooks;

typedef struct qkey {
    char vec_key[QC_KEY_LEN], res_key[QC_KEY_LEN], sem_key[QC_KEY_LEN];
    char group[65];
    int k;
} qkey;

typedef struct qcache qcache;

qcache_opts qcache_opts_default(void);

/* Start the cache (writer and feed threads). Redis may be down: the
 * cache then bypasses until it is back. NULL + err on bad options. */
qcache *qcache_new(const qcache_opts *o, const qcache_hooks *hooks, char *err);

/* The normalised form of a query used in keys: NFKC, case-folded when
 * the model is uncased, whitespace collapsed and trimmed (caller frees). */
char *qcache_normalize(const char *text, size_t len, int uncased);

/* Keys of a query. key_model_id (the key embedder's) goes into the
 * semantic group only; NULL when tier 3 is off. */
void qcache_key(const qcache *c, qkey *key, const char *ns, const char *version, const char *model_id,
                const char *key_model_id, int uncased, const char *text, size_t len, int k, const char *url_prefix);

/* Tiers 1 and 2 in one round trip. CACHE_RESULTS: results in hits[0..*n)
 * (hits holds key->k entries). CACHE_MISS: *have_vec says whether vec
 * (dim floats) came from tier 1. CACHE_BYPASS when Redis is unavailable. */
int qcache_lookup(qcache *c, const qkey *key, int dim, fused_hit *hits, int *n, float *vec, int *have_vec);

/* Tier 3: 1 and the hits of the nearest earlier query if cosine between
 * key vectors (kvec, kdim floats) >= threshold and the guard accepts the
 * two texts (hits holds key->k entries), else 0. */
int qcache_semantic(qcache *c, const qkey *key, const float *kvec, int kdim, const char *text, size_t len,
                    fused_hit *hits, int *n, float *score);

/* 1 if this cache runs tier 3 (a key model was given). */
int qcache_semantic_on(const qcache *c);

/* Queue the writes for a fresh search: results (tier 2), if store_vector
 * the index vector (tier 1), and if kvec the semantic entry (tier 3: the
 * key vector and the query text). Never blocks. */
void qcache_store(qcache *c, const qkey *key, const float *vec, int dim, int store_vector, const float *kvec,
                  int kdim, const char *text, size_t len, const fused_hit *hits, int n);

/* After a semantic hit: write the results (tier 2) and, if vec, the
 * index vector (tier 1) under this query's own keys, so an identical
 * repeat is an exact hit. No semantic entry is added. Never blocks. */
void qcache_store_exact(qcache *c, const qkey *key, const float *vec, int dim, const fused_hit *hits, int n);

/* Answers (POST /v1/answer) share the tiers' machinery: an exact key per
 * (ns, index version, LLM model, spec, query) and a semantic entry in a
 * group of (ns, version, LLM model, key embedder, spec), where spec holds
 * the prompt template version, k, mode and filter. The same mirror, feed,
 * threshold, guard and epoch as search results; TTL ttl_ms, set at write. */
void qcache_answer_key(const qcache *c, qkey *key, const char *ns, const char *version, const char *llm_model,
                       const char *key_model_id, int uncased, const char *spec, const char *text, size_t len);

/* CACHE_RESULTS and the answer's JSON (caller frees), CACHE_MISS, or
 * CACHE_BYPASS when Redis is unavailable. */
int qcache_answer_lookup(qcache *c, const qkey *key, char **json, size_t *len);

/* 1 and the answer JSON of the nearest earlier question of the group
 * (cosine >= threshold, and the guard accepts the two texts), else 0. */
int qcache_answer_semantic(qcache *c, const qkey *key, const float *kvec, int kdim, const char *text, size_t len,
                           char **json, size_t *jlen, float *score);

/* Queue a fresh answer: exact key and (if kvec) a semantic entry. */
void qcache_answer_store(qcache *c, const qkey *key, const float *kvec, int kdim, const char *text, size_t len,
                         const char *json, size_t jlen, int64_t ttl_ms);

/* After a semantic hit: the answer under this question's exact key (if
 * the dataset is still the one the hit came from). */
void qcache_answer_store_exact(qcache *c, const qkey *key, const char *json, size_t jlen, int64_t ttl_ms);

/* The Redis dataset epoch the mirror follows ("" before the first check). */
void qcache_epoch(qcache *c, char *out, size_t cap);

/* 1 while Redis answers. */
int qcache_up(qcache *c);
size_t qcache_mirror_size(qcache *c);

/* Wait until queued writes are done (tests and shutdown), up to timeout. */
void qcache_flush(qcache *c, int timeout_ms);

void qcache_free(qcache *c);

#endif
