/* tensor.h - a 2-D float32 matrix view and the kernels of a BERT encoder
 *
 * Like ggml's tensors, a view has explicit shapes and strides: ne[0] is the
 * number of columns (the contiguous dimension), ne[1] the number of rows,
 * and nb[1] the bytes from one row to the next. Every optimised kernel has
 * a naive reference (tensor_ref_*) in tensor_ref.c, and
 * tests/unit/test_tensor.c checks each against it within a stated bound.
 *
 *     tensor x = tensor_alloc(384, n_tokens);
 *     tensor y = tensor_alloc(1536, n_tokens);
 *     tensor_linear(&x, w, b, &y);          // y = x W^T + b  (cblas_sgemm)
 *     tensor_gelu(&y);
 *     tensor_free(&x); tensor_free(&y);
 */
#ifndef RAGD_TENSOR_H
#define RAGD_TENSOR_H

#include <stddef.h>
#include <stdint.h>

typedef struct tensor {
    float *data;
    int64_t ne[2]; /* columns, rows */
    size_t nb[2];  /* bytes per element, bytes per row */
} tensor;

/* A new contiguous cols x rows matrix (caller frees with tensor_free). */
tensor tensor_alloc(int64_t cols, int64_t rows);
void tensor_free(tensor *t);

/* View of rows [r0, r0+n) and columns [c0, c0+m) of t (no copy). */
tensor tensor_view(const tensor *t, int64_t c0, int64_t m, int64_t r0, int64_t n);

static inline float *tensor_row(const tensor *t, int64_t r) {
    return (float *)((char *)t->data + (size_t)r * t->nb[1]);
}

/* y = x W^T + b, W is out x in row-major (PyTorch's nn.Linear layout). */
void tensor_linear(const tensor *x, const float *w, const float *b, tensor *y);

/* Each row: (x - mean) / sqrt(var + eps) * g + b, in place. */
void tensor_layernorm(tensor *x, const float *g, const float *b, float eps);

/* x = x + y, elementwise, same shapes. */
void tensor_add(tensor *x, const tensor *y);

/* GELU with the exact erf form: 0.5 x (1 + erf(x / sqrt 2)), in place. */
void tensor_gelu(tensor *x);

/* Self-attention for one sequence: q, k, v are len x (heads*dh) views;
 * out (same shape) = softmax(q_h k_h^T / sqrt(dh)) v_h per head. scratch
 * holds len*len floats. */
void tensor_attention(const tensor *q, const tensor *k, const tensor *v, int heads, tensor *out, float *scratch);

/* The vectorisable exp and erf the kernels use (exposed for tests). */
float tensor_exp(float x);
float tensor_erf(float x);

/* Naive references, for tests. */
void tensor_ref_linear(const tensor *x, const float *w, const float *b, tensor *y);
void tensor_ref_layernorm(tensor *x, const float *g, const float *b, float eps);
void tensor_ref_gelu(tensor *x);
void tensor_ref_attention(const tensor *q, const tensor *k, const tensor *v, int heads, tensor *out);

#endif
