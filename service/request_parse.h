/* request_parse.h - API requests parsed into values, or an error value; no I/O
 *
 * Every request kind has one parser that reads bytes the client sent (a
 * query string's arguments, a JSON body) and returns either the parsed
 * request or an api_error (HTTP status, machine code, message). Parsers
 * send nothing, log nothing and touch no index, so the server's routes
 * stay thin and every parser has a fuzz harness (tests/fuzz/). GET and
 * POST /v1/search and the seed-compatible GET /?query= share the checks
 * of the query text, k and filters.
 *
 *     search_request r;
 *     api_error e;
 *     if (parse_search_json(&limits, body, len, &r, &e) != 0) ... send e.status, e.code, e.message ...
 *     else { ... r.q ... ; search_request_clear(&r); }
 */
#ifndef RAGD_REQUEST_PARSE_H
#define RAGD_REQUEST_PARSE_H

#include <jansson.h>
#include <stddef.h>

#include "embedder.h"
#include "search.h"

typedef struct api_error {
    int status;        /* HTTP status */
    const char *code;  /* machine-readable code (a string literal) */
    const char *param; /* the parameter at fault (OpenAI's error shape), or NULL */
    char message[256]; /* for people; may quote (sanitised) client bytes */
} api_error;

/* The server's limits and defaults that parsing applies. */
typedef struct search_limits {
    size_t max_query_bytes;
    int max_k, default_k;
    int default_mode;    /* enum search_mode */
    float default_alpha;
    int default_fusion;  /* enum fusion_method */
} search_limits;

/* One query-string argument as libmicrohttpd decoded it; value NULL for
 * "?key" without "=". At most REQUEST_MAX_ARGS per request. */
typedef struct query_arg {
    const char *key;
    size_t key_len;
    const char *value;
    size_t value_len;
} query_arg;
#define REQUEST_MAX_ARGS 32

typedef struct search_request {
    search_query q; /* text, k, filter, mode, fusion, alpha (tenant is the caller's) */
    json_t *root;   /* a POST body the strings in q point into; owned */
    float *vector;  /* POST "vector": q.vector points here; owned */
    int empty;      /* the seed route's empty query: answered 200 with no results */
    int allow_partial; /* a router may answer without shard groups that have no live replica */
} search_request;

/* GET /v1/search?q=...: 0 and *r, or -1 and *e. The query text (once it
 * is known to be valid UTF-8 within the limit) is in r->q.text even when
 * a later check fails, for the access log. */
int parse_search_args(const search_limits *l, const query_arg *args, int n, search_request *r, api_error *e);

/* POST /v1/search with a JSON body. */
int parse_search_json(const search_limits *l, const char *body, size_t len, search_request *r, api_error *e);

/* POST /v1/answer: the search fields of POST /v1/search (text only, no
 * "vector") plus "stream" (bool) and "max_tokens" (1..max_tokens; 0 in
 * *r when absent: the server's default). */
typedef struct answer_request {
    search_request s;
    int stream;
    int max_tokens;
} answer_request;

int parse_answer_json(const search_limits *l, int max_tokens, const char *body, size_t len, answer_request *r,
                      api_error *e);

void answer_request_clear(answer_request *r);

/* POST /internal/v1/search (a router asking a shard server): the version
 * to search, the query vector (modes vector and hybrid; the router
 * embedded it), the query text (modes keyword and hybrid), the list
 * depth (1..HYBRID_DEPTH(max_k)) and a filter. */
typedef struct shard_search_request {
    search_request s; /* q.mode, q.vector, q.text, q.filter; q.k = depth */
    const char *version;
    int depth;
} shard_search_request;

int parse_shard_search_json(const search_limits *l, const char *body, size_t len, shard_search_request *r,
                            api_error *e);

void shard_search_request_clear(shard_search_request *r);

/* POST /internal/v1/rows (a router fetching the rows of cached hits):
 * {"index_version", "ids": [["<id>", shard], ...]}, at most SHARD_ROWS_MAX. */
#define SHARD_ROWS_MAX 10000
typedef struct shard_rows_request {
    json_t *root; /* owned */
    const char *version;
    int64_t *ids;
    int *shards;
    int n;
} shard_rows_request;

int parse_shard_rows_json(const char *body, size_t len, shard_rows_request *r, api_error *e);

void shard_rows_request_clear(shard_rows_request *r);

/* GET /?query=...: the seed's route, k fixed at 5, the server's default mode. */
int parse_compat_args(const search_limits *l, const query_arg *args, int n, search_request *r, api_error *e);

void search_request_clear(search_request *r);

/* /v1/embeddings limits. */
typedef struct embeddings_opts {
    int max_inputs;         /* inputs per request (256) */
    size_t max_input_bytes; /* bytes per input (65536) */
    int allow_remote;       /* serve a remote index embedder too (0) */
} embeddings_opts;

typedef struct embeddings_request {
    json_t *root;       /* owned; the strings below point into it */
    const char **texts; /* n inputs */
    int n;
    int b64;            /* encoding_format "base64" */
    const char *model;  /* as the request named it */
} embeddings_request;

/* POST /v1/embeddings for embedder e: 0 and *r, or -1 and *e (OpenAI's
 * error shape: param says which field). */
int parse_embeddings_json(const embeddings_opts *o, const embedder *emb, const char *body, size_t len,
                          embeddings_request *r, api_error *e);

void embeddings_request_clear(embeddings_request *r);

/* The name /v1/models gives embedder e, and 1 if a request's "model" names it. */
const char *embeddings_model_name(const embedder *e);
int embeddings_model_matches(const embedder *e, const char *model);

#endif
