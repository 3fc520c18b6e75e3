/* embed_batcher.h - concurrent requests' texts embedded together, in one forward pass
 *
 * A forward pass of the encoder streams every weight of the model (90 MB
 * for MiniLM) through the cache whatever the number of tokens, so a query
 * of ten tokens uses a small part of the work it pays for. The batcher
 * combines: a request that finds fewer than `max_active` passes running
 * runs one at once, taking with it every text that is waiting for the same
 * embedder (up to `max_texts`); a request that finds them all busy waits,
 * and is taken by the next pass to start. No timer: alone, a request never
 * waits; under load, passes grow with the load. A text's vector does not
 * depend on the batch it is in (see tensor.h), so results are the same
 * bits as embedding each request alone.
 *
 *     embed_batcher *b = embed_batcher_new(2, 64);
 *     embed_batcher_embed(b, e, texts, n, out, err);   // like embedder_embed
 *     embed_batcher_free(b);
 */
#ifndef RAGD_EMBED_BATCHER_H
#define RAGD_EMBED_BATCHER_H

#include "embedder.h"

typedef struct embed_batcher embed_batcher;

/* max_active: passes at once (cores); max_texts: texts a pass takes from
 * other requests (a request's own texts always go in one pass). */
embed_batcher *embed_batcher_new(int max_active, int max_texts);

/* embedder_embed through the batcher (b NULL: straight to the embedder).
 * 0, or -1 + message. */
int embed_batcher_embed(embed_batcher *b, embedder *e, const char *const *texts, int n, float *out, char *err);

/* A pass that starts alone (no other pass running, nobody waiting) while
 * busy() says nothing else is in flight may split its products over
 * `threads` threads (embedder_threads_set): idle cores then cut one
 * query's latency. Off (1) until set. */
void embed_batcher_set_idle_threads(embed_batcher *b, int threads, int (*busy)(void));

typedef struct embed_batcher_stats {
    long long passes, texts, requests; /* requests: embed calls served */
    long long split_passes;            /* passes that used the idle threads */
} embed_batcher_stats;

void embed_batcher_stats_get(embed_batcher *b, embed_batcher_stats *out);

void embed_batcher_free(embed_batcher *b);

#endif
