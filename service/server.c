/* server.c - the REST API over libmicrohttpd */
#include "server.h"
#include "clock.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "access_log.h"
#include "answer.h"
#include "injection.h"
#include "err.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"
#include "query_cache.h"
#include "request_parse.h"
#include "text_extract.h"
#include "work_queue.h"

/* libmicrohttpd's own threads: HTTP I/O and the routes that never wait. */
#define IO_THREADS 2

struct server {
    server_opts o;
    searcher *s;
    key_file *keys;
    rate_limit *rl;
    work_queue *wq;
    work_queue *aq; /* answer workers: LLM calls take seconds, searches must not wait behind them */
    struct MHD_Daemon *d;
    int port;
    atomic_uint_fast64_t next_id;
};

/* An answer, built by a route (on an HTTP thread or a worker) and queued
 * by the HTTP thread that owns the connection. */
typedef struct reply {
    int status;
    char *body; /* owned */
    const char *ctype;
    char retry_after[16];
} reply;

enum job_state { JOB_NONE, JOB_QUEUED, JOB_DONE };

/* Per-request state, from the first handler call to the completion callback. */
typedef struct request {
    enum route route;
    char method[8];
    char id[72];
    double t0, deadline;
    char *body;
    size_t body_len;
    int body_too_large;
    int status, results;
    enum cache_outcome cache;
    int has_cache;
    char key_id[64];
    char tenant[64];
    char *query; /* for the access log, only with --log-queries */
    int counted;
    query_arg args[REQUEST_MAX_ARGS + 1]; /* GET arguments (point into the connection's memory) */
    int n_args;
    /* a slow route runs on a worker while the connection is suspended */
    server *srv;
    struct MHD_Connection *conn;
    atomic_int job;
    reply out;
    int fd;                 /* the client's socket, polled for a hang-up while a worker holds the request */
    char bucket[96];        /* the rate-limit bucket of the key (or client address) */
    double tpm;             /* the key's LLM tokens per minute (0: none) */
    struct sse_out *sse;    /* a streamed answer, once its first event is ready */
} request;

server_opts server_opts_default(void) {
    server_opts o = {.bind = "127.0.0.1", .port = 8080, .threads = 2, .max_body_bytes = 64 * 1024,
                     .max_query_bytes = 2048, .max_k = 100, .default_k = 10, .request_timeout_s = 30,
                     .default_mode = SEARCH_DEFAULT_MODE, .default_alpha = SEARCH_DEFAULT_ALPHA,
                     .default_fusion = FUSION_CONVEX, .emb = embeddings_opts_default(),
                     .protect_ops = 0, .log_queries = 0, .index_name = "default", .rate = 0, .burst = 0,
                     .deadline_ms = 15000, .max_queued = 512, .answer_threads = 4,
                     .answer_deadline_ms = 60000};
    return o;
}


/* ---- replies ---- */

static void reply_set(reply *r, int status, char *body, const char *ctype, const char *retry_after) {
    mem_free(r->body);
    r->status = status;
    r->body = body;
    r->ctype = ctype;
    snprintf(r->retry_after, sizeof(r->retry_after), "%s", retry_after ? retry_after : "");
}

/* Serialise (and free) a JSON value, floats to `digits` significant
 * digits; a value that cannot be encoded is a bug. */
static void reply_json_digits(reply *r, int status, json_t *body, const char *retry_after, int digits) {
    char *s = body ? json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(digits)) : NULL;
    json_decref(body);
    if (!s) s = strdup("{\"error\":{\"code\":\"internal\",\"message\":\"response encoding failed\"}}"), status = 500;
    size_t n = strlen(s);
    char *line = mem_alloc(n + 2);
    memcpy(line, s, n);
    memcpy(line + n, "\n", 2);
    free(s);
    reply_set(r, status, line, "application/json", retry_after);
}

static void reply_json(reply *r, int status, json_t *body, const char *retry_after) {
    reply_json_digits(r, status, body, retry_after, 7);
}

static void reply_error_retry(reply *r, int status, const char *code, const char *message, const char *retry_after) {
    char *safe = utf8_sanitize(message, strlen(message), NULL);
    json_t *o = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", safe);
    mem_free(safe);
    reply_json(r, status, o, retry_after);
}

static void reply_error(reply *r, int status, const char *code, const char *message) {
    reply_error_retry(r, status, code, message, NULL);
}

/* Queue rq->out on the connection (an HTTP thread's job). */
static enum MHD_Result send_reply(struct MHD_Connection *c, request *rq) {
    reply *r = &rq->out;
    char *body = r->body ? r->body : mem_strdup("");
    r->body = NULL;
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, "Content-Type", r->ctype ? r->ctype : "application/json");
    MHD_add_response_header(resp, "X-Request-Id", rq->id);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    if (r->retry_after[0]) MHD_add_response_header(resp, "Retry-After", r->retry_after);
    if (r->status == 401) MHD_add_response_header(resp, "WWW-Authenticate", "Bearer");
    if (r->status == 405) {
        const char *allow = rq->route == ROUTE_SEARCH ? "GET, POST"
                            : rq->route == ROUTE_RELOAD || rq->route == ROUTE_EMBEDDINGS || rq->route == ROUTE_ANSWER ||
                                      rq->route == ROUTE_SHARD_SEARCH || rq->route == ROUTE_SHARD_ROWS
                                ? "POST"
                                : "GET";
        MHD_add_response_header(resp, "Allow", allow);
    }
    rq->status = r->status;
    /* Count at queue time, so a client that reads /metrics right after its
     * answer already sees itself counted. */
    metrics_request(rq->route, r->status, (clock_ms() - rq->t0) / 1000.0);
    enum MHD_Result res = MHD_queue_response(c, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return res;
}

static enum MHD_Result send_error(struct MHD_Connection *c, request *rq, int status, const char *code,
                                  const char *message) {
    reply_error(&rq->out, status, code, message);
    return send_reply(c, rq);
}

/* ---- request parsing helpers ---- */

static enum route route_of(const char *url) {
    static const struct {
        const char *path;
        enum route r;
    } table[] = {{"/v1/search", ROUTE_SEARCH}, {"/", ROUTE_COMPAT},       {"/health", ROUTE_HEALTH},
                 {"/ready", ROUTE_READY},       {"/metrics", ROUTE_METRICS}, {"/v1/index", ROUTE_INDEX},
                 {"/admin/reload", ROUTE_RELOAD}, {"/v1/embeddings", ROUTE_EMBEDDINGS},
                 {"/v1/models", ROUTE_MODELS}, {"/v1/answer", ROUTE_ANSWER},
                 {"/internal/v1/state", ROUTE_SHARD_STATE}, {"/internal/v1/search", ROUTE_SHARD_SEARCH},
                 {"/internal/v1/rows", ROUTE_SHARD_ROWS}};
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (strcmp(url, table[i].path) == 0) return table[i].r;
    return ROUTE_OTHER;
}

static int method_allowed(enum route r, const char *m) {
    int get = !strcmp(m, "GET"), post = !strcmp(m, "POST");
    switch (r) {
    case ROUTE_SEARCH: return get || post;
    case ROUTE_RELOAD: return post;
    case ROUTE_EMBEDDINGS: return post;
    case ROUTE_ANSWER: return post;
    case ROUTE_SHARD_SEARCH: return post;
    case ROUTE_SHARD_ROWS: return post;
    case ROUTE_OTHER: return 1;
    default: return get;
    }
}

static void set_request_id(server *srv, struct MHD_Connection *c, request *rq) {
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Request-Id");
    if (h && strlen(h) <= 64 && strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == strlen(h) && *h) {
        snprintf(rq->id, sizeof(rq->id), "%s", h);
        return;
    }
    uint64_t n = atomic_fetch_add(&srv->next_id, 1);
    snprintf(rq->id, sizeof(rq->id), "r-%x-%llx", (unsigned)getpid(), (unsigned long long)n);
}

/* ---- auth and rate limits ---- */

static int needs_key(const server *srv, enum route r) {
    if (!srv->keys) return 0;
    if (r == ROUTE_HEALTH || r == ROUTE_READY || r == ROUTE_METRICS) return srv->o.protect_ops;
    return r != ROUTE_OTHER;
}

static const char *presented_key(struct MHD_Connection *c) {
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (h && strncasecmp(h, "Bearer ", 7) == 0) return h + 7;
    return MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-API-Key");
}

/* The bucket of the key (or, without one, of the client address). */
static void bucket_name(struct MHD_Connection *c, const key_grant *k, char *out, size_t cap) {
    if (k) {
        snprintf(out, cap, "key:%.63s", k->id);
        return;
    }
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    char ip[INET6_ADDRSTRLEN] = "?";
    if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)ci->client_addr)->sin_addr, ip, sizeof(ip));
    snprintf(out, cap, "ip:%s", ip);
}

/* Take one token from the bucket of the key (or, without one, of the
 * client address); 1 and a 429 in rq->out when it is empty. */
static int rate_limited(server *srv, struct MHD_Connection *c, request *rq, const key_grant *k) {
    char bucket[96];
    bucket_name(c, k, bucket, sizeof(bucket));
    double wait = 0;
    if (rate_limit_take(srv->rl, bucket, k ? k->rate : 0, k ? k->burst : 0, &wait)) return 0;
    char ra[16];
    snprintf(ra, sizeof(ra), "%d", (int)wait + 1);
    reply_error_retry(&rq->out, 429, "rate_limited", "too many requests; retry after the Retry-After seconds", ra);
    return 1;
}

static int internal_route(enum route r) {
    return r == ROUTE_SHARD_STATE || r == ROUTE_SHARD_SEARCH || r == ROUTE_SHARD_ROWS;
}

/* 0 if the request may go on; otherwise 1 and the error in rq->out. */
static int check_access(server *srv, struct MHD_Connection *c, request *rq) {
    key_grant grant, *k = NULL;
    if (internal_route(rq->route)) { /* peers: the shared secret, not API keys */
        if (shard_api_allows(srv->o.peer, MHD_lookup_connection_value(c, MHD_HEADER_KIND, SHARD_SECRET_HEADER)))
            return 0;
        if (rate_limited(srv, c, rq, NULL)) return 1; /* guessing spends the address's tokens */
        return reply_error(&rq->out, 401, "invalid_peer_secret",
                           "internal routes need the peer secret (--peer-secret-file) in " SHARD_SECRET_HEADER), 1;
    }
    if (needs_key(srv, rq->route)) {
        const char *p = presented_key(c);
        int known = p && *p && key_file_check(srv->keys, p, strlen(p), srv->o.index_name, &grant);
        /* Failed attempts spend the client address's tokens, so guessing
         * keys is as rate limited as searching (security review finding 12). */
        if (!known && rate_limited(srv, c, rq, NULL)) return 1;
        if (!p || !*p)
            return reply_error(&rq->out, 401, "missing_api_key",
                               "send the key as \"Authorization: Bearer KEY\" or \"X-API-Key: KEY\""), 1;
        if (!known) return reply_error(&rq->out, 401, "invalid_api_key", "unknown API key"), 1;
        k = &grant;
        snprintf(rq->key_id, sizeof(rq->key_id), "%.63s", k->id);
        snprintf(rq->tenant, sizeof(rq->tenant), "%.63s", k->tenant);
        if (!k->allowed) return reply_error(&rq->out, 403, "index_forbidden", "this key may not query this index"), 1;
        if (rq->route == ROUTE_RELOAD && !k->admin)
            return reply_error(&rq->out, 403, "admin_required", "reload needs a key with the admin attribute"), 1;
    }
    if ((rq->route == ROUTE_SEARCH || rq->route == ROUTE_COMPAT || rq->route == ROUTE_EMBEDDINGS ||
         rq->route == ROUTE_ANSWER) &&
        rate_limited(srv, c, rq, k))
        return 1;
    if (!rq->tenant[0]) snprintf(rq->tenant, sizeof(rq->tenant), "default");
    if (rq->route == ROUTE_ANSWER) {
        char b[88];
        bucket_name(c, k, b, sizeof(b));
        snprintf(rq->bucket, sizeof(rq->bucket), "tpm:%s", b);
        rq->tpm = k && k->tpm > 0 ? k->tpm : srv->o.llm_tpm;
    }
    return 0;
}

/* ---- routes ---- */

/* A JSON string of stored text; bytes that are not UTF-8 (an old index's
 * file:// path, say) become U+FFFD instead of failing the whole hit, which
 * used to vanish from the results (security review finding 6). */
static json_t *jstr(const char *s) {
    json_t *j = json_string(s ? s : "");
    if (j) return j;
    char *safe = utf8_sanitize(s, strlen(s), NULL);
    j = json_string(safe);
    mem_free(safe);
    return j;
}

/* The prompt-injection markers of a chunk's text (core/injection.h). */
static json_t *flags_json(const char *text) {
    unsigned f = injection_scan(text, text ? strlen(text) : 0);
    json_t *a = json_array();
    for (int i = 0; i < INJECTION_FLAG_COUNT; i++)
        if (f & (1u << i)) json_array_append_new(a, json_string(injection_flag_name(1u << i)));
    return a;
}

static json_t *hit_json(const search_hit *h, int mode) {
    json_t *heads = json_loads(h->row.headings, 0, NULL);
    char id[24];
    snprintf(id, sizeof(id), "%lld", (long long)h->id);
    json_t *o = json_pack("{s:s, s:f, s:o, s:o, s:o, s:o, s:o}", "id", id, "score", (double)h->score, "text",
                          jstr(h->row.text), "url", jstr(h->row.doc_url), "title", jstr(h->row.title), "headings",
                          heads ? heads : json_array(), "flags", flags_json(h->row.text));
    if (mode == MODE_HYBRID) {
        /* which list(s) found the chunk, and its score in each */
        json_t *found = json_array(), *scores = json_object();
        if (h->found & FUSION_FOUND_VECTOR) {
            json_array_append_new(found, json_string("vector"));
            json_object_set_new(scores, "vector", json_real(h->vector_score));
        }
        if (h->found & FUSION_FOUND_KEYWORD) {
            json_array_append_new(found, json_string("keyword"));
            json_object_set_new(scores, "keyword", json_real(h->keyword_score));
        }
        json_object_set_new(o, "found_by", found);
        json_object_set_new(o, "scores", scores);
    }
    return o;
}

/* The API reports both exact tiers (vector, results) as "exact". */
static const char *cache_api_name(enum cache_outcome c) {
    return c == CACHE_RESULTS ? "exact" : cache_outcome_name(c);
}

static const char *cache_state(const server *srv) {
    if (!srv->s->cache) return "disabled";
    return qcache_up(srv->s->cache) ? "ok" : "degraded";
}

/* Run the search into rq->out; 503 when no version is loaded, 504 when
 * the request's deadline ran out on the way (a slow upstream). A router
 * asks its shard servers instead of searching here. */
static void answer_search(server *srv, request *rq, const search_query *q, int compat, int allow_partial) {
    search_result r;
    router_info ri = {0};
    char err[RAGD_ERR_LEN];
    double t0 = clock_ms();
    int st = srv->o.router ? router_search(srv->o.router, srv->s, q, allow_partial, &r, &ri, err) : search_run(srv->s, q, &r, err);
    if (st == SEARCH_NOT_READY) return reply_error(&rq->out, 503, "not_ready", err);
    if (st == SEARCH_SHARDS_UNAVAILABLE) return reply_error_retry(&rq->out, 503, "shards_unavailable", err, "1");
    if (st == SEARCH_BAD_REQUEST) return reply_error(&rq->out, 400, "mode_unavailable", err);
    if (st == SEARCH_FILTER_UNAVAILABLE) return reply_error(&rq->out, 400, "filter_unavailable", err);
    if (st == SEARCH_BAD_VECTOR) return reply_error(&rq->out, 400, "invalid_vector", err);
    if (st != SEARCH_OK) {
        search_result_clear(&r);
        if (deadline_expired()) return reply_error_retry(&rq->out, 504, "deadline_exceeded", err, "1");
        return reply_error(&rq->out, 500, "search_failed", err);
    }
    rq->cache = r.cache;
    rq->has_cache = 1;
    rq->results = r.n;
    metrics_cache(r.cache);
    json_t *results = json_array();
    for (int i = 0; i < r.n; i++) {
        if (compat) {
            json_array_append_new(results, json_pack("{s:o, s:o, s:f}", "content", jstr(r.hits[i].row.text), "source",
                                                     jstr(r.hits[i].row.doc_url), "score", (double)r.hits[i].score));
        } else {
            json_array_append_new(results, hit_json(&r.hits[i], q->mode));
        }
    }
    json_t *o;
    if (compat) {
        char msg[64];
        snprintf(msg, sizeof(msg), "Found %d results", r.n);
        o = json_pack("{s:o, s:s, s:s}", "results", results, "status", "success", "message", msg);
    } else {
        o = json_pack("{s:o, s:s, s:f, s:{s:f, s:f, s:f, s:f, s:f}, s:s, s:i, s:s}", "results", results,
                      "index_version", r.version_id, "took_ms", clock_ms() - t0, "timings", "embed_ms", r.embed_ms,
                      "search_ms", r.search_ms, "keyword_ms", r.keyword_ms, "filter_ms", r.filter_ms, "fetch_ms",
                      r.fetch_ms, "cache",
                      cache_api_name(r.cache), "k", q->k, "mode", search_mode_name(q->mode));
        if (q->mode == MODE_HYBRID) {
            json_object_set_new(o, "fusion", json_string(fusion_name((enum fusion_method)q->fusion)));
            if (q->fusion == FUSION_CONVEX) json_object_set_new(o, "alpha", json_real(q->alpha));
        }
        if (ri.partial) {
            json_t *ms = json_array();
            for (int i = 0; i < ri.n_missing; i++) json_array_append_new(ms, json_integer(ri.missing[i]));
            json_object_set_new(o, "partial", json_true());
            json_object_set_new(o, "missing_shards", ms);
        }
    }
    search_result_clear(&r);
    reply_json(&rq->out, 200, o, NULL);
}

/* GET and POST /v1/search and the seed's GET /?query=: one parser per
 * request kind (service/request_parse.c), one search. */
static void route_search(server *srv, request *rq) {
    search_limits l = {.max_query_bytes = srv->o.max_query_bytes, .max_k = srv->o.max_k,
                       .default_k = srv->o.default_k, .default_mode = srv->o.default_mode,
                       .default_alpha = srv->o.default_alpha, .default_fusion = srv->o.default_fusion};
    search_request sr;
    api_error e;
    int compat = rq->route == ROUTE_COMPAT, rc;
    if (compat) rc = parse_compat_args(&l, rq->args, rq->n_args, &sr, &e);
    else if (!strcmp(rq->method, "POST")) rc = parse_search_json(&l, rq->body, rq->body_len, &sr, &e);
    else rc = parse_search_args(&l, rq->args, rq->n_args, &sr, &e);
    if (srv->o.log_queries && sr.q.text && !rq->query) rq->query = utf8_sanitize(sr.q.text, sr.q.len, NULL);
    if (rc != 0) {
        reply_error(&rq->out, e.status, e.code, e.message);
    } else if (sr.empty) {
        reply_json(&rq->out, 200, json_pack("{s:[], s:s, s:s}", "results", "status", "empty_query", "message",
                                            "Please provide a query parameter"), NULL);
    } else {
        sr.q.tenant = rq->tenant;
        answer_search(srv, rq, &sr.q, compat, sr.allow_partial);
    }
    search_request_clear(&sr);
}

/* The shards this process serves (--shards). */
static json_t *served_list(const index_version *v) {
    json_t *a = json_array();
    for (int s = 0; s < v->m.n_shards; s++)
        if (index_version_serves(v, s)) json_array_append_new(a, json_integer(s));
    return a;
}

/* /ready of a router: a version whose every shard a live replica serves. */
static void router_ready_reply(server *srv, request *rq) {
    char version[MANIFEST_NAME_LEN], why[RAGD_ERR_LEN];
    int complete = 0;
    if (!router_ready(srv->o.router, version, sizeof(version), &complete, why, sizeof(why))) {
        char *safe = utf8_sanitize(why, strlen(why), NULL);
        reply_json(&rq->out, 503, json_pack("{s:s, s:s, s:{s:s, s:s}}", "status", "not_ready", "reason", safe, "error",
                                            "code", "not_ready", "message", safe), NULL);
        mem_free(safe);
        return;
    }
    /* ready while it serves a version, complete or not: requests that
     * allow partial results still get answers (the others a 503 that
     * names the missing shards) */
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:b}", "status", "ready", "index_version", version, "cache",
                          cache_state(srv), "role", "router", "complete", complete);
    if (!complete) json_object_set_new(o, "reason", json_string(why));
    reply_json(&rq->out, 200, o, NULL);
}

static void route_ready(server *srv, request *rq) {
    if (srv->o.router) return router_ready_reply(srv, rq);
    live_version *lv = live_index_acquire(srv->s->li);
    if (!lv) {
        live_status st;
        live_index_status(srv->s->li, &st);
        char *safe = utf8_sanitize(st.reason, strlen(st.reason), NULL);
        json_t *o = json_pack("{s:s, s:s, s:{s:s, s:s}}", "status", st.loading ? "loading" : "not_ready", "reason",
                              safe, "error", "code", "not_ready", "message", safe);
        mem_free(safe);
        if (st.loading && st.loading_id[0])
            json_object_set_new(o, "progress",
                                json_pack("{s:s, s:i, s:i, s:I, s:I, s:f, s:f}", "index_version", st.loading_id,
                                          "shards_loaded", st.shards_done, "shards", st.shards_total, "bytes_loaded",
                                          (json_int_t)st.bytes_done, "bytes", (json_int_t)st.bytes_total,
                                          "fraction",
                                          st.bytes_total > 0 ? (double)st.bytes_done / (double)st.bytes_total : 0.0,
                                          "elapsed_s", st.loading_s));
        return reply_json(&rq->out, 503, o, NULL);
    }
    char sem[RAGD_ERR_LEN + 8];
    json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:s}", "status", "ready", "index_version", lv->v->m.version_id,
                          "chunks", (json_int_t)lv->v->m.total_chunks, "cache", cache_state(srv), "semantic_cache",
                          search_semantic_state(srv->s, lv, sem, sizeof(sem)));
    if (lv->v->n_served < lv->v->m.n_shards) json_object_set_new(o, "served_shards", served_list(lv->v));
    live_status st;
    live_index_status(srv->s->li, &st);
    if (st.reload_error[0]) { /* still ready (the old version serves), but say why the new one is not live */
        char *safe = utf8_sanitize(st.reload_error, strlen(st.reload_error), NULL);
        json_object_set_new(o, "reload_error", json_string(safe));
        mem_free(safe);
    }
    live_version_release(lv);
    reply_json(&rq->out, 200, o, NULL);
}

static void route_metrics(server *srv, request *rq) {
    live_version *lv = srv->s->li ? live_index_acquire(srv->s->li) : NULL;
    char epoch[40] = "";
    if (srv->s->cache) qcache_epoch(srv->s->cache, epoch, sizeof(epoch));
    metrics_gauges g = {.index_version = lv ? lv->v->m.version_id : NULL,
                        .index_chunks = lv ? lv->v->m.total_chunks : 0,
                        .cache_up = srv->s->cache ? qcache_up(srv->s->cache) : -1,
                        .cache_mirror_size = srv->s->cache ? (int64_t)qcache_mirror_size(srv->s->cache) : 0,
                        .cache_epoch = epoch};
    work_queue_depth(srv->wq, &g.requests_queued, &g.requests_running);
    work_queue_depth(srv->aq, &g.answers_queued, &g.answers_running);
    if (srv->o.router) {
        g.router = 1;
        router_counts(srv->o.router, &g.router_replicas, &g.router_replicas_ok, &g.router_complete);
    }
    if (srv->o.answer && srv->o.answer->l) {
        llm *l = srv->o.answer->l;
        g.llm_upstreams = llm_upstreams(l);
        for (int i = 0; i < g.llm_upstreams && i < UPSTREAM_MAX_URLS; i++) g.llm_breaker_open[i] = llm_breaker_open(l, i);
    }
    if (srv->s->batcher) {
        embed_batcher_stats st;
        embed_batcher_stats_get(srv->s->batcher, &st);
        g.batching = 1, g.embed_passes = st.passes, g.embed_texts = st.texts, g.embed_requests = st.requests,
        g.embed_split_passes = st.split_passes;
    }
    char *text = metrics_render(&g);
    live_version_release(lv);
    reply_set(&rq->out, 200, text, "text/plain; version=0.0.4", NULL);
}

static void route_index(server *srv, request *rq) {
    if (srv->o.router) return reply_json(&rq->out, 200, router_state_json(srv->o.router), NULL);
    live_version *lv = live_index_acquire(srv->s->li);
    if (!lv) return reply_error(&rq->out, 503, "not_ready", "no index version is loaded");
    const manifest *m = &lv->v->m;
    json_t *src = json_array();
    for (int i = 0; i < m->n_sources; i++) json_array_append_new(src, json_string(m->sources[i]));
    json_t *o = json_pack("{s:s, s:s, s:s, s:{s:s, s:s, s:i, s:s, s:b}, s:s, s:{s:i, s:i}, s:i, s:I, s:I, s:o}",
                          "name", srv->o.index_name, "index_version", m->version_id, "created_at", m->created_at,
                          "embedder", "name", m->embedder, "model_id", m->model_id, "dim", m->dim, "metric",
                          manifest_metric_name(m->metric), "normalized", m->normalized, "index_spec", m->index_spec,
                          "chunking", "chunk_tokens", m->chunk_tokens, "chunk_overlap", m->chunk_overlap, "shards",
                          m->n_shards, "chunks", (json_int_t)m->total_chunks, "documents",
                          (json_int_t)m->total_documents, "sources", src);
    if (lv->v->n_served < m->n_shards) json_object_set_new(o, "served_shards", served_list(lv->v));
    json_t *emb = json_object_get(o, "embedder");
    if (m->precision[0]) json_object_set_new(emb, "precision", json_string(m->precision));
    if (embedder_precision(lv->e)[0])
        json_object_set_new(emb, "query", json_pack("{s:s, s:s, s:s}", "model_id", embedder_model_id(lv->e), "precision",
                                                    embedder_precision(lv->e), "kernel", embedder_kernel(lv->e)));
    live_version_release(lv);
    reply_json(&rq->out, 200, o, NULL);
}

/* POST /admin/reload: the watcher thread does the work (hashing every
 * shard can take a while); this waits for it within the deadline. */
/* Routes that need an index in this process; a router has none. */
static int router_refuses(server *srv, request *rq) {
    if (!srv->o.router) return 0;
    reply_error(&rq->out, 400, "router_mode",
                "this ragd-serve is a router (--router): its shard servers reload on their own");
    return 1;
}

static void route_reload(server *srv, request *rq) {
    char err[RAGD_ERR_LEN];
    if (router_refuses(srv, rq)) return;
    int rc = live_index_reload_wait(srv->s->li, deadline_left_ms(), err);
    if (rc < 0) return reply_error(&rq->out, 500, "reload_failed", err);
    if (rc == 2) {
        return reply_json(&rq->out, 202, json_pack("{s:s, s:s}", "status", "reloading", "message",
                                                   "the reload goes on; GET /ready says when it is live"), NULL);
    }
    live_version *lv = live_index_acquire(srv->s->li);
    json_t *o = json_pack("{s:s, s:s?}", "status", rc > 0 ? "reloaded" : "unchanged", "index_version",
                          lv ? lv->v->m.version_id : NULL);
    live_version_release(lv);
    reply_json(&rq->out, 200, o, NULL);
}

static void route_embeddings(server *srv, request *rq) {
    json_t *resp = NULL;
    int st = srv->o.router ? embeddings_answer_with(router_embedder(srv->o.router), srv->s->batcher, &srv->o.emb,
                                                    rq->body, rq->body_len, &resp)
                           : embeddings_answer(srv->s->li, srv->s->batcher, &srv->o.emb, rq->body, rq->body_len, &resp);
    if (st == 500 && deadline_expired()) {
        json_decref(resp);
        return reply_error_retry(&rq->out, 504, "deadline_exceeded", "the request's deadline ran out", "1");
    }
    reply_json_digits(&rq->out, st, resp, NULL, 9); /* every float32 reads back exactly */
}

static void route_models(server *srv, request *rq) {
    json_t *resp = NULL;
    int st = srv->o.router ? embeddings_models_of(router_embedder(srv->o.router), &resp)
                           : embeddings_models(srv->s->li, &resp);
    reply_json_digits(&rq->out, st, resp, NULL, 9);
}

static void route_shard_state(server *srv, request *rq) {
    json_t *o = NULL;
    int st = shard_api_state(srv->s, srv->o.index_name, &o);
    reply_json_digits(&rq->out, st, o, NULL, 9);
}

static void route_shard_search(server *srv, request *rq) {
    search_limits l = {.max_query_bytes = srv->o.max_query_bytes, .max_k = srv->o.max_k,
                       .default_k = srv->o.default_k, .default_mode = srv->o.default_mode,
                       .default_alpha = srv->o.default_alpha, .default_fusion = srv->o.default_fusion};
    json_t *o = NULL;
    api_error e;
    int st = shard_api_search(srv->s, &l, rq->body, rq->body_len, &o, &e);
    if (st == 200) return reply_json_digits(&rq->out, 200, o, NULL, 9); /* scores read back exactly */
    reply_error(&rq->out, st, e.code, e.message);
}

static void route_shard_rows(server *srv, request *rq) {
    json_t *o = NULL;
    api_error e;
    int st = shard_api_rows(srv->s, rq->body, rq->body_len, &o, &e);
    if (st == 200) return reply_json(&rq->out, 200, o, NULL);
    reply_error(&rq->out, st, e.code, e.message);
}

static void route_health(server *srv, request *rq) {
    (void)srv;
    reply_json(&rq->out, 200, json_pack("{s:s}", "status", "ok"), NULL);
}

/* ---- POST /v1/answer: whole, or streamed as Server-Sent Events ---- */

/* A streamed answer between its producer (an answer worker) and
 * libmicrohttpd's content reader. The reader parks the connection when it
 * has sent everything so far; the producer wakes it when it adds more.
 * Both hold a reference; whoever drops the last frees it. */
typedef struct sse_out {
    pthread_mutex_t mu;
    char *buf;
    size_t len, off;
    int done;      /* the producer added its last event */
    int gone;      /* libmicrohttpd is finished with the response (sent, or the client left) */
    int suspended; /* the reader parked the connection waiting for more */
    int refs;
    struct MHD_Connection *conn;
    int fd;
} sse_out;

static void sse_unref(sse_out *st) {
    pthread_mutex_lock(&st->mu);
    int last = --st->refs == 0;
    pthread_mutex_unlock(&st->mu);
    if (!last) return;
    pthread_mutex_destroy(&st->mu);
    mem_free(st->buf);
    mem_free(st);
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    sse_out *st = cls;
    pthread_mutex_lock(&st->mu);
    ssize_t n = 0;
    if (st->off < st->len) {
        n = (ssize_t)(st->len - st->off < max ? st->len - st->off : max);
        memcpy(buf, st->buf + st->off, (size_t)n);
        st->off += (size_t)n;
        if (st->off == st->len) st->off = st->len = 0;
    } else if (st->done) {
        n = MHD_CONTENT_READER_END_OF_STREAM;
    } else {
        st->suspended = 1; /* the producer resumes it (under this lock, so no wake-up is lost) */
        MHD_suspend_connection(st->conn);
    }
    pthread_mutex_unlock(&st->mu);
    return n;
}

static void sse_response_freed(void *cls) {
    sse_out *st = cls;
    pthread_mutex_lock(&st->mu);
    st->gone = 1;
    pthread_mutex_unlock(&st->mu);
    sse_unref(st);
}

/* Add bytes (and maybe end the stream); -1 if the client is gone. */
static int sse_push(sse_out *st, const char *p, size_t n, int last) {
    pthread_mutex_lock(&st->mu);
    int gone = st->gone;
    if (!gone) {
        st->buf = mem_realloc(st->buf, st->len + n + 1);
        memcpy(st->buf + st->len, p, n);
        st->len += n;
    }
    if (last) st->done = 1;
    if (st->suspended && !gone) {
        st->suspended = 0;
        MHD_resume_connection(st->conn);
    }
    pthread_mutex_unlock(&st->mu);
    return gone ? -1 : 0;
}

/* One "data: JSON" event. */
static int sse_event(sse_out *st, json_t *o, int last) {
    char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(7));
    json_decref(o);
    char *ev = mem_printf("data: %s\n\n", s ? s : "{}");
    free(s);
    int rc = sse_push(st, ev, strlen(ev), last);
    mem_free(ev);
    return rc;
}

/* On the HTTP thread: queue the stream as this request's response. */
static enum MHD_Result send_stream(struct MHD_Connection *c, request *rq) {
    sse_out *st = rq->sse;
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_read, st, sse_response_freed);
    MHD_add_response_header(resp, "Content-Type", "text/event-stream");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Request-Id", rq->id);
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    rq->status = 200;
    rq->sse = NULL; /* the response holds the reader's reference now */
    metrics_request(rq->route, 200, (clock_ms() - rq->t0) / 1000.0);
    enum MHD_Result res = MHD_queue_response(c, 200, resp);
    MHD_destroy_response(resp);
    return res;
}

/* A worker's view of one answer request while it runs. */
typedef struct answer_job_ctx {
    request *rq;   /* until the stream is handed off */
    sse_out *st;   /* the stream, once started */
    char id[96], model[128];
    long long created;
    int first;
} answer_job_ctx;

/* The client hung up (its socket reads as closed). Only while libmicrohttpd
 * leaves the connection alone: suspended, so its socket stays open. */
static int peer_gone(int fd) {
    if (fd < 0) return 0;
    struct pollfd p = {.fd = fd, .events = POLLRDHUP};
    return poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

static int answer_cancelled(void *ud) {
    answer_job_ctx *x = ud;
    if (!x->st) return peer_gone(x->rq->fd);
    pthread_mutex_lock(&x->st->mu);
    int gone = x->st->gone || (x->st->suspended && peer_gone(x->st->fd));
    pthread_mutex_unlock(&x->st->mu);
    return gone;
}

/* Hand the request to the HTTP thread with the stream as its response;
 * from here on the worker touches only x->st. */
static void stream_start(answer_job_ctx *x) {
    request *rq = x->rq;
    sse_out *st = mem_calloc(1, sizeof(*st));
    pthread_mutex_init(&st->mu, NULL);
    st->refs = 2; /* this worker and the response */
    st->conn = rq->conn;
    st->fd = rq->fd;
    x->st = st;
    rq->sse = st;
    x->rq = NULL;
    atomic_store(&rq->job, JOB_DONE);
    MHD_resume_connection(st->conn);
}

static json_t *chunk_json(const answer_job_ctx *x, json_t *delta, const char *finish) {
    return json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:o, s:s?}]}", "id", x->id, "object", "chat.completion.chunk",
                     "created", (json_int_t)x->created, "model", x->model, "choices", "index", 0, "delta", delta,
                     "finish_reason", finish);
}

static int answer_delta(void *ud, const char *text, size_t n) {
    answer_job_ctx *x = ud;
    if (!x->st) stream_start(x);
    json_t *t = json_stringn(text, n);
    if (!t) { /* a piece that ends inside a UTF-8 character: sanitised (the whole answer stays intact) */
        char *safe = utf8_sanitize(text, n, NULL);
        t = json_string(safe);
        mem_free(safe);
    }
    json_t *delta = x->first ? json_pack("{s:s, s:o}", "role", "assistant", "content", t) : json_pack("{s:o}", "content", t);
    x->first = 0;
    return sse_event(x->st, chunk_json(x, delta, NULL), 0) != 0;
}

/* The end of a stream: the final chunk (finish_reason, usage, citations
 * and the rest of the response's fields) and [DONE]; or an error event. */
static void stream_end(answer_job_ctx *x, answer_out *out) {
    if (out->status == 200) {
        json_t *b = out->body;
        json_t *fin = chunk_json(x, json_object(), json_string_value(json_object_get(b, "finish_reason")));
        const char *key;
        json_t *v;
        json_object_foreach(b, key, v) if (strcmp(key, "answer") && strcmp(key, "finish_reason"))
            json_object_set(fin, key, v);
        sse_event(x->st, fin, 0);
        sse_push(x->st, "data: [DONE]\n\n", 14, 1);
    } else {
        sse_event(x->st, json_pack("{s:{s:s, s:s, s:i}}", "error", "code", out->code, "message", out->message,
                                   "status", out->status), 1);
    }
    sse_unref(x->st);
}

/* Run one answer on this worker. 1 if the request went out as a stream
 * (rq is the HTTP thread's again), 0 with the reply in rq->out. */
static int answer_job(server *srv, request *rq) {
    search_limits l = {.max_query_bytes = srv->o.max_query_bytes, .max_k = srv->o.max_k,
                       .default_k = srv->o.default_k, .default_mode = srv->o.default_mode,
                       .default_alpha = srv->o.default_alpha, .default_fusion = srv->o.default_fusion};
    answerer *a = srv->o.answer;
    answer_request ar;
    api_error e;
    if (parse_answer_json(&l, a ? a->o.max_tokens_limit : 4096, rq->body, rq->body_len, &ar, &e) != 0) {
        answer_request_clear(&ar);
        reply_error(&rq->out, e.status, e.code, e.message);
        return 0;
    }
    if (srv->o.log_queries && !rq->query) rq->query = utf8_sanitize(ar.s.q.text, ar.s.q.len, NULL);
    answer_job_ctx x = {.rq = rq, .created = (long long)time(NULL), .first = 1};
    snprintf(x.id, sizeof(x.id), "chatcmpl-%s", rq->id);
    snprintf(x.model, sizeof(x.model), "%s", a && a->l ? llm_model(a->l) : "");
    answer_io io = {.on_delta = ar.stream ? answer_delta : NULL, .cancelled = answer_cancelled, .ud = &x};
    answer_out out;
    if (!a) {
        memset(&out, 0, sizeof(out));
        out.status = 503, out.code = "llm_not_configured";
        snprintf(out.message, sizeof(out.message), "this server has no LLM: start it with --llm-url and --llm-model");
    } else {
        answer_budget budget = {.rl = srv->rl, .bucket = rq->bucket, .tpm = rq->tpm};
        answer_run(a, &ar, rq->tenant, &budget, &io, &out);
    }
    if (ar.stream && out.status == 200 && !x.st) stream_start(&x); /* an empty answer is still a stream */
    int handed_off = x.st != NULL;
    if (handed_off) stream_end(&x, &out);
    else if (out.status == 200) reply_json(&rq->out, 200, json_incref(out.body), NULL);
    else reply_error_retry(&rq->out, out.status, out.code, out.message,
                           out.retry_after[0] ? out.retry_after : out.status == 503 || out.status == 504 ? "1" : NULL);
    answer_out_clear(&out);
    answer_request_clear(&ar);
    return handed_off;
}

typedef void (*route_fn)(server *srv, request *rq);

/* What each route runs, and whether it may wait (a search embeds its
 * query, maybe on a remote model): those run on a request worker, the
 * rest on the HTTP thread at once. */
static const struct {
    route_fn fn;
    int slow;
} routes[] = {
    [ROUTE_SEARCH] = {route_search, 1},  [ROUTE_COMPAT] = {route_search, 1},   [ROUTE_HEALTH] = {route_health, 0},
    [ROUTE_READY] = {route_ready, 0},    [ROUTE_METRICS] = {route_metrics, 0}, [ROUTE_INDEX] = {route_index, 0},
    [ROUTE_RELOAD] = {route_reload, 1},  [ROUTE_EMBEDDINGS] = {route_embeddings, 1},
    [ROUTE_MODELS] = {route_models, 0},     [ROUTE_ANSWER] = {NULL, 1}, /* run_job: answer_job */
    [ROUTE_SHARD_STATE] = {route_shard_state, 0}, [ROUTE_SHARD_SEARCH] = {route_shard_search, 1},
    [ROUTE_SHARD_ROWS] = {route_shard_rows, 1},
};

/* ---- request workers ---- */

static void run_job(void *arg) {
    request *rq = arg;
    server *srv = rq->srv;
    if (clock_ms() >= rq->deadline) {
        reply_error_retry(&rq->out, 503, "deadline_exceeded",
                          "the request waited for a worker past its deadline (--request-deadline-ms)", "1");
    } else if (rq->route == ROUTE_ANSWER) {
        deadline_set(rq->deadline);
        int handed_off = answer_job(srv, rq);
        deadline_set(0);
        if (handed_off) return; /* a stream: rq belongs to the HTTP thread now */
    } else {
        deadline_set(rq->deadline);
        routes[rq->route].fn(srv, rq);
        deadline_set(0);
    }
    atomic_store(&rq->job, JOB_DONE);
    MHD_resume_connection(rq->conn); /* the HTTP thread sends rq->out */
}

/* Collect GET arguments; one more than the limit makes the parser refuse. */
static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
                                   const char *value, size_t value_size) {
    (void)kind;
    request *rq = cls;
    if (rq->n_args > REQUEST_MAX_ARGS) return MHD_NO;
    rq->args[rq->n_args++] = (query_arg){key, key_size, value, value_size};
    return MHD_YES;
}

static enum MHD_Result dispatch(server *srv, struct MHD_Connection *c, request *rq) {
    if (rq->route >= sizeof(routes) / sizeof(routes[0]) || (!routes[rq->route].fn && rq->route != ROUTE_ANSWER))
        return send_error(c, rq, 404, "not_found", "no such route");
    if (!strcmp(rq->method, "GET")) MHD_get_connection_values_n(c, MHD_GET_ARGUMENT_KIND, collect_arg, rq);
    if (!routes[rq->route].slow) {
        routes[rq->route].fn(srv, rq);
        return send_reply(c, rq);
    }
    /* Park the connection first: the worker may finish (and resume it)
     * before this function returns. */
    rq->srv = srv;
    rq->conn = c;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    rq->fd = ci ? ci->connect_fd : -1;
    atomic_store(&rq->job, JOB_QUEUED);
    MHD_suspend_connection(c);
    if (work_queue_push(rq->route == ROUTE_ANSWER ? srv->aq : srv->wq, run_job, rq) != 0) {
        reply_error_retry(&rq->out, 503, "overloaded",
                          "too many requests waiting for a worker (--max-queued); retry after Retry-After", "1");
        atomic_store(&rq->job, JOB_DONE);
        MHD_resume_connection(c);
    }
    return MHD_YES;
}

/* ---- libmicrohttpd glue ---- */

/* First call for a request: route, method, auth, rate limit, body size. */
static enum MHD_Result begin(server *srv, struct MHD_Connection *c, request *rq, const char *url,
                             const char *method, int *done) {
    rq->route = route_of(url);
    if (rq->route == ROUTE_ANSWER) rq->deadline = rq->t0 + srv->o.answer_deadline_ms;
    snprintf(rq->method, sizeof(rq->method), "%.7s", method);
    set_request_id(srv, c, rq);
    *done = 1;
    if (rq->route == ROUTE_OTHER || (internal_route(rq->route) && !srv->o.peer))
        return send_error(c, rq, 404, "not_found", "no such route");
    if (!method_allowed(rq->route, method)) return send_error(c, rq, 405, "method_not_allowed", "method not allowed on this route");
    if (check_access(srv, c, rq)) return send_reply(c, rq);
    if (!strcmp(method, "POST")) {
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > srv->o.max_body_bytes) {
            char msg[96];
            snprintf(msg, sizeof(msg), "body is larger than %zu bytes", srv->o.max_body_bytes);
            return send_error(c, rq, 413, "body_too_large", msg);
        }
    }
    *done = 0;
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **state) {
    (void)version;
    server *srv = cls;
    request *rq = *state;
    if (!rq) {
        rq = mem_calloc(1, sizeof(*rq));
        rq->t0 = clock_ms();
        rq->deadline = rq->t0 + srv->o.deadline_ms;
        rq->counted = 1;
        metrics_inflight(1);
        *state = rq;
        int done;
        enum MHD_Result r = begin(srv, c, rq, url, method, &done);
        if (done) return r;
        return MHD_YES; /* wait for the body (if any) */
    }
    if (atomic_load(&rq->job) != JOB_NONE) { /* resumed: a worker has answered */
        *upload_size = 0;
        if (atomic_load(&rq->job) == JOB_DONE && !rq->status) return rq->sse ? send_stream(c, rq) : send_reply(c, rq);
        return MHD_YES;
    }
    if (rq->status) { /* answered early; drop any remaining body */
        *upload_size = 0;
        return MHD_YES;
    }
    if (*upload_size > 0) {
        if (rq->body_len + *upload_size > srv->o.max_body_bytes) rq->body_too_large = 1;
        if (!rq->body_too_large) {
            rq->body = mem_realloc(rq->body, rq->body_len + *upload_size + 1);
            memcpy(rq->body + rq->body_len, upload, *upload_size);
            rq->body_len += *upload_size;
            rq->body[rq->body_len] = '\0';
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (rq->body_too_large) {
        char msg[96];
        snprintf(msg, sizeof(msg), "body is larger than %zu bytes", srv->o.max_body_bytes);
        return send_error(c, rq, 413, "body_too_large", msg);
    }
    return dispatch(srv, c, rq);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **state, enum MHD_RequestTerminationCode why) {
    (void)cls;
    (void)c;
    request *rq = *state;
    if (!rq) return;
    double ms = clock_ms() - rq->t0;
    int status = rq->status ? rq->status : (why == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ? 408 : 500);
    if (!rq->status) metrics_request(rq->route, status, ms / 1000.0); /* never answered */
    access_entry e = {.request_id = rq->id, .method = rq->method, .route = route_name(rq->route),
                      .status = status, .latency_ms = ms, .results = rq->results,
                      .cache = rq->has_cache ? cache_api_name(rq->cache) : NULL,
                      .key_id = rq->key_id[0] ? rq->key_id : NULL, .query = rq->query};
    access_log_write(&e);
    if (rq->sse) sse_response_freed(rq->sse); /* a stream whose response was never queued: the client left */
    if (rq->counted) metrics_inflight(-1);
    mem_free(rq->out.body);
    mem_free(rq->body);
    mem_free(rq->query);
    mem_free(rq);
    *state = NULL;
}

server *server_start(const server_opts *o, searcher *s, key_file *keys, char *err) {
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o->port)};
    if (inet_pton(AF_INET, o->bind, &addr.sin_addr) != 1) {
        err_set(err, "--bind %s: not an IPv4 address", o->bind);
        return NULL;
    }
    server *srv = mem_calloc(1, sizeof(*srv));
    srv->o = *o;
    srv->s = s;
    srv->keys = keys;
    srv->rl = rate_limit_new(o->rate, o->burst);
    srv->wq = work_queue_new(o->threads > 0 ? o->threads : 1, o->max_queued > 0 ? o->max_queued : 1);
    srv->aq = work_queue_new(o->answer_threads > 0 ? o->answer_threads : 1, o->max_queued > 0 ? o->max_queued : 1);
    /* libmicrohttpd's threads only move bytes and answer the cheap
     * routes; two keep probes answered while one is busy writing. */
    /* poll(), not epoll: with epoll, MHD_quiesce_daemon() (at shutdown)
     * races a pool thread removing the listen FD from its epoll set and
     * libmicrohttpd aborts the process ("Failed to remove listen FD from
     * epoll set", 0.9.75; seen in CI on SIGTERM). With poll() quiescing
     * is a message over the ITC channel. The daemon takes at most 1,024
     * connections, split over the pool's threads: few enough for poll(). */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG |
                     MHD_ALLOW_SUSPEND_RESUME;
    srv->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, srv,
                              MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                              MHD_OPTION_THREAD_POOL_SIZE, (unsigned)IO_THREADS,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)o->request_timeout_s,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned)1024,
                              MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
                              MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
                              MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
                              MHD_OPTION_END);
    if (!srv->d) {
        err_set(err, "cannot listen on %s:%d (address in use?)", o->bind, o->port);
        work_queue_free(srv->wq);
        work_queue_free(srv->aq);
        rate_limit_free(srv->rl);
        mem_free(srv);
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->d, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = di ? di->port : o->port;
    return srv;
}

int server_port(const server *srv) {
    return srv->port;
}

int server_shutdown(server *srv, int timeout_ms) {
    MHD_socket fd = MHD_quiesce_daemon(srv->d);
    if (fd != MHD_INVALID_SOCKET) close(fd);
    /* Wait for requests being served; and, for a short grace, for
     * connections already accepted whose request has not arrived yet. Idle
     * keep-alive connections are closed after the grace. */
    double start = clock_ms(), end = start + timeout_ms, grace = start + (timeout_ms < 500 ? timeout_ms : 500);
    for (;;) {
        double t = clock_ms();
        const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
        unsigned conns = di ? di->num_connections : 0;
        if (t >= end || (metrics_inflight_now() == 0 && (conns == 0 || t >= grace))) break;
        usleep(10 * 1000);
    }
    int left = (int)metrics_inflight_now();
    /* Workers finish what they hold (each within its deadline) and resume
     * its connection; only then may the daemon stop (it must not stop
     * with a connection parked). */
    work_queue_free(srv->wq);
    work_queue_free(srv->aq);
    MHD_stop_daemon(srv->d);
    rate_limit_free(srv->rl);
    mem_free(srv);
    return left;
}
