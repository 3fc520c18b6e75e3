/* ann_bench.c - recall@10 against QPS for FAISS index types on real embeddings
 *
 *     build/bench/ann_bench INDEX_DIR QUERIES_FILE
 *
 * Loads every vector stored in a ragd index's chunk stores (real chunk
 * embeddings), embeds the queries with the index's embedder, computes the
 * exact top 10 with a flat inner-product index, then for Flat, HNSW32
 * (efSearch sweep) and IVF-PQ (nprobe sweep) measures build time, QPS (one
 * thread, one query per call) and recall@10 against the exact answers.
 * Prints one JSON object.
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

typedef struct vecs {
    float *v;
    int64_t n, cap;
    int dim;
} vecs;

static void collect(void *ctx, const chunk_row *r, const float *vec) {
    (void)r;
    vecs *x = ctx;
    if (!vec) return;
    if (x->n == x->cap) {
        x->cap = x->cap ? x->cap * 2 : 4096;
        x->v = mem_realloc(x->v, sizeof(float) * (size_t)x->cap * (size_t)x->dim);
    }
    memcpy(x->v + (size_t)x->n * x->dim, vec, sizeof(float) * (size_t)x->dim);
    x->n++;
}

static void run(const char *spec, const char *param, const int *values, int nv, const vecs *db, const float *q, int nq,
                const int64_t *truth, int first) {
    char err[RAGD_ERR_LEN];
    omp_set_num_threads(2);
    double t = now();
    vindex *vi = vindex_create(db->dim, spec, MANIFEST_METRIC_IP, err);
    if (!vi) return (void)fprintf(stderr, "%s\n", err);
    if (!vindex_is_trained(vi)) vindex_train(vi, db->n < 50000 ? db->n : 50000, db->v, err);
    int64_t *ids = mem_alloc(sizeof(int64_t) * (size_t)db->n);
    for (int64_t i = 0; i < db->n; i++) ids[i] = i;
    vindex_add(vi, db->n, db->v, ids, err);
    double build = now() - t;
    omp_set_num_threads(1);
    for (int p = 0; p < (nv ? nv : 1); p++) {
        if (nv) vindex_set_param(vi, param, values[p], err);
        float s[10];
        int64_t got[10];
        int hit = 0;
        double t0 = now();
        int done = 0;
        for (int rep = 0; rep == 0 || now() - t0 < 1.0; rep++)
            for (int i = 0; i < nq; i++, done++) {
                vindex_search(vi, 1, q + (size_t)i * db->dim, 10, s, got, err);
                if (rep == 0)
                    for (int a = 0; a < 10; a++)
                        for (int b = 0; b < 10; b++) hit += got[a] == truth[i * 10 + b];
            }
        double qps = done / (now() - t0);
        printf("%s{\"spec\": \"%s\", \"param\": \"%s\", \"value\": %d, \"build_s\": %.2f, \"qps\": %.1f, \"recall10\": %.4f}\n",
               first && p == 0 ? "" : ",", spec, nv ? param : "", nv ? values[p] : 0, build, qps, hit / (10.0 * nq));
        first = 0;
    }
    vindex_free(vi);
    mem_free(ids);
}

int main(int argc, char **argv) {
    if (argc != 3) return fprintf(stderr, "usage: ann_bench INDEX_DIR QUERIES\n"), 2;
    char err[RAGD_ERR_LEN];
    index_version *v = index_version_open(argv[1], 0, err);
    if (!v) return fprintf(stderr, "%s\n", err), 1;
    embedder *e = embedder_for_manifest(&v->m, NULL, err);
    if (!e) return fprintf(stderr, "%s\n", err), 1;
    vecs db = {.dim = v->m.dim};
    for (int s = 0; s < v->m.n_shards; s++) chunk_store_each(v->shards[s].store, collect, &db, err);
    FILE *f = fopen(argv[2], "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int nq = 0;
    float *q = NULL;
    while (nq < 1000 && (len = getline(&line, &cap, f)) > 0) {
        if (line[len - 1] == '\n') line[len - 1] = '\0';
        q = mem_realloc(q, sizeof(float) * (size_t)(nq + 1) * db.dim);
        const char *t = line;
        embedder_embed(e, &t, 1, q + (size_t)nq * db.dim, err);
        nq++;
    }
    fclose(f);
    /* Exact answers. */
    vindex *flat = vindex_create(db.dim, "Flat", MANIFEST_METRIC_IP, err);
    int64_t *ids = mem_alloc(sizeof(int64_t) * (size_t)db.n), *truth = mem_alloc(sizeof(int64_t) * (size_t)nq * 10);
    for (int64_t i = 0; i < db.n; i++) ids[i] = i;
    vindex_add(flat, db.n, db.v, ids, err);
    float *s = mem_alloc(sizeof(float) * (size_t)nq * 10);
    vindex_search(flat, nq, q, 10, s, truth, err);
    printf("{\"vectors\": %lld, \"dim\": %d, \"queries\": %d, \"model_id\": \"%s\", \"points\": [\n", (long long)db.n, db.dim, nq,
           v->m.model_id);
    int ef[] = {16, 32, 64, 128, 256}, np[] = {1, 4, 16, 64};
    char ivf[64];
    snprintf(ivf, sizeof(ivf), "IVF%d,PQ48", db.n > 200000 ? 4096 : db.n > 20000 ? 1024 : 64);
    run("Flat", "", NULL, 0, &db, q, nq, truth, 1);
    run("HNSW32", "efSearch", ef, 5, &db, q, nq, truth, 0);
    run(ivf, "nprobe", np, 4, &db, q, nq, truth, 0);
    printf("]}\n");
    return 0;
}
