/* live_index.h - the index version being served, swapped without failing a request
 *
 * Requests acquire the live version (a reference count) and release it
 * when done, so a reload can swap in a new version at any time: requests
 * in flight finish on the version they started with, and the old version
 * is freed when its last request releases it. A reload opens and verifies
 * the version `current` names (checksums, dims, counts) and the embedder
 * its manifest names, off the request path; one that fails is rejected
 * with a log line and the old version keeps serving. A watcher thread
 * makes the first load (so the server can listen, answer /health and
 * report loading progress on /ready meanwhile), then reloads on request
 * (SIGHUP, /admin/reload) and, if asked, whenever `current` points
 * somewhere new.
 *
 *     live_index *li = live_index_new("var/index", &params);
 *     live_index_watch(li, 1000);                 // load, then poll `current` every second
 *     live_version *lv = live_index_acquire(li);  // per request
 *     ... lv->v, lv->e ...
 *     live_version_release(lv);
 */
#ifndef RAGD_LIVE_INDEX_H
#define RAGD_LIVE_INDEX_H

#include <stdatomic.h>

#include "embedder.h"
#include "err.h"
#include "index_version.h"

typedef struct live_version {
    index_version *v;
    embedder *e;
    atomic_int refs;
} live_version;

typedef struct live_params {
    int ef_search; /* HNSW efSearch, 0 = index default */
    int nprobe;    /* IVF nprobe, 0 = index default */
    int verify;    /* verify SHA-256 of shards before loading (default 1) */
    embedder_opts emb; /* model folder, API endpoints and keys for the manifest's embedder */
    int shards[MANIFEST_MAX_SHARDS]; /* --shards: the shards this process serves */
    int n_shards;                     /* 0: all of them */
    int keep_previous_ms;             /* after a swap, keep the old version for requests that name it (0: none) */
} live_params;

typedef struct live_index live_index;

live_index *live_index_new(const char *index_dir, const live_params *p);

/* Load what `current` names now, if it differs from the live version.
 * Returns 1 if a new version went live, 0 if nothing changed, -1 if the
 * new version was rejected (err says why; the old one keeps serving).
 * Reloads are serialised. */
int live_index_reload(live_index *li, char *err);

/* Ask the watcher thread to reload and wait up to timeout_ms for a
 * reload that begins after this call (the work happens on the watcher,
 * never on the caller's thread): 1, 0 or -1 as live_index_reload, or 2
 * if it is still running when the time is up (it goes on). Without a
 * watcher thread, reloads on the caller's thread. */
int live_index_reload_wait(live_index *li, double timeout_ms, char *err);

/* Ask the watcher thread to reload soon (async-signal-safe). */
void live_index_request_reload(live_index *li);

/* Start the watcher thread: loads the version `current` names now,
 * then handles requested reloads and, if poll_ms > 0, reloads when
 * `current` changes. */
void live_index_watch(live_index *li, int poll_ms);

/* The live version with a reference taken, or NULL if none is loaded. */
live_version *live_index_acquire(live_index *li);

/* The version with this id, if it is the live one or the previous one
 * still kept (keep_previous_ms after it was replaced); else NULL. A
 * scatter-gather router names the version it merges (service/router.c),
 * so a shard server mid-rollout still answers for the old one. */
live_version *live_index_acquire_id(live_index *li, const char *id);

/* The ids of the versions live_index_acquire_id can serve now: the live
 * one first, then the kept previous one. Returns how many (0 to 2). */
int live_index_versions(live_index *li, char ids[2][MANIFEST_NAME_LEN]);
void live_version_release(live_version *lv);

/* What a readiness probe reports. */
typedef struct live_status {
    int ready;   /* a version is serving */
    int loading; /* a load is under way; the fields below say how far */
    char loading_id[MANIFEST_NAME_LEN];
    int shards_done, shards_total;
    long long bytes_done, bytes_total;
    double loading_s;          /* since the load began */
    char reason[RAGD_ERR_LEN]; /* not ready: why (the last error, or that it is loading) */
    char reload_error[RAGD_ERR_LEN]; /* ready, but the newest version failed to load: why ("" if none) */
} live_status;

void live_index_status(live_index *li, live_status *out);

/* Stop the watcher and drop the live version. NULL is accepted. */
void live_index_free(live_index *li);

#endif
