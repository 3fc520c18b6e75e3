/* tensor.h - a 2-D float32 matrix view and the kernels of a BERT encoder
 *
 * Like ggml's tensors, a view has explicit shapes and strides: ne[0] is the
 * number of columns (the contiguous dimension), ne[1] the number of rows,
 * and nb[1] the bytes from one row to the next. Every optimised kernel has
 * a naive reference (tensor_ref_*) in tensor_ref.c, and
 * tests/unit/test_tensor.c checks each against it within a stated bound.
 *
 *     tensor_weight w = tensor_weight_make(tensor_kernel_for(TENSOR_FP32), w_f32, 1536, 384);
 *     tensor x = tensor_alloc(384, n_tokens);
 *     tensor y = tensor_alloc(1536, n_tokens);
 *     tensor_linear(&x, &w, NULL, &y);      // y = x W^T
 *     tensor_bias_gelu(&y, b);              // y = gelu(y + b)
 *     tensor_free(&x); tensor_free(&y); tensor_weight_free(&w);
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

/* The arithmetic of a linear layer (--precision): fp32; weights and
 * inputs rounded to bfloat16 with fp32 sums; or weights and inputs
 * quantized to 8-bit integers (one scale per output, one per input row)
 * with exact int32 sums. */
typedef enum tensor_precision { TENSOR_FP32, TENSOR_BF16, TENSOR_INT8 } tensor_precision;

/* The kernel that runs a product, one per precision and CPU: the fp32
 * panels (tensor.c; AVX-512, AVX2 or baseline clones), bf16 on AMX tiles
 * or with AVX512_BF16 (tensor_bf16.c), or int8 with AVX512_VNNI
 * (tensor_int8.c). */
typedef enum tensor_kernel {
    TENSOR_KERNEL_FP32,
    TENSOR_KERNEL_BF16_AVX512,
    TENSOR_KERNEL_BF16_AMX,
    TENSOR_KERNEL_INT8_VNNI
} tensor_kernel;

/* The fastest kernel this CPU has for a precision; TENSOR_KERNEL_FP32 when
 * it has none (a CPU without AVX512_BF16 runs --precision bf16 in fp32,
 * one without AVX512_VNNI --precision int8).
 * The environment variable RAGD_MAX_CPU_ISA caps the choice, as oneDNN's
 * ONEDNN_MAX_CPU_ISA does: "generic" (fp32 only), "avx512" (no AMX), or
 * "amx" (everything; the default). Tests use it to run every path. */
tensor_kernel tensor_kernel_for(tensor_precision p);
const char *tensor_kernel_name(tensor_kernel k);      /* "fp32", "bf16-avx512", "bf16-amx", "int8-vnni" */
const char *tensor_precision_name(tensor_precision p); /* "fp32", "bf16", "int8" */
tensor_precision tensor_kernel_precision(tensor_kernel k);
int tensor_kernel_runs(tensor_kernel k); /* 1 if this CPU (under RAGD_MAX_CPU_ISA) runs k */

/* Threads the calling thread's products (tensor_linear) may use: their
 * output panels are split between the caller and helper threads
 * (tensor_pool.c), which spin between products and sleep when none come.
 * 1 (the default) runs every product on the caller alone. A server sets
 * it above 1 only while one query runs alone (embed_batcher): splitting
 * cuts that query's latency, while under load the cores are better spent
 * on other requests. The vectors are the same bits at any count. */
void tensor_threads_set(int n);

/* The precision --precision auto runs: the fastest kernel measured on
 * this kind of CPU among those that meet issue 16's quality bounds
 * (docs/embedders.md): bf16 with AMX tiles (Intel Sapphire Rapids on);
 * int8 with AVX512_VNNI on AMD (Zen 4 on: 2.6x fp32, 1.5x its bf16);
 * else fp32. Not int8 or bf16 on Intel CPUs without AMX: bf16 measured
 * 0.6-0.7x fp32 there, int8 is not measured there yet
 * (--precision int8 asks for it). */
tensor_precision tensor_precision_auto(void);

/* --precision's value: "fp32", "bf16", "int8", or "auto" (or NULL:
 * tensor_precision_auto()). 0, or -1 for anything else. */
#define TENSOR_PRECISION_CHOICES "fp32, bf16, int8 or auto"
int tensor_precision_parse(const char *s, tensor_precision *p);

/* A linear layer's weight: W (out x in, row-major: PyTorch's nn.Linear
 * layout) as loaded, plus a copy packed for the kernel. For fp32 the
 * packed copy is a run of panels of TENSOR_PANEL outputs; a panel holds
 * in x TENSOR_PANEL floats, the panel's outputs contiguous for each input,
 * so one query streams every weight exactly once, in address order (the
 * bf16 layouts are in tensor_bf16.c). The packed copy is allocated on
 * 2 MiB boundaries and advised as huge pages: walking 42 MB of weights per
 * query otherwise costs a TLB miss per 4 KiB. */
#define TENSOR_PANEL 32
typedef struct tensor_weight {
    const float *w;       /* out x in, not owned */
    void *packed;         /* the kernel's layout */
    int64_t out, in;
    tensor_kernel kernel;
    int owned;            /* packed allocated by tensor_weight_make */
} tensor_weight;

/* Packs W for kernel k into memory of its own (tensor_weight_free frees it). */
tensor_weight tensor_weight_make(tensor_kernel k, const float *w, int64_t out, int64_t in);
void tensor_weight_free(tensor_weight *w);

/* Packs W into caller memory of tensor_weight_bytes(k, out, in) bytes
 * (a multiple of 64): a model packs all its layers into one
 * tensor_panels_alloc block, so the 2 MiB rounding is paid once. */
size_t tensor_weight_bytes(tensor_kernel k, int64_t out, int64_t in);
tensor_weight tensor_weight_pack(tensor_kernel k, const float *w, int64_t out, int64_t in, void *mem);

void *tensor_panels_alloc(size_t bytes); /* free() it */

/* x rounded to bfloat16 (nearest even), back in a float: for references. */
float tensor_bf16_round(float x);

/* Every fp32 product runs on the packed panels, whatever the number of rows:
 * cblas_sgemm packs (copies) the whole weight matrix on every call, which
 * for a single query costs more than the multiply, and at a few thousand
 * rows (a batch) the panels are as fast (measured: docs/embedders.md).
 * One kernel also makes each row's result independent of the rows it is
 * computed with, so a text's vector is the same bits alone or in any
 * batch (the service batches concurrent requests together). */

/* y = x W^T, plus b on every row when b is not NULL, on w's kernel; row r
 * of y depends on row r of x only, bit for bit, for every kernel. */
void tensor_linear(const tensor *x, const tensor_weight *w, const float *b, tensor *y);

/* Epilogues fused into one pass over the linear layer's output:
 * x = gelu(x + b) with GELU's exact erf form, 0.5 v (1 + erf(v / sqrt 2)),
 * and x = layernorm(x + b + res) with gain g and shift s. */
void tensor_bias_gelu(tensor *x, const float *b);
void tensor_bias_add_layernorm(tensor *x, const float *b, const tensor *res, const float *g, const float *s, float eps);

/* Each row: (x - mean) / sqrt(var + eps) * g + b, in place. */
void tensor_layernorm(tensor *x, const float *g, const float *b, float eps);


/* Self-attention for one sequence: q, k, v are len x (heads*dh) views;
 * out (same shape) = softmax(q_h k_h^T / sqrt(dh)) v_h per head, in fp32
 * at every precision (bf16 attention on AMX measured no faster end to
 * end: docs/embedders.md). */
void tensor_attention(const tensor *q, const tensor *k, const tensor *v, int heads, tensor *out, float *scratch);
size_t tensor_attention_scratch(int len, int dh); /* floats scratch must hold */

/* The vectorisable exp and erf the kernels use (exposed for tests). */
float tensor_exp(float x);
float tensor_erf(float x);

/* Naive references, for tests. */
void tensor_ref_linear(const tensor *x, const float *w, const float *b, tensor *y);
/* y = x W^T (+ b) in the arithmetic of w's reduced-precision kernel, in
 * plain C (int8: the same quantized integers and scales as the VNNI
 * kernel); for other kernels the same as tensor_linear. */
void tensor_ref_linear_quantized(const tensor *x, const tensor_weight *w, const float *b, tensor *y);
void tensor_ref_layernorm(tensor *x, const float *g, const float *b, float eps);
void tensor_ref_gelu(tensor *x);
void tensor_ref_attention(const tensor *q, const tensor *k, const tensor *v, int heads, tensor *out);

#endif
