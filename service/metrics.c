/* metrics.c - counters and histograms in Prometheus text format */
#include "metrics.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "mem.h"

static const char *route_names[ROUTE_COUNT] = {"/v1/search", "/", "/health", "/ready", "/metrics",
                                               "/v1/index", "/admin/reload", "/v1/embeddings", "/v1/models", "/v1/answer",
                                               "/internal/v1/state", "/internal/v1/search", "/internal/v1/rows", "other"};
static const char *stage_names[STAGE_COUNT] = {"embed", "search", "fetch", "cache", "keyword"};
static const char *cache_names[CACHE_OUTCOME_COUNT] = {"miss", "exact", "results", "semantic", "bypass"};
static const int statuses[] = {200, 202, 400, 401, 403, 404, 405, 408, 409, 413, 414, 429, 500, 502, 503, 504};
#define N_STATUS ((int)(sizeof(statuses) / sizeof(statuses[0])) + 1) /* + "other" */

static const double buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
#define N_BUCKETS ((int)(sizeof(buckets) / sizeof(buckets[0])))

typedef struct histogram {
    atomic_uint_fast64_t counts[N_BUCKETS + 1];
    atomic_uint_fast64_t sum_us;
} histogram;

/* The events cache/query_cache.c reports; anything else counts as "other". */
#define N_EVENTS 9
static const char *event_names[N_EVENTS] = {"redis_errors", "corrupt_entries", "foreign_entries", "writes",
                                             "write_errors", "mirror_purges", "l1_hits", "feed_errors", "other"};
/* The guard's reasons (cache/query_guard.c); anything else counts as "other". */
#define N_GUARD 7
static const char *guard_names[N_GUARD] = {"numbers", "negation", "entity", "words", "question", "person", "other"};

static struct {
    atomic_uint_fast64_t requests[ROUTE_COUNT][N_STATUS];
    histogram route_latency[ROUTE_COUNT];
    histogram stage_latency[STAGE_COUNT];
    histogram redis_latency;
    atomic_int_fast64_t inflight;
    atomic_uint_fast64_t cache[CACHE_OUTCOME_COUNT];
    atomic_uint_fast64_t cache_events[N_EVENTS];
    atomic_uint_fast64_t embed_calls, embed_errors, embed_avoided;
    atomic_uint_fast64_t avoided_by[CACHE_OUTCOME_COUNT][MODEL_ROLE_COUNT];
    atomic_uint_fast64_t key_calls, key_errors;
    atomic_uint_fast64_t rows[ROWS_STEP_COUNT];
    atomic_uint_fast64_t guard[N_GUARD];
    atomic_uint_fast64_t verified_agree, verified_disagree, verified_overlap_ppm;
    atomic_uint_fast64_t reloads_ok, reloads_failed;
    atomic_uint_fast64_t key_reloads_ok, key_reloads_failed;
    atomic_int_fast64_t api_keys; /* -1: no key file (open access) */
    atomic_uint_fast64_t llm_attempts[UPSTREAM_MAX_URLS][UPSTREAM_ERR_COUNT];
    atomic_uint_fast64_t llm_failovers, llm_calls_ok, llm_calls_failed, llm_prompt_tokens, llm_completion_tokens;
    atomic_uint_fast64_t llm_avoided[CACHE_OUTCOME_COUNT];
    atomic_uint_fast64_t answer_invented, answer_flagged;
    atomic_uint_fast64_t router_requests, router_failovers, router_partial;
} M = {.api_keys = -1};

const char *route_name(enum route r) {
    return route_names[r < ROUTE_COUNT ? r : ROUTE_OTHER];
}

const char *cache_outcome_name(enum cache_outcome c) {
    return cache_names[c < CACHE_OUTCOME_COUNT ? c : CACHE_MISS];
}

static void observe(histogram *h, double seconds) {
    int i = 0;
    while (i < N_BUCKETS && seconds > buckets[i]) i++;
    atomic_fetch_add(&h->counts[i], 1);
    atomic_fetch_add(&h->sum_us, (uint_fast64_t)(seconds * 1e6));
}

void metrics_request(enum route r, int status, double seconds) {
    int si = N_STATUS - 1;
    for (int i = 0; i < N_STATUS - 1; i++)
        if (statuses[i] == status) si = i;
    if (r >= ROUTE_COUNT) r = ROUTE_OTHER;
    atomic_fetch_add(&M.requests[r][si], 1);
    observe(&M.route_latency[r], seconds);
}

void metrics_rows(enum row_step step, long long n) {
    if (n > 0) atomic_fetch_add(&M.rows[step], (uint_fast64_t)n);
}

void metrics_stage(enum stage s, double seconds) {
    if (s < STAGE_COUNT) observe(&M.stage_latency[s], seconds);
}

void metrics_inflight(int delta) {
    atomic_fetch_add(&M.inflight, delta);
}

int64_t metrics_inflight_now(void) {
    return (int64_t)atomic_load(&M.inflight);
}

void metrics_cache(enum cache_outcome c) {
    if (c < CACHE_OUTCOME_COUNT) atomic_fetch_add(&M.cache[c], 1);
}

void metrics_cache_event(const char *name) {
    int i = N_EVENTS - 1;
    for (int j = 0; j < N_EVENTS - 1; j++)
        if (strcmp(event_names[j], name) == 0) i = j;
    atomic_fetch_add(&M.cache_events[i], 1);
}

void metrics_embed(int calls, int errors, int avoided) {
    atomic_fetch_add(&M.embed_calls, (uint_fast64_t)calls);
    atomic_fetch_add(&M.embed_errors, (uint_fast64_t)errors);
    atomic_fetch_add(&M.embed_avoided, (uint_fast64_t)avoided);
}

void metrics_calls_avoided(enum cache_outcome tier, enum model_role model) {
    if (model >= MODEL_ROLE_COUNT) model = MODEL_INDEX;
    atomic_fetch_add(&M.avoided_by[tier < CACHE_OUTCOME_COUNT ? tier : CACHE_MISS][model], 1);
    if (model == MODEL_INDEX) atomic_fetch_add(&M.embed_avoided, 1);
}

void metrics_key_embed(int failed) {
    atomic_fetch_add(&M.key_calls, 1);
    if (failed) atomic_fetch_add(&M.key_errors, 1);
}

void metrics_semantic_verified(int agree, double overlap) {
    atomic_fetch_add(agree ? &M.verified_agree : &M.verified_disagree, 1);
    atomic_fetch_add(&M.verified_overlap_ppm, (uint_fast64_t)(overlap * 1e6 + 0.5));
}

void metrics_guard_reject(const char *reason) {
    int i = 0;
    while (i < N_GUARD - 1 && strcmp(guard_names[i], reason) != 0) i++;
    atomic_fetch_add(&M.guard[i], 1);
}

void metrics_reload(int ok) {
    atomic_fetch_add(ok ? &M.reloads_ok : &M.reloads_failed, 1);
}

void metrics_api_keys(int count, int reload_ok) {
    atomic_store(&M.api_keys, count);
    if (reload_ok >= 0) atomic_fetch_add(reload_ok ? &M.key_reloads_ok : &M.key_reloads_failed, 1);
}

void metrics_redis_latency(double seconds) {
    observe(&M.redis_latency, seconds);
}

void metrics_llm_attempt(int url, enum upstream_error outcome) {
    if (url < 0 || url >= UPSTREAM_MAX_URLS || (unsigned)outcome >= UPSTREAM_ERR_COUNT) return;
    atomic_fetch_add(&M.llm_attempts[url][outcome], 1);
}

void metrics_llm_failover(void) {
    atomic_fetch_add(&M.llm_failovers, 1);
}

void metrics_llm_call(int ok, long prompt_tokens, long completion_tokens) {
    atomic_fetch_add(ok ? &M.llm_calls_ok : &M.llm_calls_failed, 1);
    if (prompt_tokens > 0) atomic_fetch_add(&M.llm_prompt_tokens, (uint_fast64_t)prompt_tokens);
    if (completion_tokens > 0) atomic_fetch_add(&M.llm_completion_tokens, (uint_fast64_t)completion_tokens);
}

void metrics_llm_avoided(enum cache_outcome tier) {
    atomic_fetch_add(&M.llm_avoided[tier < CACHE_OUTCOME_COUNT ? tier : CACHE_MISS], 1);
}

void metrics_router(int shard_requests, int failovers, int partial) {
    atomic_fetch_add(&M.router_requests, (uint_fast64_t)(shard_requests > 0 ? shard_requests : 0));
    atomic_fetch_add(&M.router_failovers, (uint_fast64_t)(failovers > 0 ? failovers : 0));
    if (partial) atomic_fetch_add(&M.router_partial, 1);
}

void metrics_answer_invented(int n) {
    if (n > 0) atomic_fetch_add(&M.answer_invented, (uint_fast64_t)n);
}

void metrics_answer_flagged(int n) {
    if (n > 0) atomic_fetch_add(&M.answer_flagged, (uint_fast64_t)n);
}

typedef struct sbuf {
    char *s;
    size_t len, cap;
} sbuf;

static void put(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(sbuf *b, const char *fmt, ...) {
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        b->cap = b->cap * 2 + (size_t)(n > 0 ? n : 0) + 256;
        b->s = mem_realloc(b->s, b->cap);
    }
}

static void put_histogram(sbuf *b, const char *name, const char *label, const char *value, histogram *h) {
    uint64_t cum = 0;
    for (int i = 0; i <= N_BUCKETS; i++) {
        cum += atomic_load(&h->counts[i]);
        if (i < N_BUCKETS) put(b, "%s_bucket{%s=\"%s\",le=\"%g\"} %llu\n", name, label, value, buckets[i], (unsigned long long)cum);
        else put(b, "%s_bucket{%s=\"%s\",le=\"+Inf\"} %llu\n", name, label, value, (unsigned long long)cum);
    }
    put(b, "%s_sum{%s=\"%s\"} %.6f\n", name, label, value, (double)atomic_load(&h->sum_us) / 1e6);
    put(b, "%s_count{%s=\"%s\"} %llu\n", name, label, value, (unsigned long long)cum);
}

static void render_requests(sbuf *b) {
    put(b, "# HELP ragd_http_requests_total HTTP requests by route and status.\n"
           "# TYPE ragd_http_requests_total counter\n");
    for (int r = 0; r < ROUTE_COUNT; r++)
        for (int s = 0; s < N_STATUS; s++) {
            uint64_t n = atomic_load(&M.requests[r][s]);
            if (!n) continue;
            char st[16];
            if (s < N_STATUS - 1) snprintf(st, sizeof(st), "%d", statuses[s]);
            else snprintf(st, sizeof(st), "other");
            put(b, "ragd_http_requests_total{route=\"%s\",status=\"%s\"} %llu\n", route_names[r], st,
                (unsigned long long)n);
        }
    put(b, "# HELP ragd_http_request_duration_seconds Request latency by route.\n"
           "# TYPE ragd_http_request_duration_seconds histogram\n");
    for (int r = 0; r < ROUTE_COUNT; r++)
        put_histogram(b, "ragd_http_request_duration_seconds", "route", route_names[r], &M.route_latency[r]);
    put(b, "# HELP ragd_stage_duration_seconds Search latency by stage.\n"
           "# TYPE ragd_stage_duration_seconds histogram\n");
    for (int s = 0; s < STAGE_COUNT; s++)
        put_histogram(b, "ragd_stage_duration_seconds", "stage", stage_names[s], &M.stage_latency[s]);
    put(b, "# HELP ragd_http_requests_in_flight Requests being served.\n"
           "# TYPE ragd_http_requests_in_flight gauge\nragd_http_requests_in_flight %lld\n",
        (long long)atomic_load(&M.inflight));
}

static void render_cache(sbuf *b, const metrics_gauges *g) {
    put(b, "# HELP ragd_cache_requests_total Search requests by cache outcome.\n"
           "# TYPE ragd_cache_requests_total counter\n");
    for (int c = 0; c < CACHE_OUTCOME_COUNT; c++)
        put(b, "ragd_cache_requests_total{outcome=\"%s\"} %llu\n", cache_names[c],
            (unsigned long long)atomic_load(&M.cache[c]));
    put(b, "# HELP ragd_cache_events_total Cache events (Redis errors, corrupt entries, ...).\n"
           "# TYPE ragd_cache_events_total counter\n");
    for (int i = 0; i < N_EVENTS; i++)
        put(b, "ragd_cache_events_total{event=\"%s\"} %llu\n", event_names[i],
            (unsigned long long)atomic_load(&M.cache_events[i]));
    put(b, "# HELP ragd_cache_up 1 if Redis answers, 0 if not, -1 if the cache is disabled.\n"
           "# TYPE ragd_cache_up gauge\nragd_cache_up %d\n", g->cache_up);
    put(b, "# HELP ragd_cache_mirror_entries Semantic-cache vectors mirrored in memory.\n"
           "# TYPE ragd_cache_mirror_entries gauge\nragd_cache_mirror_entries %lld\n",
        (long long)g->cache_mirror_size);
    put(b, "# HELP ragd_cache_epoch_info The Redis dataset epoch the mirror follows (changes on FLUSHDB or a restart).\n"
           "# TYPE ragd_cache_epoch_info gauge\n");
    if (g->cache_epoch && g->cache_epoch[0]) put(b, "ragd_cache_epoch_info{epoch=\"%s\"} 1\n", g->cache_epoch);
    put(b, "# HELP ragd_redis_duration_seconds Redis command latency.\n"
           "# TYPE ragd_redis_duration_seconds histogram\n");
    put_histogram(b, "ragd_redis_duration_seconds", "op", "all", &M.redis_latency);
}

static unsigned long long ld(atomic_uint_fast64_t *a) {
    return (unsigned long long)atomic_load(a);
}

static void render_llm(sbuf *b, const metrics_gauges *g) {
    put(b, "# HELP ragd_llm_calls_total LLM chat completions by result (after retries and failover).\n"
           "# TYPE ragd_llm_calls_total counter\nragd_llm_calls_total{result=\"ok\"} %llu\n"
           "ragd_llm_calls_total{result=\"failed\"} %llu\n", ld(&M.llm_calls_ok), ld(&M.llm_calls_failed));
    put(b, "# HELP ragd_llm_attempts_total HTTP attempts on each --llm-url (0 = the first) by outcome.\n"
           "# TYPE ragd_llm_attempts_total counter\n");
    for (int u = 0; u < g->llm_upstreams && u < UPSTREAM_MAX_URLS; u++)
        for (int e = 0; e < UPSTREAM_ERR_COUNT; e++)
            if (e == UPSTREAM_OK || ld(&M.llm_attempts[u][e]))
                put(b, "ragd_llm_attempts_total{upstream=\"%d\",outcome=\"%s\"} %llu\n", u,
                    upstream_error_name((enum upstream_error)e), ld(&M.llm_attempts[u][e]));
    put(b, "# HELP ragd_llm_failovers_total Moves to the next --llm-url after an attempt failed.\n"
           "# TYPE ragd_llm_failovers_total counter\nragd_llm_failovers_total %llu\n", ld(&M.llm_failovers));
    put(b, "# HELP ragd_llm_breaker_open 1 while an upstream's circuit breaker skips it.\n"
           "# TYPE ragd_llm_breaker_open gauge\n");
    for (int u = 0; u < g->llm_upstreams && u < UPSTREAM_MAX_URLS; u++)
        put(b, "ragd_llm_breaker_open{upstream=\"%d\"} %d\n", u, g->llm_breaker_open[u]);
    put(b, "# HELP ragd_llm_tokens_total Tokens the LLM reported, by direction.\n# TYPE ragd_llm_tokens_total counter\n"
           "ragd_llm_tokens_total{direction=\"prompt\"} %llu\nragd_llm_tokens_total{direction=\"completion\"} %llu\n",
        ld(&M.llm_prompt_tokens), ld(&M.llm_completion_tokens));
    put(b, "# HELP ragd_llm_calls_avoided_total LLM calls the answer cache made unnecessary, by tier.\n"
           "# TYPE ragd_llm_calls_avoided_total counter\nragd_llm_calls_avoided_total{tier=\"exact\"} %llu\n"
           "ragd_llm_calls_avoided_total{tier=\"semantic\"} %llu\n",
        ld(&M.llm_avoided[CACHE_EXACT]), ld(&M.llm_avoided[CACHE_SEMANTIC]));
    put(b, "# HELP ragd_answer_invented_citations_total Citation numbers answers used that were not in their "
           "context (dropped).\n# TYPE ragd_answer_invented_citations_total counter\n"
           "ragd_answer_invented_citations_total %llu\n", ld(&M.answer_invented));
    put(b, "# HELP ragd_answer_flagged_chunks_total Retrieved chunks left out of answer prompts for their "
           "prompt-injection flags.\n# TYPE ragd_answer_flagged_chunks_total counter\n"
           "ragd_answer_flagged_chunks_total %llu\n", ld(&M.answer_flagged));
    put(b, "# HELP ragd_answers_queued Answer requests waiting for an answer worker.\n"
           "# TYPE ragd_answers_queued gauge\nragd_answers_queued %d\n"
           "# HELP ragd_answers_running Answer requests an answer worker is running.\n"
           "# TYPE ragd_answers_running gauge\nragd_answers_running %d\n", g->answers_queued, g->answers_running);
}

static void render_router(sbuf *b, const metrics_gauges *g) {
    put(b, "# HELP ragd_router_shard_requests_total Requests the router sent to shard servers.\n"
           "# TYPE ragd_router_shard_requests_total counter\nragd_router_shard_requests_total %llu\n"
           "# HELP ragd_router_failovers_total Shard requests that replaced a failed or timed-out replica.\n"
           "# TYPE ragd_router_failovers_total counter\nragd_router_failovers_total %llu\n"
           "# HELP ragd_router_partial_answers_total Answers without some shards (allow_partial).\n"
           "# TYPE ragd_router_partial_answers_total counter\nragd_router_partial_answers_total %llu\n",
        ld(&M.router_requests), ld(&M.router_failovers), ld(&M.router_partial));
    put(b, "# HELP ragd_router_replicas Shard-server replicas the router found, by state.\n"
           "# TYPE ragd_router_replicas gauge\nragd_router_replicas{state=\"ok\"} %d\n"
           "ragd_router_replicas{state=\"failing\"} %d\n"
           "# HELP ragd_router_complete 1 while every shard of the served version has a live replica.\n"
           "# TYPE ragd_router_complete gauge\nragd_router_complete %d\n",
        g->router_replicas_ok, g->router_replicas - g->router_replicas_ok, g->router_complete);
}

char *metrics_render(const metrics_gauges *g) {
    sbuf b = {mem_alloc(4096), 0, 4096};
    b.s[0] = '\0';
    render_requests(&b);
    render_cache(&b, g);
    put(&b, "# HELP ragd_embedder_calls_total Embedder calls made for queries.\n"
            "# TYPE ragd_embedder_calls_total counter\nragd_embedder_calls_total %llu\n"
            "# HELP ragd_embedder_errors_total Embedder calls that failed.\n"
            "# TYPE ragd_embedder_errors_total counter\nragd_embedder_errors_total %llu\n"
            "# HELP ragd_embedder_calls_avoided_total Embedder calls the cache made unnecessary.\n"
            "# TYPE ragd_embedder_calls_avoided_total counter\nragd_embedder_calls_avoided_total %llu\n",
        (unsigned long long)atomic_load(&M.embed_calls), (unsigned long long)atomic_load(&M.embed_errors),
        (unsigned long long)atomic_load(&M.embed_avoided));
    /* model="index": the index's embedder (a remote call with openai);
     * model="key": the semantic tier's key embedder, skipped on exact hits. */
    put(&b, "# HELP ragd_model_calls_avoided_total Model (embedder) calls the cache made unnecessary, by tier and model.\n"
            "# TYPE ragd_model_calls_avoided_total counter\n");
    static const char *const tiers[] = {"vector", "results", "semantic"};
    static const char *const models[MODEL_ROLE_COUNT] = {"index", "key"};
    static const enum cache_outcome tier_of[] = {CACHE_EXACT, CACHE_RESULTS, CACHE_SEMANTIC};
    for (int i = 0; i < 3; i++)
        for (int m = 0; m < MODEL_ROLE_COUNT; m++)
            put(&b, "ragd_model_calls_avoided_total{tier=\"%s\",model=\"%s\"} %llu\n", tiers[i], models[m],
                (unsigned long long)atomic_load(&M.avoided_by[tier_of[i]][m]));
    put(&b, "# HELP ragd_key_embedder_calls_total Calls of the semantic cache's key embedder.\n"
            "# TYPE ragd_key_embedder_calls_total counter\nragd_key_embedder_calls_total %llu\n"
            "# HELP ragd_key_embedder_errors_total Key embedder calls that failed (the search went on without the "
            "semantic tier).\n# TYPE ragd_key_embedder_errors_total counter\nragd_key_embedder_errors_total %llu\n",
        (unsigned long long)atomic_load(&M.key_calls), (unsigned long long)atomic_load(&M.key_errors));
    put(&b, "# HELP ragd_cache_guard_rejections_total Semantic candidates above the threshold the guard turned down, "
            "by reason.\n# TYPE ragd_cache_guard_rejections_total counter\n");
    for (int i = 0; i < N_GUARD; i++)
        put(&b, "ragd_cache_guard_rejections_total{reason=\"%s\"} %llu\n", guard_names[i],
            (unsigned long long)atomic_load(&M.guard[i]));
    put(&b, "# HELP ragd_cache_semantic_verified_total Semantic hits checked against a fresh search "
            "(--cache-verify-rate), by outcome: agree when the fresh results hold at least half of the cached "
            "ones.\n# TYPE ragd_cache_semantic_verified_total counter\n"
            "ragd_cache_semantic_verified_total{outcome=\"agree\"} %llu\n"
            "ragd_cache_semantic_verified_total{outcome=\"disagree\"} %llu\n"
            "# HELP ragd_cache_semantic_verified_overlap_sum Sum over checked semantic hits of the share of the "
            "cached results the fresh search also returned.\n# TYPE ragd_cache_semantic_verified_overlap_sum counter\n"
            "ragd_cache_semantic_verified_overlap_sum %.6f\n",
        (unsigned long long)atomic_load(&M.verified_agree), (unsigned long long)atomic_load(&M.verified_disagree),
        (double)atomic_load(&M.verified_overlap_ppm) / 1e6);
    put(&b, "# HELP ragd_index_reloads_total Index reloads by result.\n"
            "# TYPE ragd_index_reloads_total counter\n"
            "ragd_index_reloads_total{result=\"ok\"} %llu\nragd_index_reloads_total{result=\"failed\"} %llu\n",
        (unsigned long long)atomic_load(&M.reloads_ok), (unsigned long long)atomic_load(&M.reloads_failed));
    if (g->batching)
        put(&b, "# HELP ragd_embed_passes_total Encoder passes run for requests (queries, /v1/embeddings), each "
                "combining the texts of one or more requests.\n# TYPE ragd_embed_passes_total counter\n"
                "ragd_embed_passes_total %lld\n"
                "# HELP ragd_embed_pass_texts_total Texts embedded in those passes.\n"
                "# TYPE ragd_embed_pass_texts_total counter\nragd_embed_pass_texts_total %lld\n"
                "# HELP ragd_embed_pass_requests_total Requests served by those passes (requests / passes = "
                "requests combined per pass).\n# TYPE ragd_embed_pass_requests_total counter\n"
                "ragd_embed_pass_requests_total %lld\n"
                "# HELP ragd_embed_split_passes_total Passes that ran alone on an idle server and split their "
                "products over the idle cores (--query-threads).\n# TYPE ragd_embed_split_passes_total counter\n"
                "ragd_embed_split_passes_total %lld\n", g->embed_passes, g->embed_texts, g->embed_requests,
            g->embed_split_passes);
    if (atomic_load(&M.api_keys) >= 0) {
        put(&b, "# HELP ragd_api_keys Keys in the loaded API key file.\n# TYPE ragd_api_keys gauge\nragd_api_keys %lld\n",
            (long long)atomic_load(&M.api_keys));
        put(&b, "# HELP ragd_api_key_reloads_total API key file reloads (SIGHUP or a changed file) by result.\n"
                "# TYPE ragd_api_key_reloads_total counter\n"
                "ragd_api_key_reloads_total{result=\"ok\"} %llu\nragd_api_key_reloads_total{result=\"rejected\"} %llu\n",
            (unsigned long long)atomic_load(&M.key_reloads_ok), (unsigned long long)atomic_load(&M.key_reloads_failed));
    }
    if (g->llm_upstreams > 0) render_llm(&b, g);
    if (g->router) render_router(&b, g);
    static const char *const row_steps[] = {"fetched", "filter_matched", "filter_checked"};
    put(&b, "# HELP ragd_search_rows_total Chunk-store rows searches touched: fetched for answers, matched by a "
            "selective filter, checked against a broad one.\n# TYPE ragd_search_rows_total counter\n");
    for (int i = 0; i < ROWS_STEP_COUNT; i++)
        put(&b, "ragd_search_rows_total{step=\"%s\"} %llu\n", row_steps[i], (unsigned long long)atomic_load(&M.rows[i]));
    put(&b, "# HELP ragd_requests_queued Requests waiting for a request worker.\n"
            "# TYPE ragd_requests_queued gauge\nragd_requests_queued %d\n"
            "# HELP ragd_requests_running Requests a request worker is running.\n"
            "# TYPE ragd_requests_running gauge\nragd_requests_running %d\n", g->requests_queued, g->requests_running);
    put(&b, "# HELP ragd_index_chunks Chunks in the live index version.\n"
            "# TYPE ragd_index_chunks gauge\nragd_index_chunks %lld\n", (long long)g->index_chunks);
    put(&b, "# HELP ragd_index_info The live index version (value is 1).\n# TYPE ragd_index_info gauge\n");
    if (g->index_version) put(&b, "ragd_index_info{version=\"%s\"} 1\n", g->index_version);
    return b.s;
}
