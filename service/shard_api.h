/* shard_api.h - what a shard server tells a scatter-gather router: its shards and versions, and candidate lists with rows
 *
 * A ragd-serve started with --shards serves part of an index version; a
 * router (ragd-serve --router) embeds each query once and asks one
 * replica of every shard group for its candidates. These are the two
 * internal routes, answered only to callers that present the shared
 * secret (--peer-secret-file) in X-Ragd-Peer-Secret (compared as SHA-256
 * digests in constant time); without a secret file they do not exist.
 *
 *   GET  /internal/v1/state   {"shards": [0, 2], "n_shards": 4, "versions": [{"index_version", "model_id",
 *                              "dim", "n_shards", "chunks"}]}: the live version first, then the kept previous one
 *   POST /internal/v1/search  {"index_version", "vector", "query", "mode", "depth", "filter"} ->
 *                             {"index_version", "shards", "vector": [[id, shard, score]], "keyword": [...],
 *                              "rows": [{"id", "shard", "url", "title", "headings", "text"}]}
 *   POST /internal/v1/rows    {"index_version", "ids": [[id, shard]]} -> {"index_version", "rows": [...]}:
 *                             the rows of cached hits (the router's Redis cache keeps ids, not rows)
 *
 * The search runs in the version the router names (the live one, or the
 * previous one while it is kept: --keep-previous-s), never another: a 409
 * `version_unavailable` says which versions this server has.
 *
 *     shard_api *a = shard_api_new("/etc/ragd/peer-secret", err);
 *     if (!shard_api_allows(a, header)) -> 401
 *     int status = shard_api_search(a, searcher, &limits, body, len, &json, &e);
 */
#ifndef RAGD_SHARD_API_H
#define RAGD_SHARD_API_H

#include <jansson.h>
#include <stddef.h>

#include "request_parse.h"
#include "search.h"

#define SHARD_SECRET_HEADER "X-Ragd-Peer-Secret"

typedef struct shard_api shard_api;

/* Read the shared secret (at least 16 bytes, first line) from a file.
 * NULL + err if it is missing or too short. */
shard_api *shard_api_new(const char *secret_file, char *err);

/* 1 if presented (may be NULL) is the secret. Constant time. */
int shard_api_allows(const shard_api *a, const char *presented);

/* GET /internal/v1/state: this server's index name, shards and versions
 * (each with its manifest, from which a router builds the embedder) (200), or
 * 503 before a version is loaded. */
int shard_api_state(searcher *s, const char *index_name, json_t **out);

/* POST /internal/v1/search: 200 and the lists with their rows, or an
 * error status with *e (400 bad request, 409 version not here, 503). */
int shard_api_search(searcher *s, const search_limits *l, const char *body, size_t len, json_t **out, api_error *e);

/* POST /internal/v1/rows: the rows of chunks (cached hits a router
 * serves) in the shards this server holds, in the version named. */
int shard_api_rows(searcher *s, const char *body, size_t len, json_t **out, api_error *e);

void shard_api_free(shard_api *a);

#endif
