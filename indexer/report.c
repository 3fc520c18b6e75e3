/* report.c - the run report of one build */
#include "report.h"
#include "injection.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
    r->carried_by = strmap_new();
    r->flagged_by = strmap_new();
    r->removed_by = strmap_new();
    return r;
}

void report_add_source(report *r, const char *src) {
    r->sources = mem_realloc(r->sources, sizeof(char *) * (size_t)(r->n_sources + 1));
    r->sources[r->n_sources++] = utf8_sanitize(src, strlen(src), NULL);
}

static void count_reason(strmap *m, const char *url, const char *reason, const char *detail) {
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

void report_event(report *r, const char *url, enum load_outcome outcome, const char *reason, const char *detail) {
    if (outcome == LOAD_FETCHED) {
        r->fetched++;
        return;
    }
    if (outcome == LOAD_SKIPPED) r->skipped++;
    else r->failed++;
    count_reason(outcome == LOAD_SKIPPED ? r->skipped_by : r->failed_by, url, reason, detail);
}

void report_flagged(report *r, const char *url, int ordinal, unsigned flags) {
    r->chunks_flagged++;
    char detail[32];
    snprintf(detail, sizeof(detail), "chunk %d", ordinal);
    for (int i = 0; i < INJECTION_FLAG_COUNT; i++)
        if (flags & (1u << i)) count_reason(r->flagged_by, url, injection_flag_name(1u << i), detail);
}

void report_carried(report *r, const char *url, const char *reason, const char *detail) {
    r->carried_over++;
    count_reason(r->carried_by, url, reason, detail);
}

void report_removed(report *r, const char *url, const char *reason, const char *detail) {
    r->removed++;
    count_reason(r->removed_by, url, reason, detail);
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

static json_t *pages_json(const report *r) {
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:{s:I, s:o}, s:{s:I, s:o}}",
                     "fetched", (json_int_t)r->fetched, "not_modified", (json_int_t)r->not_modified,
                     "skipped", (json_int_t)r->skipped, "failed", (json_int_t)r->failed,
                     "failed_transient", (json_int_t)r->failed_transient,
                     "skipped_by_reason", reasons_json(r->skipped_by), "failed_by_reason", reasons_json(r->failed_by),
                     "carried_over", "count", (json_int_t)r->carried_over, "by_reason", reasons_json(r->carried_by),
                     "removed", "count", (json_int_t)r->removed, "by_reason", reasons_json(r->removed_by));
}

static json_t *shrink_json(const report *r) {
    if (!r->live_version[0]) return json_null();
    return json_pack("{s:s, s:I, s:I, s:I, s:I, s:f, s:b, s:s?}", "live_version", r->live_version,
                     "live_documents", (json_int_t)r->live_documents, "new_documents", (json_int_t)r->documents,
                     "live_chunks", (json_int_t)r->live_chunks, "new_chunks", (json_int_t)r->chunks_unique,
                     "max_shrink", r->max_shrink, "refused", r->shrink_refused, "reason",
                     r->shrink_reason[0] ? r->shrink_reason : NULL);
}

char *report_to_json(const report *r) {
    json_t *src = json_array();
    for (int i = 0; i < r->n_sources; i++) json_array_append_new(src, json_string(r->sources[i]));
    json_t *root = json_pack(
        "{s:s, s:s, s:o, s:b, s:s, s:s?, s:b, s:i, s:s?,"
        " s:o, s:I,"
        " s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I},"
        " s:i, s:o, s:{s:s, s:I, s:f},"
        " s:{s:I, s:I, s:I},"
        " s:{s:f, s:f, s:f, s:f, s:f, s:f}}",
        "started_at", r->started_at, "finished_at", r->finished_at, "sources", src,
        "incremental", r->incremental, "incremental_note", r->incremental_note,
        "version_id", r->version_id[0] ? r->version_id : NULL, "published", r->published,
        "exit_code", r->exit_code, "error", r->error[0] ? r->error : NULL,
        "pages", pages_json(r), "documents", (json_int_t)r->documents,
        "chunks", "total", (json_int_t)r->chunks_total, "unique", (json_int_t)r->chunks_unique,
        "embedded", (json_int_t)r->chunks_embedded, "reused", (json_int_t)r->chunks_reused,
        "cached", (json_int_t)r->chunks_cached, "carried", (json_int_t)r->chunks_carried,
        "deleted", (json_int_t)r->chunks_deleted,
        "shards_unchanged", r->shards_unchanged,
        "shrink_guard", shrink_json(r),
        "keyword_index", "tokenizer", r->keyword_stemming ? "porter unicode61" : "unicode61", "bytes",
        (json_int_t)r->keyword_bytes, "build_ms", r->keyword_ms,
        "embed", "calls", (json_int_t)r->embed_calls, "texts", (json_int_t)r->embed_texts,
        "tokens", (json_int_t)r->embed_tokens,
        "durations_ms", "load", r->load_ms, "embed", r->embed_ms, "embed_wait", r->embed_wait_ms, "build", r->build_ms,
        "publish", r->publish_ms, "total", r->total_ms);
    RAGD_CHECK(root != NULL);
    json_object_set_new(json_object_get(root, "chunks"), "flagged",
                        json_pack("{s:I, s:o}", "count", (json_int_t)r->chunks_flagged, "by_flag",
                                  reasons_json(r->flagged_by)));
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
    strmap_free(r->carried_by, reason_free);
    strmap_free(r->flagged_by, reason_free);
    strmap_free(r->removed_by, reason_free);
    mem_free(r);
}

/* The last success time in a metrics file this run replaces, or 0. */
static double previous_success(const char *path) {
    static const char name[] = "ragd_index_last_success_timestamp_seconds";
    char *buf = NULL, err[RAGD_ERR_LEN];
    size_t len = 0;
    double t = 0;
    if (fsio_read_file(path, 1 << 20, &buf, &len, err) != 0) return 0;
    for (char *line = buf; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = '\0';
        if (strncmp(line, name, sizeof(name) - 1) == 0) {
            char *sp = strrchr(line, ' ');
            if (sp) t = strtod(sp + 1, NULL);
        }
        line = nl ? nl + 1 : NULL;
    }
    mem_free(buf);
    return t > 0 ? t : 0;
}

/* A label value with \, " and newlines escaped (Prometheus text format). */
static char *label_escape(const char *s) {
    char *out = mem_alloc(strlen(s) * 2 + 1), *o = out;
    for (; *s; s++) {
        if (*s == '\\' || *s == '"') *o++ = '\\', *o++ = *s;
        else if (*s == '\n') *o++ = '\\', *o++ = 'n';
        else *o++ = *s;
    }
    *o = '\0';
    return out;
}

typedef struct prom {
    char *buf;
    size_t len, cap;
    const char *label; /* index="..." */
} prom;

static void prom_add(prom *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void prom_add(prom *p, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(p->buf + p->len, p->cap - p->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < p->cap - p->len) {
            p->len += (size_t)n;
            return;
        }
        p->cap = p->cap * 2 + (size_t)n + 256;
        p->buf = mem_realloc(p->buf, p->cap);
    }
}

static void prom_gauge(prom *p, const char *name, const char *help, double v) {
    prom_add(p, "# HELP %s %s\n# TYPE %s gauge\n%s{%s} %.17g\n", name, help, name, name, p->label, v);
}

static void prom_family(prom *p, const char *name, const char *help, const char *key, const char *const *names,
                        const int64_t *vals, int n) {
    prom_add(p, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
    for (int i = 0; i < n; i++) prom_add(p, "%s{%s,%s=\"%s\"} %lld\n", name, p->label, key, names[i], (long long)vals[i]);
}

int report_write_prometheus(const report *r, const char *path, const char *index, char *err) {
    double now = (double)time(NULL);
    double success = r->published ? now : previous_success(path);
    char *idx = label_escape(index);
    char *label = mem_printf("index=\"%s\"", idx);
    prom p = {.buf = mem_alloc(4096), .cap = 4096, .label = label};
    p.buf[0] = '\0';
    prom_gauge(&p, "ragd_index_last_run_timestamp_seconds", "When the last ragd-index build finished.", now);
    if (success > 0)
        prom_gauge(&p, "ragd_index_last_success_timestamp_seconds", "When a build last published a version.", success);
    prom_gauge(&p, "ragd_index_last_exit_code", "Exit code of the last build (0 ok, 1 failed, 2 usage, 3 published with "
               "too many failed pages, 4 refused by the shrink guard).", r->exit_code);
    prom_gauge(&p, "ragd_index_last_run_published", "1 if the last build published a version.", r->published);
    prom_gauge(&p, "ragd_index_last_run_duration_seconds", "Wall time of the last build.", r->total_ms / 1000.0);
    prom_gauge(&p, "ragd_index_documents", "Documents in the last build.", (double)r->documents);
    static const char *const pages[] = {"fetched", "not_modified", "skipped", "failed", "carried_over", "removed"};
    int64_t pv[] = {r->fetched, r->not_modified, r->skipped, r->failed, r->carried_over, r->removed};
    prom_family(&p, "ragd_index_pages", "Pages of the last build by outcome.", "outcome", pages, pv, 6);
    static const char *const chunks[] = {"total", "unique", "embedded", "reused", "cached", "carried", "deleted"};
    int64_t cv[] = {r->chunks_total, r->chunks_unique, r->chunks_embedded, r->chunks_reused,
                    r->chunks_cached, r->chunks_carried, r->chunks_deleted};
    prom_family(&p, "ragd_index_chunks", "Chunks of the last build by how their vector was had.", "state", chunks, cv, 7);
    prom_gauge(&p, "ragd_index_embed_tokens", "Tokens embedded by the last build.", (double)r->embed_tokens);
    char *tmp = mem_printf("%s.tmp.%d", path, (int)getpid());
    int rc = fsio_write_file_durable(tmp, p.buf, p.len, err);
    if (rc == RAGD_OK && rename(tmp, path) != 0) rc = err_set(err, "%s: rename: %s", path, strerror(errno));
    if (rc != RAGD_OK) unlink(tmp);
    mem_free(tmp);
    mem_free(p.buf);
    mem_free(label);
    mem_free(idx);
    return rc;
}
