/* loader.h - what every loader reports to: documents, and pages skipped or failed by reason
 *
 * Loaders (a local folder walk, an HTTP crawl) call `document` for each
 * page they extracted and `event` for each page they fetched, skipped or
 * failed, with a short machine-readable reason ("http_404", "timeout",
 * "robots_disallowed", ...) and a human detail. No failure stops a run.
 * `tick` is called often, so the caller can drain work while loading.
 *
 *     loader_sink s = {.document = on_doc, .event = on_event, .ctx = &state};
 *     local_walk("/srv/docs", &opts, &s, err);
 */
#ifndef RAGD_LOADER_H
#define RAGD_LOADER_H

#include "document.h"

enum load_outcome { LOAD_FETCHED = 0, LOAD_SKIPPED = 1, LOAD_FAILED = 2 };

typedef struct loader_sink {
    /* d belongs to the loader and is cleared after the call. */
    void (*document)(void *ctx, document *d);
    void (*event)(void *ctx, const char *url, enum load_outcome outcome, const char *reason, const char *detail);
    void (*tick)(void *ctx);
    void *ctx;
    /* When *stop becomes non-zero (a signal), loaders finish early. */
    volatile int *stop;
} loader_sink;

/* Helpers that tolerate missing callbacks. */
void loader_emit_document(const loader_sink *s, document *d);
void loader_emit_event(const loader_sink *s, const char *url, enum load_outcome outcome, const char *reason,
                       const char *detail);
void loader_tick(const loader_sink *s);
int loader_stopped(const loader_sink *s);

#endif
