/* server.h - the REST API over libmicrohttpd: routes, limits, auth, rate limits, JSON errors
 *
 * Routes: GET/POST /v1/search, the seed-compatible GET /?query=, GET
 * /health, /ready, /metrics, /v1/index, POST /admin/reload, POST
 * /v1/embeddings, GET /v1/models and POST /v1/answer (whole or as
 * Server-Sent Events; its own workers, so slow LLM calls never hold up
 * searches). libmicrohttpd's own threads do the
 * HTTP I/O and answer the cheap routes (probes, metrics) at once; routes
 * that may wait (a search embeds its query, maybe on a remote model; a
 * reload waits for the watcher) park their connection and run on a
 * fixed pool of request workers (--threads) behind a bounded queue, each
 * within its deadline (--request-deadline-ms). So a slow upstream can
 * make searches wait, never /health or /ready. Every error
 * is {"error": {"code", "message"}} with its HTTP status; every input has
 * a limit (body, query length, k). Shutdown is graceful: stop accepting,
 * let in-flight requests finish (up to a timeout), then stop.
 *
 *     server_opts o = server_opts_default();
 *     server *srv = server_start(&o, &searcher, keys, err);
 *     ... wait for SIGTERM ...
 *     server_shutdown(srv, 10000);
 */
#ifndef RAGD_SERVER_H
#define RAGD_SERVER_H

#include <stddef.h>

#include "answer.h"
#include "key_file.h"
#include "router.h"
#include "shard_api.h"
#include "rate_limit.h"
#include "embeddings.h"
#include "search.h"

typedef struct server_opts {
    const char *bind; /* IPv4 address, default 127.0.0.1 */
    int port;         /* 0: any free port (see server_port) */
    int threads;      /* request workers (searches, embeddings, reload waits) */
    int deadline_ms;  /* a request's time limit from arrival, queueing and upstream calls included */
    int max_queued;   /* requests waiting for a worker before new ones get 503 */
    size_t max_body_bytes;
    size_t max_query_bytes;
    int max_k, default_k;
    int default_mode;     /* enum search_mode when a request names none */
    float default_alpha;  /* hybrid convex fusion weight of the vector list */
    int default_fusion;   /* enum fusion_method */
    int request_timeout_s; /* idle connection timeout */
    int protect_ops;       /* require a key on /health, /ready, /metrics */
    int log_queries;
    const char *index_name; /* for per-key index limits */
    double rate, burst;     /* per key (or client address) */
    embeddings_opts emb;    /* /v1/embeddings limits */
    answerer *answer;       /* POST /v1/answer (NULL: the route answers 503) */
    int answer_threads;     /* answer workers: LLM calls at once (--llm-max-concurrency) */
    int answer_deadline_ms; /* an answer's time limit, LLM included (--answer-deadline-ms) */
    double llm_tpm;         /* LLM tokens per minute per key (or client address); 0 = no budget */
    shard_api *peer;        /* --peer-secret-file: the internal routes a router calls (NULL: they do not exist) */
    router *router;         /* --router: searches go to shard servers; no local index */
} server_opts;

typedef struct server server;

server_opts server_opts_default(void);

/* Bind and start serving. `keys` may be NULL (open access). NULL + err. */
server *server_start(const server_opts *o, searcher *s, key_file *keys, char *err);

int server_port(const server *srv);

/* Stop accepting, wait up to timeout_ms for in-flight requests, stop and
 * free. Returns the number of requests still in flight when it gave up. */
int server_shutdown(server *srv, int timeout_ms);

#endif
