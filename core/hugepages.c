/* hugepages.c - back the large allocations a library call makes with transparent huge pages */
#include "hugepages.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "mem.h"

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25 /* Linux 6.1 */
#endif

#define HUGE_PAGE ((uintptr_t)2 << 20)
#define MAX_MAPS 4096

struct huge_mark {
    int n;
    uintptr_t start[MAX_MAPS], end[MAX_MAPS];
};

/* Anonymous private read-write mappings of /proc/self/maps, at most cap. */
static int anon_maps(uintptr_t *start, uintptr_t *end, int cap) {
    FILE *f = fopen("/proc/self/maps", "re");
    if (!f) return 0;
    char line[512];
    int n = 0;
    while (n < cap && fgets(line, sizeof(line), f)) {
        uintptr_t s, e;
        char perms[8];
        unsigned long long off;
        int consumed = 0;
        if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %7s %llx %*s %*s%n", &s, &e, perms, &off, &consumed) < 4) continue;
        const char *name = line + consumed;
        while (*name == ' ') name++;
        if (strncmp(perms, "rw-p", 4) != 0 || (*name != '\n' && *name != '\0')) continue; /* files, [heap], [stack] */
        start[n] = s, end[n] = e, n++;
    }
    fclose(f);
    return n;
}

huge_mark *huge_mark_take(void) {
    huge_mark *m = mem_calloc(1, sizeof(*m));
    m->n = anon_maps(m->start, m->end, MAX_MAPS);
    return m;
}

/* Advises [a, b) shrunk to whole huge pages, if at least min_bytes. */
static size_t advise(uintptr_t a, uintptr_t b, size_t min_bytes) {
    a = (a + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1), b &= ~(HUGE_PAGE - 1);
    if (b <= a || (size_t)(b - a) < min_bytes) return 0;
    /* Advice only: either call may fail (THP off, an old kernel, the range
     * unmapped meanwhile) and the memory stays as it was. */
    if (madvise((void *)a, b - a, MADV_HUGEPAGE) != 0) return 0;
    (void)madvise((void *)a, b - a, MADV_COLLAPSE); /* the pages already written, now */
    return b - a;
}

size_t huge_mark_advise(huge_mark *m, size_t min_bytes) {
    if (!m) return 0;
    uintptr_t *s = mem_alloc(sizeof(uintptr_t) * MAX_MAPS), *e = mem_alloc(sizeof(uintptr_t) * MAX_MAPS);
    int n = anon_maps(s, e, MAX_MAPS);
    size_t advised = 0;
    /* The parts of each mapping no old mapping covered (a new mapping the
     * kernel merged with an old neighbour keeps only its new part); both
     * lists are in address order. */
    int j = 0;
    for (int i = 0; i < n; i++) {
        uintptr_t at = s[i];
        while (j < m->n && m->end[j] <= at) j++;
        for (int k = j; k < m->n && m->start[k] < e[i]; k++) {
            if (m->start[k] > at) advised += advise(at, m->start[k], min_bytes);
            if (m->end[k] > at) at = m->end[k];
        }
        if (at < e[i]) advised += advise(at, e[i], min_bytes);
    }
    mem_free(s);
    mem_free(e);
    mem_free(m);
    return advised;
}
