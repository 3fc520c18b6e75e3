/* live_index.c - the index version being served, swapped without failing a request */
#include "live_index.h"
#include "clock.h"

#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"

struct live_index {
    char *dir;
    live_params params;
    pthread_mutex_t mu;        /* guards cur and last_error */
    pthread_mutex_t reload_mu; /* one reload at a time */
    live_version *cur;
    live_version *prev;  /* the version cur replaced, kept until prev_until (keep_previous_ms) */
    double prev_until;
    char last_error[RAGD_ERR_LEN];
    index_load_progress prog;    /* of the load under way */
    int loading;                 /* guarded by mu */
    char loading_id[MANIFEST_NAME_LEN];
    double loading_since;
    volatile sig_atomic_t reload_requested;
    atomic_int stopping;
    int poll_ms;
    pthread_t watcher;
    int watching;
    /* reloads started and finished, and how the last one ended (under mu),
     * for live_index_reload_wait */
    pthread_cond_t done_cv;
    unsigned long started, finished;
    int last_rc;
    char last_msg[RAGD_ERR_LEN];
};

live_index *live_index_new(const char *index_dir, const live_params *p) {
    live_index *li = mem_calloc(1, sizeof(*li));
    li->dir = mem_strdup(index_dir);
    li->params = *p;
    pthread_mutex_init(&li->mu, NULL);
    pthread_mutex_init(&li->reload_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&li->done_cv, &ca);
    pthread_condattr_destroy(&ca);
    snprintf(li->last_error, sizeof(li->last_error), "no version loaded yet");
    li->loading = 1; /* until the first load has been tried: /ready says "loading" */
    return li;
}

static void live_version_free(live_version *lv) {
    index_version_free(lv->v);
    embedder_free(lv->e);
    mem_free(lv);
    /* A version is tens of megabytes freed at once, in the middle of
     * every thread's arena: hand the free pages back to the system, or
     * RSS ratchets up with each reload (measured: make soak). */
    malloc_trim(0);
}

void live_version_release(live_version *lv) {
    if (lv && atomic_fetch_sub(&lv->refs, 1) == 1) live_version_free(lv);
}

live_version *live_index_acquire(live_index *li) {
    pthread_mutex_lock(&li->mu);
    live_version *lv = li->cur;
    if (lv) atomic_fetch_add(&lv->refs, 1);
    pthread_mutex_unlock(&li->mu);
    return lv;
}

live_version *live_index_acquire_id(live_index *li, const char *id) {
    pthread_mutex_lock(&li->mu);
    live_version *lv = li->cur && !strcmp(li->cur->v->m.version_id, id) ? li->cur
                       : li->prev && !strcmp(li->prev->v->m.version_id, id) && clock_ms() < li->prev_until ? li->prev
                                                                                                            : NULL;
    if (lv) atomic_fetch_add(&lv->refs, 1);
    pthread_mutex_unlock(&li->mu);
    return lv;
}

int live_index_versions(live_index *li, char ids[2][MANIFEST_NAME_LEN]) {
    int n = 0;
    pthread_mutex_lock(&li->mu);
    if (li->cur) snprintf(ids[n++], MANIFEST_NAME_LEN, "%s", li->cur->v->m.version_id);
    if (li->prev && clock_ms() < li->prev_until) snprintf(ids[n++], MANIFEST_NAME_LEN, "%s", li->prev->v->m.version_id);
    pthread_mutex_unlock(&li->mu);
    return n;
}

/* Drop the kept previous version once its time is up. */
static void expire_prev(live_index *li) {
    live_version *gone = NULL;
    pthread_mutex_lock(&li->mu);
    if (li->prev && clock_ms() >= li->prev_until) gone = li->prev, li->prev = NULL;
    pthread_mutex_unlock(&li->mu);
    live_version_release(gone);
}

static int apply_params(live_index *li, index_version *v, char *err) {
    for (int s = 0; s < v->m.n_shards; s++) {
        if (!v->shards[s].index) continue; /* not served here (--shards) */
        /* A parameter the index type does not have is not an error. */
        if (li->params.ef_search > 0 && strstr(v->m.index_spec, "HNSW"))
            if (vindex_set_param(v->shards[s].index, "efSearch", li->params.ef_search, err) != 0) return RAGD_ERR;
        if (li->params.nprobe > 0 && strstr(v->m.index_spec, "IVF"))
            if (vindex_set_param(v->shards[s].index, "nprobe", li->params.nprobe, err) != 0) return RAGD_ERR;
    }
    return RAGD_OK;
}

static double mono_s(void) {
    return clock_ms() / 1000.0;
}

static void set_loading(live_index *li, const char *id) {
    pthread_mutex_lock(&li->mu);
    li->loading = id != NULL;
    if (id) {
        snprintf(li->loading_id, sizeof(li->loading_id), "%s", id);
        li->loading_since = mono_s();
        atomic_store(&li->prog.shards_total, 0);
        atomic_store(&li->prog.shards_done, 0);
        atomic_store(&li->prog.bytes_done, 0);
        atomic_store(&li->prog.bytes_total, 0);
    }
    pthread_mutex_unlock(&li->mu);
}

static live_version *load(live_index *li, const char *id, char *err) {
    int flags = li->params.verify ? INDEX_VERIFY_CHECKSUMS : 0;
    set_loading(li, id);
    shard_set only = {li->params.shards, li->params.n_shards};
    index_version *v = index_version_open_subset(li->dir, flags, &only, &li->prog, err);
    if (!v) return NULL;
    embedder *e = embedder_for_manifest(&v->m, &li->params.emb, err);
    if (!e || apply_params(li, v, err) != 0) {
        embedder_free(e);
        index_version_free(v);
        return NULL;
    }
    live_version *lv = mem_calloc(1, sizeof(*lv));
    lv->v = v;
    lv->e = e;
    atomic_init(&lv->refs, 1); /* the live_index's own reference */
    return lv;
}

int live_index_reload(live_index *li, char *err) {
    pthread_mutex_lock(&li->reload_mu);
    pthread_mutex_lock(&li->mu);
    unsigned long seq = ++li->started;
    pthread_mutex_unlock(&li->mu);
    char id[MANIFEST_NAME_LEN];
    int rc = 0;
    if (index_dir_current(li->dir, id, sizeof(id), err) != 0) {
        rc = -1;
    } else {
        live_version *cur = live_index_acquire(li);
        int same = cur && strcmp(cur->v->m.version_id, id) == 0;
        live_version_release(cur);
        if (same) { /* `current` is back on the live version: nothing is wrong any more */
            pthread_mutex_lock(&li->mu);
            li->last_error[0] = '\0';
            pthread_mutex_unlock(&li->mu);
        } else {
            live_version *lv = load(li, id, err);
            if (!lv) {
                rc = -1;
            } else {
                pthread_mutex_lock(&li->mu);
                live_version *old = li->cur, *dropped = li->prev;
                li->cur = lv;
                li->prev = NULL;
                if (old && li->params.keep_previous_ms > 0) { /* a router may still merge on it */
                    li->prev = old, old = NULL;
                    li->prev_until = clock_ms() + li->params.keep_previous_ms;
                }
                li->last_error[0] = '\0';
                pthread_mutex_unlock(&li->mu);
                live_version_release(old); /* freed when its last request ends */
                live_version_release(dropped);
                log_info("serving index version %s (%lld chunks, %d shards, %s; queries: %s%s%s)", lv->v->m.version_id,
                         (long long)lv->v->m.total_chunks, lv->v->m.n_shards, lv->v->m.model_id,
                         embedder_model_id(lv->e), embedder_kernel(lv->e)[0] ? " on " : "", embedder_kernel(lv->e));
                rc = 1;
            }
        }
    }
    if (rc < 0) {
        pthread_mutex_lock(&li->mu);
        snprintf(li->last_error, sizeof(li->last_error), "%s", err);
        int serving = li->cur != NULL;
        pthread_mutex_unlock(&li->mu);
        log_error("reload rejected: %s%s", err, serving ? " (still serving the previous version)" : "");
    }
    set_loading(li, NULL);
    if (rc != 0) metrics_reload(rc > 0);
    pthread_mutex_lock(&li->mu);
    li->finished = seq;
    li->last_rc = rc;
    snprintf(li->last_msg, sizeof(li->last_msg), "%s", rc < 0 ? err : "");
    pthread_cond_broadcast(&li->done_cv);
    pthread_mutex_unlock(&li->mu);
    pthread_mutex_unlock(&li->reload_mu);
    return rc;
}

int live_index_reload_wait(live_index *li, double timeout_ms, char *err) {
    if (!li->watching) return live_index_reload(li, err);
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    double ns = (double)until.tv_nsec + (timeout_ms > 0 ? timeout_ms : 0) * 1e6;
    until.tv_sec += (time_t)(ns / 1e9);
    until.tv_nsec = (long)(ns - (double)(time_t)(ns / 1e9) * 1e9);
    pthread_mutex_lock(&li->mu);
    unsigned long target = li->started + 1; /* a reload that begins after this call */
    li->reload_requested = 1;
    int rc = 2;
    while (li->finished < target && !atomic_load(&li->stopping))
        if (pthread_cond_timedwait(&li->done_cv, &li->mu, &until) != 0) break;
    if (li->finished >= target) {
        rc = li->last_rc;
        if (rc < 0) err_set(err, "%s", li->last_msg);
    } else {
        err_set(err, "the reload is still running");
    }
    pthread_mutex_unlock(&li->mu);
    return rc;
}

void live_index_request_reload(live_index *li) {
    li->reload_requested = 1;
}

/* A reload that failed (a shard still being copied, a volume not yet
 * mounted) is tried again after 1 s, doubling to 1 min, until it loads or
 * `current` moves on (security review finding 5: it used to be skipped
 * for good while /ready said 200 on the old version). */
#define RETRY_FIRST_MS 1000
#define RETRY_MAX_MS 60000

static void *watch_loop(void *arg) {
    live_index *li = arg;
    char last[MANIFEST_NAME_LEN] = "", now[MANIFEST_NAME_LEN], err[RAGD_ERR_LEN];
    index_dir_current(li->dir, last, sizeof(last), NULL);
    int backoff = RETRY_FIRST_MS, retry_in = live_index_reload(li, err) < 0 ? backoff : 0;
    int waited = 0;
    while (!atomic_load(&li->stopping)) {
        usleep(50 * 1000);
        waited += 50;
        expire_prev(li);
        int changed = 0, due = 0;
        if (li->poll_ms > 0 && waited >= li->poll_ms) {
            waited = 0;
            if (index_dir_current(li->dir, now, sizeof(now), NULL) == 0 && strcmp(now, last) != 0) {
                changed = 1;
                memcpy(last, now, sizeof(last));
            }
        }
        if (retry_in > 0 && (retry_in -= 50) <= 0) due = 1;
        if (li->reload_requested || changed || due) {
            int fresh = li->reload_requested || changed;
            li->reload_requested = 0;
            if (live_index_reload(li, err) < 0) {
                backoff = fresh ? RETRY_FIRST_MS : backoff * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : backoff * 2;
                retry_in = backoff;
            } else {
                backoff = RETRY_FIRST_MS;
                retry_in = 0;
            }
        }
    }
    return NULL;
}

void live_index_watch(live_index *li, int poll_ms) {
    li->poll_ms = poll_ms;
    if (pthread_create(&li->watcher, NULL, watch_loop, li) == 0) li->watching = 1;
}

void live_index_status(live_index *li, live_status *out) {
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&li->mu);
    out->ready = li->cur != NULL;
    out->loading = li->loading;
    if (li->loading) {
        snprintf(out->loading_id, sizeof(out->loading_id), "%s", li->loading_id);
        out->loading_s = mono_s() - li->loading_since;
        out->shards_total = atomic_load(&li->prog.shards_total);
        out->shards_done = atomic_load(&li->prog.shards_done);
        out->bytes_total = atomic_load(&li->prog.bytes_total);
        out->bytes_done = atomic_load(&li->prog.bytes_done);
    }
    if (out->ready && li->last_error[0]) snprintf(out->reload_error, sizeof(out->reload_error), "%s", li->last_error);
    if (!out->ready) {
        if (li->loading && !li->loading_id[0])
            snprintf(out->reason, sizeof(out->reason), "starting: the first load has not begun");
        else if (li->loading)
            snprintf(out->reason, sizeof(out->reason), "loading index version %s: %d of %d shards, %lld of %lld bytes",
                     out->loading_id, out->shards_done, out->shards_total, out->bytes_done, out->bytes_total);
        else
            snprintf(out->reason, sizeof(out->reason), "%s", li->last_error);
    }
    pthread_mutex_unlock(&li->mu);
}

void live_index_free(live_index *li) {
    if (!li) return;
    atomic_store(&li->stopping, 1);
    pthread_mutex_lock(&li->mu);
    pthread_cond_broadcast(&li->done_cv);
    pthread_mutex_unlock(&li->mu);
    if (li->watching) pthread_join(li->watcher, NULL);
    live_version_release(li->cur);
    live_version_release(li->prev);
    pthread_mutex_destroy(&li->mu);
    pthread_mutex_destroy(&li->reload_mu);
    pthread_cond_destroy(&li->done_cv);
    mem_free(li->dir);
    mem_free(li);
}
