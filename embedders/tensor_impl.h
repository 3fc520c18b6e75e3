/* tensor_impl.h - what tensor.c calls in the reduced-precision kernel files (private to embedders/) */
#ifndef RAGD_TENSOR_IMPL_H
#define RAGD_TENSOR_IMPL_H

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
