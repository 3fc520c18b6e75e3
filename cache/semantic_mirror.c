/* semantic_mirror.c - in-memory FAISS mirror of recent cached query vectors */
#include "semantic_mirror.h"

#include <pthread.h>
#include <stdio.h>
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

struct tenant;

typedef struct group {
    char *name;
    struct tenant *t;
    vindex *index;
    int dim;
    entry *e; /* e[i] holds id first_id + i */
    int64_t first_id, n, cap;
    uint64_t last_fed;
} group;

/* The entries of one cache namespace (an API key's tenant): when the
 * mirror is full, the tenant holding the most entries gives some up, so a
 * tenant flooding the cache evicts itself, never the others (security
 * review finding 12). */
typedef struct tenant {
    char *tag;
    size_t n;       /* entries */
    group **groups; /* its groups */
    int n_groups, cap_groups;
} tenant;

struct mirror {
    pthread_rwlock_t lock;
    strmap *groups;  /* group name -> group* */
    strmap *tenants; /* tenant tag -> tenant* */
    strmap *keys;    /* entry keys already added */
    int max;
    size_t total;
    uint64_t clock;
};

mirror *mirror_new(int max_entries) {
    mirror *m = mem_calloc(1, sizeof(*m));
    pthread_rwlock_init(&m->lock, NULL);
    m->groups = strmap_new();
    m->tenants = strmap_new();
    m->keys = strmap_new();
    m->max = max_entries < 16 ? 16 : max_entries;
    return m;
}

static void group_free(void *p) {
    group *g = p;
    for (int64_t i = 0; i < g->n; i++) mem_free(g->e[i].blob);
    mem_free(g->e);
    vindex_free(g->index);
    mem_free(g->name);
    mem_free(g);
}

static void tenant_free(void *p) {
    tenant *t = p;
    mem_free(t->groups);
    mem_free(t->tag);
    mem_free(t);
}

/* The tenant tag of an entry key "ragd:v1:TAG:sem:HASH" ("" if another shape). */
static void tenant_tag(const char *key, char *out, size_t cap) {
    const char *p = strncmp(key, "ragd:v1:", 8) == 0 ? key + 8 : NULL;
    const char *end = p ? strstr(p, ":sem:") : NULL;
    size_t n = end ? (size_t)(end - p) : 0;
    snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), p ? p : "");
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
    g->t->n -= (size_t)count;
}

/* Remove a group: from the map, from its tenant (and the tenant if it
 * has no group left). O(groups of that tenant). */
static void drop_group(mirror *m, group *g) {
    tenant *t = g->t;
    m->total -= (size_t)g->n;
    t->n -= (size_t)g->n;
    for (int i = 0; i < t->n_groups; i++)
        if (t->groups[i] == g) {
            t->groups[i] = t->groups[--t->n_groups];
            break;
        }
    strmap_del(m->groups, g->name);
    if (t->n_groups == 0) tenant_free(strmap_del(m->tenants, t->tag));
    group_free(g);
}

/* Over the total bound: the tenant holding the most entries gives up its
 * least recently fed group (a quarter of it if that is the group just
 * fed). O(tenants + that tenant's groups), never a pass over all groups. */
static void evict_fair(mirror *m, group *fed) {
    size_t it = 0;
    void *v;
    tenant *big = NULL;
    while (strmap_next(m->tenants, &it, NULL, &v))
        if (!big || ((tenant *)v)->n > big->n) big = v;
    if (!big) return;
    group *victim = NULL;
    for (int i = 0; i < big->n_groups; i++)
        if (big->groups[i] != fed && (!victim || big->groups[i]->last_fed < victim->last_fed)) victim = big->groups[i];
    if (victim) drop_group(m, victim);
    else evict_oldest(m, fed, fed->n / 4 > 0 ? fed->n / 4 : 1);
}

static group *get_group(mirror *m, const char *key, const char *name, int dim) {
    group *g = strmap_get(m->groups, name);
    if (g) return g->dim == dim ? g : NULL;
    char err[RAGD_ERR_LEN], tag[96];
    g = mem_calloc(1, sizeof(*g));
    g->index = vindex_create(dim, "Flat", MANIFEST_METRIC_IP, err);
    if (!g->index) {
        log_warn("mirror: %s", err);
        mem_free(g);
        return NULL;
    }
    g->dim = dim;
    g->name = mem_strdup(name);
    tenant_tag(key, tag, sizeof(tag));
    tenant *t = strmap_get(m->tenants, tag);
    if (!t) {
        t = mem_calloc(1, sizeof(*t));
        t->tag = mem_strdup(tag);
        strmap_put(m->tenants, tag, t);
    }
    if (t->n_groups == t->cap_groups) {
        t->cap_groups = t->cap_groups ? t->cap_groups * 2 : 4;
        t->groups = mem_realloc(t->groups, sizeof(group *) * (size_t)t->cap_groups);
    }
    t->groups[t->n_groups++] = g;
    g->t = t;
    strmap_put(m->groups, name, g);
    return g;
}

int mirror_add(mirror *m, const char *key, const char *name, const float *vec, int dim, int64_t expires_ms,
               const void *blob, size_t len) {
    char err[RAGD_ERR_LEN];
    pthread_rwlock_wrlock(&m->lock);
    int added = 0;
    group *g = strmap_has(m->keys, key) ? NULL : get_group(m, key, name, dim);
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
            g->t->n++;
            added = 1;
        } else {
            log_warn("mirror: %s", err);
        }
        if (g->n > m->max) evict_oldest(m, g, g->n / 4);
        while (m->total > (size_t)m->max) evict_fair(m, g);
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
    strmap_free(m->tenants, tenant_free);
    strmap_free(m->keys, NULL);
    m->groups = strmap_new();
    m->tenants = strmap_new();
    m->keys = strmap_new();
    m->total = 0;
    pthread_rwlock_unlock(&m->lock);
}

void mirror_free(mirror *m) {
    if (!m) return;
    strmap_free(m->groups, group_free);
    strmap_free(m->tenants, tenant_free);
    strmap_free(m->keys, NULL);
    pthread_rwlock_destroy(&m->lock);
    mem_free(m);
}
