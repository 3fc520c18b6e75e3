/* mem.h - allocation wrappers that abort on out-of-memory
 *
 * A long-running service cannot recover meaningfully from a failed
 * 100-byte malloc (see smallchat's chatMalloc), so every allocation goes
 * through these and never returns NULL. Input-sized allocations must be
 * checked against a configured limit by the caller before they are made.
 *
 *     char *s = mem_strdup(url);
 *     float *v = mem_alloc(sizeof(float) * dim);
 *     char *msg = mem_printf("shard-%03d.faiss", i);
 *     mem_free(s); mem_free(v); mem_free(msg);
 */
#ifndef RAGD_MEM_H
#define RAGD_MEM_H

#include <stddef.h>

/* Like malloc/calloc/realloc but abort with a message instead of returning
 * NULL. The caller frees with mem_free (or free). */
void *mem_alloc(size_t size);
void *mem_calloc(size_t n, size_t size);
void *mem_realloc(void *p, size_t size);
char *mem_strdup(const char *s);
char *mem_strndup(const char *s, size_t n);

/* printf into a new string; the caller frees it. */
char *mem_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void mem_free(void *p);

#endif
