/* local_cache.c - a small in-process L1 of exact result lists in front of Redis */
#include "local_cache.h"

#include <pthread.h>
#include <string.h>

#include "mem.h"

typedef struct slot {
    char *key;
    void *blob;
    size_t len;
    int64_t expires_ms;
} slot;

struct lcache {
    slot *slots;
    size_t mask;
    pthread_rwlock_t locks[LCACHE_STRIPES]; /* readers share: a hot key is read by every request thread */
};

static uint64_t fnv1a(const char *s) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return h;
}

lcache *lcache_new(int max_entries) {
    lcache *l = mem_calloc(1, sizeof(*l));
    size_t n = 1;
    while (n < (size_t)(max_entries > 0 ? max_entries : 1)) n <<= 1;
    l->slots = mem_calloc(n, sizeof(slot));
    l->mask = n - 1;
    for (int i = 0; i < LCACHE_STRIPES; i++) pthread_rwlock_init(&l->locks[i], NULL);
    return l;
}

static void slot_clear(slot *s) {
    mem_free(s->key);
    mem_free(s->blob);
    memset(s, 0, sizeof(*s));
}

void lcache_put(lcache *l, const char *key, const void *blob, size_t len, int64_t expires_ms) {
    size_t i = (size_t)fnv1a(key) & l->mask;
    pthread_rwlock_t *mu = &l->locks[i % LCACHE_STRIPES];
    char *k = mem_strdup(key);
    void *b = mem_alloc(len ? len : 1);
    memcpy(b, blob, len);
    pthread_rwlock_wrlock(mu);
    slot_clear(&l->slots[i]);
    l->slots[i] = (slot){k, b, len, expires_ms};
    pthread_rwlock_unlock(mu);
}

int lcache_get(lcache *l, const char *key, int64_t now_ms, void **blob, size_t *len) {
    size_t i = (size_t)fnv1a(key) & l->mask;
    pthread_rwlock_t *mu = &l->locks[i % LCACHE_STRIPES];
    int found = 0;
    pthread_rwlock_rdlock(mu);
    const slot *s = &l->slots[i];
    if (s->key && s->expires_ms > now_ms && strcmp(s->key, key) == 0) {
        *blob = mem_alloc(s->len ? s->len : 1);
        memcpy(*blob, s->blob, s->len);
        *len = s->len;
        found = 1;
    }
    pthread_rwlock_unlock(mu);
    return found; /* an expired entry stays until its slot is reused or cleared */
}

void lcache_clear(lcache *l) {
    for (int st = 0; st < LCACHE_STRIPES; st++) {
        pthread_rwlock_wrlock(&l->locks[st]);
        for (size_t i = (size_t)st; i <= l->mask; i += LCACHE_STRIPES) slot_clear(&l->slots[i]);
        pthread_rwlock_unlock(&l->locks[st]);
    }
}

size_t lcache_size(lcache *l) {
    size_t n = 0;
    for (int st = 0; st < LCACHE_STRIPES; st++) {
        pthread_rwlock_rdlock(&l->locks[st]);
        for (size_t i = (size_t)st; i <= l->mask; i += LCACHE_STRIPES) n += l->slots[i].key != NULL;
        pthread_rwlock_unlock(&l->locks[st]);
    }
    return n;
}

void lcache_free(lcache *l) {
    if (!l) return;
    for (size_t i = 0; i <= l->mask; i++) slot_clear(&l->slots[i]);
    for (int i = 0; i < LCACHE_STRIPES; i++) pthread_rwlock_destroy(&l->locks[i]);
    mem_free(l->slots);
    mem_free(l);
}
