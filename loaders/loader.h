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

/* What the live index knows of a page, for an incremental crawl: the
 * validators of its last fetch (NULL or "" if the server sent none) and
 * its links (absolute URLs), which a crawl follows when the server says
 * the page is unchanged (304) or it cannot fetch it now. */
typedef struct loader_prior {
    const char *etag, *last_modified;
    char **links;
    int n_links;
} loader_prior;

typedef struct loader_sink {
    /* d belongs to the loader and is cleared after the call. */
    void (*document)(void *ctx, document *d);
    void (*event)(void *ctx, const char *url, enum load_outcome outcome, const char *reason, const char *detail);
    void (*tick)(void *ctx);
    /* Optional, for incremental crawls. prior: what is known of url, or
     * NULL (then the page is fetched in full; the result stays valid for
     * the run). not_modified: the server answered 304 for url, so the
     * previous copy stands. known: calls visit for every URL the live
     * index holds, which a crawl revisits after the pages it reached by
     * links, so a page no longer linked still gets a definite outcome. */
    const loader_prior *(*prior)(void *ctx, const char *url);
    void (*not_modified)(void *ctx, const char *url);
    void (*known)(void *ctx, void (*visit)(void *arg, const char *url), void *arg);
    void *ctx;
    /* When *stop becomes non-zero (a signal), loaders finish early. */
    volatile int *stop;
} loader_sink;

/* Helpers that tolerate missing callbacks. */
void loader_emit_document(const loader_sink *s, document *d);
void loader_emit_event(const loader_sink *s, const char *url, enum load_outcome outcome, const char *reason,
                       const char *detail);
void loader_tick(const loader_sink *s);
const loader_prior *loader_prior_of(const loader_sink *s, const char *url);
int loader_stopped(const loader_sink *s);

#endif
