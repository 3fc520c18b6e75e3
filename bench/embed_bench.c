/* embed_bench.c - ragd's minilm throughput, single-query latency, and the machine's sgemm limit
 *
 *     build/bench/embed_bench MODEL_DIR TEXTS_FILE QUERIES_FILE THREADS
 *
 * Prints one JSON object: cblas_sgemm GFLOP/s on the encoder's own matrix
 * shapes (1 thread; THREADS threads both as one threaded sgemm and as
 * THREADS single-threaded ones side by side, the limit being the better), batch throughput over the texts
 * with THREADS workers (BLAS single-threaded in each, as the indexer runs),
 * and p50/p99 latency of embedding each query alone on one thread.
 */
#include <cblas.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "embedder.h"
#include "err.h"
#include "mem.h"
#include "wordpiece.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static char **read_lines(const char *path, int *n) {
    FILE *f = fopen(path, "r");
    if (!f) perror(path), exit(2);
    char **v = NULL, *line = NULL;
    size_t cap = 0;
    ssize_t len;
    *n = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        if (len && line[len - 1] == '\n') line[--len] = '\0';
        v = mem_realloc(v, sizeof(char *) * (size_t)(*n + 1));
        v[(*n)++] = mem_strdup(line);
    }
    free(line);
    fclose(f);
    return v;
}

/* GFLOP/s of the per-layer GEMMs for 4096 packed tokens (Q,K,V,O: 384x384;
 * FFN up and down), one sgemm after another for `seconds`. */
static double sgemm_run(double seconds) {
    int T = 4096, H = 384, F = 1536;
    float *x = mem_calloc((size_t)T * F, sizeof(float)), *w = mem_calloc((size_t)F * H, sizeof(float));
    float *y = mem_calloc((size_t)T * F, sizeof(float));
    for (size_t i = 0; i < (size_t)F * H; i++) w[i] = (float)(i % 97) * 1e-3f;
    for (size_t i = 0; i < (size_t)T * F; i++) x[i] = (float)(i % 89) * 1e-3f;
    double flops = 0, t0 = now();
    while (now() - t0 < seconds) {
        for (int k = 0; k < 4; k++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, H, H, 1, x, H, w, H, 0, y, H);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, F, H, 1, x, H, w, H, 0, y, F);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, H, F, 1, x, F, w, F, 0, y, H);
        flops += 2.0 * T * (4.0 * H * H + 2.0 * H * F);
    }
    double s = now() - t0;
    mem_free(x), mem_free(w), mem_free(y);
    return flops / s / 1e9;
}

static void *sgemm_worker(void *arg) {
    *(double *)arg = sgemm_run(3.0);
    return NULL;
}

/* The machine's sgemm limit two ways: one sgemm on `threads` OpenBLAS
 * threads, and `threads` single-threaded sgemms side by side (how the
 * batch embedding below runs). */
static double sgemm_gflops(int threads) {
    openblas_set_num_threads(threads);
    return sgemm_run(3.0);
}

static double sgemm_gflops_side_by_side(int threads) {
    openblas_set_num_threads(1);
    pthread_t tid[64];
    double g[64], sum = 0;
    for (int t = 0; t < threads && t < 64; t++) pthread_create(&tid[t], NULL, sgemm_worker, &g[t]);
    for (int t = 0; t < threads && t < 64; t++) pthread_join(tid[t], NULL), sum += g[t];
    return sum;
}

/* Batch workers take the next 32 texts from a shared counter, as the
 * indexer's embed_pool takes jobs from its queue. */
typedef struct work {
    embedder *e;
    char **texts;
    int n;
    int *next; /* shared, atomic */
} work;

static void *embed_range(void *arg) {
    work *w = arg;
    char err[RAGD_ERR_LEN];
    float *out = mem_alloc(sizeof(float) * 32 * (size_t)embedder_dim(w->e));
    for (;;) {
        int i = __atomic_fetch_add(w->next, 32, __ATOMIC_RELAXED);
        if (i >= w->n) break;
        int n = w->n - i < 32 ? w->n - i : 32;
        if (embedder_embed(w->e, (const char *const *)w->texts + i, n, out, err) != 0) fprintf(stderr, "%s\n", err), exit(1);
    }
    mem_free(out);
    return NULL;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: embed_bench MODEL_DIR TEXTS QUERIES THREADS\n");
        return 2;
    }
    int threads = atoi(argv[4]), nt, nq;
    char **texts = read_lines(argv[2], &nt), **queries = read_lines(argv[3], &nq);
    char err[RAGD_ERR_LEN];
    embedder_opts o = embedder_opts_default();
    o.model_dir = argv[1];
    embedder *e = embedder_create("minilm", &o, err);
    if (!e) return fprintf(stderr, "%s\n", err), 1;
    char vocab[4096];
    snprintf(vocab, sizeof(vocab), "%s/vocab.txt", argv[1]);
    wordpiece *wp = wp_load(vocab, 1, err);
    long tokens = 0;
    int32_t ids[256];
    for (int i = 0; i < nt; i++) tokens += wp_encode(wp, texts[i], strlen(texts[i]), ids, 256);
    double g1 = sgemm_gflops(1), gn_blas = sgemm_gflops(threads), gn_side = sgemm_gflops_side_by_side(threads);
    double gn = gn_blas > gn_side ? gn_blas : gn_side; /* the limit: the better of the two */
    /* Batch throughput: THREADS workers, BLAS single-threaded. */
    openblas_set_num_threads(1);
    work *w = mem_calloc((size_t)threads, sizeof(work));
    pthread_t *tid = mem_calloc((size_t)threads, sizeof(pthread_t));
    int next = 0;
    embed_range(&(work){e, texts, nt < 64 ? nt : 64, &next}); /* warm up */
    next = 0;
    double t0 = now();
    for (int t = 0; t < threads; t++) {
        w[t] = (work){e, texts, nt, &next};
        pthread_create(&tid[t], NULL, embed_range, &w[t]);
    }
    for (int t = 0; t < threads; t++) pthread_join(tid[t], NULL);
    double batch_s = now() - t0;
    /* Single-query latency on one thread. */
    double *lat = mem_alloc(sizeof(double) * (size_t)nq);
    float v[4096];
    for (int i = 0; i < nq; i++) {
        double t = now();
        embedder_embed(e, (const char *const *)&queries[i], 1, v, err);
        lat[i] = (now() - t) * 1000;
    }
    qsort(lat, (size_t)nq, sizeof(double), cmp_d);
    double tok_s = (double)tokens / batch_s;
    printf("{\"texts\": %d, \"tokens\": %ld, \"threads\": %d, \"batch_s\": %.3f, \"chunks_per_s\": %.2f, "
           "\"tokens_per_s\": %.1f, \"query_p50_ms\": %.3f, \"query_p99_ms\": %.3f, \"sgemm_gflops_1\": %.1f, "
           "\"sgemm_gflops_n\": %.1f, \"sgemm_gflops_n_blas_threads\": %.1f, \"sgemm_gflops_n_side_by_side\": %.1f, "
           "\"mflop_per_token\": 22.4, \"sgemm_share\": %.3f, \"model_id\": \"%s\"}\n",
           nt, tokens, threads, batch_s, nt / batch_s, tok_s, lat[nq / 2], lat[(int)(nq * 0.99) - 1], g1, gn, gn_blas, gn_side,
           tok_s * 22.4e6 / (gn * 1e9), embedder_model_id(e));
    return 0;
}
