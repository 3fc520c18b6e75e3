/* mem.c - allocation wrappers that abort on out-of-memory */
#include "mem.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void mem_oom(size_t size) {
    fprintf(stderr, "ragd: out of memory allocating %zu bytes\n", size);
    abort();
}

void *mem_alloc(size_t size) {
    void *p = malloc(size ? size : 1);
    if (!p) mem_oom(size);
    return p;
}

void *mem_calloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) mem_oom(n * size);
    return p;
}

void *mem_realloc(void *p, size_t size) {
    void *q = realloc(p, size ? size : 1);
    if (!q) mem_oom(size);
    return q;
}

char *mem_strdup(const char *s) {
    return mem_strndup(s, strlen(s));
}

char *mem_strndup(const char *s, size_t n) {
    char *p = mem_alloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *mem_printf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) mem_oom(0);
    char *p = mem_alloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

void mem_free(void *p) {
    free(p);
}
