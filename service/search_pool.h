/* search_pool.h - search the shards of one version in parallel on a fixed pool of threads
 *
 * A request's query goes to every shard at once: the calling request
 * thread searches one shard itself and the pool's workers take the rest,
 * then the per-shard lists are merged into the top k. The pool has a
 * fixed size (no thread per request) and its workers run FAISS with one
 * OpenMP thread each, so request threads x shard workers x FAISS threads
 * stay within the cores the operator budgets with --threads and
 * --search-threads.
 *
 *     search_pool *p = search_pool_new(2);
 *     int n = search_pool_search(p, version, query_vec, 10, hits, err);
 *     search_pool_free(p);
 */
#ifndef RAGD_SEARCH_POOL_H
#define RAGD_SEARCH_POOL_H

#include "index_version.h"

typedef struct search_pool search_pool;

/* threads may be 0: every shard is then searched by the caller. */
search_pool *search_pool_new(int threads);

/* Top k over all shards of v (best first); returns the hit count or -1. */
int search_pool_search(search_pool *p, const index_version *v, const float *q, int k, index_hit *hits, char *err);

void search_pool_free(search_pool *p);

#endif
