/* main.c - ragd-serve: the command line of the query service */
#include <poll.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access_log.h"
#include "answer.h"
#include "key_file.h"
#include "llm.h"
#include "config.h"
#include "embedder.h"
#include "err.h"
#include "fsio.h"
#include "mem.h"
#include "live_index.h"
#include "log.h"
#include "metrics.h"
#include "query_cache.h"
#include "options.h"
#include "search.h"
#include "server.h"

#define RAGD_VERSION "0.1.0"

typedef struct serve_cli {
    server_opts so;
    live_params lp;
    qcache_opts co;
    const char *redis_url;
    const char *key_embedder; /* NULL: minilm if its model is found */
    int semantic;             /* enum semantic_mode */
    double verify_rate;       /* --cache-verify-rate */
    const char *index_dir, *keys_path, *config_path;
    int search_threads, watch_ms, shutdown_s, check, access_log;
    int embed_batch_max, embed_concurrency, query_threads;
    double burst_set;
    const char *peer_secret_file; /* --peer-secret-file */
    int router;                   /* --router */
    const char *peers;            /* --peers */
    int shard_timeout_ms;         /* --shard-timeout-ms */
    int index_name_given;         /* --index-name was set (a router then refuses shard servers of another) */
    int keep_previous_s;          /* --keep-previous-s; -1: the default */
    llm_opts llm;       /* --llm-* */
    answer_opts answer; /* --answer-* */
} serve_cli;

/* ---- options that are not one typed field ---- */

static int set_redis(void *ctx, const char *k, const char *v, char *err) {
    serve_cli *c = ctx;
    (void)k;
    if (rpool_parse_url(v, &c->co.redis, err) != 0) return RAGD_ERR;
    c->redis_url = v;
    return RAGD_OK;
}

static int set_threshold(void *ctx, const char *k, const char *v, char *err) {
    char *end;
    double x = strtod(v, &end);
    if (*end || !(x > 0 && x <= 2)) return err_set(err, "--%s: \"%s\" is not in (0, 2]", k, v);
    ((serve_cli *)ctx)->co.threshold = (float)x;
    return RAGD_OK;
}

/* --cache-vector-ttl-s, --cache-results-ttl-s, and tests' --cache-results-ttl-ms */
static int set_ttl(void *ctx, const char *k, const char *v, char *err) {
    serve_cli *c = ctx;
    long long n;
    if (config_int(v, 1, 365LL * 24 * 3600 * 1000, &n) != 0) return err_set(err, "--%s: \"%s\" is not a positive integer", k, v);
    if (!strcmp(k, "cache-vector-ttl-s")) c->co.vector_ttl_ms = n * 1000;
    else if (!strcmp(k, "cache-results-ttl-s")) c->co.results_ttl_ms = n * 1000;
    else c->co.results_ttl_ms = n;
    return RAGD_OK;
}

static int set_mode(void *ctx, const char *k, const char *v, char *err) {
    if (search_mode_parse(v, strlen(v), &((serve_cli *)ctx)->so.default_mode) != 0)
        return err_set(err, "--%s: \"%s\" is not vector, keyword or hybrid", k, v);
    return RAGD_OK;
}

static int set_fusion(void *ctx, const char *k, const char *v, char *err) {
    enum fusion_method f;
    if (fusion_parse(v, &f) != 0) return err_set(err, "--%s: \"%s\" is not convex or rrf", k, v);
    ((serve_cli *)ctx)->so.default_fusion = f;
    return RAGD_OK;
}

static int set_semantic(void *ctx, const char *k, const char *v, char *err) {
    serve_cli *c = ctx;
    if (!strcmp(v, "on")) c->semantic = SEMANTIC_ON;
    else if (!strcmp(v, "off")) c->semantic = SEMANTIC_OFF;
    else if (!strcmp(v, "auto")) c->semantic = SEMANTIC_AUTO;
    else return err_set(err, "--%s: \"%s\" is not on, off or auto", k, v);
    return RAGD_OK;
}

/* "on" or "off" into *out. */
static int on_off(const char *k, const char *v, int *out, char *err) {
    if (strcmp(v, "on") != 0 && strcmp(v, "off") != 0) return err_set(err, "--%s: \"%s\" is not on or off", k, v);
    *out = !strcmp(v, "on");
    return RAGD_OK;
}

static int set_guard(void *ctx, const char *k, const char *v, char *err) {
    return on_off(k, v, &((serve_cli *)ctx)->co.guard, err);
}

static int set_burst(void *ctx, const char *k, const char *v, char *err) {
    serve_cli *c = ctx;
    char *end;
    double x = strtod(v, &end);
    if (!*v || *end || !(x >= 0 && x <= 1e6)) return err_set(err, "--%s: \"%s\" is not a number in 0..1000000", k, v);
    c->so.burst = c->burst_set = x;
    return RAGD_OK;
}

static int set_answer_ttl(void *ctx, const char *k, const char *v, char *err) {
    long long n;
    if (config_int(v, 1, 365LL * 24 * 3600, &n) != 0) return err_set(err, "--%s: \"%s\" is not a positive integer", k, v);
    ((serve_cli *)ctx)->answer.cache_ttl_ms = n * 1000;
    return RAGD_OK;
}

static int set_answer_semantic(void *ctx, const char *k, const char *v, char *err) {
    return on_off(k, v, &((serve_cli *)ctx)->answer.cache_semantic, err);
}

/* --shards 0,2 or 0-3,6: the shards this process serves. */
static int set_shards(void *ctx, const char *k, const char *v, char *err) {
    serve_cli *c = ctx;
    char *copy = mem_strdup(v), *save = NULL;
    int rc = RAGD_OK;
    c->lp.n_shards = 0;
    for (char *t = strtok_r(copy, ",", &save); t && rc == RAGD_OK; t = strtok_r(NULL, ",", &save)) {
        long long a, b;
        char *dash = strchr(t, '-');
        if (dash) *dash = '\0';
        if (config_int(t, 0, MANIFEST_MAX_SHARDS - 1, &a) != 0 ||
            (dash ? config_int(dash + 1, 0, MANIFEST_MAX_SHARDS - 1, &b) : (b = a, 0)) != 0 || b < a)
            rc = err_set(err, "--%s: \"%s\" is not a list of shard numbers or ranges (0,2 or 0-3)", k, v);
        for (long long i = a; rc == RAGD_OK && i <= b; i++) {
            int dup = 0;
            for (int j = 0; j < c->lp.n_shards; j++) dup |= c->lp.shards[j] == (int)i;
            if (!dup) c->lp.shards[c->lp.n_shards++] = (int)i;
        }
    }
    mem_free(copy);
    if (rc == RAGD_OK && c->lp.n_shards == 0) rc = err_set(err, "--%s: no shard named", k);
    return rc;
}

/* --llm-url, repeatable: the failover order. */
static int add_llm_url(void *ctx, const char *k, const char *v, char *err) {
    serve_cli *c = ctx;
    if (strncmp(v, "http://", 7) && strncmp(v, "https://", 8)) return err_set(err, "--%s: \"%s\" is not an http(s) URL", k, v);
    if (c->llm.n_urls == UPSTREAM_MAX_URLS) return err_set(err, "--%s: at most %d URLs", k, UPSTREAM_MAX_URLS);
    c->llm.urls[c->llm.n_urls++] = v;
    return RAGD_OK;
}

/* The embedders' options (--model, --openai-*), theirs to parse. */
static int embedder_group(void *ctx, const char *k, const char *v, char *err) {
    return embedder_cli_option(&((serve_cli *)ctx)->lp.emb, k, v, err);
}

#define F(field) offsetof(serve_cli, field)

/* Every option of ragd-serve: the command line, config files and --help. */
static const opt serve_options[] = {
    {"index", OPT_STRING, F(index_dir), 0, 0, NULL, NULL,
     "  --index DIR            index directory published by ragd-index (required)\n"},
    {"config", OPT_STRING, F(config_path), 0, 0, NULL, NULL,
     "  --config FILE          read \"option = value\" lines first; flags win\n"},
    {"bind", OPT_STRING, F(so.bind), 0, 0, NULL, NULL, "  --bind ADDR            IPv4 address to listen on (127.0.0.1)\n"},
    {"port", OPT_INT, F(so.port), 0, 65535, NULL, NULL, "  --port N               TCP port, 0 picks a free one (8080)\n"},
    {"threads", OPT_INT, F(so.threads), 1, 1024, NULL, NULL,
     "  --threads N            request workers: run searches and embeddings (cores);\n"
     "                         HTTP I/O and probes run on threads of their own\n"},
    {"search-threads", OPT_INT, F(search_threads), 0, 1024, NULL, NULL,
     "  --search-threads N     shard-search workers shared by all requests (cores - 1)\n"},
    {"index-name", OPT_STRING, F(so.index_name), 0, 0, NULL, NULL,
     "  --index-name NAME      name API keys are limited to (folder name of --index)\n"},
    {"api-keys", OPT_STRING, F(keys_path), 0, 0, NULL, NULL,
     "  --api-keys FILE        key file (see docs/api.md), reloaded when it changes;\n"
     "                         none = open access\n"},
    {"protect-ops", OPT_FLAG, F(so.protect_ops), 0, 0, NULL, NULL,
     "  --protect-ops          require a key on /health, /ready and /metrics too\n"},
    {"rate-limit", OPT_DOUBLE, F(so.rate), 0, 1e6, NULL, NULL,
     "  --rate-limit R         requests per second per key (or client address); 0 = off\n"},
    {"burst", OPT_FUNC, 0, 0, 0, set_burst, NULL, "  --burst N              bucket size for the rate limit (2 x rate)\n"},
    {"watch-ms", OPT_INT, F(watch_ms), 0, 3600000, NULL, NULL,
     "  --watch-ms N           reload when INDEX_DIR/current changes, polled every\n"
     "                         N ms (1000); 0 = only on SIGHUP or POST /admin/reload\n"},
    {"max-body-bytes", OPT_SIZE, F(so.max_body_bytes), 256, 64 << 20, NULL, NULL,
     "  --max-body-bytes N     largest POST body (65536)\n"},
    {"max-query-bytes", OPT_SIZE, F(so.max_query_bytes), 1, 1 << 20, NULL, NULL,
     "  --max-query-bytes N    longest query text (2048)\n"},
    {"max-k", OPT_INT, F(so.max_k), 1, 10000, NULL, NULL, "  --max-k N              largest k (100)\n"},
    {"request-timeout-s", OPT_INT, F(so.request_timeout_s), 1, 3600, NULL, NULL,
     "  --request-timeout-s N  idle connection timeout (30)\n"},
    {"request-deadline-ms", OPT_INT, F(so.deadline_ms), 10, 3600000, NULL, NULL,
     "  --request-deadline-ms N  a request's time limit, queueing and upstream calls\n"
     "                         included; past it: 503/504 (15000)\n"},
    {"max-queued", OPT_INT, F(so.max_queued), 1, 1000000, NULL, NULL,
     "  --max-queued N         requests waiting for a worker; beyond it: 503 (512)\n"},
    {"shutdown-timeout-s", OPT_INT, F(shutdown_s), 0, 3600, NULL, NULL,
     "  --shutdown-timeout-s N on SIGTERM, wait this long for in-flight requests (10)\n"},
    {"embeddings-max-inputs", OPT_INT, F(so.emb.max_inputs), 1, 100000, NULL, NULL,
     "  --embeddings-max-inputs N  inputs per POST /v1/embeddings request (256)\n"},
    {"embed-concurrency", OPT_INT, F(embed_concurrency), 1, 1024, NULL, NULL,
     "  --embed-concurrency N  embedding passes at once (cores); requests beyond it\n"
     "                         wait and are combined into the next pass\n"},
    {"query-threads", OPT_INT, F(query_threads), 1, 1024, NULL, NULL,
     "  --query-threads N      threads one query's encoder pass may use while it is the\n"
     "                         only request in flight (cores; 1 = never split)\n"},
    {"embed-batch-max", OPT_INT, F(embed_batch_max), 0, 4096, NULL, NULL,
     "  --embed-batch-max N    texts of concurrent requests (queries, /v1/embeddings\n"
     "                         inputs) one pass may combine (64; 0 = no combining)\n"},
    {"embeddings-allow-remote", OPT_FLAG, F(so.emb.allow_remote), 0, 0, NULL, NULL,
     "  --embeddings-allow-remote  let /v1/embeddings call a remote index embedder\n"},
    {"search-mode", OPT_FUNC, 0, 0, 0, set_mode, NULL,
     "  --search-mode M        mode when a request names none: vector, keyword or\n"
     "                         hybrid (hybrid; measured: docs/search.md)\n"},
    {"hybrid-alpha", OPT_FLOAT, F(so.default_alpha), 0, 1, NULL, NULL,
     "  --hybrid-alpha F       hybrid convex fusion: weight of the vector list, 0..1 (0.5)\n"},
    {"hybrid-fusion", OPT_FUNC, 0, 0, 0, set_fusion, NULL,
     "  --hybrid-fusion F      hybrid fusion when a request names none: convex or rrf (convex)\n"},
    {"redis", OPT_FUNC, 0, 0, 0, set_redis, NULL,
     "  --redis URL            semantic cache on redis://[:password@]host[:port][/db]\n"},
    {"cache-semantic", OPT_FUNC, 0, 0, 0, set_semantic, NULL,
     "  --cache-semantic M     semantic tier: on, off, or auto (on only when the index\n"
     "                         embedder is remote, e.g. openai; measured: docs/cache.md)\n"},
    {"cache-key-embedder", OPT_STRING, F(key_embedder), 0, 0, NULL, NULL,
     "  --cache-key-embedder E embedder of the semantic tier's key vectors: minilm\n"
     "                         (default when its model is found), hash, or index (the\n"
     "                         index's own; a remote one is then called before lookup)\n"},
    {"cache-threshold", OPT_FUNC, 0, 0, 0, set_threshold, NULL,
     "  --cache-threshold F    cosine a query needs to reuse an earlier query's results\n"
     "                         (0.94; above 1 turns the semantic tier off)\n"},
    {"cache-guard", OPT_FUNC, 0, 0, 0, set_guard, NULL,
     "  --cache-guard on|off   check candidates word by word: numbers, negation,\n"
     "                         entities, question/statement, pronoun person,\n"
     "                         content words (on)\n"},
    {"cache-verify-rate", OPT_DOUBLE, F(verify_rate), 0, 1, NULL, NULL,
     "  --cache-verify-rate F  share of semantic hits served by a fresh search instead and\n"
     "                         compared with the cached results, to measure wrong hits on\n"
     "                         your traffic (ragd_cache_semantic_verified_total; 0 = none)\n"},
    {"cache-guard-max-words", OPT_INT, F(co.guard_max_words), 0, 1000, NULL, NULL,
     "  --cache-guard-max-words N content words on one side only the guard allows (3)\n"},
    {"cache-vector-ttl-s", OPT_FUNC, 0, 0, 0, set_ttl, NULL,
     "  --cache-vector-ttl-s N lifetime of cached query vectors (604800 = 7 days)\n"},
    {"cache-results-ttl-s", OPT_FUNC, 0, 0, 0, set_ttl, NULL,
     "  --cache-results-ttl-s N lifetime of cached results (3600)\n"},
    {"cache-results-ttl-ms", OPT_FUNC, 0, 0, 0, set_ttl, NULL, NULL}, /* for tests */
    {"cache-mirror-max", OPT_INT, F(co.mirror_max), 16, 10000000, NULL, NULL,
     "  --cache-mirror-max N   semantic entries mirrored in memory (10000)\n"},
    {"cache-l1-max", OPT_INT, F(co.l1_max), 0, 10000000, NULL, NULL,
     "  --cache-l1-max N       exact result lists kept in process, no Redis round trip\n"
     "                         for a repeat (10000; 0 = off)\n"},
    {"redis-timeout-ms", OPT_INT, F(co.redis.command_timeout_ms), 1, 60000, NULL, NULL,
     "  --redis-timeout-ms N   Redis command timeout (100); connect: --redis-connect-timeout-ms (200)\n"},
    {"redis-connect-timeout-ms", OPT_INT, F(co.redis.connect_timeout_ms), 1, 60000, NULL, NULL, NULL},
    {"redis-backoff-ms", OPT_INT, F(co.redis.backoff_ms), 1, 600000, NULL, NULL,
     "  --redis-backoff-ms N   first pause after Redis fails 3 times (1000, doubling to 30 s)\n"},
    {"ef-search", OPT_INT, F(lp.ef_search), 1, 100000, NULL, NULL, "  --ef-search N          HNSW efSearch (index default)\n"},
    {"nprobe", OPT_INT, F(lp.nprobe), 1, 1000000, NULL, NULL, "  --nprobe N             IVF nprobe (index default)\n"},
    {"no-verify", OPT_FLAG_OFF, F(lp.verify), 0, 0, NULL, NULL,
     "  --no-verify            skip SHA-256 checks of shards when loading\n"},
    {"embedder options", OPT_GROUP, 0, 0, 0, embedder_group, embedder_cli_help,
     "  --model DIR            model folder of the minilm embedder\n"},
    {"log-queries", OPT_FLAG, F(so.log_queries), 0, 0, NULL, NULL,
     "  --log-queries          include query text in the access log\n"},
    {"no-access-log", OPT_FLAG_OFF, F(access_log), 0, 0, NULL, NULL,
     "  --no-access-log        no per-request log lines\n"},
    {"log-level", OPT_FUNC, 0, 0, 0, log_level_option, NULL, "  --log-level L          debug, info, warn, error (info)\n"},
    {"log-format", OPT_FUNC, 0, 0, 0, log_format_option, NULL,
     "  --log-format F         text or json lines (json when stderr is not a terminal)\n"},
    {"shards", OPT_FUNC, 0, 0, 0, set_shards, NULL,
     "  --shards LIST          serve only these shards of each version (0,2 or 0-3): a shard\n"
     "                         server behind a router (docs/scaling.md); default all\n"},
    {"router", OPT_FLAG, F(router), 0, 0, NULL, NULL,
     "  --router               serve the API from shard servers (--peers) instead of a local\n"
     "                         index: embed once, ask one replica per shard group, merge\n"},
    {"peers", OPT_STRING, F(peers), 0, 0, NULL, NULL,
     "  --peers URLS           the router's shard groups, http://HOST:PORT comma-separated; a\n"
     "                         HOST with several A records (a headless Service) is its replicas,\n"
     "                         as are URLs joined by | within one group\n"},
    {"shard-timeout-ms", OPT_INT, F(shard_timeout_ms), 1, 600000, NULL, NULL,
     "  --shard-timeout-ms N   the router's limit for one shard request, then the next replica (2000)\n"},
    {"peer-secret-file", OPT_STRING, F(peer_secret_file), 0, 0, NULL, NULL,
     "  --peer-secret-file F   shared secret of a router and its shard servers; turns on the\n"
     "                         internal routes /internal/v1/state and /internal/v1/search\n"},
    {"keep-previous-s", OPT_INT, F(keep_previous_s), 0, 86400, NULL, NULL,
     "  --keep-previous-s N    after a reload keep the previous version for requests that name\n"
     "                         it (a router mid-rollout): 120 with --peer-secret-file, else 0\n"},
    {"llm-url", OPT_FUNC, 0, 0, 0, add_llm_url, NULL,
     "  --llm-url URL          POST /v1/answer's OpenAI-compatible chat server; repeat for\n"
     "                         failover, in order: https://api.openai.com/v1, http://vllm:8000/v1,\n"
     "                         http://ollama:11434/v1, or Azure: https://R.openai.azure.com/openai/\n"
     "                         deployments/D?api-version=V (api-key header)\n"},
    {"llm-model", OPT_STRING, F(llm.model), 0, 0, NULL, NULL, "  --llm-model NAME       model the chat server is asked for\n"},
    {"llm-api-key-file", OPT_STRING, F(llm.key_file), 0, 0, NULL, NULL,
     "  --llm-api-key-file F   file holding the LLM's API key (a mounted secret; never logged)\n"},
    {"llm-timeout-ms", OPT_INT, F(llm.timeout_ms), 1, 3600000, NULL, NULL,
     "  --llm-timeout-ms N     one LLM attempt's time limit (30000)\n"},
    {"llm-retries", OPT_INT, F(llm.retries), 0, 10, NULL, NULL,
     "  --llm-retries N        rounds over the URLs after the first (2)\n"},
    {"llm-backoff-ms", OPT_INT, F(llm.backoff_ms), 1, 60000, NULL, NULL,
     "  --llm-backoff-ms N     first back-off step, doubling, with jitter (500)\n"},
    {"llm-breaker-failures", OPT_INT, F(llm.breaker_failures), 1, 1000, NULL, NULL,
     "  --llm-breaker-failures N  failed attempts in a row that make an LLM URL skipped (5)\n"},
    {"llm-breaker-cooldown-ms", OPT_INT, F(llm.breaker_cooldown_ms), 1, 3600000, NULL, NULL,
     "  --llm-breaker-cooldown-ms N  how long it is skipped before one trial call (30000)\n"},
    {"llm-max-concurrency", OPT_INT, F(so.answer_threads), 1, 1024, NULL, NULL,
     "  --llm-max-concurrency N  answers (LLM calls) at once, on workers of their own;\n"
     "                         more wait in the queue (4)\n"},
    {"answer-deadline-ms", OPT_INT, F(so.answer_deadline_ms), 10, 3600000, NULL, NULL,
     "  --answer-deadline-ms N an answer's time limit, retrieval and LLM included (60000)\n"},
    {"answer-context-tokens", OPT_INT, F(answer.context_tokens), 1, 1000000, NULL, NULL,
     "  --answer-context-tokens N  passages' token budget in the prompt, whole passages (3000)\n"},
    {"answer-max-tokens", OPT_INT, F(answer.max_tokens), 1, 1000000, NULL, NULL,
     "  --answer-max-tokens N  completion tokens when a request names none (512)\n"},
    {"answer-max-tokens-limit", OPT_INT, F(answer.max_tokens_limit), 1, 1000000, NULL, NULL,
     "  --answer-max-tokens-limit N  the most max_tokens a request may ask for (4096)\n"},
    {"answer-cache-ttl-s", OPT_FUNC, 0, 0, 0, set_answer_ttl, NULL,
     "  --answer-cache-ttl-s N lifetime of cached answers, set at write (3600)\n"},
    {"answer-cache-semantic", OPT_FUNC, 0, 0, 0, set_answer_semantic, NULL,
     "  --answer-cache-semantic on|off  reuse the answer of a near-duplicate question\n"
     "                         (key embedder, --cache-threshold and the guard; on)\n"},
    {"llm-tokens-per-minute", OPT_DOUBLE, F(so.llm_tpm), 0, 1e12, NULL, NULL,
     "  --llm-tokens-per-minute N  LLM token budget per key (or client address); a key's\n"
     "                         tpm= attribute overrides it; beyond it: 429 (0 = none)\n"},
    {"answer-include-flagged", OPT_FLAG, F(answer.include_flagged), 0, 0, NULL, NULL,
     "  --answer-include-flagged  keep chunks flagged as prompt injection in prompts\n"},
    {"check", OPT_FLAG, F(check), 0, 0, NULL, NULL,
     "  --check                load and verify the index, print a summary, exit\n"},
    {NULL},
};

#undef F

static void usage(FILE *f) {
    fputs("usage: ragd-serve --index INDEX_DIR [options]\n"
          "\n"
          "Serves similarity search over the index version INDEX_DIR/current names,\n"
          "and swaps in newly published versions without failing a request.\n"
          "\n", f);
    opt_help(serve_options, f);
    fputs("\n"
          "Signals: SIGHUP reloads the index and the --api-keys file (both are also\n"
          "reloaded when they change, every --watch-ms); SIGTERM/SIGINT stop accepting, finish in-flight\n"
          "requests, exit 0.\n", f);
}

static int is_flag(const char *key) {
    return opt_is_flag(serve_options, key);
}

static int apply_arg(void *ctx, const char *key, const char *value, int from_flags, char *err) {
    (void)from_flags;
    int r = opt_apply(serve_options, ctx, key, value, err);
    if (r == 0) return err_set(err, "unknown option --%s (see ragd-serve --help)", key);
    return r < 0 ? RAGD_ERR : RAGD_OK;
}

static int parse_args(serve_cli *c, int argc, char **argv, config_entry **conf, int *nconf, char *err) {
    if (config_args(argc - 1, argv + 1, apply_arg, is_flag, c, conf, nconf, err) != 0) return RAGD_ERR;
    if (!c->index_dir && !c->router) return err_set(err, "--index INDEX_DIR is required (or --router --peers)");
    if (c->router && c->index_dir) return err_set(err, "--router serves from --peers, not from --index");
    if (c->router && c->lp.n_shards) return err_set(err, "--shards is for shard servers, not --router");
    if (c->router && c->check) return err_set(err, "--check needs --index");
    if (c->peers && !c->router) return err_set(err, "--peers needs --router");
    return RAGD_OK;
}

static void defaults(serve_cli *c) {
    memset(c, 0, sizeof(*c));
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (cores < 1) cores = 1;
    c->so = server_opts_default();
    c->so.threads = (int)cores;
    c->search_threads = cores > 1 ? (int)cores - 1 : 0;
    c->lp = (live_params){.verify = 1, .emb = embedder_opts_default()};
    c->llm = llm_opts_default();
    c->keep_previous_s = -1;
    c->answer = answer_opts_default();
    c->co = qcache_opts_default();
    c->watch_ms = 1000;
    c->shutdown_s = 10;
    c->access_log = 1;
    c->embed_batch_max = 64;
}

static int check_only(serve_cli *c) {
    char err[RAGD_ERR_LEN];
    live_index *li = live_index_new(c->index_dir, &c->lp);
    int rc = live_index_reload(li, err);
    live_version *lv = live_index_acquire(li);
    if (lv)
        printf("ready: version %s, %lld chunks in %d shards, embedder %s\n", lv->v->m.version_id,
               (long long)lv->v->m.total_chunks, lv->v->m.n_shards, lv->v->m.model_id);
    live_version_release(lv);
    live_index_free(li);
    return rc > 0 ? 0 : 1;
}

/* The semantic tier's key embedder: --cache-key-embedder, else minilm
 * when its model is found. 1 and co.key_model set; 0 and why in err (the
 * service then runs without the semantic tier, never fails for it). */
static int load_key_embedder(serve_cli *c, embedder **key, char *err) {
    static char model_id[160];
    char e2[RAGD_ERR_LEN];
    const char *name = c->key_embedder;
    if (name && !strcmp(name, "index")) {
        c->co.key_model = "index";
        return 1;
    }
    if (!name && !(name = embedder_default_name(&c->lp.emb, e2))) {
        snprintf(err, RAGD_ERR_LEN, "no key embedder: %.900s", e2);
        log_warn("semantic cache tier off: no key embedder: %s", e2);
        return 0;
    }
    if (!(*key = embedder_create(name, &c->lp.emb, e2))) {
        snprintf(err, RAGD_ERR_LEN, "key embedder %.32s failed to load: %.900s", name, e2);
        log_error("semantic cache tier off: key embedder %s failed to load: %s", name, e2);
        return 0;
    }
    snprintf(model_id, sizeof(model_id), "%s", embedder_model_id(*key));
    c->co.key_model = model_id;
    return 1;
}

/* Signals arrive on any thread (OpenBLAS starts its own before main), so
 * the handler only writes the signal number to a pipe the main thread
 * reads: the self-pipe trick. */
/* Is another request in flight besides the caller's? (embed_batcher's idle test) */
static int server_busy(void) {
    return metrics_inflight_now() > 1;
}

static int signal_pipe[2] = {-1, -1};

static void on_signal(int sig) {
    unsigned char b = (unsigned char)sig;
    ssize_t w = write(signal_pipe[1], &b, 1);
    (void)w;
}

static void install_signals(void) {
    if (pipe(signal_pipe) != 0) {
        perror("ragd-serve: pipe");
        exit(1);
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* The next signal, or 0 after timeout_ms (< 0: wait for ever). */
static int wait_signal(int timeout_ms) {
    struct pollfd p = {.fd = signal_pipe[0], .events = POLLIN};
    for (;;) {
        int r = poll(&p, 1, timeout_ms);
        if (r == 0) return 0;
        if (r < 0) continue; /* EINTR */
        unsigned char b;
        if (read(signal_pipe[0], &b, 1) == 1) return b;
    }
}

static int serve(serve_cli *c, key_file *keys) {
    char err[RAGD_ERR_LEN];
    install_signals();
    /* Budget: requests and shard workers are the parallelism; BLAS and
     * OpenMP inside them run single-threaded (see docs/operations.md). */
    embedder_set_blas_threads(1);
    shard_api *peer = NULL;
    if (c->peer_secret_file && !c->router && !(peer = shard_api_new(c->peer_secret_file, err))) {
        log_error("%s", err);
        return 2;
    }
    c->so.peer = peer;
    c->lp.keep_previous_ms = (c->keep_previous_s >= 0 ? c->keep_previous_s : peer ? 120 : 0) * 1000;
    live_index *li = c->router ? NULL : live_index_new(c->index_dir, &c->lp);
    search_pool *pool = search_pool_new(c->search_threads);
    qcache *cache = NULL;
    embedder *key = NULL;
    char key_err[RAGD_ERR_LEN] = "";
    if (c->redis_url && c->semantic != SEMANTIC_OFF && !load_key_embedder(c, &key, key_err)) c->co.key_model = NULL;
    if (c->redis_url) {
        qcache_hooks hooks = {.event = metrics_cache_event, .latency = metrics_redis_latency,
                              .guard_reject = metrics_guard_reject};
        if (!(cache = qcache_new(&c->co, &hooks, err))) {
            log_error("%s", err);
            search_pool_free(pool);
            live_index_free(li);
            shard_api_free(peer);
            return 2;
        }
        if (c->co.key_model)
            log_info("cache on redis %s:%d; semantic tier %s, key embedder %s, threshold %.3f, guard %s",
                     c->co.redis.host, c->co.redis.port, c->semantic == SEMANTIC_ON ? "on" : "auto",
                     c->co.key_model, (double)c->co.threshold, c->co.guard ? "on" : "off");
        else
            log_info("cache on redis %s:%d; semantic tier off%s%s", c->co.redis.host, c->co.redis.port,
                     key_err[0] ? ": " : "", key_err);
    }
    /* At most one encoder pass per core: requests beyond that wait and
     * are combined into the next pass (service/embed_batcher.h). */
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int passes = c->embed_concurrency > 0 ? c->embed_concurrency : cores > 0 ? (int)cores : 1;
    embed_batcher *batcher = c->embed_batch_max > 0 ? embed_batcher_new(passes, c->embed_batch_max) : NULL;
    if (batcher)
        embed_batcher_set_idle_threads(batcher, c->query_threads > 0 ? c->query_threads : cores > 0 ? (int)cores : 1,
                                       server_busy);
    searcher s = {.li = li, .pool = pool, .cache = cache, .semantic = c->semantic, .key = key,
                  .semantic_off = key_err[0] ? key_err : NULL, .batcher = batcher, .verify_rate = c->verify_rate};
    if (c->so.rate > 0 && !c->burst_set) c->so.burst = c->so.rate * 2;
    answerer ans = {.s = &s, .l = NULL, .o = c->answer};
    if (c->llm.n_urls || c->llm.model) {
        if (!(ans.l = llm_new(&c->llm, err))) {
            log_error("%s", err);
            qcache_free(cache);
            embed_batcher_free(batcher);
            embedder_free(key);
            search_pool_free(pool);
            live_index_free(li);
            shard_api_free(peer);
            return 2;
        }
        log_info("answers: %d LLM URL(s), model %s, %d at once", c->llm.n_urls, c->llm.model, c->so.answer_threads);
    }
    if (ans.o.max_tokens > ans.o.max_tokens_limit) ans.o.max_tokens = ans.o.max_tokens_limit;
    c->so.answer = &ans;
    router *rt = NULL;
    if (c->router) {
        router_opts ro = {.peers = c->peers, .secret_file = c->peer_secret_file,
                          .index_name = c->index_name_given ? c->so.index_name : NULL, .poll_ms = 1000,
                          .shard_timeout_ms = c->shard_timeout_ms, .emb = c->lp.emb, .batcher = batcher};
        if (!(rt = router_new(&ro, err))) {
            log_error("%s", err);
            llm_free(ans.l);
            qcache_free(cache);
            embed_batcher_free(batcher);
            embedder_free(key);
            search_pool_free(pool);
            return 2;
        }
        c->so.router = rt;
        ans.router = rt;
    }
    server *srv = server_start(&c->so, &s, keys, err);
    int code = 0;
    if (!srv) {
        log_error("%s", err);
        code = 1;
    } else {
        log_info("listening on http://%s:%d/ (%d request workers, %d search workers%s)", c->so.bind,
                 server_port(srv), c->so.threads, c->search_threads,
                 keys ? ", API keys required" : ", open access: no --api-keys given");
        /* Listen first, then load: /health answers and /ready reports
         * progress while a large index loads (a startupProbe waits). */
        if (li) live_index_watch(li, c->watch_ms);
        /* The key file is checked for changes as often as the index's
         * `current` (--watch-ms); SIGHUP reloads both. */
        for (;;) {
            int sig = wait_signal(keys && c->watch_ms > 0 ? c->watch_ms : -1);
            if (sig == 0 || sig == SIGHUP) {
                if (keys) key_file_reload(keys, sig == SIGHUP, err);
                if (sig == SIGHUP && li) live_index_request_reload(li);
                continue;
            }
            log_info("signal %d: stopping; finishing in-flight requests (up to %d s)", sig, c->shutdown_s);
            int left = server_shutdown(srv, c->shutdown_s * 1000);
            if (left) log_warn("%d requests still in flight at shutdown", left);
            break;
        }
    }
    router_free(rt);
    llm_free(ans.l);
    qcache_free(cache);
    embed_batcher_free(batcher);
    embedder_free(key);
    search_pool_free(pool);
    live_index_free(li);
    shard_api_free(peer);
    return code;
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--version")) {
            printf("ragd-serve %s\n", RAGD_VERSION);
            return 0;
        }
    }
    serve_cli c;
    defaults(&c);
    config_entry *conf = NULL;
    int nconf = 0;
    char err[RAGD_ERR_LEN];
    if (parse_args(&c, argc, argv, &conf, &nconf, err) != 0) {
        fprintf(stderr, "ragd-serve: %s\n", err);
        config_free(conf, nconf);
        return 2;
    }
    char *name = NULL;
    int name_given = strcmp(c.so.index_name, "default") != 0;
    c.index_name_given = name_given;
    if (!name_given && c.index_dir) {
        const char *base = strrchr(c.index_dir, '/');
        name = mem_strdup(base && base[1] ? base + 1 : c.index_dir);
        c.so.index_name = name;
    }
    access_log_enable(c.access_log);
    int code;
    if (c.check) {
        code = check_only(&c);
    } else {
        key_file *keys = NULL;
        if (c.keys_path && !(keys = key_file_open(c.keys_path, err))) {
            fprintf(stderr, "ragd-serve: %s\n", err);
            code = 2;
        } else {
            code = serve(&c, keys);
        }
        key_file_free(keys);
    }
    mem_free(name);
    config_free(conf, nconf);
    return code;
}
