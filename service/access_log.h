/* access_log.h - one JSON line per request on stderr
 *
 * Fields: ts, request_id, method, route, status, latency_ms, cache,
 * results, key_id (never the key). The query text is included only when
 * the operator asks for it (--log-queries): queries can carry personal
 * data. Each line goes out in one write(2), so lines from concurrent
 * requests never interleave.
 *
 *     access_entry e = {.request_id = "r-1a2b", .method = "GET", .route = "/v1/search", .status = 200};
 *     access_log_write(&e);
 */
#ifndef RAGD_ACCESS_LOG_H
#define RAGD_ACCESS_LOG_H

typedef struct access_entry {
    const char *request_id, *method, *route, *cache, *key_id, *query;
    int status, results;
    double latency_ms;
} access_entry;

/* Turn the log off (tests and benchmarks that drown in it). */
void access_log_enable(int on);

void access_log_write(const access_entry *e);

#endif
