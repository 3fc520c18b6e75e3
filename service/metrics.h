/* metrics.h - the service's counters and histograms, rendered in Prometheus text format
 *
 * One process-wide registry of lock-free counters (C11 atomics): requests
 * by route and status, latency histograms per route and per query stage,
 * in-flight requests, reloads, cache outcomes, embedder calls and errors.
 * Gauges that belong to other modules (index version, chunk count, cache
 * mirror size) are passed in when rendering.
 *
 *     metrics_request(ROUTE_SEARCH, 200, 0.0042);
 *     metrics_stage(STAGE_EMBED, 0.0011);
 *     metrics_gauges g = {.index_version = id, .index_chunks = n};
 *     char *text = metrics_render(&g);   // caller frees
 */
#ifndef RAGD_METRICS_H
#define RAGD_METRICS_H

#include <stdint.h>

#include "query_cache.h" /* enum cache_outcome */
#include "upstream.h"    /* enum upstream_error */

enum route {
    ROUTE_SEARCH = 0,
    ROUTE_COMPAT,
    ROUTE_HEALTH,
    ROUTE_READY,
    ROUTE_METRICS,
    ROUTE_INDEX,
    ROUTE_RELOAD,
    ROUTE_EMBEDDINGS,
    ROUTE_MODELS,
    ROUTE_ANSWER,
    ROUTE_SHARD_STATE,  /* GET /internal/v1/state (a router asking a shard server) */
    ROUTE_SHARD_SEARCH, /* POST /internal/v1/search */
    ROUTE_SHARD_ROWS,   /* POST /internal/v1/rows */
    ROUTE_OTHER,
    ROUTE_COUNT
};

enum stage { STAGE_EMBED = 0, STAGE_SEARCH, STAGE_FETCH, STAGE_CACHE, STAGE_KEYWORD, STAGE_COUNT };

/* Chunk-store rows a search touched, by step: the work a filter costs
 * (security review finding 7), counted rather than timed. */
enum row_step { ROWS_FETCHED = 0, ROWS_FILTER_MATCHED, ROWS_FILTER_CHECKED, ROWS_STEP_COUNT };


typedef struct metrics_gauges {
    const char *index_version; /* NULL when nothing is loaded */
    int64_t index_chunks;
    int64_t cache_mirror_size;
    int cache_up; /* -1 disabled, 0 down, 1 up */
    const char *cache_epoch; /* the Redis dataset epoch the mirror follows; NULL or "" if none */
    int batching;            /* the encoder batcher's counters below are set */
    long long embed_passes, embed_texts, embed_requests, embed_split_passes;
    int requests_queued, requests_running; /* request workers: waiting and running jobs */
    int answers_queued, answers_running;   /* answer workers (--llm-max-concurrency) */
    int llm_upstreams;                     /* --llm-url count; 0: no LLM */
    int router;                            /* a router: the fields below are set */
    int router_replicas, router_replicas_ok, router_complete;
    const char *router_version;
    int llm_breaker_open[UPSTREAM_MAX_URLS];
} metrics_gauges;

const char *route_name(enum route r);
const char *cache_outcome_name(enum cache_outcome c);

void metrics_request(enum route r, int status, double seconds);
void metrics_stage(enum stage s, double seconds);
void metrics_rows(enum row_step step, long long n);
void metrics_inflight(int delta);
int64_t metrics_inflight_now(void);
void metrics_cache(enum cache_outcome c);
void metrics_cache_event(const char *name); /* redis_errors, corrupt_entries, ... */
void metrics_embed(int calls, int errors, int avoided);

/* Which model a call would have gone to: the index's embedder, or the
 * semantic cache's key embedder. */
enum model_role { MODEL_INDEX = 0, MODEL_KEY, MODEL_ROLE_COUNT };

/* One model call the cache made unnecessary, by the tier that answered
 * (CACHE_EXACT: the query vector; CACHE_RESULTS: the whole result list;
 * CACHE_SEMANTIC: a near-duplicate's results, found by the key embedder)
 * and the model spared. Index-model calls also count in metrics_embed's
 * avoided total. */
void metrics_calls_avoided(enum cache_outcome tier, enum model_role model);

/* One call of the semantic cache's key embedder (failed: 1 if it did). */
void metrics_key_embed(int failed);

/* A semantic hit checked against a fresh search (--cache-verify-rate):
 * overlap is the share of the cached result list the fresh one also
 * holds; agree when it is at least SEARCH_VERIFY_AGREE. */
void metrics_semantic_verified(int agree, double overlap);

/* A semantic candidate the guard turned down ("numbers", "negation", ...). */
void metrics_guard_reject(const char *reason);
void metrics_reload(int ok);

/* Keys in the API key file now; reload_ok 1/0 counts a reload that
 * succeeded/was rejected, -1 none (the first load). */
void metrics_api_keys(int count, int reload_ok);
void metrics_redis_latency(double seconds);

/* LLM gateway (service/llm.c): one attempt on upstream URL url and how it
 * ended; a move to the next URL; a finished call and its tokens. */
void metrics_llm_attempt(int url, enum upstream_error outcome);
void metrics_llm_failover(void);
void metrics_llm_call(int ok, long prompt_tokens, long completion_tokens);

/* /v1/answer: an LLM call the answer cache made unnecessary (CACHE_EXACT
 * or CACHE_SEMANTIC), citation numbers the model invented (dropped), and
 * retrieved chunks left out of a prompt for their injection flags. */
void metrics_llm_avoided(enum cache_outcome tier);
void metrics_answer_invented(int n);
void metrics_answer_flagged(int n);

/* A router's request: shard requests sent and those that replaced a
 * failed replica; partial answers. */
void metrics_router(int shard_requests, int failovers, int partial);

/* Prometheus exposition text (caller frees). */
char *metrics_render(const metrics_gauges *g);

#endif
