/* semantic_mirror.c - in-memory FAISS mirror of recent cached query vectors */
#include "semantic_mirror.h"

#include <pthread.h>
#include <string.h>

#include "err.h"
#include "log.h"
#include "mem.h"
#include "strmap.h"
#include "vindex.h"

#define MIRROR_PROBE 4 /* candidates checked, in case the best has expired */

typedef struct entry {
    int64_t expires_ms;
    void *blob;
    size_t len;
} entry;

typedef struct group {
    vindex *index;
    int dim;
    entry *e; /* e[i] holds id first_id + i */
    int64_t first_id, n, cap;
    uint64_t last_fed;
} group;

struct mirror {
    pthread_rwlock_t lock;
    strmap *groups; /* group -> group* */
    strmap *keys;   /* entry keys already added */
    int max;
    size_t total;
    uint64_t clock;
};

mirror *mirror_new(int max_entries) {
    mirror *m = mem_calloc(1, sizeof(*m));
    pthread_rwlock_init(&m->lock, NULL);
    m->groups = strmap_new();
    m->keys = strmap_new();
    m->max = max_entries < 16 ? 16 : max_entries;
    return m;
}

static void group_free(void *p) {
    group *g = p;
    for (int64_t i = 0; i < g->n; i++) mem_free(g->e[i].blob);
    mem_free(g->e);
    vindex_free(g->index);
    mem_free(g);
}

/* Drop the oldest `count` entries of a group. */
static void evict_oldest(mirror *m, group *g, int64_t count) {
    char err[RAGD_ERR_LEN];
    if (count > g->n) count = g->n;
    if (vindex_remove_range(g->index, g->first_id, g->first_id + count, err) < 0) log_warn("mirror: %s", err);
    for (int64_t i = 0; i < count; i++) mem_free(g->e[i].blob);
    memmove(g->e, g->e + count, sizeof(entry) * (size_t)(g->n - count));
    g->n -= count;
    g->first_id += count;
    m->total -= (size_t)count;
}

/* Over the total bound: drop the group fed least recently. */
static void evict_group(mirror *m, const char *keep) {
    size_t it = 0;
    const char *k, *oldest = NULL;
    void *v;
    uint64_t best = UINT64_MAX;
    while (strmap_next(m->groups, &it, &k, &v)) {
        group *g = v;
        if (strcmp(k, keep) != 0 && g->last_fed < best) best = g->last_fed, oldest = k;
    }
    if (!oldest) return;
    group *g = strmap_get(m->groups, oldest);
    m->total -= (size_t)g->n;
    /* strmap has no delete: rebuild without the evicted group. */
    strmap *rest = strmap_new();
    it = 0;
    while (strmap_next(m->groups, &it, &k, &v))
        if (v != g) strmap_put(rest, k, v);
    strmap_free(m->groups, NULL);
    m->groups = rest;
    group_free(g);
}

static group *get_group(mirror *m, const char *name, int dim) {
    group *g = strmap_get(m->groups, name);
    if (g) return g->dim == dim ? g : NULL;
    char err[RAGD_ERR_LEN];
    g = mem_calloc(1, sizeof(*g));
    g->index = vindex_create(dim, "Flat", MANIFEST_METRIC_IP, err);
    if (!g->index) {
        log_warn("mirror: %s", err);
        mem_free(g);
        return NULL;
    }
    g->dim = dim;
    strmap_put(m->groups, name, g);
    return g;
}

int mirror_add(mirror *m, const char *key, const char *name, const float *vec, int dim, int64_t expires_ms,
               const void *blob, size_t len) {
    char err[RAGD_ERR_LEN];
    pthread_rwlock_wrlock(&m->lock);
    int added = 0;
    group *g = strmap_has(m->keys, key) ? NULL : get_group(m, name, dim);
    if (g) {
        if (strmap_len(m->keys) > (size_t)m->max * 4) { /* forget old keys, not entries */
            strmap_free(m->keys, NULL);
            m->keys = strmap_new();
        }
        strmap_put(m->keys, key, NULL);
        if (g->n == g->cap) {
            g->cap = g->cap ? g->cap * 2 : 64;
            g->e = mem_realloc(g->e, sizeof(entry) * (size_t)g->cap);
        }
        int64_t id = g->first_id + g->n;
        if (vindex_add(g->index, 1, vec, &id, err) == 0) {
            g->e[g->n++] = (entry){expires_ms, mem_strndup(blob, len), len};
            g->last_fed = ++m->clock;
            m->total++;
            added = 1;
        } else {
            log_warn("mirror: %s", err);
        }
        if (g->n > m->max) evict_oldest(m, g, g->n / 4);
        while (m->total > (size_t)m->max && strmap_len(m->groups) > 1) evict_group(m, name);
    }
    pthread_rwlock_unlock(&m->lock);
    return added;
}

int mirror_lookup(mirror *m, const char *name, const float *vec, int dim, float threshold, int64_t now_ms,
                  float *score, void **blob, size_t *len) {
    char err[RAGD_ERR_LEN];
    int found = 0;
    pthread_rwlock_rdlock(&m->lock);
    group *g = strmap_get(m->groups, name);
    if (g && g->dim == dim && g->n > 0) {
        float s[MIRROR_PROBE];
        int64_t ids[MIRROR_PROBE];
        if (vindex_search(g->index, 1, vec, MIRROR_PROBE, s, ids, err) == 0) {
            for (int i = 0; i < MIRROR_PROBE && !found && ids[i] >= 0 && s[i] >= threshold; i++) {
                int64_t at = ids[i] - g->first_id;
                if (at < 0 || at >= g->n || g->e[at].expires_ms <= now_ms) continue;
                *score = s[i];
                *len = g->e[at].len;
                *blob = mem_strndup(g->e[at].blob, g->e[at].len);
                found = 1;
            }
        }
    }
    pthread_rwlock_unlock(&m->lock);
    return found;
}

size_t mirror_size(mirror *m) {
    pthread_rwlock_rdlock(&m->lock);
    size_t n = m->total;
    pthread_rwlock_unlock(&m->lock);
    return n;
}

void mirror_clear(mirror *m) {
    pthread_rwlock_wrlock(&m->lock);
    strmap_free(m->groups, group_free);
    strmap_free(m->keys, NULL);
    m->groups = strmap_new();
    m->keys = strmap_new();
    m->total = 0;
    pthread_rwlock_unlock(&m->lock);
}

void mirror_free(mirror *m) {
    if (!m) return;
    strmap_free(m->groups, group_free);
    strmap_free(m->keys, NULL);
    pthread_rwlock_destroy(&m->lock);
    mem_free(m);
}
