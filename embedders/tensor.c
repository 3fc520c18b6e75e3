/* tensor.c - 2-D float32 views, the BERT encoder's fp32 kernels, and the choice of kernel per CPU */
#include "tensor.h"
#include "tensor_impl.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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

/* erf(x) as x P(x^2) / Q(x^2) on x clamped to [-4, 4] (erf(4) is 1 to
 * within 2e-8): the rational approximation of Eigen's generic_fast_erf,
 * one division and no exp. Absolute error below 5e-7 in float (test_tensor
 * checks 1e-6 against libm over [-8, 8]). */
static inline float verf(float x) {
    x = x < -4.0f ? -4.0f : x;
    x = x > 4.0f ? 4.0f : x;
    float x2 = x * x;
    float p = -2.72614225801306e-10f;
    p = p * x2 + 2.77068142495902e-08f;
    p = p * x2 - 2.10102402082508e-06f;
    p = p * x2 - 5.69250639462346e-05f;
    p = p * x2 - 7.34990630326855e-04f;
    p = p * x2 - 2.95459980854025e-03f;
    p = p * x2 - 1.60960333262415e-02f;
    float q = -1.45660718464996e-05f;
    q = q * x2 - 2.13374055278905e-04f;
    q = q * x2 - 1.68282697438203e-03f;
    q = q * x2 - 7.37332916720468e-03f;
    q = q * x2 - 1.42647390514189e-02f;
    return x * p / q;
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

/* p = exp(p - max p), in place; returns the sum (softmax's divisor, which
 * attention applies to its output rows instead: dh values, not len). */
VEC_CLONES static float softmax_exp_row(float *p, int64_t n) {
    float m = max_row(p, n), acc[LANES] = {0};
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int l = 0; l < LANES; l++) {
            float e = vexp(p[i + l] - m);
            p[i + l] = e;
            acc[l] += e;
        }
    for (; i < n; i++) {
        p[i] = vexp(p[i] - m);
        acc[0] += p[i];
    }
    return lane_sum(acc);
}

VEC_CLONES static void scale_row(float *p, int64_t n, float f) {
    for (int64_t i = 0; i < n; i++) p[i] *= f;
}

/* ---- linear layers ---- */

#define HUGE_PAGE ((size_t)2 << 20)
#define SMALL_MR 8 /* rows per register block of the packed kernel */

/* ---- kernel choice ---- */

static int cpu_cap; /* what the CPU has: 0 generic, 1 AVX512_BF16, 2 also AMX */
static int cpu_amd;
static int cpu_vnni; /* AVX512_VNNI (a level-1 feature: capped by "generic" only) */
static pthread_once_t cpu_once = PTHREAD_ONCE_INIT;

static void cpu_probe(void) {
    cpu_cap = bf16_cpu_amx() ? 2 : bf16_cpu_avx512() ? 1 : 0;
    cpu_amd = bf16_cpu_amd();
    cpu_vnni = int8_cpu_vnni();
}

/* RAGD_MAX_CPU_ISA, read on every call (a test may set it between two
 * models; models are made rarely): 0 generic, 1 avx512, 2 amx. */
static int max_isa_limit(void) {
    const char *max = getenv("RAGD_MAX_CPU_ISA");
    if (max && !strcasecmp(max, "generic")) return 0;
    if (max && !strcasecmp(max, "avx512")) return 1;
    return 2;
}

/* AVX512_VNNI under RAGD_MAX_CPU_ISA (any level but "generic"). */
static int vnni_allowed(void) {
    pthread_once(&cpu_once, cpu_probe);
    return cpu_vnni && max_isa_limit() >= 1;
}

/* The CPU's bf16 level (cpu_cap) under RAGD_MAX_CPU_ISA. */
static int cpu_level(void) {
    pthread_once(&cpu_once, cpu_probe);
    int limit = max_isa_limit();
    return cpu_cap < limit ? cpu_cap : limit;
}

tensor_kernel tensor_kernel_for(tensor_precision p) {
    int level = cpu_level();
    if (p == TENSOR_BF16 && level == 2) return TENSOR_KERNEL_BF16_AMX;
    if (p == TENSOR_BF16 && level == 1) return TENSOR_KERNEL_BF16_AVX512;
    if (p == TENSOR_INT8 && vnni_allowed()) return TENSOR_KERNEL_INT8_VNNI;
    return TENSOR_KERNEL_FP32;
}

tensor_precision tensor_precision_auto(void) {
    int level = cpu_level();
    if (level == 2) return TENSOR_BF16;             /* AMX tiles */
    if (cpu_amd && vnni_allowed()) return TENSOR_INT8; /* AVX512_VNNI on AMD (Zen 4 on) */
    if (level == 1 && cpu_amd) return TENSOR_BF16;  /* AVX512_BF16 on AMD without VNNI (none known) */
    return TENSOR_FP32;
}

int tensor_kernel_runs(tensor_kernel k) {
    int level = cpu_level();
    return k == TENSOR_KERNEL_FP32 || (k == TENSOR_KERNEL_BF16_AVX512 && level >= 1) ||
           (k == TENSOR_KERNEL_BF16_AMX && level >= 2) ||
           (k == TENSOR_KERNEL_INT8_VNNI && vnni_allowed());
}

const char *tensor_kernel_name(tensor_kernel k) {
    return k == TENSOR_KERNEL_BF16_AMX      ? "bf16-amx"
           : k == TENSOR_KERNEL_BF16_AVX512 ? "bf16-avx512"
           : k == TENSOR_KERNEL_INT8_VNNI   ? "int8-vnni"
                                            : "fp32";
}

tensor_precision tensor_kernel_precision(tensor_kernel k) {
    return k == TENSOR_KERNEL_FP32 ? TENSOR_FP32 : k == TENSOR_KERNEL_INT8_VNNI ? TENSOR_INT8 : TENSOR_BF16;
}

static const char *const precision_names[] = {[TENSOR_FP32] = "fp32", [TENSOR_BF16] = "bf16", [TENSOR_INT8] = "int8"};

const char *tensor_precision_name(tensor_precision p) {
    return p >= TENSOR_FP32 && p <= TENSOR_INT8 ? precision_names[p] : "fp32";
}

int tensor_precision_parse(const char *s, tensor_precision *p) {
    if (!s || !strcmp(s, "auto")) return *p = tensor_precision_auto(), 0;
    for (int i = TENSOR_FP32; i <= TENSOR_INT8; i++)
        if (!strcmp(s, precision_names[i])) return *p = (tensor_precision)i, 0;
    return -1;
}

size_t tensor_weight_bytes(tensor_kernel k, int64_t out, int64_t in) {
    size_t n = k == TENSOR_KERNEL_FP32        ? sizeof(float) * (size_t)((out + TENSOR_PANEL - 1) / TENSOR_PANEL * TENSOR_PANEL * in)
               : k == TENSOR_KERNEL_INT8_VNNI ? int8_weight_bytes(out, in)
                                              : bf16_weight_bytes(k, out, in);
    return (n + 63) / 64 * 64;
}

void *tensor_panels_alloc(size_t bytes) {
    bytes = (bytes ? bytes + HUGE_PAGE - 1 : HUGE_PAGE) / HUGE_PAGE * HUGE_PAGE;
    void *p = NULL;
    if (posix_memalign(&p, HUGE_PAGE, bytes) != 0) p = mem_alloc(bytes); /* mem_alloc aborts on OOM */
    madvise(p, bytes, MADV_HUGEPAGE);                                     /* advice only: may fail */
    return p;
}

tensor_weight tensor_weight_pack(tensor_kernel k, const float *w, int64_t out, int64_t in, void *mem) {
    tensor_weight tw = {.w = w, .packed = mem, .out = out, .in = in, .kernel = k};
    if (k == TENSOR_KERNEL_INT8_VNNI) {
        int8_weight_pack(w, out, in, mem);
        return tw;
    }
    if (k != TENSOR_KERNEL_FP32) {
        bf16_weight_pack(k, w, out, in, mem);
        return tw;
    }
    float *panels = mem;
    for (int64_t pn = 0; pn * TENSOR_PANEL < out; pn++) {
        float *dst = panels + pn * in * TENSOR_PANEL;
        for (int64_t i = 0; i < in; i++)
            for (int j = 0; j < TENSOR_PANEL; j++) {
                int64_t o = pn * TENSOR_PANEL + j;
                dst[i * TENSOR_PANEL + j] = o < out ? w[o * in + i] : 0.0f;
            }
    }
    return tw;
}

tensor_weight tensor_weight_make(tensor_kernel k, const float *w, int64_t out, int64_t in) {
    tensor_weight tw = tensor_weight_pack(k, w, out, in, tensor_panels_alloc(tensor_weight_bytes(k, out, in)));
    tw.owned = 1;
    return tw;
}

void tensor_weight_free(tensor_weight *w) {
    if (w->owned) free(w->packed);
    w->packed = NULL;
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
        const float *pn = (const float *)w->packed + p * in * TENSOR_PANEL;
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

static __thread int tls_threads = 1; /* tensor_threads_set */

void tensor_threads_set(int n) {
    tls_threads = n < 1 ? 1 : n > TENSOR_POOL_MAX ? TENSOR_POOL_MAX : n;
    tensor_pool_prepare(tls_threads);
}

static void linear_one(const tensor *x, const tensor_weight *w, const float *b, tensor *y) {
    if (w->kernel == TENSOR_KERNEL_FP32) linear_panels(x, w, b, y);
    else if (w->kernel == TENSOR_KERNEL_INT8_VNNI) int8_linear(x, w, b, y);
    else bf16_linear(x, w, b, y);
}

typedef struct linear_job {
    const tensor *x;
    const tensor_weight *w;
    const float *b;
    tensor *y;
    int64_t panels;
} linear_job;

/* Part `part` of `parts` of a product: a run of whole output panels, as a
 * weight of those panels alone and the output columns they make (both
 * panel kernels lay a panel out as one block of TENSOR_PANEL outputs). */
static void linear_part(void *arg, int part, int parts) {
    const linear_job *j = arg;
    const tensor_weight *w = j->w;
    int64_t p0 = j->panels * part / parts, p1 = j->panels * (part + 1) / parts;
    int64_t o0 = p0 * TENSOR_PANEL, o1 = p1 * TENSOR_PANEL < w->out ? p1 * TENSOR_PANEL : w->out;
    if (o1 <= o0) return;
    size_t panel = w->kernel == TENSOR_KERNEL_FP32        ? sizeof(float) * (size_t)(w->in * TENSOR_PANEL)
                   : w->kernel == TENSOR_KERNEL_INT8_VNNI ? int8_panel_bytes(w->in)
                                                          : bf16_panel_bytes(w->in);
    tensor_weight pw = *w;
    pw.packed = (char *)w->packed + (size_t)p0 * panel;
    pw.out = o1 - o0;
    tensor ys = *j->y;
    ys.data = j->y->data + o0;
    ys.ne[0] = o1 - o0;
    linear_one(j->x, &pw, j->b ? j->b + o0 : NULL, &ys);
}

void tensor_linear(const tensor *x, const tensor_weight *w, const float *b, tensor *y) {
    int64_t rows = x->ne[1], in = x->ne[0], out = y->ne[0];
    RAGD_CHECK(y->ne[1] == rows && in == w->in && out == w->out);
    if (rows == 0) return;
    /* Split by output panels: every output is computed as by one thread
     * (same kernel, same row blocks, same order of sums), so the bits do
     * not depend on the thread count. AMX stays on one thread: its tile
     * configuration is per thread. */
    linear_job j = {x, w, b, y, (out + TENSOR_PANEL - 1) / TENSOR_PANEL};
    int nt = tls_threads;
    if (nt > 1 && w->kernel != TENSOR_KERNEL_BF16_AMX && j.panels >= 2 * nt &&
        tensor_pool_run(nt, linear_part, &j) == 0)
        return;
    linear_one(x, w, b, y);
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

static int64_t round_panel(int64_t n) {
    return (n + TENSOR_PANEL - 1) / TENSOR_PANEL * TENSOR_PANEL;
}

size_t tensor_attention_scratch(int len, int dh) {
    return (size_t)len * (size_t)len + (size_t)round_panel(len) * (size_t)dh + (size_t)round_panel(dh) * (size_t)len +
           (size_t)len;
}

/* Per head: K_h^T and V_h packed as the weights of two small linear layers
 * (panels, as tensor_weight), so the scores and the weighted sum run on
 * the packed kernel: a sequence has at most a few hundred rows, where
 * cblas_sgemm spends much of its time copying its operands. */
void tensor_attention(const tensor *q, const tensor *k, const tensor *v, int heads, tensor *out, float *scratch) {
    int len = (int)q->ne[1], dh = (int)(q->ne[0] / heads);
    float scale = 1.0f / sqrtf((float)dh);
    float *scores = scratch, *kp = scratch + (size_t)len * len, *vp = kp + (size_t)round_panel(len) * dh;
    float *sums = vp + (size_t)round_panel(dh) * len;
    tensor_weight kw = {.packed = kp, .out = len, .in = dh}, vw = {.packed = vp, .out = dh, .in = len};
    for (int h = 0; h < heads; h++) {
        for (int64_t p = 0; p * TENSOR_PANEL < len; p++) /* kp[p][i][j] = scale * K[p*32+j][h*dh+i] */
            for (int j = 0; j < TENSOR_PANEL; j++) {
                int64_t key = p * TENSOR_PANEL + j;
                const float *kr = key < len ? tensor_row(k, key) + h * dh : NULL;
                for (int i = 0; i < dh; i++) kp[(p * dh + i) * TENSOR_PANEL + j] = kr ? scale * kr[i] : 0.0f;
            }
        for (int64_t p = 0; p * TENSOR_PANEL < dh; p++) /* vp[p][i][j] = V[i][h*dh+p*32+j] */
            for (int i = 0; i < len; i++) {
                const float *vr = tensor_row(v, i) + h * dh + p * TENSOR_PANEL;
                float *dst = vp + ((size_t)p * len + (size_t)i) * TENSOR_PANEL;
                int64_t n = dh - p * TENSOR_PANEL < TENSOR_PANEL ? dh - p * TENSOR_PANEL : TENSOR_PANEL;
                if (n == TENSOR_PANEL) { /* a constant size: vector moves, not rep movs */
                    memcpy(dst, vr, sizeof(float) * TENSOR_PANEL);
                    continue;
                }
                memcpy(dst, vr, sizeof(float) * (size_t)n);
                memset(dst + n, 0, sizeof(float) * (size_t)(TENSOR_PANEL - n));
            }
        tensor qh = tensor_view(q, h * dh, dh, 0, len), oh = tensor_view(out, h * dh, dh, 0, len);
        tensor s = {scores, {len, len}, {sizeof(float), sizeof(float) * (size_t)len}};
        linear_panels(&qh, &kw, NULL, &s);
        for (int r = 0; r < len; r++) sums[r] = softmax_exp_row(scores + (size_t)r * len, len);
        linear_panels(&s, &vw, NULL, &oh);
        for (int r = 0; r < len; r++) scale_row(tensor_row(&oh, r), dh, 1.0f / sums[r]);
    }
}
