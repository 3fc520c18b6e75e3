/* report.c - the run report of one build */
#include "report.h"

#include <jansson.h>
#include <string.h>

#include "err.h"
#include "fsio.h"
#include "check.h"
#include "mem.h"
#include "text_extract.h"

typedef struct reason_stat {
    int64_t count;
    char *examples[REPORT_EXAMPLES];
    char *details[REPORT_EXAMPLES];
    int n;
} reason_stat;

static void reason_free(void *p) {
    reason_stat *s = p;
    for (int i = 0; i < s->n; i++) {
        mem_free(s->examples[i]);
        mem_free(s->details[i]);
    }
    mem_free(s);
}

report *report_new(void) {
    report *r = mem_calloc(1, sizeof(*r));
    r->skipped_by = strmap_new();
    r->failed_by = strmap_new();
    return r;
}

void report_add_source(report *r, const char *src) {
    r->sources = mem_realloc(r->sources, sizeof(char *) * (size_t)(r->n_sources + 1));
    r->sources[r->n_sources++] = utf8_sanitize(src, strlen(src), NULL);
}

void report_event(report *r, const char *url, enum load_outcome outcome, const char *reason, const char *detail) {
    if (outcome == LOAD_FETCHED) {
        r->fetched++;
        return;
    }
    strmap *m = outcome == LOAD_SKIPPED ? r->skipped_by : r->failed_by;
    if (outcome == LOAD_SKIPPED) r->skipped++;
    else r->failed++;
    reason_stat *s = strmap_get(m, reason);
    if (!s) {
        s = mem_calloc(1, sizeof(*s));
        strmap_put(m, reason, s);
    }
    s->count++;
    if (s->n < REPORT_EXAMPLES) {
        /* URLs and messages come from outside: keep the JSON valid UTF-8. */
        s->examples[s->n] = utf8_sanitize(url, strlen(url), NULL);
        s->details[s->n] = utf8_sanitize(detail ? detail : "", detail ? strlen(detail) : 0, NULL);
        s->n++;
    }
}

int64_t report_reason_count(const report *r, enum load_outcome outcome, const char *reason) {
    reason_stat *s = strmap_get(outcome == LOAD_SKIPPED ? r->skipped_by : r->failed_by, reason);
    return s ? s->count : 0;
}

static json_t *reasons_json(const strmap *m) {
    json_t *o = json_object();
    size_t it = 0;
    const char *key;
    void *val;
    while (strmap_next(m, &it, &key, &val)) {
        reason_stat *s = val;
        json_t *ex = json_array();
        for (int i = 0; i < s->n; i++)
            json_array_append_new(ex, json_pack("{s:s, s:s}", "url", s->examples[i], "detail", s->details[i]));
        json_object_set_new(o, key, json_pack("{s:I, s:o}", "count", (json_int_t)s->count, "examples", ex));
    }
    return o;
}

char *report_to_json(const report *r) {
    json_t *src = json_array();
    for (int i = 0; i < r->n_sources; i++) json_array_append_new(src, json_string(r->sources[i]));
    json_t *root = json_pack(
        "{s:s, s:s, s:o, s:b, s:s, s:s?, s:b, s:i, s:s?,"
        " s:{s:I, s:I, s:I, s:o, s:o},"
        " s:I,"
        " s:{s:I, s:I, s:I, s:I, s:I, s:I},"
        " s:{s:I, s:I, s:I},"
        " s:{s:f, s:f, s:f, s:f, s:f, s:f}}",
        "started_at", r->started_at, "finished_at", r->finished_at, "sources", src,
        "incremental", r->incremental, "incremental_note", r->incremental_note,
        "version_id", r->version_id[0] ? r->version_id : NULL, "published", r->published,
        "exit_code", r->exit_code, "error", r->error[0] ? r->error : NULL,
        "pages", "fetched", (json_int_t)r->fetched, "skipped", (json_int_t)r->skipped,
        "failed", (json_int_t)r->failed, "skipped_by_reason", reasons_json(r->skipped_by),
        "failed_by_reason", reasons_json(r->failed_by),
        "documents", (json_int_t)r->documents,
        "chunks", "total", (json_int_t)r->chunks_total, "unique", (json_int_t)r->chunks_unique,
        "embedded", (json_int_t)r->chunks_embedded, "reused", (json_int_t)r->chunks_reused,
        "cached", (json_int_t)r->chunks_cached, "deleted", (json_int_t)r->chunks_deleted,
        "embed", "calls", (json_int_t)r->embed_calls, "texts", (json_int_t)r->embed_texts,
        "tokens", (json_int_t)r->embed_tokens,
        "durations_ms", "load", r->load_ms, "embed", r->embed_ms, "embed_wait", r->embed_wait_ms, "build", r->build_ms,
        "publish", r->publish_ms, "total", r->total_ms);
    RAGD_CHECK(root != NULL);
    char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    char *out = mem_strdup(s);
    free(s);
    return out;
}

int report_write(const report *r, const char *path, char *err) {
    char *json = report_to_json(r);
    int rc = fsio_write_line_durable(path, json, err);
    mem_free(json);
    return rc;
}

void report_free(report *r) {
    if (!r) return;
    for (int i = 0; i < r->n_sources; i++) mem_free(r->sources[i]);
    mem_free(r->sources);
    strmap_free(r->skipped_by, reason_free);
    strmap_free(r->failed_by, reason_free);
    mem_free(r);
}
