/* server.c - the REST API over libmicrohttpd */
#include "server.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "access_log.h"
#include "err.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"
#include "query_cache.h"
#include "text_extract.h"

#define SEED_COMPAT_K 5

struct server {
    server_opts o;
    searcher *s;
    key_file *keys;
    rate_limit *rl;
    struct MHD_Daemon *d;
    int port;
    atomic_uint_fast64_t next_id;
};

/* Per-request state, from the first handler call to the completion callback. */
typedef struct request {
    enum route route;
    char method[8];
    char id[72];
    double t0;
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
} request;

server_opts server_opts_default(void) {
    server_opts o = {.bind = "127.0.0.1", .port = 8080, .threads = 2, .max_body_bytes = 64 * 1024,
                     .max_query_bytes = 2048, .max_k = 100, .default_k = 10, .request_timeout_s = 30,
                     .default_mode = SEARCH_DEFAULT_MODE, .default_alpha = SEARCH_DEFAULT_ALPHA,
                     .default_fusion = FUSION_CONVEX, .emb = embeddings_opts_default(),
                     .protect_ops = 0, .log_queries = 0, .index_name = "default", .rate = 0, .burst = 0};
    return o;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* ---- responses ---- */

static enum MHD_Result send_text(struct MHD_Connection *c, request *rq, int status, char *body, const char *ctype,
                                 const char *retry_after) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, "Content-Type", ctype);
    MHD_add_response_header(resp, "X-Request-Id", rq->id);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    if (retry_after) MHD_add_response_header(resp, "Retry-After", retry_after);
    if (status == 401) MHD_add_response_header(resp, "WWW-Authenticate", "Bearer");
    if (status == 405) {
        const char *allow = rq->route == ROUTE_SEARCH                                   ? "GET, POST"
                            : rq->route == ROUTE_RELOAD || rq->route == ROUTE_EMBEDDINGS ? "POST"
                                                                                         : "GET";
        MHD_add_response_header(resp, "Allow", allow);
    }
    rq->status = status;
    /* Count at queue time, so a client that reads /metrics right after its
     * answer already sees itself counted. */
    metrics_request(rq->route, status, (now_ms() - rq->t0) / 1000.0);
    enum MHD_Result r = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return r;
}

/* Serialise (and free) a JSON value, floats to `digits` significant
 * digits; a value that cannot be encoded is a bug. */
static enum MHD_Result send_json_digits(struct MHD_Connection *c, request *rq, int status, json_t *body,
                                        const char *retry_after, int digits) {
    char *s = body ? json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(digits)) : NULL;
    json_decref(body);
    if (!s) s = strdup("{\"error\":{\"code\":\"internal\",\"message\":\"response encoding failed\"}}"), status = 500;
    size_t n = strlen(s);
    char *line = mem_alloc(n + 2);
    memcpy(line, s, n);
    memcpy(line + n, "\n", 2);
    free(s);
    return send_text(c, rq, status, line, "application/json", retry_after);
}

static enum MHD_Result send_json(struct MHD_Connection *c, request *rq, int status, json_t *body,
                                 const char *retry_after) {
    return send_json_digits(c, rq, status, body, retry_after, 7);
}

/* JSON with floats to 9 significant digits: every float32 reads back exactly. */
static enum MHD_Result send_json_precise(struct MHD_Connection *c, request *rq, int status, json_t *body) {
    return send_json_digits(c, rq, status, body, NULL, 9);
}

static enum MHD_Result send_error(struct MHD_Connection *c, request *rq, int status, const char *code,
                                  const char *message) {
    char *safe = utf8_sanitize(message, strlen(message), NULL);
    json_t *o = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", safe);
    mem_free(safe);
    return send_json(c, rq, status, o, NULL);
}

/* ---- request parsing helpers ---- */

static enum route route_of(const char *url) {
    static const struct {
        const char *path;
        enum route r;
    } table[] = {{"/v1/search", ROUTE_SEARCH}, {"/", ROUTE_COMPAT},       {"/health", ROUTE_HEALTH},
                 {"/ready", ROUTE_READY},       {"/metrics", ROUTE_METRICS}, {"/v1/index", ROUTE_INDEX},
                 {"/admin/reload", ROUTE_RELOAD}, {"/v1/embeddings", ROUTE_EMBEDDINGS},
                 {"/v1/models", ROUTE_MODELS}};
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
    case ROUTE_OTHER: return 1;
    default: return get;
    }
}

static int valid_utf8(const char *s, size_t n) {
    size_t clean_len;
    char *clean = utf8_sanitize(s, n, &clean_len);
    int ok = clean_len == n && memcmp(clean, s, n) == 0;
    mem_free(clean);
    return ok;
}

/* A query argument as (pointer, length); 0 if absent. */
static int get_arg(struct MHD_Connection *c, const char *name, const char **v, size_t *n) {
    return MHD_lookup_connection_value_n(c, MHD_GET_ARGUMENT_KIND, name, strlen(name), v, n) == MHD_YES;
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

/* Take one token from the bucket of the key (or, without one, of the
 * client address); 1 and a 429 queued when it is empty. */
static int rate_limited(server *srv, struct MHD_Connection *c, request *rq, const key_grant *k, enum MHD_Result *out) {
    char bucket[96];
    if (k) snprintf(bucket, sizeof(bucket), "key:%.63s", k->id);
    else {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        char ip[INET6_ADDRSTRLEN] = "?";
        if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)ci->client_addr)->sin_addr, ip, sizeof(ip));
        snprintf(bucket, sizeof(bucket), "ip:%s", ip);
    }
    double wait = 0;
    if (rate_limit_take(srv->rl, bucket, k ? k->rate : 0, k ? k->burst : 0, &wait)) return 0;
    char ra[16];
    snprintf(ra, sizeof(ra), "%d", (int)wait + 1);
    json_t *o = json_pack("{s:{s:s, s:s}}", "error", "code", "rate_limited", "message",
                          "too many requests; retry after the Retry-After seconds");
    *out = send_json(c, rq, 429, o, ra);
    return 1;
}

/* 0 if the request may go on; otherwise an error response was queued. */
static int check_access(server *srv, struct MHD_Connection *c, request *rq, enum MHD_Result *out) {
    key_grant grant, *k = NULL;
    if (needs_key(srv, rq->route)) {
        const char *p = presented_key(c);
        int known = p && *p && key_file_check(srv->keys, p, strlen(p), srv->o.index_name, &grant);
        /* Failed attempts spend the client address's tokens, so guessing
         * keys is as rate limited as searching (security review finding 12). */
        if (!known && rate_limited(srv, c, rq, NULL, out)) return 1;
        if (!p || !*p) return *out = send_error(c, rq, 401, "missing_api_key", "send the key as \"Authorization: Bearer KEY\" or \"X-API-Key: KEY\""), 1;
        if (!known) return *out = send_error(c, rq, 401, "invalid_api_key", "unknown API key"), 1;
        k = &grant;
        snprintf(rq->key_id, sizeof(rq->key_id), "%.63s", k->id);
        snprintf(rq->tenant, sizeof(rq->tenant), "%.63s", k->tenant);
        if (!k->allowed)
            return *out = send_error(c, rq, 403, "index_forbidden", "this key may not query this index"), 1;
        if (rq->route == ROUTE_RELOAD && !k->admin)
            return *out = send_error(c, rq, 403, "admin_required", "reload needs a key with the admin attribute"), 1;
    }
    if ((rq->route == ROUTE_SEARCH || rq->route == ROUTE_COMPAT || rq->route == ROUTE_EMBEDDINGS) &&
        rate_limited(srv, c, rq, k, out))
        return 1;
    if (!rq->tenant[0]) snprintf(rq->tenant, sizeof(rq->tenant), "default");
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

static json_t *hit_json(const search_hit *h, int mode) {
    json_t *heads = json_loads(h->row.headings, 0, NULL);
    char id[24];
    snprintf(id, sizeof(id), "%lld", (long long)h->id);
    json_t *o = json_pack("{s:s, s:f, s:o, s:o, s:o, s:o}", "id", id, "score", (double)h->score, "text",
                          jstr(h->row.text), "url", jstr(h->row.doc_url), "title", jstr(h->row.title), "headings",
                          heads ? heads : json_array());
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

/* Run the search and answer; status 503 when no version is loaded. */
static enum MHD_Result answer_search(server *srv, struct MHD_Connection *c, request *rq, const search_query *q,
                                     int compat) {
    search_result r;
    char err[RAGD_ERR_LEN];
    double t0 = now_ms();
    int st = search_run(srv->s, q, &r, err);
    if (st == SEARCH_NOT_READY) return send_error(c, rq, 503, "not_ready", err);
    if (st == SEARCH_BAD_REQUEST) return send_error(c, rq, 400, "mode_unavailable", err);
    if (st == SEARCH_FILTER_UNAVAILABLE) return send_error(c, rq, 400, "filter_unavailable", err);
    if (st != SEARCH_OK) {
        search_result_clear(&r);
        return send_error(c, rq, 500, "search_failed", err);
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
                      "index_version", r.version_id, "took_ms", now_ms() - t0, "timings", "embed_ms", r.embed_ms,
                      "search_ms", r.search_ms, "keyword_ms", r.keyword_ms, "filter_ms", r.filter_ms, "fetch_ms",
                      r.fetch_ms, "cache",
                      cache_api_name(r.cache), "k", q->k, "mode", search_mode_name(q->mode));
        if (q->mode == MODE_HYBRID) {
            json_object_set_new(o, "fusion", json_string(fusion_name((enum fusion_method)q->fusion)));
            if (q->fusion == FUSION_CONVEX) json_object_set_new(o, "alpha", json_real(q->alpha));
        }
    }
    search_result_clear(&r);
    return send_json(c, rq, 200, o, NULL);
}

static void keep_query(server *srv, request *rq, const char *text, size_t len) {
    if (srv->o.log_queries && !rq->query) rq->query = utf8_sanitize(text, len, NULL);
}

/* Check a query's bytes; 0 if fine, else an error was queued. */
static int bad_query(server *srv, struct MHD_Connection *c, request *rq, const char *text, size_t len, int in_url,
                     enum MHD_Result *out) {
    if (len > srv->o.max_query_bytes) {
        char msg[96];
        snprintf(msg, sizeof(msg), "query is %zu bytes, the limit is %zu", len, srv->o.max_query_bytes);
        return *out = send_error(c, rq, in_url ? 414 : 400, "query_too_long", msg), 1;
    }
    if (memchr(text, '\0', len) || !valid_utf8(text, len))
        return *out = send_error(c, rq, 400, "invalid_query", "query must be UTF-8 text without NUL bytes"), 1;
    return 0;
}

static int parse_k(const char *v, size_t n, int max_k, int *k) {
    if (!v) return 0;
    char buf[16];
    if (n == 0 || n >= sizeof(buf)) return -1;
    memcpy(buf, v, n);
    buf[n] = '\0';
    char *end;
    long x = strtol(buf, &end, 10);
    if (*end || x < 1 || x > max_k) return -1;
    *k = (int)x;
    return 0;
}

/* mode, fusion and alpha (any may be NULL = the server's default) into
 * q; 0, or -1 with a message for a 400. */
static int search_options(const server *srv, const char *mode, size_t mode_len, const char *fusion,
                          size_t fusion_len, const double *alpha, search_query *q, char *msg, size_t cap) {
    q->mode = srv->o.default_mode;
    q->fusion = srv->o.default_fusion;
    q->alpha = srv->o.default_alpha;
    if (mode && search_mode_parse(mode, mode_len, &q->mode) != 0)
        return snprintf(msg, cap, "mode must be \"vector\", \"keyword\" or \"hybrid\""), -1;
    if (fusion) {
        char name[8];
        enum fusion_method f;
        if (fusion_len >= sizeof(name)) return snprintf(msg, cap, "fusion must be \"convex\" or \"rrf\""), -1;
        memcpy(name, fusion, fusion_len);
        name[fusion_len] = '\0';
        if (fusion_parse(name, &f) != 0) return snprintf(msg, cap, "fusion must be \"convex\" or \"rrf\""), -1;
        q->fusion = f;
    }
    if ((fusion || alpha) && q->mode != MODE_HYBRID)
        return snprintf(msg, cap, "fusion and alpha apply to mode \"hybrid\" only"), -1;
    if (alpha) {
        if (!(*alpha >= 0.0 && *alpha <= 1.0)) return snprintf(msg, cap, "alpha must be a number from 0 to 1"), -1;
        if (q->fusion != FUSION_CONVEX) return snprintf(msg, cap, "alpha applies to fusion \"convex\" only"), -1;
        q->alpha = (float)*alpha;
    }
    return 0;
}

/* A filter condition's value: UTF-8 text without NUL, at most FILTER_MAX_BYTES. */
static int filter_text_ok(const char *v, size_t n) {
    return n <= FILTER_MAX_BYTES && !memchr(v, '\0', n) && valid_utf8(v, n);
}

/* The query-string arguments GET /v1/search takes; any other is a 400. */
static const char *const search_args[] = {"q", "query", "k", "url_prefix", "mode", "fusion", "alpha", NULL};

typedef struct arg_check {
    char unknown[80];
} arg_check;

static enum MHD_Result check_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
    (void)kind, (void)value;
    arg_check *a = cls;
    for (int i = 0; search_args[i]; i++)
        if (!strcmp(search_args[i], key)) return MHD_YES;
    char *safe = utf8_sanitize(key, strlen(key), NULL);
    snprintf(a->unknown, sizeof(a->unknown), "%.60s", safe);
    mem_free(safe);
    return MHD_NO;
}

static enum MHD_Result route_search_get(server *srv, struct MHD_Connection *c, request *rq) {
    const char *q = NULL, *kv = NULL, *prefix = NULL, *mode = NULL, *fusion = NULL, *alpha = NULL;
    size_t qn = 0, kn = 0, pn = 0, mn = 0, fn = 0, an = 0;
    enum MHD_Result out;
    arg_check unknown = {""};
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, check_arg, &unknown);
    if (unknown.unknown[0]) {
        char msg[160];
        snprintf(msg, sizeof(msg), "unknown parameter \"%s\" (known: q, k, url_prefix, mode, fusion, alpha)",
                 unknown.unknown);
        return send_error(c, rq, 400, "unknown_parameter", msg);
    }
    get_arg(c, "mode", &mode, &mn);
    get_arg(c, "fusion", &fusion, &fn);
    get_arg(c, "alpha", &alpha, &an);
    if (!get_arg(c, "q", &q, &qn) && !get_arg(c, "query", &q, &qn))
        return send_error(c, rq, 400, "missing_query", "pass the query as ?q=TEXT");
    get_arg(c, "k", &kv, &kn);
    get_arg(c, "url_prefix", &prefix, &pn);
    if (bad_query(srv, c, rq, q ? q : "", qn, 1, &out)) return out;
    keep_query(srv, rq, q ? q : "", qn);
    if (!q || strspn(q, " \t\r\n") == qn) return send_error(c, rq, 400, "empty_query", "query is empty");
    search_query sq = {.text = q, .len = qn, .k = srv->o.default_k, .tenant = rq->tenant};
    char msg[64];
    snprintf(msg, sizeof(msg), "k must be an integer from 1 to %d", srv->o.max_k);
    if (parse_k(kv, kn, srv->o.max_k, &sq.k) != 0) return send_error(c, rq, 400, "invalid_k", msg);
    if (prefix && !filter_text_ok(prefix, pn))
        return send_error(c, rq, 400, "invalid_filter", "url_prefix must be UTF-8 text of at most 2048 bytes");
    sq.filter.url_prefix = prefix && pn ? prefix : NULL;
    double a = 0;
    if (alpha) {
        char buf[32], *end;
        if (an == 0 || an >= sizeof(buf)) return send_error(c, rq, 400, "invalid_alpha", "alpha must be a number from 0 to 1");
        memcpy(buf, alpha, an);
        buf[an] = '\0';
        a = strtod(buf, &end);
        if (*end) return send_error(c, rq, 400, "invalid_alpha", "alpha must be a number from 0 to 1");
    }
    char emsg[128];
    if (search_options(srv, mode, mn, fusion, fn, alpha ? &a : NULL, &sq, emsg, sizeof(emsg)) != 0)
        return send_error(c, rq, 400, strstr(emsg, "alpha must") ? "invalid_alpha" : "invalid_mode", emsg);
    return answer_search(srv, c, rq, &sq, 0);
}

/* The "filter" object into f (values point into the JSON); 0, or -1 and
 * a message naming the condition. */
static int parse_filter(json_t *filter, search_filter *f, char *msg, size_t cap) {
    if (!json_is_object(filter)) return snprintf(msg, cap, "\"filter\" must be an object"), -1;
    static const char *const keys[] = {"url_prefix", "url", "title_contains", "heading", "source"};
    const char **slots[] = {&f->url_prefix, &f->url, &f->title_contains, &f->heading, &f->source};
    for (int i = 0; i < 5; i++) {
        json_t *v = json_object_get(filter, keys[i]);
        if (!v) continue;
        if (!json_is_string(v) || !filter_text_ok(json_string_value(v), json_string_length(v)))
            return snprintf(msg, cap, "filter \"%s\" must be UTF-8 text of at most %d bytes", keys[i],
                            FILTER_MAX_BYTES), -1;
        *slots[i] = json_string_value(v);
    }
    if (f->url_prefix && !*f->url_prefix) f->url_prefix = NULL; /* "" keeps everything */
    static const char *const times[] = {"modified_after", "modified_before"};
    int64_t *tslots[] = {&f->modified_after, &f->modified_before};
    for (int i = 0; i < 2; i++) {
        json_t *v = json_object_get(filter, times[i]);
        if (!v) continue;
        int64_t t = 0;
        int ok = json_is_integer(v) ? (t = json_integer_value(v)) > 0
                                    : json_is_string(v) && json_string_length(v) < 64 &&
                                          filter_parse_time(json_string_value(v), &t) == 0;
        if (!ok)
            return snprintf(msg, cap, "filter \"%s\" must be Unix seconds or a UTC date: \"2024-05-01\" or "
                            "\"2024-05-01T12:30:00Z\"", times[i]), -1;
        *tslots[i] = t;
    }
    const char *key;
    json_t *v;
    json_object_foreach(filter, key, v) {
        if (strncmp(key, "meta.", 5) != 0) continue;
        const char *name = key + 5;
        size_t nl = strlen(name);
        int name_ok = nl > 0 && nl <= 64;
        for (size_t i = 0; name_ok && i < nl; i++)
            name_ok = (name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') || name[i] == '_' ||
                      name[i] == '.' || name[i] == ':' || name[i] == '-';
        if (!name_ok)
            return snprintf(msg, cap, "filter \"%.60s\": metadata names are lowercase letters, digits and _.:- "
                            "(at most 64)", key), -1;
        if (!json_is_string(v) || !filter_text_ok(json_string_value(v), json_string_length(v)))
            return snprintf(msg, cap, "filter \"%.60s\" must be UTF-8 text of at most %d bytes", key,
                            FILTER_MAX_BYTES), -1;
        if (f->n_meta == FILTER_MAX_META) return snprintf(msg, cap, "at most %d meta.NAME filters", FILTER_MAX_META), -1;
        f->meta_names[f->n_meta] = name;
        f->meta_values[f->n_meta++] = json_string_value(v);
    }
    filter_plan p;
    char err[RAGD_ERR_LEN];
    if (filter_plan_make(f, &p, err) != 0) return snprintf(msg, cap, "%.150s", err), -1;
    filter_plan_clear(&p);
    return 0;
}

static enum MHD_Result route_search_post(server *srv, struct MHD_Connection *c, request *rq) {
    enum MHD_Result out;
    json_error_t jerr;
    json_t *root = json_loadb(rq->body ? rq->body : "", rq->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        char msg[RAGD_ERR_LEN];
        snprintf(msg, sizeof(msg), "body is not valid JSON: %s (line %d, column %d)", jerr.text, jerr.line,
                 jerr.column);
        return send_error(c, rq, 400, "invalid_json", msg);
    }
    json_t *q = json_object_get(root, "query"), *k = json_object_get(root, "k");
    json_t *filter = json_object_get(root, "filter");
    char fmsg[160];
    json_t *mode = json_object_get(root, "mode"), *fusion = json_object_get(root, "fusion");
    json_t *alpha = json_object_get(root, "alpha");
    char msg[160], emsg[128] = "", unknown[256] = "";
    snprintf(msg, sizeof(msg), "\"k\" must be an integer from 1 to %d", srv->o.max_k);
    static const char *const fields[] = {"query", "k", "filter", "mode", "fusion", "alpha", NULL};
    static const char *const filters[] = {"url_prefix", "url", "title_contains", "heading", "source",
                                          "modified_after", "modified_before", NULL};
    if (json_is_object(root)) {
        const char *key;
        json_t *val;
        json_object_foreach(root, key, val) {
            int known = 0;
            for (int i = 0; fields[i] && !known; i++) known = !strcmp(fields[i], key);
            if (!known && !unknown[0]) snprintf(unknown, sizeof(unknown), "unknown field \"%.60s\" (known: query, k, "
                                                "filter, mode, fusion, alpha)", key);
        }
        if (json_is_object(filter))
            json_object_foreach(filter, key, val) {
                int known = 0;
                for (int i = 0; filters[i] && !known; i++) known = !strcmp(filters[i], key);
                known = known || !strncmp(key, "meta.", 5);
                if (!known && !unknown[0]) snprintf(unknown, sizeof(unknown), "unknown filter \"%.60s\" (known: "
                                                    "url_prefix, url, title_contains, heading, source, modified_after,"
                                                    " modified_before, meta.NAME)", key);
            }
    }
    search_query sq = {.tenant = rq->tenant};
    int bad_opts = json_is_object(root) &&
                   ((mode && !json_is_string(mode) && snprintf(emsg, sizeof(emsg), "\"mode\" must be a string")) ||
                    (fusion && !json_is_string(fusion) && snprintf(emsg, sizeof(emsg), "\"fusion\" must be a string")) ||
                    (alpha && !json_is_number(alpha) && snprintf(emsg, sizeof(emsg), "alpha must be a number from 0 to 1")));
    if (!bad_opts && json_is_object(root)) {
        double a = alpha ? json_number_value(alpha) : 0;
        bad_opts = search_options(srv, mode ? json_string_value(mode) : NULL, mode ? json_string_length(mode) : 0,
                                  fusion ? json_string_value(fusion) : NULL, fusion ? json_string_length(fusion) : 0,
                                  alpha ? &a : NULL, &sq, emsg, sizeof(emsg)) != 0;
    }
    if (!json_is_object(root)) out = send_error(c, rq, 400, "invalid_json", "body must be a JSON object");
    else if (unknown[0]) out = send_error(c, rq, 400, strncmp(unknown, "unknown filter", 14) ? "unknown_field"
                                                                                          : "invalid_filter", unknown);
    else if (bad_opts) out = send_error(c, rq, 400, strstr(emsg, "alpha") && !strstr(emsg, "apply") ? "invalid_alpha"
                                                                                                    : "invalid_mode", emsg);
    else if (!json_is_string(q)) out = send_error(c, rq, 400, "missing_query", "\"query\" must be a string");
    else if (k && (!json_is_integer(k) || json_integer_value(k) < 1 || json_integer_value(k) > srv->o.max_k))
        out = send_error(c, rq, 400, "invalid_k", msg);
    else if (filter && parse_filter(filter, &sq.filter, fmsg, sizeof(fmsg)) != 0)
        out = send_error(c, rq, 400, "invalid_filter", fmsg);
    else if (!bad_query(srv, c, rq, json_string_value(q), json_string_length(q), 0, &out)) {
        const char *text = json_string_value(q);
        size_t len = json_string_length(q);
        keep_query(srv, rq, text, len);
        if (strspn(text, " \t\r\n") == len) {
            out = send_error(c, rq, 400, "empty_query", "query is empty");
        } else {
            sq.text = text;
            sq.len = len;
            sq.k = k ? (int)json_integer_value(k) : srv->o.default_k;
            out = answer_search(srv, c, rq, &sq, 0);
        }
    }
    json_decref(root);
    return out;
}

/* GET /?query=TEXT, answering exactly like the Ray Serve FAISS example. */
static enum MHD_Result route_compat(server *srv, struct MHD_Connection *c, request *rq) {
    const char *q = NULL;
    size_t qn = 0;
    enum MHD_Result out;
    get_arg(c, "query", &q, &qn);
    if (!q || strspn(q, " \t\r\n") == qn) {
        json_t *o = json_pack("{s:[], s:s, s:s}", "results", "status", "empty_query", "message",
                              "Please provide a query parameter");
        return send_json(c, rq, 200, o, NULL);
    }
    if (bad_query(srv, c, rq, q, qn, 1, &out)) return out;
    keep_query(srv, rq, q, qn);
    search_query sq = {.text = q, .len = qn, .k = SEED_COMPAT_K, .tenant = rq->tenant, .mode = srv->o.default_mode,
                       .alpha = srv->o.default_alpha, .fusion = srv->o.default_fusion};
    return answer_search(srv, c, rq, &sq, 1);
}

static enum MHD_Result route_ready(server *srv, struct MHD_Connection *c, request *rq) {
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
        return send_json(c, rq, 503, o, NULL);
    }
    char sem[RAGD_ERR_LEN + 8];
    json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:s}", "status", "ready", "index_version", lv->v->m.version_id,
                          "chunks", (json_int_t)lv->v->m.total_chunks, "cache", cache_state(srv), "semantic_cache",
                          search_semantic_state(srv->s, lv, sem, sizeof(sem)));
    live_status st;
    live_index_status(srv->s->li, &st);
    if (st.reload_error[0]) { /* still ready (the old version serves), but say why the new one is not live */
        char *safe = utf8_sanitize(st.reload_error, strlen(st.reload_error), NULL);
        json_object_set_new(o, "reload_error", json_string(safe));
        mem_free(safe);
    }
    live_version_release(lv);
    return send_json(c, rq, 200, o, NULL);
}

static enum MHD_Result route_metrics(server *srv, struct MHD_Connection *c, request *rq) {
    live_version *lv = live_index_acquire(srv->s->li);
    char epoch[40] = "";
    if (srv->s->cache) qcache_epoch(srv->s->cache, epoch, sizeof(epoch));
    metrics_gauges g = {.index_version = lv ? lv->v->m.version_id : NULL,
                        .index_chunks = lv ? lv->v->m.total_chunks : 0,
                        .cache_up = srv->s->cache ? qcache_up(srv->s->cache) : -1,
                        .cache_mirror_size = srv->s->cache ? (int64_t)qcache_mirror_size(srv->s->cache) : 0,
                        .cache_epoch = epoch};
    if (srv->s->batcher) {
        embed_batcher_stats st;
        embed_batcher_stats_get(srv->s->batcher, &st);
        g.batching = 1, g.embed_passes = st.passes, g.embed_texts = st.texts, g.embed_requests = st.requests;
    }
    char *text = metrics_render(&g);
    live_version_release(lv);
    return send_text(c, rq, 200, text, "text/plain; version=0.0.4", NULL);
}

static enum MHD_Result route_index(server *srv, struct MHD_Connection *c, request *rq) {
    live_version *lv = live_index_acquire(srv->s->li);
    if (!lv) return send_error(c, rq, 503, "not_ready", "no index version is loaded");
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
    live_version_release(lv);
    return send_json(c, rq, 200, o, NULL);
}

static enum MHD_Result route_reload(server *srv, struct MHD_Connection *c, request *rq) {
    char err[RAGD_ERR_LEN];
    int rc = live_index_reload(srv->s->li, err);
    if (rc < 0) return send_error(c, rq, 500, "reload_failed", err);
    live_version *lv = live_index_acquire(srv->s->li);
    json_t *o = json_pack("{s:s, s:s?}", "status", rc > 0 ? "reloaded" : "unchanged", "index_version",
                          lv ? lv->v->m.version_id : NULL);
    live_version_release(lv);
    return send_json(c, rq, 200, o, NULL);
}

static enum MHD_Result dispatch(server *srv, struct MHD_Connection *c, request *rq) {
    switch (rq->route) {
    case ROUTE_SEARCH:
        return strcmp(rq->method, "POST") == 0 ? route_search_post(srv, c, rq) : route_search_get(srv, c, rq);
    case ROUTE_COMPAT: return route_compat(srv, c, rq);
    case ROUTE_HEALTH: return send_json(c, rq, 200, json_pack("{s:s}", "status", "ok"), NULL);
    case ROUTE_READY: return route_ready(srv, c, rq);
    case ROUTE_METRICS: return route_metrics(srv, c, rq);
    case ROUTE_INDEX: return route_index(srv, c, rq);
    case ROUTE_RELOAD: return route_reload(srv, c, rq);
    case ROUTE_EMBEDDINGS: {
        json_t *resp = NULL;
        int st = embeddings_answer(srv->s->li, srv->s->batcher, &srv->o.emb, rq->body, rq->body_len, &resp);
        return send_json_precise(c, rq, st, resp);
    }
    case ROUTE_MODELS: {
        json_t *resp = NULL;
        int st = embeddings_models(srv->s->li, &resp);
        return send_json_precise(c, rq, st, resp);
    }
    default: return send_error(c, rq, 404, "not_found", "no such route");
    }
}

/* ---- libmicrohttpd glue ---- */

/* First call for a request: route, method, auth, rate limit, body size. */
static enum MHD_Result begin(server *srv, struct MHD_Connection *c, request *rq, const char *url,
                             const char *method, int *done) {
    enum MHD_Result out = MHD_YES;
    rq->route = route_of(url);
    snprintf(rq->method, sizeof(rq->method), "%.7s", method);
    set_request_id(srv, c, rq);
    *done = 1;
    if (rq->route == ROUTE_OTHER) return send_error(c, rq, 404, "not_found", "no such route");
    if (!method_allowed(rq->route, method)) return send_error(c, rq, 405, "method_not_allowed", "method not allowed on this route");
    if (check_access(srv, c, rq, &out)) return out;
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
        rq->t0 = now_ms();
        rq->counted = 1;
        metrics_inflight(1);
        *state = rq;
        int done;
        enum MHD_Result r = begin(srv, c, rq, url, method, &done);
        if (done) return r;
        return MHD_YES; /* wait for the body (if any) */
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
    double ms = now_ms() - rq->t0;
    int status = rq->status ? rq->status : (why == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ? 408 : 500);
    if (!rq->status) metrics_request(rq->route, status, ms / 1000.0); /* never answered */
    access_entry e = {.request_id = rq->id, .method = rq->method, .route = route_name(rq->route),
                      .status = status, .latency_ms = ms, .results = rq->results,
                      .cache = rq->has_cache ? cache_api_name(rq->cache) : NULL,
                      .key_id = rq->key_id[0] ? rq->key_id : NULL, .query = rq->query};
    access_log_write(&e);
    if (rq->counted) metrics_inflight(-1);
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
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    srv->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, srv,
                              MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                              MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(o->threads > 0 ? o->threads : 1),
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)o->request_timeout_s,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned)1024,
                              MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
                              MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
                              MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
                              MHD_OPTION_END);
    if (!srv->d) {
        err_set(err, "cannot listen on %s:%d (address in use?)", o->bind, o->port);
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
    double start = now_ms(), end = start + timeout_ms, grace = start + (timeout_ms < 500 ? timeout_ms : 500);
    for (;;) {
        double t = now_ms();
        const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
        unsigned conns = di ? di->num_connections : 0;
        if (t >= end || (metrics_inflight_now() == 0 && (conns == 0 || t >= grace))) break;
        usleep(10 * 1000);
    }
    int left = (int)metrics_inflight_now();
    MHD_stop_daemon(srv->d);
    rate_limit_free(srv->rl);
    mem_free(srv);
    return left;
}
