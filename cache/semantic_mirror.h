/* semantic_mirror.h - this replica's in-memory copy of recent cached queries, searched by cosine
 *
 * Semantic-cache entries live in Redis; every replica mirrors their query
 * vectors in FAISS flat inner-product indexes, one per group (namespace +
 * index version + embedder + k + filter, hashed), so a near-duplicate query
 * is found in microseconds without a Redis round trip. Entries carry their
 * expiry time (set when written, never extended) and their result list.
 * The mirror is bounded: a group over the bound loses its oldest entries,
 * and when the total is over the bound the tenant (cache namespace, from
 * the entry key "ragd:v1:TAG:sem:...") holding the most entries gives up
 * its least recently fed group, so one tenant cannot push the others out.
 *
 *     mirror *m = mirror_new(10000);
 *     mirror_add(m, "ragd:v1:...:sem:...", group, vec, dim, expires_ms, blob, len);
 *     if (mirror_lookup(m, group, q, dim, 0.95f, now_ms, &score, &blob, &len)) ...;  // caller frees blob
 *     mirror_free(m);
 */
#ifndef RAGD_SEMANTIC_MIRROR_H
#define RAGD_SEMANTIC_MIRROR_H

#include <stddef.h>
#include <stdint.h>

typedef struct mirror mirror;

mirror *mirror_new(int max_entries);

/* Add an entry (key dedupes entries delivered twice). Vectors must be
 * L2-normalised. Returns 1 if added. */
int mirror_add(mirror *m, const char *key, const char *group, const float *vec, int dim, int64_t expires_ms,
               const void *blob, size_t len);

/* Nearest unexpired entry of the group with cosine >= threshold: 1 and a
 * copy of its blob (caller frees) and score; 0 otherwise. */
int mirror_lookup(mirror *m, const char *group, const float *vec, int dim, float threshold, int64_t now_ms,
                  float *score, void **blob, size_t *len);

size_t mirror_size(mirror *m);

/* Drop every entry (Redis was flushed or restarted: what it no longer
 * holds must not be served). */
void mirror_clear(mirror *m);

void mirror_free(mirror *m);

#endif
