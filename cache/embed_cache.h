/* embed_cache.h - the indexer's chunk-embedding cache: in Redis, or a SQLite file next to the index
 *
 * Keyed by (embedder model id, chunk content hash), so a full rebuild after
 * a small change, a change of chunk ids or shards, or an interrupted build
 * re-embeds only chunks it has never seen. With Redis (the service's, so
 * several indexers share it) entries expire ECACHE_MAX_AGE_DAYS after they
 * were written; in SQLite, entries unused for that long are dropped at the
 * end of a build.
 *
 *     ecache *c = ecache_open("var/index/embed-cache.db", err);
 *     if (ecache_get(c, model_id, hash, dim, vec) == 1) ...;   // hit
 *     ecache_put(c, model_id, hash, vec, dim);                 // batched until commit
 *     ecache_commit(c, err);
 *     ecache_close(c);
 */
#ifndef RAGD_EMBED_CACHE_H
#define RAGD_EMBED_CACHE_H

#define ECACHE_MAX_AGE_DAYS 30

typedef struct ecache ecache;

ecache *ecache_open(const char *path, char *err);

/* The same cache in Redis (redis://[:password@]host[:port][/db]). */
ecache *ecache_open_redis(const char *url, char *err);

/* 1 and the vector on a hit, 0 on a miss (or a stored vector of another
 * dimension), -1 on error. */
int ecache_get(ecache *c, const char *model_id, const char *hash, int dim, float *out);

int ecache_put(ecache *c, const char *model_id, const char *hash, const float *vec, int dim);

/* Commit pending puts and hit times; drop old entries. */
int ecache_commit(ecache *c, char *err);

void ecache_close(ecache *c);

#endif
