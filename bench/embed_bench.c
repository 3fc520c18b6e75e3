/* embed_bench.c - ragd's minilm throughput, single-query latency, and the machine's sgemm limit
 *
 *     build/bench/embed_bench [--precision P] MODEL_DIR TEXTS_FILE QUERIES_FILE THREADS [--interleave]
 *
 * Alone it prints one JSON object: cblas_sgemm GFLOP/s on the encoder's own
 * matrix shapes (1 thread; THREADS threads both as one threaded sgemm and
 * as THREADS single-threaded ones side by side, the limit being the
 * better), batch throughput over all texts with THREADS workers (BLAS
 * single-threaded in each, as the indexer runs; equal tokens each), and p50/p99 latency of
 * embedding each query alone on one thread.
 *
 * With --interleave it loads the model and then answers commands on stdin,
 * one JSON line each, so bench/run.py can alternate slices of the work with
 * sentence-transformers (this VM's speed drifts within minutes):
 *     batch FROM TO     {"s": seconds, "texts": n, "tokens": n}
 *     queries FROM TO   {"ms": [one latency per query]}
 *     sgemm SECONDS     {"blas": GFLOP/s, "side": GFLOP/s}
 *     vectors FROM TO PATH  texts' vectors, raw float32 rows, to PATH  {"texts": n}
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

static double worker_seconds = 3.0;

static void *sgemm_worker(void *arg) {
    *(double *)arg = sgemm_run(worker_seconds);
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

/* Each batch worker embeds its own contiguous range of texts, 32 per call;
 * the ranges hold equal numbers of tokens, so the workers finish together
 * (the indexer's pool, fed by a crawl, is busy until the end of a build). */
typedef struct work {
    embedder *e;
    char **texts;
    int from, to;
} work;

static void *embed_range(void *arg) {
    work *w = arg;
    char err[RAGD_ERR_LEN];
    float *out = mem_alloc(sizeof(float) * 32 * (size_t)embedder_dim(w->e));
    for (int i = w->from; i < w->to; i += 32) {
        int n = w->to - i < 32 ? w->to - i : 32;
        if (embedder_embed(w->e, (const char *const *)w->texts + i, n, out, err) != 0) fprintf(stderr, "%s\n", err), exit(1);
    }
    mem_free(out);
    return NULL;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct bench {
    embedder *e;
    char **texts, **queries;
    int nt, nq, threads;
    long *tokens; /* per text */
} bench;

/* Embed texts [from, to) with b->threads workers; returns seconds. */
static double run_batch(bench *b, int from, int to) {
    openblas_set_num_threads(1);
    work *w = mem_calloc((size_t)b->threads, sizeof(work));
    pthread_t *tid = mem_calloc((size_t)b->threads, sizeof(pthread_t));
    long total = 0, seen = 0;
    for (int i = from; i < to; i++) total += b->tokens[i];
    int at = from;
    for (int t = 0; t < b->threads; t++) { /* thread t: the texts up to (t+1)/threads of the tokens */
        w[t] = (work){b->e, b->texts, at, at};
        while (w[t].to < to && (t == b->threads - 1 || seen + b->tokens[w[t].to] <= total * (t + 1) / b->threads))
            seen += b->tokens[w[t].to++];
        at = w[t].to;
    }
    double t0 = now();
    for (int t = 0; t < b->threads; t++) pthread_create(&tid[t], NULL, embed_range, &w[t]);
    for (int t = 0; t < b->threads; t++) pthread_join(tid[t], NULL);
    double s = now() - t0;
    mem_free(w), mem_free(tid);
    return s;
}

/* Each query alone on this thread; latencies in ms into lat. */
static void run_queries(bench *b, int from, int to, double *lat) {
    char err[RAGD_ERR_LEN];
    float v[4096];
    for (int i = from; i < to; i++) {
        double t = now();
        if (embedder_embed(b->e, (const char *const *)&b->queries[i], 1, v, err) != 0) fprintf(stderr, "%s\n", err), exit(1);
        lat[i - from] = (now() - t) * 1000;
    }
}

static long tokens_in(bench *b, int from, int to) {
    long n = 0;
    for (int i = from; i < to; i++) n += b->tokens[i];
    return n;
}

static int clamp(int v, int lo, int hi) {
    return v < lo ? lo : v > hi ? hi : v;
}

static int interleave(bench *b) {
    char line[8192], path[4096];
    while (fgets(line, sizeof(line), stdin)) {
        int from = 0, to = 0;
        double secs = 0;
        if (sscanf(line, "batch %d %d", &from, &to) == 2) {
            from = clamp(from, 0, b->nt), to = clamp(to, from, b->nt);
            double s = run_batch(b, from, to);
            printf("{\"s\": %.4f, \"texts\": %d, \"tokens\": %ld}\n", s, to - from, tokens_in(b, from, to));
        } else if (sscanf(line, "queries %d %d", &from, &to) == 2) {
            from = clamp(from, 0, b->nq), to = clamp(to, from, b->nq);
            double *lat = mem_alloc(sizeof(double) * (size_t)(to - from + 1));
            run_queries(b, from, to, lat);
            printf("{\"ms\": [");
            for (int i = 0; i < to - from; i++) printf("%s%.4f", i ? ", " : "", lat[i]);
            printf("]}\n");
            mem_free(lat);
        } else if (sscanf(line, "vectors %d %d %4095s", &from, &to, path) == 3) {
            from = clamp(from, 0, b->nt), to = clamp(to, from, b->nt);
            size_t dim = (size_t)embedder_dim(b->e);
            float *v = mem_alloc(sizeof(float) * dim * (size_t)(to - from + 1));
            char err[RAGD_ERR_LEN];
            if (to > from && embedder_embed(b->e, (const char *const *)b->texts + from, to - from, v, err) != 0)
                fprintf(stderr, "%s\n", err), exit(1);
            FILE *f = fopen(path, "wb");
            if (!f || fwrite(v, sizeof(float) * dim, (size_t)(to - from), f) != (size_t)(to - from) || fclose(f) != 0)
                perror(path), exit(1);
            mem_free(v);
            printf("{\"texts\": %d}\n", to - from);
        } else if (sscanf(line, "sgemm %lf", &secs) == 1) {
            openblas_set_num_threads(b->threads);
            double blas = sgemm_run(secs);
            worker_seconds = secs;
            double side = sgemm_gflops_side_by_side(b->threads);
            printf("{\"blas\": %.1f, \"side\": %.1f}\n", blas, side);
        } else {
            fprintf(stderr, "embed_bench: unknown command: %s", line);
            return 2;
        }
        fflush(stdout);
    }
    return 0;
}

int main(int argc, char **argv) {
    const char *precision = NULL;
    if (argc > 2 && strcmp(argv[1], "--precision") == 0) {
        precision = argv[2];
        argv += 2, argc -= 2;
    }
    if (argc != 5 && !(argc == 6 && strcmp(argv[5], "--interleave") == 0)) {
        fprintf(stderr, "usage: embed_bench [--precision P] MODEL_DIR TEXTS QUERIES THREADS [--interleave]\n");
        return 2;
    }
    bench b = {0};
    b.threads = atoi(argv[4]);
    b.texts = read_lines(argv[2], &b.nt);
    b.queries = read_lines(argv[3], &b.nq);
    char err[RAGD_ERR_LEN];
    embedder_opts o = embedder_opts_default();
    o.model_dir = argv[1];
    o.precision = precision;
    b.e = embedder_create("minilm", &o, err);
    if (!b.e) return fprintf(stderr, "%s\n", err), 1;
    char vocab[4096];
    snprintf(vocab, sizeof(vocab), "%s/vocab.txt", argv[1]);
    wordpiece *wp = wp_load(vocab, 1, err);
    if (!wp) return fprintf(stderr, "%s\n", err), 1;
    b.tokens = mem_alloc(sizeof(long) * (size_t)(b.nt + 1));
    int32_t ids[256];
    for (int i = 0; i < b.nt; i++) b.tokens[i] = wp_encode(wp, b.texts[i], strlen(b.texts[i]), ids, 256);
    run_batch(&b, 0, b.nt < 64 ? b.nt : 64); /* warm up */
    if (argc == 6) return interleave(&b);
    long tokens = tokens_in(&b, 0, b.nt);
    int nt = b.nt, nq = b.nq, threads = b.threads;
    double g1 = sgemm_gflops(1), gn_blas = sgemm_gflops(threads), gn_side = sgemm_gflops_side_by_side(threads);
    double gn = gn_blas > gn_side ? gn_blas : gn_side; /* the limit: the better of the two */
    double batch_s = run_batch(&b, 0, nt);
    double *lat = mem_alloc(sizeof(double) * (size_t)(nq + 1));
    run_queries(&b, 0, nq, lat);
    qsort(lat, (size_t)nq, sizeof(double), cmp_d);
    double tok_s = (double)tokens / batch_s;
    printf("{\"texts\": %d, \"tokens\": %ld, \"threads\": %d, \"batch_s\": %.3f, \"chunks_per_s\": %.2f, "
           "\"tokens_per_s\": %.1f, \"query_p50_ms\": %.3f, \"query_p99_ms\": %.3f, \"sgemm_gflops_1\": %.1f, "
           "\"sgemm_gflops_n\": %.1f, \"sgemm_gflops_n_blas_threads\": %.1f, \"sgemm_gflops_n_side_by_side\": %.1f, "
           "\"mflop_per_token\": 22.4, \"sgemm_share\": %.3f, \"model_id\": \"%s\", \"kernel\": \"%s\"}\n",
           nt, tokens, threads, batch_s, nt / batch_s, tok_s, lat[nq / 2], lat[(int)(nq * 0.99) - 1], g1, gn, gn_blas, gn_side,
           tok_s * 22.4e6 / (gn * 1e9), embedder_model_id(b.e), embedder_kernel(b.e));
    return 0;
}
