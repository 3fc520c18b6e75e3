/* tensor.c - 2-D float32 views and the BERT encoder's kernels on OpenBLAS */
#include "tensor.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

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

void tensor_linear(const tensor *x, const float *w, const float *b, tensor *y) {
    int64_t rows = x->ne[1], in = x->ne[0], out = y->ne[0];
    RAGD_CHECK(y->ne[1] == rows);
    if (rows == 0) return;
    /* Start from the bias, then accumulate x W^T into it (beta = 1). */
    for (int64_t r = 0; r < rows; r++) memcpy(tensor_row(y, r), b, sizeof(float) * (size_t)out);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)out, (int)in, 1.0f, x->data, ld(x), w,
                (int)in, 1.0f, y->data, ld(y));
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

VEC_CLONES static void gelu_row(float *p, int64_t n) {
    for (int64_t i = 0; i < n; i++) p[i] = 0.5f * p[i] * (1.0f + verf(p[i] * 0.70710678118654752f));
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

VEC_CLONES static void add_row(float *a, const float *c, int64_t n) {
    for (int64_t i = 0; i < n; i++) a[i] += c[i];
}

VEC_CLONES static void softmax_row(float *p, int n) {
    float m = max_row(p, n);
    for (int i = 0; i < n; i++) p[i] = vexp(p[i] - m);
    float inv = 1.0f / sum_row(p, n);
    for (int i = 0; i < n; i++) p[i] *= inv;
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

void tensor_add(tensor *x, const tensor *y) {
    RAGD_CHECK(x->ne[0] == y->ne[0] && x->ne[1] == y->ne[1]);
    for (int64_t r = 0; r < x->ne[1]; r++) add_row(tensor_row(x, r), tensor_row(y, r), x->ne[0]);
}

void tensor_gelu(tensor *x) {
    for (int64_t r = 0; r < x->ne[1]; r++) gelu_row(tensor_row(x, r), x->ne[0]);
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
