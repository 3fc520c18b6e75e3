/* redis_pool.h - Redis connections that never make a request wait on an outage
 *
 * A small pool of hiredis connections with connect and command timeouts in
 * milliseconds, behind a circuit breaker: after `fail_threshold`
 * consecutive failures the pool stops trying for a back-off period
 * (doubling up to max_backoff_ms), and every caller is told at once that
 * Redis is unavailable, so requests bypass the cache instead of waiting.
 * A background thread pings Redis every 250 ms while the breaker is
 * open and closes it as soon as Redis answers, so recovery never waits
 * out the back-off; after the back-off a caller may also probe.
 *
 *     rpool_opts o = rpool_opts_default();
 *     if (rpool_parse_url("redis://:secret@127.0.0.1:6379/0", &o, err)) ...;
 *     rpool *p = rpool_new(&o, 4);
 *     redisContext *c = rpool_get(p);          // NULL: breaker open or no connection
 *     redisReply *r = redisCommand(c, "PING");
 *     rpool_put(p, c, r != NULL);               // failure counts toward the breaker
 */
#ifndef RAGD_REDIS_POOL_H
#define RAGD_REDIS_POOL_H

#include <hiredis/hiredis.h>

typedef struct rpool_opts {
    char host[256];
    int port;
    char password[256];
    int db;
    int connect_timeout_ms; /* default 200 */
    int command_timeout_ms; /* default 100 */
    int fail_threshold;     /* default 3 */
    int backoff_ms;         /* first open period, default 1000 */
    int max_backoff_ms;     /* default 30000 */
} rpool_opts;

typedef struct rpool rpool;

rpool_opts rpool_opts_default(void);

/* redis://[:password@]host[:port][/db]; -1 + message if malformed. */
int rpool_parse_url(const char *url, rpool_opts *o, char *err);

rpool *rpool_new(const rpool_opts *o, int max_idle);

/* A connected context, or NULL if the breaker is open or connecting
 * failed (which counts as a failure). Give it back with rpool_put. */
redisContext *rpool_get(rpool *p);

/* Return a context; ok = 0 closes it and records a failure, ok = 1
 * records a success. */
void rpool_put(rpool *p, redisContext *c, int ok);

/* A new connection for long blocking reads (XREAD BLOCK), outside the
 * pool and with its own command timeout; NULL on failure. */
redisContext *rpool_connect(const rpool *p, int command_timeout_ms);

/* Count the outcome of an operation on a connection outside the pool
 * (the semantic feed's), so an outage is seen even when every request is
 * served from memory. */
void rpool_note(rpool *p, int ok);

/* 1 while the breaker is closed and the last operation succeeded. */
int rpool_up(rpool *p);

void rpool_free(rpool *p);

#endif
