/* request_parse.c - API requests parsed into values, or an error value; no I/O */
#include "request_parse.h"

#include <errno.h>
#include <stdint.h>

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "filter.h"
#include "fusion.h"
#include "manifest.h"
#include "mem.h"
#include "text_extract.h"
#include "utf8.h"

#define SEED_COMPAT_K 5

/* Messages quote client bytes and are cut to fit: make them valid UTF-8
 * in place (a byte that starts no valid sequence, such as half of a
 * character cut at the end, becomes '?'). */
static void make_utf8(char *s) {
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        size_t l = utf8_seq_len((const unsigned char *)s + i, n - i);
        if (l == 0) s[i++] = '?';
        else i += l;
    }
}

static int vfail(api_error *e, int status, const char *param, const char *code, const char *fmt, va_list ap) {
    e->status = status;
    e->code = code;
    e->param = param;
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    make_utf8(e->message);
    return -1;
}

__attribute__((format(printf, 4, 5))) static int fail(api_error *e, int status, const char *code, const char *fmt,
                                                      ...) {
    va_list ap;
    va_start(ap, fmt);
    vfail(e, status, NULL, code, fmt, ap);
    va_end(ap);
    return -1;
}

/* Client bytes quoted in a message: valid UTF-8, at most `max` bytes. */
static void quote(char *out, size_t cap, const char *s, size_t n, int max) {
    char *safe = utf8_sanitize(s, n, NULL);
    snprintf(out, cap, "%.*s", max, safe);
    mem_free(safe);
}

static int blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!strchr(" \t\r\n", s[i]) || !s[i]) return 0;
    return 1;
}

/* ---- shared checks ---- */

/* The query text's bytes: the length limit (414 in a URL, 400 in a
 * body), then UTF-8 without NUL. */
static int check_text(const search_limits *l, const char *text, size_t len, int in_url, api_error *e) {
    if (len > l->max_query_bytes)
        return fail(e, in_url ? 414 : 400, "query_too_long", "query is %zu bytes, the limit is %zu", len,
                    l->max_query_bytes);
    if (memchr(text, '\0', len) || !utf8_valid(text, len))
        return fail(e, 400, "invalid_query", "query must be UTF-8 text without NUL bytes");
    return 0;
}

/* A filter condition's value: UTF-8 text without NUL, at most FILTER_MAX_BYTES. */
static int filter_text_ok(const char *v, size_t n) {
    return n <= FILTER_MAX_BYTES && !memchr(v, '\0', n) && utf8_valid(v, n);
}

/* mode, fusion and alpha (any may be NULL = the server's default) into
 * q; 0, or -1 with a message for a 400. */
static int search_options(const search_limits *l, const char *mode, size_t mode_len, const char *fusion,
                          size_t fusion_len, const double *alpha, search_query *q, char *msg, size_t cap) {
    q->mode = l->default_mode;
    q->fusion = l->default_fusion;
    q->alpha = l->default_alpha;
    if (mode && search_mode_parse(mode, mode_len, &q->mode) != 0)
        return snprintf(msg, cap, "mode must be \"vector\", \"keyword\" or \"hybrid\""), -1;
    if (fusion) {
        char name[8];
        enum fusion_method f;
        if (fusion_len >= sizeof(name) || memchr(fusion, '\0', fusion_len))
            return snprintf(msg, cap, "fusion must be \"convex\" or \"rrf\""), -1;
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

/* ---- GET /v1/search ---- */

/* The first argument named `name`: 1 if present (its value may be NULL). */
static int find_arg(const query_arg *args, int n, const char *name, const char **v, size_t *len) {
    size_t nl = strlen(name);
    for (int i = 0; i < n; i++)
        if (args[i].key_len == nl && memcmp(args[i].key, name, nl) == 0) {
            *v = args[i].value;
            *len = args[i].value ? args[i].value_len : 0;
            return 1;
        }
    return 0;
}

static int parse_k(const char *v, size_t n, int max_k, int *k) {
    if (!v) return 0;
    char buf[16];
    if (n == 0 || n >= sizeof(buf) || memchr(v, '\0', n)) return -1;
    memcpy(buf, v, n);
    buf[n] = '\0';
    char *end;
    long x = strtol(buf, &end, 10);
    if (*end || x < 1 || x > max_k) return -1;
    *k = (int)x;
    return 0;
}

/* The query-string arguments GET /v1/search takes; any other is a 400. */
static const char *const search_args[] = {"q", "query", "k", "url_prefix", "mode", "fusion", "alpha", "allow_partial",
                                           NULL};

int parse_search_args(const search_limits *l, const query_arg *args, int n, search_request *r, api_error *e) {
    memset(r, 0, sizeof(*r));
    if (n > REQUEST_MAX_ARGS)
        return fail(e, 400, "unknown_parameter", "at most %d query parameters", REQUEST_MAX_ARGS);
    for (int i = 0; i < n; i++) {
        int known = 0;
        for (int j = 0; search_args[j] && !known; j++)
            known = args[i].key_len == strlen(search_args[j]) && !memcmp(args[i].key, search_args[j], args[i].key_len);
        if (!known) {
            char key[80];
            quote(key, sizeof(key), args[i].key, args[i].key_len, 60);
            return fail(e, 400, "unknown_parameter",
                        "unknown parameter \"%s\" (known: q, k, url_prefix, mode, fusion, alpha, allow_partial)", key);
        }
    }
    const char *q = NULL, *kv = NULL, *prefix = NULL, *mode = NULL, *fusion = NULL, *alpha = NULL;
    size_t qn = 0, kn = 0, pn = 0, mn = 0, fn = 0, an = 0;
    find_arg(args, n, "mode", &mode, &mn);
    find_arg(args, n, "fusion", &fusion, &fn);
    find_arg(args, n, "alpha", &alpha, &an);
    if (!find_arg(args, n, "q", &q, &qn) && !find_arg(args, n, "query", &q, &qn))
        return fail(e, 400, "missing_query", "pass the query as ?q=TEXT");
    find_arg(args, n, "k", &kv, &kn);
    find_arg(args, n, "url_prefix", &prefix, &pn);
    const char *ap = NULL;
    size_t apn = 0;
    if (find_arg(args, n, "allow_partial", &ap, &apn)) {
        int t = apn == 4 && !memcmp(ap, "true", 4), f = apn == 5 && !memcmp(ap, "false", 5);
        if (!t && !f) return fail(e, 400, "invalid_allow_partial", "allow_partial must be true or false");
        r->allow_partial = t;
    }
    if (check_text(l, q ? q : "", qn, 1, e) != 0) return -1;
    search_query *sq = &r->q;
    sq->text = q ? q : "";
    sq->len = qn;
    if (!q || blank(q, qn)) return fail(e, 400, "empty_query", "query is empty");
    sq->k = l->default_k;
    if (parse_k(kv, kn, l->max_k, &sq->k) != 0)
        return fail(e, 400, "invalid_k", "k must be an integer from 1 to %d", l->max_k);
    if (prefix && !filter_text_ok(prefix, pn))
        return fail(e, 400, "invalid_filter", "url_prefix must be UTF-8 text of at most %d bytes", FILTER_MAX_BYTES);
    sq->filter.url_prefix = prefix && pn ? prefix : NULL;
    double a = 0;
    if (alpha) {
        char buf[32], *end;
        if (an == 0 || an >= sizeof(buf) || memchr(alpha, '\0', an))
            return fail(e, 400, "invalid_alpha", "alpha must be a number from 0 to 1");
        memcpy(buf, alpha, an);
        buf[an] = '\0';
        a = strtod(buf, &end);
        if (*end) return fail(e, 400, "invalid_alpha", "alpha must be a number from 0 to 1");
    }
    char emsg[128];
    if (search_options(l, mode, mn, fusion, fn, alpha ? &a : NULL, sq, emsg, sizeof(emsg)) != 0)
        return fail(e, 400, strstr(emsg, "alpha must") ? "invalid_alpha" : "invalid_mode", "%s", emsg);
    return 0;
}

/* ---- GET /?query= (the seed's route) ---- */

int parse_compat_args(const search_limits *l, const query_arg *args, int n, search_request *r, api_error *e) {
    memset(r, 0, sizeof(*r));
    const char *q = NULL;
    size_t qn = 0;
    find_arg(args, n, "query", &q, &qn);
    if (!q || blank(q, qn)) {
        r->empty = 1;
        return 0;
    }
    if (check_text(l, q, qn, 1, e) != 0) return -1;
    r->q = (search_query){.text = q, .len = qn, .k = SEED_COMPAT_K, .mode = l->default_mode,
                          .alpha = l->default_alpha, .fusion = l->default_fusion};
    return 0;
}

/* ---- POST /v1/search ---- */

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
        if (!name_ok) {
            char q[80];
            quote(q, sizeof(q), key, strlen(key), 60);
            return snprintf(msg, cap, "filter \"%s\": metadata names are lowercase letters, digits and _.:- "
                            "(at most 64)", q), -1;
        }
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

/* The first field of obj not in `known` (meta.* allowed when meta), or NULL. */
static const char *unknown_key(json_t *obj, const char *const *known, int meta) {
    const char *key;
    json_t *val;
    json_object_foreach(obj, key, val) {
        int ok = meta && !strncmp(key, "meta.", 5);
        for (int i = 0; known[i] && !ok; i++) ok = !strcmp(known[i], key);
        if (!ok) return key;
    }
    return NULL;
}

/* "vector": 1 to MANIFEST_MAX_DIM finite numbers that fit a float, into
 * r->vector. Its dimension and norm are checked against the index at
 * search time (search_run), which knows them. */
static int parse_vector(json_t *v, search_request *r, api_error *e) {
    size_t n = json_is_array(v) ? json_array_size(v) : 0;
    if (n < 1 || n > MANIFEST_MAX_DIM)
        return fail(e, 400, "invalid_vector", "\"vector\" must be an array of 1 to %d numbers", MANIFEST_MAX_DIM);
    r->vector = mem_alloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) {
        json_t *x = json_array_get(v, i);
        double d = json_is_number(x) ? json_number_value(x) : NAN;
        if (!isfinite(d) || fabs(d) > FLT_MAX)
            return fail(e, 400, "invalid_vector", "\"vector\"[%zu] must be a finite number within float range", i);
        r->vector[i] = (float)d;
    }
    r->q.vector = r->vector;
    r->q.vector_dim = (int)n;
    return 0;
}

/* The body as a JSON object into r->root (owned by r). */
static int load_object(const char *body, size_t len, search_request *r, api_error *e) {
    json_error_t jerr;
    json_t *root = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return fail(e, 400, "invalid_json", "body is not valid JSON: %s (line %d, column %d)", jerr.text, jerr.line,
                    jerr.column);
    r->root = root;
    if (!json_is_object(root)) return fail(e, 400, "invalid_json", "body must be a JSON object");
    return 0;
}

/* The first field of root not in fields: a 400 that lists the known ones. */
static int unknown_field(json_t *root, const char *const *fields, api_error *e) {
    const char *bad = unknown_key(root, fields, 0);
    if (!bad) return 0;
    char name[80], known[160] = "";
    quote(name, sizeof(name), bad, strlen(bad), 60);
    for (int i = 0; fields[i]; i++)
        snprintf(known + strlen(known), sizeof(known) - strlen(known), "%s%s", i ? ", " : "", fields[i]);
    return fail(e, 400, "unknown_field", "unknown field \"%s\" (known: %s)", name, known);
}

/* The search fields of a JSON object (POST /v1/search and /v1/answer). */
static int search_fields(const search_limits *l, json_t *root, search_request *r, api_error *e) {
    static const char *const filters[] = {"url_prefix", "url", "title_contains", "heading", "source",
                                          "modified_after", "modified_before", NULL};
    json_t *q = json_object_get(root, "query"), *k = json_object_get(root, "k");
    json_t *filter = json_object_get(root, "filter");
    json_t *mode = json_object_get(root, "mode"), *fusion = json_object_get(root, "fusion");
    json_t *alpha = json_object_get(root, "alpha"), *vec = json_object_get(root, "vector");
    const char *bad;
    char name[80];
    if (json_is_object(filter) && (bad = unknown_key(filter, filters, 1))) {
        quote(name, sizeof(name), bad, strlen(bad), 60);
        return fail(e, 400, "invalid_filter", "unknown filter \"%s\" (known: url_prefix, url, title_contains, "
                    "heading, source, modified_after, modified_before, meta.NAME)", name);
    }
    search_query *sq = &r->q;
    char emsg[128];
    if (mode && !json_is_string(mode)) return fail(e, 400, "invalid_mode", "\"mode\" must be a string");
    if (fusion && !json_is_string(fusion)) return fail(e, 400, "invalid_mode", "\"fusion\" must be a string");
    if (alpha && !json_is_number(alpha)) return fail(e, 400, "invalid_alpha", "alpha must be a number from 0 to 1");
    double a = alpha ? json_number_value(alpha) : 0;
    /* A vector alone searches in mode vector unless the request names a mode. */
    search_limits lim = *l;
    if (vec && !q) lim.default_mode = MODE_VECTOR;
    if (search_options(&lim, mode ? json_string_value(mode) : NULL, mode ? json_string_length(mode) : 0,
                       fusion ? json_string_value(fusion) : NULL, fusion ? json_string_length(fusion) : 0,
                       alpha ? &a : NULL, sq, emsg, sizeof(emsg)) != 0)
        return fail(e, 400, strstr(emsg, "alpha") && !strstr(emsg, "apply") ? "invalid_alpha" : "invalid_mode", "%s",
                    emsg);
    if (vec) {
        if (parse_vector(vec, r, e) != 0) return -1;
        if (sq->mode == MODE_KEYWORD)
            return fail(e, 400, "invalid_mode", "\"vector\" applies to modes \"vector\" and \"hybrid\", not \"keyword\"");
        if (sq->mode == MODE_HYBRID && !q)
            return fail(e, 400, "missing_query", "mode \"hybrid\" needs \"query\" text for its keyword list "
                        "besides \"vector\"");
    }
    if (!json_is_string(q) && !(vec && !q))
        return fail(e, 400, "missing_query", "\"query\" must be a string (or send \"vector\")");
    if (k && (!json_is_integer(k) || json_integer_value(k) < 1 || json_integer_value(k) > l->max_k))
        return fail(e, 400, "invalid_k", "\"k\" must be an integer from 1 to %d", l->max_k);
    char fmsg[200];
    if (filter && parse_filter(filter, &sq->filter, fmsg, sizeof(fmsg)) != 0)
        return fail(e, 400, "invalid_filter", "%s", fmsg);
    sq->k = k ? (int)json_integer_value(k) : l->default_k;
    if (!q) {
        sq->text = "";
        return 0;
    }
    const char *text = json_string_value(q);
    size_t tlen = json_string_length(q);
    if (check_text(l, text, tlen, 0, e) != 0) return -1;
    sq->text = text;
    sq->len = tlen;
    if (blank(text, tlen)) return fail(e, 400, "empty_query", "query is empty");
    return 0;
}

int parse_search_json(const search_limits *l, const char *body, size_t len, search_request *r, api_error *e) {
    static const char *const fields[] = {"query", "vector", "k", "filter", "mode", "fusion", "alpha", "allow_partial",
                                         NULL};
    memset(r, 0, sizeof(*r));
    if (load_object(body, len, r, e) != 0 || unknown_field(r->root, fields, e) != 0) return -1;
    json_t *ap = json_object_get(r->root, "allow_partial");
    if (ap && !json_is_boolean(ap)) return fail(e, 400, "invalid_allow_partial", "\"allow_partial\" must be true or false");
    r->allow_partial = json_is_true(ap);
    return search_fields(l, r->root, r, e);
}

int parse_answer_json(const search_limits *l, int max_tokens, const char *body, size_t len, answer_request *r,
                      api_error *e) {
    static const char *const fields[] = {"query", "k", "filter", "mode", "fusion", "alpha", "stream", "max_tokens",
                                         NULL};
    memset(r, 0, sizeof(*r));
    search_request *s = &r->s;
    if (load_object(body, len, s, e) != 0 || unknown_field(s->root, fields, e) != 0) return -1;
    json_t *st = json_object_get(s->root, "stream"), *mt = json_object_get(s->root, "max_tokens");
    if (st && !json_is_boolean(st)) return fail(e, 400, "invalid_stream", "\"stream\" must be true or false");
    if (mt && (!json_is_integer(mt) || json_integer_value(mt) < 1 || json_integer_value(mt) > max_tokens))
        return fail(e, 400, "invalid_max_tokens", "\"max_tokens\" must be an integer from 1 to %d", max_tokens);
    if (!json_is_string(json_object_get(s->root, "query")))
        return fail(e, 400, "missing_query", "\"query\" must be a string");
    r->stream = json_is_true(st);
    r->max_tokens = mt ? (int)json_integer_value(mt) : 0;
    return search_fields(l, s->root, s, e);
}

int parse_shard_search_json(const search_limits *l, const char *body, size_t len, shard_search_request *r,
                            api_error *e) {
    static const char *const fields[] = {"index_version", "query", "vector", "mode", "depth", "filter", NULL};
    static const char *const filters[] = {"url_prefix", "url", "title_contains", "heading", "source",
                                          "modified_after", "modified_before", NULL};
    memset(r, 0, sizeof(*r));
    search_request *s = &r->s;
    if (load_object(body, len, s, e) != 0 || unknown_field(s->root, fields, e) != 0) return -1;
    json_t *ver = json_object_get(s->root, "index_version"), *q = json_object_get(s->root, "query");
    json_t *vec = json_object_get(s->root, "vector"), *mode = json_object_get(s->root, "mode");
    json_t *depth = json_object_get(s->root, "depth"), *filter = json_object_get(s->root, "filter");
    if (!json_is_string(ver) || json_string_length(ver) == 0 || json_string_length(ver) >= MANIFEST_NAME_LEN)
        return fail(e, 400, "invalid_version", "\"index_version\" must name a version");
    r->version = json_string_value(ver);
    s->q.mode = MODE_VECTOR;
    if (mode && (!json_is_string(mode) || search_mode_parse(json_string_value(mode), json_string_length(mode),
                                                             &s->q.mode) != 0))
        return fail(e, 400, "invalid_mode", "mode must be \"vector\", \"keyword\" or \"hybrid\"");
    int max_depth = HYBRID_DEPTH(l->max_k);
    if (!json_is_integer(depth) || json_integer_value(depth) < 1 || json_integer_value(depth) > max_depth)
        return fail(e, 400, "invalid_depth", "\"depth\" must be an integer from 1 to %d", max_depth);
    r->depth = (int)json_integer_value(depth);
    s->q.k = r->depth;
    if (s->q.mode != MODE_KEYWORD) {
        if (!vec) return fail(e, 400, "invalid_vector", "mode \"%s\" needs \"vector\"", search_mode_name(s->q.mode));
        if (parse_vector(vec, s, e) != 0) return -1;
    } else if (vec) {
        return fail(e, 400, "invalid_mode", "\"vector\" applies to modes \"vector\" and \"hybrid\"");
    }
    if (s->q.mode != MODE_VECTOR) {
        if (!json_is_string(q)) return fail(e, 400, "missing_query", "mode \"%s\" needs \"query\" text",
                                            search_mode_name(s->q.mode));
        if (check_text(l, json_string_value(q), json_string_length(q), 0, e) != 0) return -1;
        s->q.text = json_string_value(q);
        s->q.len = json_string_length(q);
    } else if (q) {
        return fail(e, 400, "unknown_field", "mode \"vector\" takes no \"query\"");
    }
    if (!s->q.text) s->q.text = "";
    const char *bad;
    char name[80], fmsg[200];
    if (json_is_object(filter) && (bad = unknown_key(filter, filters, 1))) {
        quote(name, sizeof(name), bad, strlen(bad), 60);
        return fail(e, 400, "invalid_filter", "unknown filter \"%s\"", name);
    }
    if (filter && parse_filter(filter, &s->q.filter, fmsg, sizeof(fmsg)) != 0)
        return fail(e, 400, "invalid_filter", "%s", fmsg);
    return 0;
}

int parse_shard_rows_json(const char *body, size_t len, shard_rows_request *r, api_error *e) {
    static const char *const fields[] = {"index_version", "ids", NULL};
    memset(r, 0, sizeof(*r));
    search_request s = {0};
    if (load_object(body, len, &s, e) != 0 || unknown_field(s.root, fields, e) != 0) {
        r->root = s.root;
        return -1;
    }
    r->root = s.root;
    json_t *ver = json_object_get(r->root, "index_version"), *ids = json_object_get(r->root, "ids");
    if (!json_is_string(ver) || json_string_length(ver) == 0 || json_string_length(ver) >= MANIFEST_NAME_LEN)
        return fail(e, 400, "invalid_version", "\"index_version\" must name a version");
    r->version = json_string_value(ver);
    size_t n = json_is_array(ids) ? json_array_size(ids) : 0;
    if (!json_is_array(ids) || n > SHARD_ROWS_MAX)
        return fail(e, 400, "invalid_ids", "\"ids\" must be an array of at most %d [\"id\", shard] pairs", SHARD_ROWS_MAX);
    r->ids = mem_alloc(sizeof(int64_t) * (n + 1));
    r->shards = mem_alloc(sizeof(int) * (n + 1));
    for (size_t i = 0; i < n; i++) {
        json_t *p = json_array_get(ids, i), *id = json_array_get(p, 0), *sh = json_array_get(p, 1);
        const char *d = json_string_value(id);
        size_t dl = d ? json_string_length(id) : 0;
        if (!json_is_array(p) || json_array_size(p) != 2 || !d || dl == 0 || dl > 19 || strspn(d, "0123456789") != dl ||
            !json_is_integer(sh) || json_integer_value(sh) < 0 || json_integer_value(sh) >= MANIFEST_MAX_SHARDS)
            return fail(e, 400, "invalid_ids", "ids[%zu] must be [\"<decimal id>\", <shard>]", i);
        errno = 0;
        unsigned long long v = strtoull(d, NULL, 10);
        if (errno || v > (unsigned long long)INT64_MAX) return fail(e, 400, "invalid_ids", "ids[%zu]: id out of range", i);
        r->ids[r->n] = (int64_t)v;
        r->shards[r->n++] = (int)json_integer_value(sh);
    }
    return 0;
}

void shard_rows_request_clear(shard_rows_request *r) {
    json_decref(r->root);
    mem_free(r->ids);
    mem_free(r->shards);
    memset(r, 0, sizeof(*r));
}

void shard_search_request_clear(shard_search_request *r) {
    search_request_clear(&r->s);
}

void answer_request_clear(answer_request *r) {
    search_request_clear(&r->s);
}

void search_request_clear(search_request *r) {
    json_decref(r->root);
    mem_free(r->vector);
    memset(r, 0, sizeof(*r));
}

/* ---- POST /v1/embeddings ---- */

const char *embeddings_model_name(const embedder *e) {
    return !strcmp(embedder_name(e), "minilm") ? EMBEDDER_MODEL_NAME : embedder_model_id(e);
}

int embeddings_model_matches(const embedder *e, const char *m) {
    return !strcmp(m, embedder_model_id(e)) || !strcmp(m, embedder_name(e)) ||
           (!strcmp(embedder_name(e), "minilm") && !strcmp(m, EMBEDDER_MODEL_NAME));
}

static int bad_param(api_error *e, int status, const char *param, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int bad_param(api_error *e, int status, const char *param, const char *code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfail(e, status, param, code, fmt, ap);
    va_end(ap);
    return -1;
}

int parse_embeddings_json(const embeddings_opts *o, const embedder *emb, const char *body, size_t len,
                          embeddings_request *r, api_error *e) {
    memset(r, 0, sizeof(*r));
    json_error_t jerr;
    json_t *root = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) return bad_param(e, 400, NULL, "invalid_json", "the body is not valid JSON: %s", jerr.text);
    r->root = root;
    if (embedder_is_remote(emb) && !o->allow_remote)
        return bad_param(e, 400, "model", "remote_embedder", "this index embeds with a remote model; start ragd-serve "
                         "with --embeddings-allow-remote to proxy it");
    if (!json_is_object(root)) return bad_param(e, 400, NULL, "invalid_request", "the body must be a JSON object");
    static const char *const fields[] = {"input", "model", "encoding_format", "dimensions", "user", NULL};
    const char *unknown = unknown_key(root, fields, 0);
    if (unknown) {
        char name[80];
        quote(name, sizeof(name), unknown, strlen(unknown), 60);
        /* param names the field as sent; its bytes live as long as root */
        return bad_param(e, 400, unknown, "unknown_parameter", "unknown parameter \"%s\"", name);
    }
    json_t *model = json_object_get(root, "model"), *input = json_object_get(root, "input");
    json_t *fmt = json_object_get(root, "encoding_format"), *dims = json_object_get(root, "dimensions");
    if (!json_is_string(model)) return bad_param(e, 400, "model", "invalid_model", "\"model\" must be a string");
    if (!embeddings_model_matches(emb, json_string_value(model))) {
        char name[120];
        quote(name, sizeof(name), json_string_value(model), json_string_length(model), 100);
        return bad_param(e, 404, "model", "model_not_found", "The model `%s` does not exist here; this server "
                         "embeds with `%s`", name, embeddings_model_name(emb));
    }
    if (fmt && !(json_is_string(fmt) && (!strcmp(json_string_value(fmt), "float") ||
                                          !strcmp(json_string_value(fmt), "base64"))))
        return bad_param(e, 400, "encoding_format", "invalid_encoding_format",
                         "encoding_format must be \"float\" or \"base64\"");
    r->b64 = fmt && !strcmp(json_string_value(fmt), "base64");
    if (dims && !(json_is_integer(dims) && json_integer_value(dims) == embedder_dim(emb)))
        return bad_param(e, 400, "dimensions", "invalid_dimensions",
                         "this model makes %d dimensions and cannot shorten them", embedder_dim(emb));
    if (!input) return bad_param(e, 400, "input", "missing_input", "\"input\" is required");
    int count = json_is_string(input) ? 1 : json_is_array(input) ? (int)json_array_size(input) : -1;
    if (count < 0) return bad_param(e, 400, "input", "invalid_input", "\"input\" must be a string or an array of strings");
    if (count == 0) return bad_param(e, 400, "input", "invalid_input", "\"input\" is empty");
    if (count > o->max_inputs)
        return bad_param(e, 400, "input", "too_many_inputs", "at most %d inputs per request", o->max_inputs);
    r->texts = mem_calloc((size_t)count, sizeof(char *));
    for (int i = 0; i < count; i++) {
        json_t *t = json_is_string(input) ? input : json_array_get(input, (size_t)i);
        if (!json_is_string(t))
            return bad_param(e, 400, "input", "invalid_input",
                             "input[%d] is not a string (token arrays are not supported)", i);
        if (json_string_length(t) == 0) return bad_param(e, 400, "input", "invalid_input", "input[%d] is empty", i);
        if (json_string_length(t) > o->max_input_bytes || memchr(json_string_value(t), 0, json_string_length(t)))
            return bad_param(e, 400, "input", "invalid_input", "input[%d] is over %zu bytes or holds a NUL", i,
                             o->max_input_bytes);
        r->texts[i] = json_string_value(t);
    }
    r->n = count;
    r->model = json_string_value(model);
    return 0;
}

void embeddings_request_clear(embeddings_request *r) {
    mem_free(r->texts);
    json_decref(r->root);
    memset(r, 0, sizeof(*r));
}
