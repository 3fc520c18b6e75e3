/* search_pool.h - search the shards of one version in parallel on a fixed pool of threads
 *
 * A request's query goes to every shard at once: the calling request
 * thread searches one shard itself and the pool's workers take the rest;
 * index_version_search_on (core/) merges the per-shard lists into the top
 * k, so the service and `ragd-index search` share one fan-out and merge.
 * The pool has a fixed size (no thread per request) and its workers run
 * FAISS with one OpenMP thread each, so request workers x shard workers x
 * FAISS threads stay within the cores the operator budgets with --threads
 * and --search-threads.
 *
 *     search_pool *p = search_pool_new(2);
 *     shard_runner r = search_pool_runner(p);
 *     int n = index_version_search_on(version, &r, query_vec, 10, hits, err);
 *     search_pool_free(p);
 */
#ifndef RAGD_SEARCH_POOL_H
#define RAGD_SEARCH_POOL_H

#include "index_version.h"

typedef struct search_pool search_pool;

/* threads may be 0: every shard is then searched by the caller. */
search_pool *search_pool_new(int threads);

/* A runner for index_version_search_on that spreads shards over the pool. */
shard_runner search_pool_runner(search_pool *p);

void search_pool_free(search_pool *p);

#endif
