/* index_version.h - open and verify one published index version; search it
 *
 * A reader resolves INDEX_DIR/current to versions/<id>, parses the
 * manifest and opens every shard, rejecting anything that does not match
 * it: a missing or truncated file, a checksum mismatch (when asked), a
 * FAISS index of another dimension or size, a chunk store with another row
 * count. Errors name the file and the mismatch.
 *
 *     index_version *v = index_version_open("var/index", INDEX_VERIFY_CHECKSUMS, err);
 *     index_hit hits[10];
 *     int n = index_version_search(v, query_vec, 10, hits, err);
 *     chunk_store_get(v->shards[hits[0].shard].store, hits[0].id, &row, NULL, err);
 *     index_version_free(v);
 */
#ifndef RAGD_INDEX_VERSION_H
#define RAGD_INDEX_VERSION_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "chunk_store.h"
#include "manifest.h"
#include "vindex.h"

/* Flags for index_version_open. */
#define INDEX_VERIFY_CHECKSUMS 1 /* SHA-256 every shard file before reading it */

typedef struct index_shard {
    vindex *index;
    chunk_store *store;
} index_shard;

typedef struct index_version {
    manifest m;
    char *dir; /* versions/<id> folder */
    index_shard *shards; /* m.n_shards entries; a shard this process does not serve has NULL index and store */
    int rerank;          /* lossy codes: re-rank candidates by the stored vectors */
    int n_served;        /* shards opened (all of them unless a subset was asked for) */
} index_version;

/* Which shards a process opens (ragd-serve --shards): NULL or n == 0 is
 * all of them. Every search below runs over the opened shards only. */
typedef struct shard_set {
    const int *ids;
    int n;
} shard_set;

/* 1 if shard s is opened in this process. */
int index_version_serves(const index_version *v, int s);

typedef struct index_hit {
    int64_t id;
    float score;
    int shard;
} index_hit;

/* Read the id `current` points to into out (cap bytes). */
int index_dir_current(const char *index_dir, char *out, size_t cap, char *err);

/* Open the live version of an index directory. NULL + message. */
index_version *index_version_open(const char *index_dir, int flags, char *err);

/* Open a version folder directly (versions/<id>). NULL + message. */
index_version *index_version_open_dir(const char *version_dir, int flags, char *err);

/* How far an open has come, for a readiness probe to report while a large
 * index loads: set by the opener, read from any thread. Bytes count each
 * shard file once as it is verified (with INDEX_VERIFY_CHECKSUMS) and once
 * as it is read, so bytes_total is known before the first byte. */
typedef struct index_load_progress {
    atomic_int shards_done, shards_total;
    atomic_llong bytes_done, bytes_total;
} index_load_progress;

/* index_version_open / _open_dir reporting into `p` (may be NULL). */
index_version *index_version_open_tracked(const char *index_dir, int flags, index_load_progress *p, char *err);
index_version *index_version_open_dir_tracked(const char *version_dir, int flags, index_load_progress *p,
                                              char *err);

/* The same, opening only the shards of `only` (NULL: all); a shard number
 * the version does not have is an error naming it. */
index_version *index_version_open_subset(const char *index_dir, int flags, const shard_set *only,
                                         index_load_progress *p, char *err);
index_version *index_version_open_dir_subset(const char *version_dir, int flags, const shard_set *only,
                                             index_load_progress *p, char *err);

/* Candidates to ask the shards for to serve k hits: k, or for a lossy
 * spec INDEX_RERANK_FACTOR x k (at most INDEX_RERANK_MAX), which
 * index_version_rerank then orders by exact scores. */
#define INDEX_RERANK_FACTOR 10
#define INDEX_RERANK_MAX 1000
int index_version_candidates(const index_version *v, int k);

/* For a lossy spec, rescore the n hits by the inner product of query and
 * each chunk's stored vector and sort them best first (in place); other
 * specs are left as they are. 0 or -1 + message. */
int index_version_rerank(const index_version *v, const float *query, index_hit *hits, int n, char *err);

/* Runs run(arg, s) once for every shard s in [0, n) and returns when all
 * have run: in parallel on a pool (the service's search_pool), or one
 * after another on the caller when the runner is NULL. */
typedef struct shard_runner {
    void (*run_all)(void *ctx, int n, void (*run)(void *arg, int shard), void *arg);
    void *ctx;
} shard_runner;

/* Search every shard (through `runner`, may be NULL) and merge into the
 * best k hits, best first (highest score for inner product, lowest
 * distance for L2); a lossy spec asks each shard for
 * index_version_candidates(k) and re-ranks. The one shard fan-out of the
 * indexer's `search` and the service. Returns the number of hits (<= k)
 * or -1 + message naming the shard. */
int index_version_search_on(const index_version *v, const shard_runner *runner, const float *query, int k,
                            index_hit *hits, char *err);

/* The same, shards one after another on the calling thread. */
int index_version_search(const index_version *v, const float *query, int k, index_hit *hits, char *err);

/* Merge per-shard result lists (each sorted best first, ids -1 = none)
 * into the best k. Returns the number of hits written. */
int index_merge_topk(int n_lists, const float *const *scores, const int64_t *const *ids, int per_list,
                     enum manifest_metric metric, int k, index_hit *out);

/* BM25 keyword search over every shard's keyword index (words from
 * keyword_words), merged into the best k, best first. Returns the count,
 * or -1 + message (e.g. a version built before keyword indexes). */
struct ranked_hit;
int index_version_keyword(const index_version *v, const char *const *words, int n_words, int k,
                          struct ranked_hit *out, char *err);

/* The chunks of every shard that pass a filter plan, ascending ids,
 * at most max per shard: ids[s] (caller frees each and the array) and
 * n[s] (max + 1: more than max). 0 or -1 + message. */
int index_version_filter(const index_version *v, const filter_plan *p, int64_t max, int64_t ***ids, int64_t **n,
                         char *err);

/* Exact search over the listed chunks of each shard (ids[s], n[s]) by
 * the inner product of query and their stored vectors: the best k, best
 * first. Returns the count or -1 + message. */
int index_version_search_in(const index_version *v, const float *query, int64_t *const *ids, const int64_t *n, int k,
                            struct ranked_hit *out, char *err);

/* Keyword search over the listed chunks of each shard (ids NULL: all of them). */
int index_version_keyword_in(const index_version *v, const char *const *words, int n_words, int64_t *const *ids,
                             const int64_t *n, int k, struct ranked_hit *out, char *err);

/* 1 if every shard has a keyword index. */
int index_version_has_keywords(const index_version *v);

void index_version_free(index_version *v);

#endif
