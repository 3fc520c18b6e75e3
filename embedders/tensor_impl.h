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


/* tensor_pool.c: helper threads for tensor_threads_set. tensor_pool_run
 * runs fn(arg, part, parts) for part 0 on the caller and the others on
 * helpers, and returns when all are done; -1 (nothing run) when threads
 * < 2 or another caller is splitting. tensor_pool_prepare starts the
 * helpers and wakes them to spin for the products to come. */
#define TENSOR_POOL_MAX 64
int tensor_pool_run(int threads, void (*fn)(void *arg, int part, int parts), void *arg);
void tensor_pool_prepare(int threads);

#endif
