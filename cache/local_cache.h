/* local_cache.h - a small in-process L1 of exact result lists in front of Redis
 *
 * An exact repeat of a query should cost little more than the HTTP round
 * trip. This replica keeps the result lists it has recently read from or
 * written to Redis's results tier, under the same key (which holds the
 * namespace, index version, embedder, query, k and filter, so a new index
 * version never finds old entries), until the expiry Redis has for them:
 * a TTL is never extended here either. It is bounded: a table of slots
 * (a power of two >= max_entries), each key in the slot its hash picks, a
 * newer key replacing an older one in the same slot, so memory is fixed
 * and lookups take one lock of LCACHE_STRIPES. It is cleared whenever
 * Redis's dataset changes (FLUSHDB), like the semantic mirror. Values are
 * the cache's encoded result lists.
 *
 *     lcache *l = lcache_new(10000);
 *     lcache_put(l, key, blob, len, expires_ms);
 *     void *b; size_t n;
 *     if (lcache_get(l, key, now_ms, &b, &n)) { ...; mem_free(b); }
 *     lcache_free(l);
 */
#ifndef RAGD_LOCAL_CACHE_H
#define RAGD_LOCAL_CACHE_H

#include <stddef.h>
#include <stdint.h>

#define LCACHE_STRIPES 64

typedef struct lcache lcache;

/* A cache of at most max_entries (>= 1). */
lcache *lcache_new(int max_entries);

/* Store a copy of blob under key until expires_ms (wall clock); replaces
 * whatever held the key's slot. */
void lcache_put(lcache *l, const char *key, const void *blob, size_t len, int64_t expires_ms);

/* 1 and a copy (caller frees with mem_free) if key holds an entry that has
 * not expired at now_ms; 0 otherwise. */
int lcache_get(lcache *l, const char *key, int64_t now_ms, void **blob, size_t *len);

void lcache_clear(lcache *l);
size_t lcache_size(lcache *l);

/* NULL is accepted. */
void lcache_free(lcache *l);

#endif
