/* loader.c - helpers around the loader sink */
#include "loader.h"

void loader_emit_document(const loader_sink *s, document *d) {
    if (s->document) s->document(s->ctx, d);
}

void loader_emit_event(const loader_sink *s, const char *url, enum load_outcome outcome, const char *reason,
                       const char *detail) {
    if (s->event) s->event(s->ctx, url, outcome, reason, detail ? detail : "");
}

void loader_tick(const loader_sink *s) {
    if (s->tick) s->tick(s->ctx);
}

int loader_stopped(const loader_sink *s) {
    return s->stop && *s->stop;
}

const loader_prior *loader_prior_of(const loader_sink *s, const char *url) {
    return s->prior ? s->prior(s->ctx, url) : NULL;
}
