/* tensor_bf16.c - linear layers in bfloat16: AMX tiles or AVX512_BF16, fp32 accumulation
 *
 * Weights are rounded once to bf16 (round to nearest even) and packed for
 * the kernel; each product converts its input rows to bf16 and accumulates
 * in fp32, so only the operands lose precision (8 bits of mantissa), never
 * the sums. Everything around the products (bias, LayerNorm, softmax,
 * GELU, pooling) stays fp32 in tensor.c.
 *
 * Two kernels, chosen at run time (tensor.c, tensor_kernel_for):
 *   AMX (Sapphire Rapids and later): TDPBF16PS on 16 x 32 tiles, a 32 x 32
 *     block of outputs in four accumulator tiles. The weights are packed
 *     as ready-to-load B tiles (16 pairs of inputs x 16 outputs, 1 KiB).
 *   AVX512_BF16 (Cooper Lake, Zen 4, and SPR without AMX permission):
 *     VDPBF16PS on panels of 32 outputs like tensor.c's fp32 kernel, each
 *     input pair broadcast against 2 x 16 output pairs.
 * Both compute every output row from its own input row only, in an order
 * that does not depend on the other rows: a text's vector is the same bits
 * alone or in any batch, as with fp32.
 *
 * The functions with AVX-512 or AMX instructions carry target attributes
 * and are called only after tensor.c has checked the CPU (and, for AMX,
 * asked Linux for the tile state), so the rest of the binary stays
 * baseline x86-64.
 */
#include "tensor_impl.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "mem.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>
#define HAVE_X86 1
#else
#define HAVE_X86 0
#endif

/* bf16 of x, rounded to nearest even (NaN kept a NaN). */
static inline uint16_t bf16_round(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

float tensor_bf16_round(float x) {
    uint32_t u = (uint32_t)bf16_round(x) << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* ---- sizes and packing (plain C: runs on any CPU) ---- */

#define AMX_K 32 /* inputs per tile row: 32 bf16 = 64 bytes */
#define AMX_N 16 /* outputs per B tile */
#define AMX_MB 32 /* rows per block: two A tiles */
#define PANEL 32 /* outputs per AVX-512 panel */

static int64_t round_up(int64_t n, int64_t m) {
    return (n + m - 1) / m * m;
}

size_t bf16_panel_bytes(int64_t in) {
    return sizeof(uint16_t) * (size_t)(PANEL * round_up(in, 2));
}

size_t bf16_weight_bytes(tensor_kernel k, int64_t out, int64_t in) {
    if (k == TENSOR_KERNEL_BF16_AMX) return sizeof(uint16_t) * (size_t)(round_up(out, 4 * AMX_N) * round_up(in, AMX_K));
    return sizeof(uint16_t) * (size_t)(round_up(out, PANEL) * round_up(in, 2));
}

/* AMX: for each block of 16 outputs, for each run of 32 inputs, one B tile
 * of 16 rows (input pairs) x 16 outputs x 2 (the pair): tile[p][n][j] =
 * W[o0 + n][k0 + 2p + j]; outputs padded with zeros to a multiple of 64
 * (what the query kernel takes at a time). */
static void pack_amx(const float *w, int64_t out, int64_t in, uint16_t *dst) {
    int64_t kp = round_up(in, AMX_K), kb_n = kp / AMX_K, nb_n = round_up(out, 4 * AMX_N) / AMX_N;
    for (int64_t nb = 0; nb < nb_n; nb++)
        for (int64_t kb = 0; kb < kb_n; kb++) {
            uint16_t *t = dst + (size_t)(nb * kb_n + kb) * (AMX_K * AMX_N);
            for (int p = 0; p < AMX_K / 2; p++)
                for (int n = 0; n < AMX_N; n++)
                    for (int j = 0; j < 2; j++) {
                        int64_t o = nb * AMX_N + n, i = kb * AMX_K + 2 * p + j;
                        t[(p * AMX_N + n) * 2 + j] = o < out && i < in ? bf16_round(w[o * in + i]) : 0;
                    }
        }
}

/* AVX512_BF16: panels of 32 outputs; for each input pair p, 32 outputs x
 * 2: panel[p][n][j] = W[o0 + n][2p + j]. */
static void pack_panels(const float *w, int64_t out, int64_t in, uint16_t *dst) {
    int64_t pairs = round_up(in, 2) / 2;
    for (int64_t pn = 0; pn * PANEL < out; pn++) {
        uint16_t *t = dst + (size_t)(pn * pairs) * (PANEL * 2);
        for (int64_t p = 0; p < pairs; p++)
            for (int n = 0; n < PANEL; n++)
                for (int j = 0; j < 2; j++) {
                    int64_t o = pn * PANEL + n, i = 2 * p + j;
                    t[(p * PANEL + n) * 2 + j] = o < out && i < in ? bf16_round(w[o * in + i]) : 0;
                }
    }
}

void bf16_weight_pack(tensor_kernel k, const float *w, int64_t out, int64_t in, void *mem) {
    if (k == TENSOR_KERNEL_BF16_AMX) pack_amx(w, out, in, mem);
    else pack_panels(w, out, in, mem);
}

/* ---- per-thread scratch for the bf16 or int8 copy of a product's input ---- */

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

typedef struct scratch {
    size_t cap;
    void *p;
} scratch;

static void scratch_free(void *s) {
    scratch *sc = s;
    if (sc) free(sc->p);
    free(sc);
}

static void scratch_init(void) {
    RAGD_CHECK(pthread_key_create(&scratch_key, scratch_free) == 0);
}

/* A buffer of at least n bytes, 64-byte aligned, reused by the thread's
 * next products (the bf16 or int8 copy of a product's input; for a
 * 4,096-token batch it is megabytes: allocating it per product would
 * fault its pages in every time). */
void *tensor_scratch_get(size_t n) {
    pthread_once(&scratch_once, scratch_init);
    scratch *sc = pthread_getspecific(scratch_key);
    if (!sc) {
        sc = mem_calloc(1, sizeof(*sc));
        RAGD_CHECK(pthread_setspecific(scratch_key, sc) == 0);
    }
    if (sc->cap < n) {
        free(sc->p);
        sc->cap = n + n / 4;
        void *p = NULL;
        RAGD_CHECK(posix_memalign(&p, 64, sc->cap) == 0);
        sc->p = p;
    }
    return sc->p;
}

#if HAVE_X86

/* ---- CPU checks ---- */

int bf16_cpu_avx512(void) {
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw") ||
        !__builtin_cpu_supports("avx512vl"))
        return 0;
    unsigned a, b, c, d;
    __asm__("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(1));
    return (a >> 5) & 1; /* CPUID.(7,1):EAX[5] = AVX512_BF16 */
}

int bf16_cpu_amd(void) {
    unsigned a, v[3];
    __asm__("cpuid" : "=a"(a), "=b"(v[0]), "=c"(v[2]), "=d"(v[1]) : "a"(0), "c"(0));
    return !memcmp(v, "AuthenticAMD", 12);
}

#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

int bf16_cpu_amx(void) {
    if (!bf16_cpu_avx512()) return 0;
    unsigned a, b, c, d;
    __asm__("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(0));
    if (!((d >> 22) & 1) || !((d >> 24) & 1)) return 0; /* AMX-BF16, AMX-TILE */
    /* Linux keeps the 8 KiB tile state off until a process asks (5.16+). */
    return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
}

/* Rows [0, rows) of x as bf16, each row kp values (zero padded), into dst;
 * rows up to rows_pad are zero. */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))) static void to_bf16(const tensor *x, int64_t kp,
                                                                                   int64_t rows_pad, uint16_t *dst) {
    int64_t in = x->ne[0], rows = x->ne[1];
    for (int64_t r = 0; r < rows; r++) {
        const float *s = tensor_row(x, r);
        uint16_t *o = dst + (size_t)(r * kp);
        int64_t i = 0;
        for (; i + 32 <= in; i += 32) {
            __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(s + i + 16), _mm512_loadu_ps(s + i));
            _mm512_storeu_si512(o + i, (__m512i)v);
        }
        for (; i < in; i++) o[i] = bf16_round(s[i]);
        for (; i < kp; i++) o[i] = 0;
    }
    if (rows_pad > rows) memset(dst + (size_t)(rows * kp), 0, sizeof(uint16_t) * (size_t)((rows_pad - rows) * kp));
}

/* ---- AMX ---- */

typedef struct tile_config {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tile_config;

/* Tiles: 0-3 accumulators (C[m][n] for m, n in 0..1), 4-5 A (rows m),
 * 6-7 B (outputs n); every tile 16 rows x 64 bytes. */
#define AMX_TARGET __attribute__((target("amx-tile,amx-bf16,avx512f,avx512bw,avx512vl,avx512bf16")))

/* rows: of the A and C tiles (16; fewer for a product of fewer rows,
 * which then computes no padding). */
AMX_TARGET static void amx_config(int rows) {
    tile_config c;
    memset(&c, 0, sizeof(c));
    c.palette = 1;
    for (int t = 0; t < 8; t++) c.rows[t] = 16, c.colsb[t] = 64;
    for (int t = 0; t < 5; t++) c.rows[t] = (uint8_t)rows;
    _tile_loadconfig(&c);
}

/* Up to 16 rows (one query): c[rows][64] = a[rows][kp] x four B tiles.
 * Tiles: 0-3 accumulators, 4 A (rows rows), 5-7 B (the fourth reuses 5). */
AMX_TARGET static void amx_block_1x4(const uint16_t *a, int64_t kp, const uint16_t *b, size_t bstride, float *c,
                                     size_t ldc) {
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    long sa = (long)(kp * 2);
    for (int64_t k = 0; k < kp; k += AMX_K) {
        _tile_loadd(4, a + k, sa);
        _tile_loadd(5, b, 64);
        _tile_loadd(6, b + bstride, 64);
        _tile_loadd(7, b + 2 * bstride, 64);
        _tile_dpbf16ps(0, 4, 5);
        _tile_dpbf16ps(1, 4, 6);
        _tile_loadd(5, b + 3 * bstride, 64);
        _tile_dpbf16ps(2, 4, 7);
        _tile_dpbf16ps(3, 4, 5);
        b += AMX_K * AMX_N;
    }
    long sc = (long)(ldc * sizeof(float));
    _tile_stored(0, c, sc);
    _tile_stored(1, c + 16, sc);
    _tile_stored(2, c + 32, sc);
    _tile_stored(3, c + 48, sc);
}

/* A product of at most 16 rows: one A tile of exactly those rows against
 * 64 outputs at a time. */
AMX_TARGET static void amx_linear_small(const uint16_t *a, int64_t rows, int64_t kp, const tensor_weight *w,
                                        const float *b, tensor *y) {
    int64_t out = w->out, kb_n = kp / AMX_K, np = round_up(out, 4 * AMX_N);
    size_t bstride = (size_t)kb_n * (AMX_K * AMX_N);
    const uint16_t *wp = w->packed;
    float stage[16 * 4 * AMX_N] __attribute__((aligned(64)));
    amx_config((int)rows);
    for (int64_t n0 = 0; n0 < np; n0 += 4 * AMX_N) {
        int64_t cols = out - n0 < 4 * AMX_N ? out - n0 : 4 * AMX_N;
        amx_block_1x4(a, kp, wp + (size_t)(n0 / AMX_N) * bstride, bstride, stage, 4 * AMX_N);
        for (int64_t r = 0; r < rows; r++) {
            float *yr = tensor_row(y, r) + n0;
            const float *sr = stage + r * 4 * AMX_N;
            if (b)
                for (int64_t j = 0; j < cols; j++) yr[j] = sr[j] + b[n0 + j];
            else memcpy(yr, sr, sizeof(float) * (size_t)cols);
        }
    }
    _tile_release();
}

/* One 32 x 32 block: c[32][32] = a[32 rows][kp] x panel(nb, nb+1). */
AMX_TARGET static void amx_block(const uint16_t *a, int64_t kp, const uint16_t *b0, const uint16_t *b1, float *c,
                                 size_t ldc) {
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    long sa = (long)(kp * 2);
    for (int64_t k = 0; k < kp; k += AMX_K) {
        _tile_loadd(4, a + k, sa);
        _tile_loadd(5, a + 16 * kp + k, sa);
        _tile_loadd(6, b0, 64);
        _tile_loadd(7, b1, 64);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
        b0 += AMX_K * AMX_N;
        b1 += AMX_K * AMX_N;
    }
    long sc = (long)(ldc * sizeof(float));
    _tile_stored(0, c, sc);
    _tile_stored(1, c + 16, sc);
    _tile_stored(2, c + 16 * ldc, sc);
    _tile_stored(3, c + 16 * ldc + 16, sc);
}

/* Rows per chunk of the input kept in L2 while every output block passes
 * over it (128 rows x 1,536 inputs = 384 KiB of bf16). */
#define AMX_CHUNK 128

AMX_TARGET static void amx_linear(const tensor *x, const tensor_weight *w, const float *b, tensor *y) {
    int64_t rows = x->ne[1], in = w->in, out = w->out;
    int64_t kp = round_up(in, AMX_K), kb_n = kp / AMX_K, np = round_up(out, 2 * AMX_N);
    if (rows <= 16) {
        uint16_t *a = tensor_scratch_get(sizeof(uint16_t) * (size_t)(rows * kp));
        to_bf16(x, kp, rows, a);
        amx_linear_small(a, rows, kp, w, b, y);
        return;
    }
    int64_t mp = round_up(rows, AMX_MB);
    uint16_t *a = tensor_scratch_get(sizeof(uint16_t) * (size_t)(mp * kp));
    to_bf16(x, kp, mp, a);
    const uint16_t *wp = w->packed;
    size_t ldy = y->nb[1] / sizeof(float);
    float stage[AMX_MB * 2 * AMX_N] __attribute__((aligned(64)));
    amx_config(16);
    for (int64_t m0 = 0; m0 < mp; m0 += AMX_CHUNK) {
        int64_t m1 = m0 + AMX_CHUNK < mp ? m0 + AMX_CHUNK : mp;
        for (int64_t n0 = 0; n0 < np; n0 += 2 * AMX_N) {
            const uint16_t *b0 = wp + (size_t)((n0 / AMX_N) * kb_n) * (AMX_K * AMX_N);
            const uint16_t *b1 = b0 + (size_t)kb_n * (AMX_K * AMX_N);
            int64_t cols = out - n0 < 2 * AMX_N ? out - n0 : 2 * AMX_N;
            for (int64_t m = m0; m < m1; m += AMX_MB) {
                int64_t n_rows = rows - m < AMX_MB ? rows - m : AMX_MB;
                if (n_rows <= 0) break;
                int direct = n_rows == AMX_MB && cols == 2 * AMX_N;
                float *c = direct ? tensor_row(y, m) + n0 : stage;
                amx_block(a + (size_t)(m * kp), kp, b0, b1, c, direct ? ldy : 2 * AMX_N);
                for (int64_t r = 0; r < n_rows; r++) {
                    float *yr = tensor_row(y, m + r) + n0;
                    if (!direct) memcpy(yr, stage + r * 2 * AMX_N, sizeof(float) * (size_t)cols);
                    if (b)
                        for (int64_t j = 0; j < cols; j++) yr[j] += b[n0 + j];
                }
            }
        }
    }
    _tile_release();
}

/* ---- AVX512_BF16 ---- */

#define AVX_MR PANEL_MAX_ROWS /* rows per register block: 16 accumulators + 2 weights */
#define AVX_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

static inline __attribute__((always_inline)) AVX_TARGET void avx_block(const int mr, const uint16_t *a, int64_t kp,
                                                                      const uint16_t *pn, const float *bias, float *y,
                                                                      size_t ldy) {
    __m512 c0[AVX_MR], c1[AVX_MR];
    __m512 z0 = bias ? _mm512_loadu_ps(bias) : _mm512_setzero_ps(), z1 = bias ? _mm512_loadu_ps(bias + 16) : z0;
    for (int t = 0; t < mr; t++) c0[t] = z0, c1[t] = z1;
    int64_t pairs = kp / 2;
    for (int64_t p = 0; p < pairs; p++) {
        _mm_prefetch((const char *)(pn + (p + 16) * PANEL * 2), _MM_HINT_T0);
        _mm_prefetch((const char *)(pn + (p + 16) * PANEL * 2 + 32), _MM_HINT_T0);
        __m512bh w0 = (__m512bh)_mm512_loadu_si512(pn + p * PANEL * 2);
        __m512bh w1 = (__m512bh)_mm512_loadu_si512(pn + p * PANEL * 2 + 32);
        for (int t = 0; t < mr; t++) {
            int32_t pair;
            memcpy(&pair, a + (size_t)t * kp + 2 * p, 4);
            __m512bh s = (__m512bh)_mm512_set1_epi32(pair);
            c0[t] = _mm512_dpbf16_ps(c0[t], s, w0);
            c1[t] = _mm512_dpbf16_ps(c1[t], s, w1);
        }
    }
    for (int t = 0; t < mr; t++) {
        _mm512_storeu_ps(y + (size_t)t * ldy, c0[t]);
        _mm512_storeu_ps(y + (size_t)t * ldy + 16, c1[t]);
    }
}

AVX_TARGET static void avx_linear(const tensor *x, const tensor_weight *w, const float *b, tensor *y) {
    int64_t rows = x->ne[1], in = w->in, out = w->out, kp = round_up(in, 2);
    uint16_t *a = tensor_scratch_get(sizeof(uint16_t) * (size_t)(round_up(rows, AVX_MR) * kp));
    to_bf16(x, kp, rows, a);
    const uint16_t *wp = w->packed;
    float tail_b[PANEL], tail_y[AVX_MR * PANEL];
    for (int64_t pn = 0; pn * PANEL < out; pn++) {
        const uint16_t *panel = wp + (size_t)(pn * (kp / 2)) * (PANEL * 2);
        int64_t o0 = pn * PANEL, cols = out - o0 < PANEL ? out - o0 : PANEL;
        const float *pb = panel_bias(b, o0, cols, tail_b);
        for (int64_t t0 = 0; t0 < rows; t0 += AVX_MR) {
            int mr = rows - t0 < AVX_MR ? (int)(rows - t0) : AVX_MR;
            const uint16_t *as = a + (size_t)(t0 * kp);
            size_t ld;
            float *ys = panel_dst(y, t0, o0, cols, tail_y, &ld);
            switch (mr) {
#define BLOCK(n)                                    \
    case n:                                         \
        avx_block(n, as, kp, panel, pb, ys, ld);    \
        break;
                BLOCK(1) BLOCK(2) BLOCK(3) BLOCK(4) BLOCK(5) BLOCK(6) BLOCK(7) BLOCK(8)
#undef BLOCK
            }
            panel_finish(y, t0, mr, o0, cols, tail_y);
        }
    }
}

void bf16_linear(const tensor *x, const tensor_weight *w, const float *b, tensor *y) {
    if (w->kernel == TENSOR_KERNEL_BF16_AMX) amx_linear(x, w, b, y);
    else avx_linear(x, w, b, y);
}

#else /* not x86-64: no bf16 kernels; tensor_kernel_for never picks them */

int bf16_cpu_avx512(void) {
    return 0;
}

int bf16_cpu_amd(void) {
    return 0;
}

int bf16_cpu_amx(void) {
    return 0;
}

void bf16_linear(const tensor *x, const tensor_weight *w, const float *b, tensor *y) {
    (void)x, (void)w, (void)b, (void)y;
    RAGD_CHECK(!"bf16 kernels need x86-64");
}

#endif
