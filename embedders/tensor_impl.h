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
void bf16_weight_pack(tensor_kernel k, const float *w, int64_t out, int64_t in, void *mem);
void bf16_linear(const tensor *x, const tensor_weight *w, const float *b, tensor *y);


#endif
