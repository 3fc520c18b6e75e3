/* report.h - the run report of one build: pages by outcome and reason, chunks, timings
 *
 * An operator who reads nothing but the exit code and report.json must
 * know what happened: how many pages were fetched, skipped and failed and
 * why (with example URLs per reason), how many chunks were embedded,
 * reused and deleted, how many embedding calls and tokens were spent, how
 * long each stage took, and which version was published (if any).
 *
 *     report *r = report_new();
 *     report_event(r, url, LOAD_FAILED, "http_404", "HTTP 404");
 *     r->chunks_embedded += n;
 *     report_write(r, "report.json", err);
 *     report_free(r);
 */
#ifndef RAGD_REPORT_H
#define RAGD_REPORT_H

#include <stdint.h>

#include "err.h"
#include "loader.h"
#include "strmap.h"

#define REPORT_EXAMPLES 5

typedef struct report {
    char started_at[40], finished_at[40];
    char **sources;
    int n_sources;
    int64_t fetched, skipped, failed;
    strmap *skipped_by, *failed_by; /* reason -> counts and example URLs */
    int64_t not_modified;            /* 304: the live copy reused unread */
    int64_t failed_transient;        /* failed for a reason that is not a verdict (not 404/410) */
    int64_t carried_over, removed;   /* live pages kept after a failed fetch / removed */
    strmap *carried_by, *removed_by; /* the failure or removal reason -> counts, examples */
    int64_t documents;
    int64_t chunks_total;      /* chunks of all documents, duplicates included */
    int64_t chunks_unique;     /* distinct contents stored */
    int64_t chunks_embedded, chunks_reused, chunks_deleted;
    int64_t chunks_cached; /* vectors from the embedding cache */
    int64_t chunks_carried; /* chunks of carried-over pages */
    int64_t chunks_flagged; /* distinct chunks with prompt-injection markers (core/injection.h) */
    strmap *flagged_by;     /* flag name -> count and example URLs (chunk ordinal in the detail) */
    int shards_unchanged;   /* shard FAISS files linked from the live version */
    double keyword_ms;      /* building the shards' keyword indexes (summed over shards) */
    int64_t keyword_bytes;  /* their size */
    int keyword_stemming;   /* 1: porter */
    /* The shrink guard: the live version against this build. */
    char live_version[128];
    int64_t live_documents, live_chunks;
    double max_shrink;
    int shrink_refused;
    char shrink_reason[256];
    int64_t embed_calls, embed_texts, embed_tokens;
    double load_ms, embed_wait_ms, build_ms, publish_ms, total_ms;
    double embed_ms; /* summed over embedding workers (they overlap loading) */
    int incremental;
    char incremental_note[256];
    char version_id[128];
    int published;
    int exit_code;
    char error[RAGD_ERR_LEN];
} report;

report *report_new(void);
void report_add_source(report *r, const char *src);

/* Count one page outcome ("ok" fetches are counted, not listed). */
void report_event(report *r, const char *url, enum load_outcome outcome, const char *reason, const char *detail);

/* A live page kept although its fetch failed (reason: the failure), or
 * removed from the index (reason: why it is gone). */
void report_carried(report *r, const char *url, const char *reason, const char *detail);
void report_removed(report *r, const char *url, const char *reason, const char *detail);

/* Count for one reason (0 if never seen). */
int64_t report_reason_count(const report *r, enum load_outcome outcome, const char *reason);

/* The report as pretty JSON (caller frees). */
char *report_to_json(const report *r);

/* Write durably to path. */
int report_write(const report *r, const char *path, char *err);

/* The run's figures in Prometheus' text format (for node_exporter's
 * textfile collector), written to path through a temporary file and
 * rename(2). index names the index in a label. last_success is the time
 * of the last run that published (this one, or the one before, read
 * back from the file this replaces). */
int report_write_prometheus(const report *r, const char *path, const char *index, char *err);

/* A chunk (ordinal of the page at url) with prompt-injection flags. */
void report_flagged(report *r, const char *url, int ordinal, unsigned flags);

void report_free(report *r);

#endif
