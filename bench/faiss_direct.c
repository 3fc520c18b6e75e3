/* faiss_direct.c - the same queries straight into FAISS, as the baseline for ragd-serve's overhead
 *
 *     build/bench/faiss_direct INDEX_DIR QUERIES_FILE K
 *
 * Embeds every query with the index's own embedder first (not timed), then
 * times index_version_search (all shards, merged top k; one thread, one
 * query per call) over the queries for at least 3 seconds. Prints JSON.
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "embedder.h"
#include "err.h"
#include "index_version.h"
#include "mem.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc != 4) return fprintf(stderr, "usage: faiss_direct INDEX_DIR QUERIES K\n"), 2;
    char err[RAGD_ERR_LEN];
    index_version *v = index_version_open(argv[1], 0, err);
    if (!v) return fprintf(stderr, "%s\n", err), 1;
    embedder *e = embedder_for_manifest(&v->m, NULL, err);
    if (!e) return fprintf(stderr, "%s\n", err), 1;
    omp_set_num_threads(1);
    FILE *f = fopen(argv[2], "r");
    if (!f) return perror(argv[2]), 1;
    int k = atoi(argv[3]), n = 0, dim = v->m.dim;
    float *q = NULL;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) > 0) {
        if (line[len - 1] == '\n') line[len - 1] = '\0';
        q = mem_realloc(q, sizeof(float) * (size_t)(n + 1) * dim);
        const char *t = line;
        embedder_embed(e, &t, 1, q + (size_t)n * dim, err);
        n++;
    }
    fclose(f);
    free(line);
    index_hit *hits = mem_alloc(sizeof(index_hit) * (size_t)k);
    long done = 0;
    double t0 = now();
    while (now() - t0 < 3.0)
        for (int i = 0; i < n; i++, done++) index_version_search(v, q + (size_t)i * dim, k, hits, err);
    double s = now() - t0;
    printf("{\"queries\": %ld, \"seconds\": %.3f, \"qps\": %.1f, \"mean_us\": %.1f, \"chunks\": %lld, \"shards\": %d, "
           "\"index_spec\": \"%s\"}\n", done, s, done / s, s / done * 1e6, (long long)v->m.total_chunks, v->m.n_shards,
           v->m.index_spec);
    return 0;
}
