/* strmap.h - a string-keyed hash map (open addressing, linear probing)
 *
 * Keys are copied; values are opaque pointers the caller owns (or frees
 * through strmap_free's callback). Used for crawl frontiers, content-hash
 * deduplication and per-reason counters. Not thread-safe.
 *
 *     strmap *m = strmap_new();
 *     if (strmap_put(m, url, NULL)) ...;          // 1 if the key was new
 *     void *v = strmap_get(m, url);               // NULL if absent
 *     size_t it = 0; const char *k; void *val;
 *     while (strmap_next(m, &it, &k, &val)) ...;
 *     strmap_free(m, NULL);
 */
#ifndef RAGD_STRMAP_H
#define RAGD_STRMAP_H

#include <stddef.h>

typedef struct strmap strmap;

strmap *strmap_new(void);

/* Insert or replace. Returns 1 if the key was new, 0 if replaced. */
int strmap_put(strmap *m, const char *key, void *value);

/* Value for key, or NULL. strmap_has tells absent from a NULL value. */
void *strmap_get(const strmap *m, const char *key);
int strmap_has(const strmap *m, const char *key);

/* Remove key; its value is returned (NULL if absent) for the caller to free. */
void *strmap_del(strmap *m, const char *key);

size_t strmap_len(const strmap *m);

/* Iterate: start with *it = 0; returns 0 when done. */
int strmap_next(const strmap *m, size_t *it, const char **key, void **value);

/* Free the map, calling free_value on every value if it is not NULL. */
void strmap_free(strmap *m, void (*free_value)(void *));

#endif
