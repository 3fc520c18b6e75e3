/* strmap.c - a string-keyed hash map (open addressing, linear probing) */
#include "strmap.h"

#include <stdint.h>
#include <string.h>

#include "mem.h"

typedef struct slot {
    char *key;
    void *value;
    uint64_t hash;
} slot;

struct strmap {
    slot *slots;
    size_t cap, len;
};

static uint64_t hash_str(const char *s) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return h;
}

strmap *strmap_new(void) {
    strmap *m = mem_calloc(1, sizeof(*m));
    m->cap = 64;
    m->slots = mem_calloc(m->cap, sizeof(slot));
    return m;
}

static slot *find(const strmap *m, const char *key, uint64_t h) {
    size_t i = h & (m->cap - 1);
    while (m->slots[i].key) {
        if (m->slots[i].hash == h && strcmp(m->slots[i].key, key) == 0) return &m->slots[i];
        i = (i + 1) & (m->cap - 1);
    }
    return &m->slots[i];
}

static void grow(strmap *m) {
    slot *old = m->slots;
    size_t oldcap = m->cap;
    m->cap *= 2;
    m->slots = mem_calloc(m->cap, sizeof(slot));
    for (size_t i = 0; i < oldcap; i++) {
        if (!old[i].key) continue;
        slot *s = find(m, old[i].key, old[i].hash);
        *s = old[i];
    }
    mem_free(old);
}

int strmap_put(strmap *m, const char *key, void *value) {
    if ((m->len + 1) * 4 > m->cap * 3) grow(m);
    uint64_t h = hash_str(key);
    slot *s = find(m, key, h);
    if (s->key) {
        s->value = value;
        return 0;
    }
    s->key = mem_strdup(key);
    s->value = value;
    s->hash = h;
    m->len++;
    return 1;
}

void *strmap_get(const strmap *m, const char *key) {
    slot *s = find(m, key, hash_str(key));
    return s->key ? s->value : NULL;
}

int strmap_has(const strmap *m, const char *key) {
    return find(m, key, hash_str(key))->key != NULL;
}

/* Linear probing without tombstones: after emptying a slot, move back
 * every later entry of the run whose home slot does not lie between the
 * hole and itself (Knuth 6.4, algorithm R). */
void *strmap_del(strmap *m, const char *key) {
    slot *s = find(m, key, hash_str(key));
    if (!s->key) return NULL;
    void *value = s->value;
    mem_free(s->key);
    size_t mask = m->cap - 1, hole = (size_t)(s - m->slots), i = hole;
    m->slots[hole] = (slot){0};
    for (;;) {
        i = (i + 1) & mask;
        if (!m->slots[i].key) break;
        size_t home = m->slots[i].hash & mask;
        /* can the entry at i move to the hole? only if its home is not in (hole, i] (cyclically) */
        int stays = hole <= i ? (home > hole && home <= i) : (home > hole || home <= i);
        if (stays) continue;
        m->slots[hole] = m->slots[i];
        m->slots[i] = (slot){0};
        hole = i;
    }
    m->len--;
    return value;
}

size_t strmap_len(const strmap *m) {
    return m->len;
}

int strmap_next(const strmap *m, size_t *it, const char **key, void **value) {
    while (*it < m->cap) {
        slot *s = &m->slots[(*it)++];
        if (s->key) {
            if (key) *key = s->key;
            if (value) *value = s->value;
            return 1;
        }
    }
    return 0;
}

void strmap_free(strmap *m, void (*free_value)(void *)) {
    if (!m) return;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slots[i].key) continue;
        mem_free(m->slots[i].key);
        if (free_value) free_value(m->slots[i].value);
    }
    mem_free(m->slots);
    mem_free(m);
}
