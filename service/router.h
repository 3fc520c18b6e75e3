/* router.h - scatter-gather over shard servers: discovery, one version, replica failover, merge
 *
 * ragd-serve --router --peers http://ragd-shard-0:8080,http://ragd-shard-1:8080
 * serves the public API without holding an index: each peer URL names a
 * shard group (typically a Kubernetes headless Service, whose A records
 * are the group's replicas, re-resolved every poll); a discovery thread
 * asks every replica for its shards and versions (GET /internal/v1/state,
 * with the shared secret) and picks the newest version that the live
 * replicas cover completely. A query is embedded once, here, with that
 * version's embedder (built from the manifest a replica sends), sent to
 * one replica of every shard group in parallel (libcurl multi, connections
 * kept alive), and the groups' candidate lists are merged exactly as one
 * process merges its shards: results equal a single process serving the
 * same version. A replica that fails or times out (--shard-timeout-ms) is
 * replaced by another of its group within the request; a group with no
 * replica left fails the request (503 shards_unavailable) unless it allows
 * partial results. Every shard answer names its version: answers of
 * different versions are never merged.
 *
 *     router *r = router_new(&opts, err);
 *     router_search(r, &query, allow_partial, &result, &info, err);   // like search_run
 *     router_free(r);
 */
#ifndef RAGD_ROUTER_H
#define RAGD_ROUTER_H

#include <jansson.h>

#include "embed_batcher.h"
#include "embedder.h"
#include "search.h"

typedef struct router_opts {
    const char *peers;       /* --peers: comma-separated http://host:port, one per shard group */
    const char *secret_file; /* --peer-secret-file */
    const char *index_name;  /* expected index name (NULL: the first one a replica reports) */
    int poll_ms;             /* state refresh and DNS re-resolution (1000) */
    int shard_timeout_ms;    /* one shard request (2000) */
    embedder_opts emb;       /* model folder, API endpoints for the version's embedder */
    embed_batcher *batcher;  /* query encoder passes (may be NULL) */
} router_opts;

typedef struct router router;

/* What a search through the router adds to a result. */
typedef struct router_info {
    int partial;                    /* some shard groups had no replica (allow_partial) */
    int missing[64], n_missing;     /* their shards (the first 64) */
    int replicas_tried, failovers;  /* shard requests sent, and those that replaced a failed one */
} router_info;

/* Start discovery (the first poll runs before this returns). NULL + err
 * for bad peer URLs or an unreadable secret. */
router *router_new(const router_opts *o, char *err);

/* One search over the shard servers, through s's cache tiers (search_through:
 * the Redis cache keeps ids, and cached hits' rows come from the shard
 * servers): SEARCH_OK and r (as search_run fills it), SEARCH_NOT_READY (no version is fully served),
 * SEARCH_BAD_REQUEST / SEARCH_BAD_VECTOR / SEARCH_FILTER_UNAVAILABLE (a
 * shard refused the request), or SEARCH_FAILED with err; a shard group
 * with no live replica is SEARCH_SHARDS_UNAVAILABLE unless allow_partial. */
int router_search(router *rt, searcher *s, const search_query *q, int allow_partial, search_result *r,
                  router_info *info, char *err);

/* For /ready and /v1/index: 1 and the version served (*complete: every
 * shard has a live replica; else why names what is missing), or 0 and
 * why nothing is served; the replicas and their states. */
int router_ready(router *rt, char *version, size_t cap, int *complete, char *why, size_t why_cap);
json_t *router_state_json(router *rt);

/* The query embedder of the version served (kept for the router's life),
 * or NULL: /v1/embeddings and /v1/models on a router. */
embedder *router_embedder(router *rt);

/* For /metrics: replicas found, those answering, and whether the served
 * version is complete. */
void router_counts(router *rt, int *replicas, int *ok, int *complete);

void router_free(router *rt);

#endif
