/* access_log.c - one JSON line per request on stderr */
#include "access_log.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static int enabled = 1;

void access_log_enable(int on) {
    enabled = on;
}

void access_log_write(const access_entry *e) {
    if (!enabled) return;
    char ts[32];
    log_timestamp(ts, 1);
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:i, s:f, s:s?, s:i, s:s?}", "ts", ts, "request_id",
                          e->request_id ? e->request_id : "", "method", e->method ? e->method : "", "route",
                          e->route ? e->route : "", "status", e->status, "latency_ms", e->latency_ms, "cache",
                          e->cache, "results", e->results, "key_id", e->key_id);
    if (!o) return;
    if (e->query) json_object_set_new(o, "query", json_string(e->query));
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!s) return;
    size_t n = strlen(s);
    char *line = malloc(n + 2);
    if (line) {
        memcpy(line, s, n);
        line[n] = '\n';
        ssize_t w = write(STDERR_FILENO, line, n + 1);
        (void)w;
        free(line);
    }
    free(s);
}
