/* tensor_impl.h - what tensor.c calls in the reduced-precision kernel files (private to embedders/) */
#ifndef RAGD_TENSOR_IMPL_H
#define RAGD_TENSOR_IMPL_H

#include <string.h>

#include "tensor.h"

/* tensor_bf16.c: the CPU checks (bf16_cpu_amx also asks Linux for the
 * tile state), packed sizes, packing, and y = x W^T (+ b). */
int bf16_cpu_avx512(void);
int bf16_cpu_amx(void);
int bf16_cpu_amd(void); /* CPUID vendor AuthenticAMD */
size_t bf16_weight_bytes(tensor_kernel k, int64_t out, int64_t in);
/* Bytes of one panel of TENSOR_PANEL outputs in the AVX512_BF16 layout. */
size_t bf16_panel_bytes(int64_t in);
void bf16_weight_pack(tensor_kernel k, const float *w, int64_t out, int64_t in, void *mem);
void bf16_linear(const tensor *x, const tensor_weight *w, const float *b, tensor *y);

/* The panel kernels (bf16 AVX-512, int8) write TENSOR_PANEL outputs
 * [o0, o0 + cols) of a block of rows at a time: a full panel straight
 * into y, the last, partial one through a padded bias and a staging
 * block of TENSOR_PANEL columns, copied back by panel_finish. */
#define PANEL_MAX_ROWS 8 /* rows per register block of the panel kernels */

static inline const float *panel_bias(const float *b, int64_t o0, int64_t cols, float *tail_b) {
    if (!b || cols == TENSOR_PANEL) return b ? b + o0 : NULL;
    memset(tail_b, 0, sizeof(float) * TENSOR_PANEL);
    memcpy(tail_b, b + o0, sizeof(float) * (size_t)cols);
    return tail_b;
}

/* Where rows t0.. of the panel go, and their stride (*ld, in floats). */
static inline float *panel_dst(tensor *y, int64_t t0, int64_t o0, int64_t cols, float *tail_y, size_t *ld) {
    if (cols == TENSOR_PANEL) return *ld = y->nb[1] / sizeof(float), tensor_row(y, t0) + o0;
    return *ld = TENSOR_PANEL, tail_y;
}

static inline void panel_finish(tensor *y, int64_t t0, int mr, int64_t o0, int64_t cols, const float *tail_y) {
    if (cols == TENSOR_PANEL) return;
    for (int t = 0; t < mr; t++) memcpy(tensor_row(y, t0 + t) + o0, tail_y + t * TENSOR_PANEL, sizeof(float) * (size_t)cols);
}

/* A per-thread buffer of at least n bytes, 64-byte aligned, kept for the
 * thread's next products (tensor_bf16.c). */
void *tensor_scratch_get(size_t n);

/* tensor_int8.c: the CPU check (AVX512_VNNI with AVX512F/BW/VL), packed
 * sizes (a panel of TENSOR_PANEL outputs: scales, corrections, weights),
 * packing, y = x W^T (+ b) on VNNI, and the same arithmetic in plain C. */
int int8_cpu_vnni(void);
size_t int8_weight_bytes(int64_t out, int64_t in);
size_t int8_panel_bytes(int64_t in);
void int8_weight_pack(const float *w, int64_t out, int64_t in, void *mem);
void int8_linear(const tensor *x, const tensor_weight *w, const float *b, tensor *y);
void int8_linear_ref(const tensor *x, const tensor_weight *w, const float *b, tensor *y);


/* tensor_pool.c: helper threads for tensor_threads_set. tensor_pool_run
 * runs fn(arg, part, parts) for part 0 on the caller and the others on
 * helpers, and returns when all are done; -1 (nothing run) when threads
 * < 2 or another caller is splitting. tensor_pool_prepare starts the
 * helpers and wakes them to spin for the products to come. */
#define TENSOR_POOL_MAX 64
int tensor_pool_run(int threads, void (*fn)(void *arg, int part, int parts), void *arg);
void tensor_pool_prepare(int threads);

#endif
