/* tensor.c - 2-D float32 views and the BERT encoder's kernels on OpenBLAS */
#include "tensor.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "check.h"
#include "mem.h"

tensor tensor_alloc(int64_t cols, int64_t rows) {
    tensor t;
    t.data = mem_alloc(sizeof(float) * (size_t)(cols * rows > 0 ? cols * rows : 1));
    t.ne[0] = cols;
    t.ne[1] = rows;
    t.nb[0] = sizeof(float);
    t.nb[1] = sizeof(float) * (size_t)cols;
    return t;
}

void tensor_free(tensor *t) {
    mem_free(t->data);
    t->data = NULL;
}

tensor tensor_view(const tensor *t, int64_t c0, int64_t m, int64_t r0, int64_t n) {
    RAGD_CHECK(c0 >= 0 && m >= 0 && c0 + m <= t->ne[0] && r0 >= 0 && n >= 0 && r0 + n <= t->ne[1]);
    tensor v = *t;
    v.data = (float *)((char *)t->data + (size_t)r0 * t->nb[1]) + c0;
    v.ne[0] = m;
    v.ne[1] = n;
    return v;
}

static int ld(const tensor *t) {
    return (int)(t->nb[1] / sizeof(float));
}

/* The elementwise kernels below are written as plain loops over float
 * arrays that GCC vectorises; target_clones builds AVX-512, AVX2+FMA and
 * baseline variants and picks one at load time, so one binary runs on any
 * x86-64 and uses what the CPU has. The file is compiled with -O3 and
 * finite-math flags (see the Makefile); test_tensor bounds the errors. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define VEC_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define VEC_CLONES
#endif

/* e^x for x in [-87, 88], Cephes' polynomial after Cody-Waite reduction:
 * relative error below 2e-7 (checked in test_tensor against libm). */
static inline float vexp(float x) {
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    /* Round to nearest by truncating x log2(e) +- 0.5: a conversion every
     * SIMD level has, where floorf would be a libm call without SSE4.1. */
    int32_t ni = (int32_t)(x * 1.44269504088896341f + (x < 0 ? -0.5f : 0.5f));
    float n = (float)ni;
    float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    union {
        int32_t i;
        float f;
    } u;
    u.i = (ni + 127) << 23;
    return p * u.f;
}

/* erf(x), Abramowitz & Stegun 7.1.26: absolute error below 1.5e-7 in exact
 * arithmetic, below 5e-7 evaluated in float (test_tensor checks 1e-6). */
static inline float verf(float x) {
    float a = x < 0 ? -x : x;
    float t = 1.0f / (1.0f + 0.3275911f * a);
    float y = ((((1.061405429f * t - 1.453152027f) * t + 1.421413741f) * t - 0.284496736f) * t + 0.254829592f) * t;
    y = 1.0f - y * vexp(-a * a);
    return x < 0 ? -y : y;
}

/* Sums in 16 independent lanes, so the loop vectorises without letting
 * the compiler reassociate (which would also degrade vexp's reduction). */
#define LANES 16
static inline float lane_sum(const float *acc) {
    float s = 0;
    for (int l = 0; l < LANES; l++) s += acc[l];
    return s;
}

VEC_CLONES static float sum_row(const float *p, int64_t n) {
    float acc[LANES] = {0};
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int l = 0; l < LANES; l++) acc[l] += p[i + l];
    for (; i < n; i++) acc[0] += p[i];
    return lane_sum(acc);
}

VEC_CLONES static float sqdev_row(const float *p, int64_t n, float mean) {
    float acc[LANES] = {0};
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int l = 0; l < LANES; l++) acc[l] += (p[i + l] - mean) * (p[i + l] - mean);
    for (; i < n; i++) acc[0] += (p[i] - mean) * (p[i] - mean);
    return lane_sum(acc);
}

VEC_CLONES static float max_row(const float *p, int64_t n) {
    float acc[LANES];
    for (int l = 0; l < LANES; l++) acc[l] = p[0];
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int l = 0; l < LANES; l++) acc[l] = p[i + l] > acc[l] ? p[i + l] : acc[l];
    for (; i < n; i++) acc[0] = p[i] > acc[0] ? p[i] : acc[0];
    float m = acc[0];
    for (int l = 1; l < LANES; l++) m = acc[l] > m ? acc[l] : m;
    return m;
}

VEC_CLONES static void layernorm_row(float *p, int64_t n, const float *g, const float *b, float eps) {
    float mean = sum_row(p, n) / (float)n;
    float var = sqdev_row(p, n, mean);
    float inv = 1.0f / sqrtf(var / (float)n + eps);
    for (int64_t i = 0; i < n; i++) p[i] = (p[i] - mean) * inv * g[i] + b[i];
}

VEC_CLONES static void softmax_row(float *p, int n) {
    float m = max_row(p, n);
    for (int i = 0; i < n; i++) p[i] = vexp(p[i] - m);
    float inv = 1.0f / sum_row(p, n);
    for (int i = 0; i < n; i++) p[i] *= inv;
}

/* ---- linear layers ---- */

#define HUGE_PAGE ((size_t)2 << 20)
#define SMALL_MR 8 /* rows per register block of the packed kernel */

tensor_weight tensor_weight_make(const float *w, int64_t out, int64_t in) {
    tensor_weight tw = {w, NULL, out, in};
    int64_t panels = (out + TENSOR_PANEL - 1) / TENSOR_PANEL;
    size_t bytes = sizeof(float) * (size_t)(panels * in * TENSOR_PANEL);
    bytes = (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
    void *p = NULL;
    if (posix_memalign(&p, HUGE_PAGE, bytes) != 0) p = mem_alloc(bytes); /* mem_alloc aborts on OOM */
    madvise(p, bytes, MADV_HUGEPAGE);                                     /* advice only: may fail */
    tw.panels = p;
    for (int64_t pn = 0; pn < panels; pn++) {
        float *dst = tw.panels + pn * in * TENSOR_PANEL;
        for (int64_t i = 0; i < in; i++)
            for (int j = 0; j < TENSOR_PANEL; j++) {
                int64_t o = pn * TENSOR_PANEL + j;
                dst[i * TENSOR_PANEL + j] = o < out ? w[o * in + i] : 0.0f;
            }
    }
    return tw;
}

void tensor_weight_free(tensor_weight *w) {
    free(w->panels);
    w->panels = NULL;
}

/* 16 floats: one AVX-512 register, two AVX2 ones, four SSE ones. */
typedef float vf16 __attribute__((vector_size(64)));

/* mr (<= SMALL_MR, a constant after inlining) rows of x times one panel:
 * 2 x mr accumulators live in registers across the whole dot product, each
 * weight is loaded once and used mr times, and the panel stream is
 * prefetched 4 KiB ahead. */
static inline __attribute__((always_inline)) void panel_block(const int mr, const float *x, size_t ldx, const float *pn,
                                                              int64_t in, const float *b, float *y, size_t ldy) {
    vf16 a0[SMALL_MR], a1[SMALL_MR], b0 = {0}, b1 = {0};
    if (b) memcpy(&b0, b, 64), memcpy(&b1, b + 16, 64);
    for (int t = 0; t < mr; t++) a0[t] = b0, a1[t] = b1;
    for (int64_t i = 0; i < in; i++) {
        __builtin_prefetch(pn + (i + 32) * TENSOR_PANEL);
        __builtin_prefetch(pn + (i + 32) * TENSOR_PANEL + 16);
        vf16 w0, w1;
        memcpy(&w0, pn + i * TENSOR_PANEL, 64);
        memcpy(&w1, pn + i * TENSOR_PANEL + 16, 64);
        for (int t = 0; t < mr; t++) {
            float s = x[(size_t)t * ldx + (size_t)i];
            a0[t] += s * w0;
            a1[t] += s * w1;
        }
    }
    for (int t = 0; t < mr; t++) {
        memcpy(y + (size_t)t * ldy, &a0[t], 64);
        memcpy(y + (size_t)t * ldy + 16, &a1[t], 64);
    }
}

VEC_CLONES static void linear_panels(const tensor *x, const tensor_weight *w, const float *b, tensor *y) {
    int64_t rows = x->ne[1], in = w->in, out = w->out;
    size_t ldx = (size_t)ld(x), ldy = (size_t)ld(y);
    float tail_b[TENSOR_PANEL], tail_y[SMALL_MR * TENSOR_PANEL];
    for (int64_t p = 0; p * TENSOR_PANEL < out; p++) {
        const float *pn = w->panels + p * in * TENSOR_PANEL;
        int64_t o0 = p * TENSOR_PANEL, cols = out - o0 < TENSOR_PANEL ? out - o0 : TENSOR_PANEL;
        const float *pb = b ? b + o0 : NULL;
        if (b && cols < TENSOR_PANEL) { /* last, partial panel: pad the bias, stage the output */
            memset(tail_b, 0, sizeof(tail_b));
            memcpy(tail_b, b + o0, sizeof(float) * (size_t)cols);
            pb = tail_b;
        }
        for (int64_t t0 = 0; t0 < rows; t0 += SMALL_MR) {
            int mr = rows - t0 < SMALL_MR ? (int)(rows - t0) : SMALL_MR;
            const float *xs = x->data + (size_t)t0 * ldx;
            int full = cols == TENSOR_PANEL;
            float *ys = full ? y->data + (size_t)t0 * ldy + o0 : tail_y;
            size_t ld_out = full ? ldy : TENSOR_PANEL;
            switch (mr) {
#define BLOCK(n)                                           \
    case n:                                                \
        panel_block(n, xs, ldx, pn, in, pb, ys, ld_out);   \
        break;
                BLOCK(1) BLOCK(2) BLOCK(3) BLOCK(4) BLOCK(5) BLOCK(6) BLOCK(7) BLOCK(8)
#undef BLOCK
            }
            if (!full)
                for (int t = 0; t < mr; t++)
                    memcpy(y->data + (size_t)(t0 + t) * ldy + o0, tail_y + t * TENSOR_PANEL, sizeof(float) * (size_t)cols);
        }
    }
}

void tensor_linear(const tensor *x, const tensor_weight *w, const float *b, tensor *y) {
    int64_t rows = x->ne[1], in = x->ne[0], out = y->ne[0];
    RAGD_CHECK(y->ne[1] == rows && in == w->in && out == w->out);
    if (rows == 0) return;
    if (rows <= TENSOR_SMALL_ROWS) {
        linear_panels(x, w, b, y);
        return;
    }
    float beta = 0.0f;
    if (b) { /* start from the bias, then accumulate x W^T into it */
        for (int64_t r = 0; r < rows; r++) memcpy(tensor_row(y, r), b, sizeof(float) * (size_t)out);
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)out, (int)in, 1.0f, x->data, ld(x), w->w,
                (int)in, beta, y->data, ld(y));
}

/* ---- fused epilogues ---- */

VEC_CLONES static void bias_gelu_row(float *p, const float *b, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float v = p[i] + b[i];
        p[i] = 0.5f * v * (1.0f + verf(v * 0.70710678118654752f));
    }
}

VEC_CLONES static void bias_add_row(float *p, const float *b, const float *r, int64_t n) {
    for (int64_t i = 0; i < n; i++) p[i] += b[i] + r[i];
}

void tensor_bias_gelu(tensor *x, const float *b) {
    for (int64_t r = 0; r < x->ne[1]; r++) bias_gelu_row(tensor_row(x, r), b, x->ne[0]);
}

void tensor_bias_add_layernorm(tensor *x, const float *b, const tensor *res, const float *g, const float *s, float eps) {
    RAGD_CHECK(x->ne[0] == res->ne[0] && x->ne[1] == res->ne[1]);
    for (int64_t r = 0; r < x->ne[1]; r++) {
        float *p = tensor_row(x, r);
        bias_add_row(p, b, tensor_row(res, r), x->ne[0]);
        layernorm_row(p, x->ne[0], g, s, eps);
    }
}

float tensor_exp(float x) {
    return vexp(x);
}

float tensor_erf(float x) {
    return verf(x);
}

void tensor_layernorm(tensor *x, const float *g, const float *b, float eps) {
    for (int64_t r = 0; r < x->ne[1]; r++) layernorm_row(tensor_row(x, r), x->ne[0], g, b, eps);
}

static void softmax_rows(float *s, int rows, int cols) {
    for (int r = 0; r < rows; r++) softmax_row(s + (size_t)r * cols, cols);
}

void tensor_attention(const tensor *q, const tensor *k, const tensor *v, int heads, tensor *out, float *scratch) {
    int len = (int)q->ne[1], dh = (int)(q->ne[0] / heads);
    float scale = 1.0f / sqrtf((float)dh);
    for (int h = 0; h < heads; h++) {
        const float *qh = q->data + h * dh, *kh = k->data + h * dh, *vh = v->data + h * dh;
        float *oh = out->data + h * dh;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, len, len, dh, scale, qh, ld(q), kh, ld(k), 0.0f,
                    scratch, len);
        softmax_rows(scratch, len, len);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, len, dh, len, 1.0f, scratch, len, vh, ld(v), 0.0f,
                    oh, ld(out));
    }
}
