/* tensor_int8.c - linear layers in int8 with AVX512_VNNI: per-output weight scales, per-row input scales
 *
 * Weights are quantized once, symmetrically, with one scale per output
 * (row of W): q = round(W / s_o), s_o = max|W[o,:]| / 127. Each product
 * quantizes its input rows the same way with one scale per row (a token):
 * a = round(x / s_r), s_r = max|x[r,:]| / 127. The sums of products are
 * exact in int32 (VPDPBUSD: four u8 x s8 products per 32-bit lane; at most
 * 255 x 127 x 4 per instruction, 1,536 inputs stay below 2^26), and one
 * fp32 multiply per output brings them back:
 *     y[r][o] = s_r s_o sum_i a[r][i] q[o][i] + b[o].
 * VPDPBUSD multiplies unsigned by signed bytes, so the inputs are stored
 * as a + 128 (1..255) and each panel keeps 128 sum_i q[o][i] to take off.
 * Everything around the products (bias, LayerNorm, softmax, GELU,
 * pooling) stays fp32 in tensor.c, as for bf16.
 *
 * Panels of 32 outputs like the fp32 and AVX512_BF16 kernels (so
 * tensor.c splits a product between threads the same way): a panel holds
 * the 32 scales, the 32 corrections, then for each quad of inputs 32
 * outputs x 4 bytes: panel.q[k][n][j] = q[o0 + n][4k + j]. Every output
 * row depends on its own input row only: a text's vector is the same bits
 * alone or in any batch.
 *
 * The function with AVX-512 instructions carries a target attribute and
 * is called only after tensor.c has checked the CPU; int8_linear_ref is
 * the same arithmetic in plain C (tests, and any CPU).
 */
#include "tensor_impl.h"

#include <math.h>
#include <string.h>

#include "check.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define HAVE_X86 1
#else
#define HAVE_X86 0
#endif

#define PANEL 32 /* outputs per panel (TENSOR_PANEL) */
#define HEAD (PANEL * 2 * 4) /* bytes before a panel's weights: 32 float scales, 32 int32 corrections */

static int64_t quads(int64_t in) {
    return (in + 3) / 4;
}

size_t int8_panel_bytes(int64_t in) {
    return HEAD + (size_t)(quads(in) * 4 * PANEL);
}

size_t int8_weight_bytes(int64_t out, int64_t in) {
    return (size_t)((out + PANEL - 1) / PANEL) * int8_panel_bytes(in);
}

/* round(v), ties to even, clamped to [-127, 127]: what _mm512_cvtps_epi32
 * does under the default rounding mode. */
static inline int q8(float v) {
    float r = nearbyintf(v);
    return r > 127.0f ? 127 : r < -127.0f ? -127 : (int)r;
}

void int8_weight_pack(const float *w, int64_t out, int64_t in, void *mem) {
    int64_t kq = quads(in);
    for (int64_t pn = 0; pn * PANEL < out; pn++) {
        char *p = (char *)mem + (size_t)pn * int8_panel_bytes(in);
        float *scale = (float *)p;
        int32_t *corr = (int32_t *)(p + PANEL * 4);
        int8_t *q = (int8_t *)(p + HEAD);
        memset(q, 0, (size_t)(kq * 4 * PANEL));
        for (int n = 0; n < PANEL; n++) {
            int64_t o = pn * PANEL + n;
            scale[n] = 0.0f, corr[n] = 0;
            if (o >= out) continue;
            const float *row = w + o * in;
            float mx = 0.0f;
            for (int64_t i = 0; i < in; i++) mx = fmaxf(mx, fabsf(row[i]));
            if (mx == 0.0f) continue;
            float step = 127.0f / mx;
            int32_t sum = 0;
            for (int64_t i = 0; i < in; i++) {
                int v = q8(row[i] * step);
                q[((i / 4) * PANEL + n) * 4 + i % 4] = (int8_t)v;
                sum += v;
            }
            scale[n] = mx / 127.0f;
            corr[n] = 128 * sum;
        }
    }
}

/* Row x (in values) as bytes a + 128, kp of them (padding 128, that is
 * 0); returns the row's scale s_r (0 for a row of zeros). */
static float quantize_row_ref(const float *x, int64_t in, int64_t kp, uint8_t *dst) {
    float mx = 0.0f;
    for (int64_t i = 0; i < in; i++) mx = fmaxf(mx, fabsf(x[i]));
    float inv = mx > 0.0f ? 127.0f / mx : 0.0f;
    for (int64_t i = 0; i < in; i++) dst[i] = (uint8_t)(q8(x[i] * inv) + 128);
    for (int64_t i = in; i < kp; i++) dst[i] = 128;
    return mx / 127.0f;
}

/* The epilogue every path shares, so the plain C reference and the VNNI
 * kernel give the same bits: (acc - corr) as float, times s_r s_o, plus b. */
static inline float dequant(int32_t acc, int32_t corr, float sr, float so, float b) {
    return (float)(acc - corr) * (sr * so) + b;
}

void int8_linear_ref(const tensor *x, const tensor_weight *w, const float *b, tensor *y) {
    int64_t rows = x->ne[1], in = w->in, out = w->out, kp = quads(in) * 4;
    uint8_t *a = tensor_scratch_get((size_t)kp);
    for (int64_t r = 0; r < rows; r++) {
        float sr = quantize_row_ref(tensor_row(x, r), in, kp, a);
        float *yr = tensor_row(y, r);
        for (int64_t o = 0; o < out; o++) {
            const char *p = (const char *)w->packed + (size_t)(o / PANEL) * int8_panel_bytes(in);
            int n = (int)(o % PANEL);
            const int8_t *q = (const int8_t *)(p + HEAD);
            int32_t acc = 0;
            for (int64_t i = 0; i < kp; i++) acc += (int32_t)a[i] * q[((i / 4) * PANEL + n) * 4 + i % 4];
            yr[o] = dequant(acc, ((const int32_t *)(p + PANEL * 4))[n], sr, ((const float *)p)[n], b ? b[o] : 0.0f);
        }
    }
}

#if HAVE_X86

int int8_cpu_vnni(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
}

#define VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
#define MR PANEL_MAX_ROWS /* rows per register block: 16 accumulators + 2 weights */
#define CHUNK_BYTES (256 << 10) /* quantized input rows kept in L2 at a time */

/* Rows [0, rows) of x quantized into a (kp bytes each), and their scales. */
VNNI_TARGET static void quantize_rows(const tensor *x, int64_t kp, uint8_t *a, float *scales) {
    int64_t in = x->ne[0];
    for (int64_t r = 0; r < x->ne[1]; r++) {
        const float *s = tensor_row(x, r);
        uint8_t *o = a + (size_t)(r * kp);
        __m512 vmax = _mm512_setzero_ps();
        int64_t i = 0;
        for (; i + 16 <= in; i += 16) vmax = _mm512_max_ps(vmax, _mm512_abs_ps(_mm512_loadu_ps(s + i)));
        float mx = _mm512_reduce_max_ps(vmax);
        for (; i < in; i++) mx = fmaxf(mx, fabsf(s[i]));
        float inv = mx > 0.0f ? 127.0f / mx : 0.0f;
        scales[r] = mx / 127.0f;
        __m512 vinv = _mm512_set1_ps(inv);
        __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127), off = _mm512_set1_epi32(128);
        for (i = 0; i + 16 <= in; i += 16) {
            __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(s + i), vinv));
            v = _mm512_add_epi32(_mm512_min_epi32(_mm512_max_epi32(v, lo), hi), off);
            _mm_storeu_si128((__m128i *)(o + i), _mm512_cvtepi32_epi8(v));
        }
        for (; i < in; i++) o[i] = (uint8_t)(q8(s[i] * inv) + 128);
        for (; i < kp; i++) o[i] = 128;
    }
}

/* c + u8 a . s8 w, four bytes per lane. In asm because GCC 12 copies the
 * accumulator around each _mm512_dpbusd_epi32 (two register moves per
 * instruction: 57% of VPDPBUSD's peak rate on a 4,096 x 1,536 x 384 product
 * instead of 84%, measured on an AMD EPYC with AVX512_VNNI). */
static inline __attribute__((always_inline)) VNNI_TARGET __m512i dpbusd(__m512i c, __m512i a, __m512i w) {
    __asm__("vpdpbusd %2, %1, %0" : "+v"(c) : "v"(a), "v"(w));
    return c;
}

static inline __attribute__((always_inline)) VNNI_TARGET void vnni_block(const int mr, const uint8_t *a, int64_t kp,
                                                                        const float *sr, const char *pn,
                                                                        const float *bias, float *y, size_t ldy) {
    __m512i c0[MR], c1[MR];
#pragma GCC unroll 8
    for (int t = 0; t < mr; t++) c0[t] = c1[t] = _mm512_setzero_si512();
    const int8_t *q = (const int8_t *)(pn + HEAD);
    int64_t kq = kp / 4;
    for (int64_t k = 0; k < kq; k++) {
        _mm_prefetch((const char *)(q + (k + 8) * PANEL * 4), _MM_HINT_T0);
        _mm_prefetch((const char *)(q + (k + 8) * PANEL * 4 + 64), _MM_HINT_T0);
        __m512i w0 = _mm512_loadu_si512(q + k * PANEL * 4);
        __m512i w1 = _mm512_loadu_si512(q + k * PANEL * 4 + 64);
#pragma GCC unroll 8
        for (int t = 0; t < mr; t++) {
            int32_t quad;
            memcpy(&quad, a + (size_t)t * kp + 4 * k, 4);
            __m512i s = _mm512_set1_epi32(quad);
            c0[t] = dpbusd(c0[t], s, w0);
            c1[t] = dpbusd(c1[t], s, w1);
        }
    }
    const float *so = (const float *)pn;
    const int32_t *corr = (const int32_t *)(pn + PANEL * 4);
    __m512 so0 = _mm512_loadu_ps(so), so1 = _mm512_loadu_ps(so + 16);
    __m512i k0 = _mm512_loadu_si512(corr), k1 = _mm512_loadu_si512(corr + 16);
    __m512 b0 = bias ? _mm512_loadu_ps(bias) : _mm512_setzero_ps(), b1 = bias ? _mm512_loadu_ps(bias + 16) : b0;
#pragma GCC unroll 8
    for (int t = 0; t < mr; t++) {
        __m512 s = _mm512_set1_ps(sr[t]);
        /* (acc - corr) * (s_r * s_o) + b, rounded like dequant(): no FMA */
        __m512 v0 = _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(c0[t], k0)), _mm512_mul_ps(s, so0)), b0);
        __m512 v1 = _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(c1[t], k1)), _mm512_mul_ps(s, so1)), b1);
        _mm512_storeu_ps(y + (size_t)t * ldy, v0);
        _mm512_storeu_ps(y + (size_t)t * ldy + 16, v1);
    }
}

VNNI_TARGET static void vnni_linear(const tensor *x, const tensor_weight *w, const float *b, tensor *y) {
    int64_t rows = x->ne[1], in = w->in, out = w->out, kp = quads(in) * 4;
    /* the quantized rows, then their scales (kp is a multiple of 4) */
    uint8_t *a = tensor_scratch_get((size_t)(rows * kp) + sizeof(float) * (size_t)rows);
    float *scales = (float *)(a + (size_t)(rows * kp));
    quantize_rows(x, kp, a, scales);
    size_t pb = int8_panel_bytes(in);
    float tail_b[PANEL], tail_y[MR * PANEL];
    /* Rows in chunks that stay in L2 while every panel passes over them
     * (a 4,096-token batch is megabytes of input rows; the weights are
     * the smaller stream), panels within a chunk, blocks of MR rows. */
    int64_t chunk = CHUNK_BYTES / kp < MR ? MR : CHUNK_BYTES / kp / MR * MR;
    for (int64_t m0 = 0; m0 < rows; m0 += chunk) {
        int64_t m1 = m0 + chunk < rows ? m0 + chunk : rows;
        for (int64_t pn = 0; pn * PANEL < out; pn++) {
            const char *panel = (const char *)w->packed + (size_t)pn * pb;
            int64_t o0 = pn * PANEL, cols = out - o0 < PANEL ? out - o0 : PANEL;
            const float *bp = panel_bias(b, o0, cols, tail_b);
            for (int64_t t0 = m0; t0 < m1; t0 += MR) {
                int mr = m1 - t0 < MR ? (int)(m1 - t0) : MR;
                const uint8_t *as = a + (size_t)(t0 * kp);
                size_t ld;
                float *ys = panel_dst(y, t0, o0, cols, tail_y, &ld);
                switch (mr) {
#define BLOCK(n)                                                  \
    case n:                                                       \
        vnni_block(n, as, kp, scales + t0, panel, bp, ys, ld);     \
        break;
                    BLOCK(1) BLOCK(2) BLOCK(3) BLOCK(4) BLOCK(5) BLOCK(6) BLOCK(7) BLOCK(8)
#undef BLOCK
                }
                panel_finish(y, t0, mr, o0, cols, tail_y);
            }
        }
    }
}

void int8_linear(const tensor *x, const tensor_weight *w, const float *b, tensor *y) {
    vnni_linear(x, w, b, y);
}

#else /* not x86-64: the plain C arithmetic (tensor_kernel_for never picks int8 here) */

int int8_cpu_vnni(void) {
    return 0;
}

void int8_linear(const tensor *x, const tensor_weight *w, const float *b, tensor *y) {
    int8_linear_ref(x, w, b, y);
}

#endif
