/* search.h - one similarity search: embed the query once, search all shards, fetch the rows
 *
 * The query flow behind /v1/search and the seed-compatible route: take
 * the live version, embed the query with the version's own embedder,
 * search every shard in parallel and merge the top k, then fetch the
 * chunk rows from the shard stores. Each stage is timed. A filter
 * (filter.h) is applied inside the search: a selective one scores its
 * matching chunks exactly, a broad one searches deeper until k pass.
 *
 *     searcher s = {.li = live, .pool = pool};
 *     search_query q = {.text = "open a file", .len = 11, .k = 10};
 *     search_result r;
 *     if (search_run(&s, &q, &r, err) != 0) ...;   // r.hits[0..r.n)
 *     search_result_clear(&r);
 */
#ifndef RAGD_SEARCH_H
#define RAGD_SEARCH_H

#include <stdatomic.h>
#include <stddef.h>

#include "chunk_store.h"
#include "filter.h"
#include "fusion.h"
#include "embed_batcher.h"
#include "live_index.h"
#include "metrics.h"
#include "search_pool.h"

/* A filter matching at most this many chunks in every shard is answered
 * by scoring exactly those chunks; a broader one by searching deeper. */
#define SEARCH_FILTER_EXACT_MAX 2048

/* The server's defaults (ragd-serve --search-mode, --hybrid-alpha),
 * chosen by measurement on CISI (docs/search.md). */
#define SEARCH_DEFAULT_MODE MODE_HYBRID
#define SEARCH_DEFAULT_ALPHA 0.5f

typedef struct search_query {
    const char *text;
    size_t len;
    int k;
    search_filter filter;   /* all NULL: no filter */
    const char *tenant;     /* cache namespace */
    int mode;               /* enum search_mode */
    float alpha;            /* hybrid, convex fusion: weight of the vector list, 0..1 */
    int fusion;             /* hybrid: enum fusion_method */
    const float *vector;    /* the caller's query vector (not embedded here), or NULL */
    int vector_dim;         /* its length: must equal the index's dimension */
} search_query;

typedef struct search_hit {
    int64_t id;
    float score;                       /* the mode's score: cosine, BM25 or fused */
    float vector_score, keyword_score; /* hybrid: each list's own score */
    int found;                         /* FUSION_FOUND_VECTOR | FUSION_FOUND_KEYWORD */
    int shard;
    chunk_row row;
} search_hit;

typedef struct search_result {
    search_hit *hits;
    int n;
    char version_id[MANIFEST_NAME_LEN];
    double embed_ms, search_ms, keyword_ms, filter_ms, fetch_ms;
    enum cache_outcome cache;
} search_result;

struct qcache;

/* When the semantic tier runs: always, never, or (auto) only when the
 * index's embedder is remote, where a hit saves a network model call. */
enum semantic_mode { SEMANTIC_AUTO = 0, SEMANTIC_ON, SEMANTIC_OFF };

typedef struct searcher {
    live_index *li;
    search_pool *pool;
    struct qcache *cache;    /* NULL: no cache */
    int semantic;            /* enum semantic_mode */
    embedder *key;           /* key embedder of the semantic tier; NULL: the index's own */
    const char *semantic_off; /* why the semantic tier cannot run (key embedder failed), or NULL */
    embed_batcher *batcher;   /* concurrent requests' texts in one pass; NULL: each alone */
    /* Share of semantic hits checked against a fresh search (0: none, 1:
     * all): the request is served fresh and the two result lists are
     * compared (ragd_cache_semantic_verified_total). */
    double verify_rate;
#define SEARCH_VERIFY_AGREE 0.5 /* overlap at which a checked hit agrees */
    atomic_uint_fast64_t verify_seq; /* semantic hits seen, for the sampling */
} searcher;

enum search_status {
    SEARCH_OK = 0,
    SEARCH_NOT_READY = 1,
    SEARCH_FAILED = 2,
    SEARCH_BAD_REQUEST = 3,      /* the mode needs a keyword index this version lacks */
    SEARCH_FILTER_UNAVAILABLE = 4, /* the filter needs what this version's stores lack */
    SEARCH_BAD_VECTOR = 5,         /* the caller's vector does not fit this version (dimension, zero) */
    SEARCH_SHARDS_UNAVAILABLE = 6  /* a router: some shard group has no live replica (service/router.h) */
};

/* Where a search's results come from: this process's live version
 * (search_run), or a router's shard servers (service/router.c). The cache
 * tiers run the same over either (search_through). */
typedef struct search_backend {
    const char *version_id, *model_id; /* what the cache keys name */
    int dim, n_shards, normalized;
    embedder *e; /* the query embedder (NULL: none here) */
    /* rows for cached hits into r (RAGD_OK), else -1 (a miss) */
    int (*rows)(void *ctx, const fused_hit *hits, int n, const search_query *q, search_result *r, char *err);
    /* a fresh search with the query vector qv (modes vector and hybrid): a search_status */
    int (*fresh)(void *ctx, const search_query *q, const float *qv, int depth, search_result *r, char *err);
    void *ctx;
} search_backend;

/* The cache tiers (exact vector, exact results, semantic), then a fresh
 * search, over backend b; r->version_id is b's version. A search_status. */
int search_through(searcher *s, const search_backend *b, const search_query *q, search_result *r, char *err);

/* Run one search. Returns SEARCH_OK, SEARCH_NOT_READY (no version loaded),
 * SEARCH_BAD_REQUEST (the mode needs a keyword index this version lacks),
 * SEARCH_FILTER_UNAVAILABLE, SEARCH_BAD_VECTOR (q->vector's dimension is
 * not the version's, or it is zero where the index is normalised) or
 * SEARCH_FAILED (embedder or index error), with err set. A query given
 * as a vector is searched as given (normalised like the index's vectors)
 * and bypasses the cache, whose keys are texts. */
int search_run(searcher *s, const search_query *q, search_result *r, char *err);

void search_result_clear(search_result *r);

/* A query's candidate lists before fusion, inside its filter: what a
 * shard server answers a scatter-gather router (POST /internal/v1/search). */
typedef struct search_lists_out {
    ranked_hit *vl, *kl; /* vector and keyword candidates, best first (owned) */
    int nv, nk;
} search_lists_out;

/* The lists of mode q->mode for the query vector qv (unused in keyword
 * mode), depth each, over the shards this process serves in version lv.
 * SEARCH_OK, or another search_status with err. Free with search_lists_clear. */
int search_candidates(searcher *s, live_version *lv, const search_query *q, const float *qv, int depth,
                      search_lists_out *out, search_result *r, char *err);

void search_lists_clear(search_lists_out *o);

/* What besides the text and k decides a query's results (filter; mode,
 * fusion and alpha unless vector), as part of a cache key (caller frees). */
char *search_cache_spec(const search_query *q);

/* The semantic tier's state for this version, for /ready: "on", "off"
 * or "off: <why>" (static or in buf). */
const char *search_semantic_state(const searcher *s, const live_version *lv, char *buf, size_t cap);

#endif
