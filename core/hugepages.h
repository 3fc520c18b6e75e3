/* hugepages.h - back the large allocations a library call makes with transparent huge pages
 *
 * An HNSW search reads a few thousand vectors scattered over the whole
 * index (192 MB for 125k x 384 floats): with 4 KiB pages nearly every one
 * is a TLB miss and a page walk. FAISS allocates its vectors and graph
 * inside faiss_read_index, out of reach of the C API, and glibc maps them
 * with 4 KiB pages unless THP is "always" (Debian's default is "madvise").
 * So the caller marks the process's anonymous mappings before the call
 * and, after it, advises the new ones of at least min_bytes to use huge
 * pages (MADV_HUGEPAGE) and collapses what was already written
 * (MADV_COLLAPSE, Linux 6.1). Measured on the Chroma peer bench's index
 * (125,299 vectors, HNSW32, 16 connections, vector in): 2,432-2,473 QPS
 * on 4 KiB pages, 3,017-3,180 with this (docs/search.md, "Huge pages").
 *
 *     huge_mark *m = huge_mark_take();
 *     faiss_read_index_fname(path, 0, &idx);
 *     huge_mark_advise(m, 4 << 20);   // frees m
 *
 * Advice only: on a kernel or setting without THP nothing changes. */
#ifndef RAGD_HUGEPAGES_H
#define RAGD_HUGEPAGES_H

#include <stddef.h>

typedef struct huge_mark huge_mark;

huge_mark *huge_mark_take(void);

/* Advises the anonymous mappings made since m (whole 2 MiB pages inside
 * each, if at least min_bytes); frees m. Returns the bytes advised. */
size_t huge_mark_advise(huge_mark *m, size_t min_bytes);

#endif
