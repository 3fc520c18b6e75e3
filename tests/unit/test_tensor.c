/* test_tensor.c - the encoder's kernels against naive double-precision references
 *
 * Error bounds (max |fast - reference|): linear 1e-4 x sqrt(in) for inputs
 * in [-1, 1]; layernorm 1e-5; gelu 1e-6; attention 1e-5. They are loose
 * enough for float rounding and BLAS summation order, tight enough to catch
 * any indexing or stride mistake (those give errors of order 1).
 *
 * The bf16 kernels (every one this CPU runs: AMX, AVX512_BF16) are held to
 * two bounds: against the reference on bf16-rounded operands, the fp32
 * bound above (products of bf16 values are exact in fp32; only the sums
 * round); against the fp32 reference on the original operands, 1e-2 x
 * sqrt(in) (each operand off by at most 2^-9 relative).
 *
 * The int8 kernel (AVX512_VNNI) likewise: against the same arithmetic in
 * plain C (tensor_ref_linear_quantized: the same quantized integers, sums
 * exact in int32), the fp32 bound; against fp32 on the original operands,
 * 2e-2 x sqrt(in) (each operand off by at most half a step of 1/127 of
 * its row's largest magnitude).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor.h"
#include "test.h"

static unsigned seed = 7;

static float frand(void) {
    seed = seed * 1103515245u + 12345u;
    return (float)((seed >> 8) & 0xffff) / 32767.5f - 1.0f;
}

static void fill(tensor *t) {
    for (int64_t r = 0; r < t->ne[1]; r++)
        for (int64_t i = 0; i < t->ne[0]; i++) tensor_row(t, r)[i] = frand();
}

static float max_diff(const tensor *a, const tensor *b) {
    float m = 0;
    for (int64_t r = 0; r < a->ne[1]; r++)
        for (int64_t i = 0; i < a->ne[0]; i++) {
            float d = fabsf(tensor_row(a, r)[i] - tensor_row(b, r)[i]);
            m = d > m ? d : m;
        }
    return m;
}

static void copy(tensor *dst, const tensor *src) {
    for (int64_t r = 0; r < src->ne[1]; r++) memcpy(tensor_row(dst, r), tensor_row(src, r), sizeof(float) * (size_t)src->ne[0]);
}

/* The kernels this CPU runs (fp32 always). */
static tensor_kernel kernels[4];
static int n_kernels;

static void find_kernels(void) {
    tensor_kernel all[] = {TENSOR_KERNEL_FP32, TENSOR_KERNEL_BF16_AVX512, TENSOR_KERNEL_BF16_AMX,
                           TENSOR_KERNEL_INT8_VNNI};
    for (int i = 0; i < 4; i++) {
        if (tensor_kernel_runs(all[i])) kernels[n_kernels++] = all[i];
        else printf("    %s: not on this CPU, skipped\n", tensor_kernel_name(all[i]));
    }
}

static void round_bf16(float *v, size_t n) {
    for (size_t i = 0; i < n; i++) v[i] = tensor_bf16_round(v[i]);
}

/* One linear layer through tensor_linear on kernel k against the
 * reference: when `rounded`, on the kernel's own operands (bf16-rounded,
 * or int8's quantized arithmetic), else on the operands as they are. */
static float linear_error(tensor_kernel k, int in, int out, int rows, int with_bias, int rounded) {
    tensor x = tensor_alloc(in, rows), y = tensor_alloc(out, rows), r = tensor_alloc(out, rows);
    float *w = malloc(sizeof(float) * (size_t)in * out), *b = calloc((size_t)out, sizeof(float));
    fill(&x);
    for (int i = 0; i < in * out; i++) w[i] = frand();
    for (int i = 0; with_bias && i < out; i++) b[i] = frand();
    tensor_weight tw = tensor_weight_make(k, w, out, in);
    tensor_linear(&x, &tw, with_bias ? b : NULL, &y);
    if (rounded && k == TENSOR_KERNEL_INT8_VNNI) tensor_ref_linear_quantized(&x, &tw, b, &r);
    else {
        if (rounded) round_bf16(x.data, (size_t)in * rows), round_bf16(w, (size_t)in * out);
        tensor_ref_linear(&x, w, b, &r);
    }
    float d = max_diff(&y, &r);
    tensor_free(&x), tensor_free(&y), tensor_free(&r), free(w), free(b), tensor_weight_free(&tw);
    return d / sqrtf((float)in);
}

/* Rows around the register blocks (8; AMX: 16, 32) and chunks (128), a
 * few hundred (one long text) and a batch, outputs that fill panels and
 * ones that end in a partial panel; inputs that end in a partial tile. */
static float linear_worst(tensor_kernel k, int rounded) {
    int rows[] = {1, 2, 7, 8, 9, 16, 33, 37, 129, 256, 257, 300, 1500};
    int outs[] = {96, 40, 5}, ins[] = {384, 100};
    float worst = 0;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        for (size_t j = 0; j < sizeof(outs) / sizeof(outs[0]); j++) {
            float d = linear_error(k, ins[(i + j) % 2 && rows[i] < 300], outs[j], rows[i], (int)(i + j) % 2, rounded);
            worst = d > worst ? d : worst;
        }
    float small = linear_error(k, 3, 33, 4, 1, rounded); /* inner size smaller than a vector */
    return small > worst ? small : worst;
}

TEST(test_linear_against_reference) {
    for (int i = 0; i < n_kernels; i++) {
        tensor_kernel k = kernels[i];
        int int8 = k == TENSOR_KERNEL_INT8_VNNI;
        float exact = linear_worst(k, k != TENSOR_KERNEL_FP32);
        printf("    %s: linear max error / sqrt(in): %.2g", tensor_kernel_name(k), exact);
        CHECK(exact < 1e-4f);
        if (k != TENSOR_KERNEL_FP32) {
            float lossy = linear_worst(k, 0);
            printf(" (on %s); %.2g against fp32", int8 ? "the same quantized integers" : "bf16-rounded operands", lossy);
            CHECK(lossy < (int8 ? 2e-2f : 1e-2f));
        }
        printf("\n");
    }
}

static void linear_on_view(tensor_kernel k, int rows) {
    tensor big = tensor_alloc(64, rows + 3), out = tensor_alloc(8, rows), ref = tensor_alloc(8, rows);
    fill(&big);
    tensor v = tensor_view(&big, 16, 32, 3, rows);
    float w[8 * 32], b[8];
    for (int i = 0; i < 8 * 32; i++) w[i] = frand();
    for (int i = 0; i < 8; i++) b[i] = frand();
    tensor_weight tw = tensor_weight_make(k, w, 8, 32);
    tensor_linear(&v, &tw, b, &out);
    tensor_ref_linear(&v, w, b, &ref);
    float d = max_diff(&out, &ref);
    tensor_free(&big), tensor_free(&out), tensor_free(&ref), tensor_weight_free(&tw);
    CHECK(d < (k == TENSOR_KERNEL_FP32 ? 1e-4f : k == TENSOR_KERNEL_INT8_VNNI ? 2e-2f * sqrtf(32) : 1e-2f * sqrtf(32)));
}

TEST(test_linear_rows_do_not_depend_on_each_other) {
    /* A row's output is the same bits whatever rows it is computed with,
     * on every kernel. */
    int in = 384, out = 70, rows = 300;
    for (int ki = 0; ki < n_kernels; ki++) {
        tensor x = tensor_alloc(in, rows), y = tensor_alloc(out, rows);
        float *w = malloc(sizeof(float) * (size_t)in * out), *b = malloc(sizeof(float) * (size_t)out);
        fill(&x);
        for (int i = 0; i < in * out; i++) w[i] = frand();
        for (int i = 0; i < out; i++) b[i] = frand();
        tensor_weight tw = tensor_weight_make(kernels[ki], w, out, in);
        tensor_linear(&x, &tw, b, &y);
        int same = 1;
        for (int r0 = 0; r0 < rows; r0 += 37) {
            int n = r0 % 3 + 1; /* 1 to 3 rows at a time */
            if (r0 + n > rows) n = rows - r0;
            tensor xs = tensor_view(&x, 0, in, r0, n), ys = tensor_alloc(out, n);
            tensor_linear(&xs, &tw, b, &ys);
            for (int r = 0; r < n; r++)
                same &= memcmp(tensor_row(&ys, r), tensor_row(&y, r0 + r), sizeof(float) * (size_t)out) == 0;
            tensor_free(&ys);
        }
        tensor_free(&x), tensor_free(&y), free(w), free(b), tensor_weight_free(&tw);
        CHECK(same);
    }
}

TEST(test_split_products_are_the_same_bits) {
    /* tensor_threads_set(n): the output panels of every product are split
     * over n threads; each output is computed as by one thread, so the
     * result is the same bits for every n, on every kernel, full and
     * partial last panels, one row and many, with and without bias. */
    int outs[] = {1536, 384, 70, 33}, rows_list[] = {1, 9, 300};
    for (int ki = 0; ki < n_kernels; ki++)
        for (size_t oi = 0; oi < sizeof(outs) / sizeof(outs[0]); oi++)
            for (size_t ri = 0; ri < sizeof(rows_list) / sizeof(rows_list[0]); ri++) {
                int in = 384, out = outs[oi], rows = rows_list[ri];
                tensor x = tensor_alloc(in, rows), y1 = tensor_alloc(out, rows), yn = tensor_alloc(out, rows);
                float *w = malloc(sizeof(float) * (size_t)in * out), *b = malloc(sizeof(float) * (size_t)out);
                fill(&x);
                for (int i = 0; i < in * out; i++) w[i] = frand();
                for (int i = 0; i < out; i++) b[i] = frand();
                tensor_weight tw = tensor_weight_make(kernels[ki], w, out, in);
                const float *bias = ri % 2 ? NULL : b;
                tensor_linear(&x, &tw, bias, &y1);
                int same = 1;
                for (int nt = 2; nt <= 3; nt++) {
                    memset(yn.data, 0, sizeof(float) * (size_t)out * rows);
                    tensor_threads_set(nt);
                    for (int rep = 0; rep < 3; rep++) tensor_linear(&x, &tw, bias, &yn); /* helpers reused */
                    tensor_threads_set(1);
                    same &= memcmp(y1.data, yn.data, sizeof(float) * (size_t)out * rows) == 0;
                }
                tensor_free(&x), tensor_free(&y1), tensor_free(&yn), free(w), free(b), tensor_weight_free(&tw);
                CHECK(same);
            }
}

TEST(test_linear_on_strided_view) {
    for (int i = 0; i < n_kernels; i++) {
        linear_on_view(kernels[i], 5);
        linear_on_view(kernels[i], 356);
    }
}

TEST(test_bf16_rounding) {
    /* Nearest, ties to even, on the 16 bits kept. */
    CHECK(tensor_bf16_round(1.0f) == 1.0f);
    CHECK(tensor_bf16_round(1.0f + 1.0f / 256) == 1.0f);            /* a tie: to even (down) */
    CHECK(tensor_bf16_round(1.0f + 3.0f / 256) == 1.0f + 4.0f / 256); /* a tie: to even (up) */
    CHECK(tensor_bf16_round(1.0f + 1.0f / 128 + 1.0f / 1024) == 1.0f + 1.0f / 128);
    CHECK(tensor_bf16_round(-3.0f) == -3.0f);
    CHECK(isnan(tensor_bf16_round(NAN)));
}

TEST(test_fused_epilogues) {
    int n = 384, rows = 11;
    tensor a = tensor_alloc(n, rows), b = tensor_alloc(n, rows), res = tensor_alloc(n, rows);
    float bias[384], g[384], s[384];
    fill(&a), fill(&res);
    for (int i = 0; i < n; i++) bias[i] = frand(), g[i] = frand(), s[i] = frand();
    /* gelu(x + b) against add then reference gelu */
    copy(&b, &a);
    tensor_bias_gelu(&a, bias);
    for (int64_t r = 0; r < rows; r++)
        for (int i = 0; i < n; i++) tensor_row(&b, r)[i] += bias[i];
    tensor_ref_gelu(&b);
    CHECK(max_diff(&a, &b) < 1e-5f);
    /* layernorm(x + b + res) against add then reference layernorm */
    copy(&b, &a);
    tensor_bias_add_layernorm(&a, bias, &res, g, s, 1e-12f);
    for (int64_t r = 0; r < rows; r++)
        for (int i = 0; i < n; i++) tensor_row(&b, r)[i] += bias[i] + tensor_row(&res, r)[i];
    tensor_ref_layernorm(&b, g, s, 1e-12f);
    CHECK(max_diff(&a, &b) < 1e-5f);
    tensor_free(&a), tensor_free(&b), tensor_free(&res);
}

TEST(test_layernorm_and_gelu) {
    tensor a = tensor_alloc(384, 9), b = tensor_alloc(384, 9);
    float g[384], be[384];
    fill(&a);
    for (int i = 0; i < 384; i++) g[i] = frand(), be[i] = frand();
    copy(&b, &a);
    tensor_layernorm(&a, g, be, 1e-12f);
    tensor_ref_layernorm(&b, g, be, 1e-12f);
    CHECK(max_diff(&a, &b) < 1e-5f);
    for (int64_t r = 0; r < a.ne[1]; r++)
        for (int i = 0; i < 384; i++) tensor_row(&a, r)[i] *= 4.0f; /* cover |x| up to ~10 */
    copy(&b, &a);
    float zero[384] = {0};
    tensor_bias_gelu(&a, zero);
    tensor_ref_gelu(&b);
    float d = max_diff(&a, &b);
    tensor_free(&a), tensor_free(&b);
    CHECK(d < 1e-6f * 10);
}

/* q, k, v as column views of one stacked (len x 3H) matrix, as the encoder has them. */
static float attention_error(int len, int heads, int dh) {
    int H = heads * dh;
    tensor qkv = tensor_alloc(3 * H, len), o = tensor_alloc(H, len), r = tensor_alloc(H, len);
    fill(&qkv);
    tensor q = tensor_view(&qkv, 0, H, 0, len), k = tensor_view(&qkv, H, H, 0, len), v = tensor_view(&qkv, 2 * H, H, 0, len);
    float *scratch = malloc(sizeof(float) * tensor_attention_scratch(len, dh));
    tensor_attention(&q, &k, &v, heads, &o, scratch);
    tensor_ref_attention(&q, &k, &v, heads, &r);
    float d = max_diff(&o, &r);
    free(scratch);
    tensor_free(&qkv), tensor_free(&o), tensor_free(&r);
    return d;
}

TEST(test_attention) {
    /* Lengths around the 32-key panels and up to max_seq_length; head sizes
     * of MiniLM (32), BERT-base (64) and one that ends in a partial panel. */
    int lens[] = {1, 23, 32, 33, 256}, dhs[] = {32, 64, 20};
    float worst = 0;
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 3; j++) {
            float d = attention_error(lens[i], 3, dhs[j]);
            worst = d > worst ? d : worst;
        }
    printf("    attention max error: %.2g\n", worst);
    CHECK(worst < 1e-5f);
    CHECK(attention_error(23, 12, 32) < 1e-5f);
}

TEST(test_exp_and_erf_against_libm) {
    double worst_exp = 0, worst_erf = 0;
    for (double x = -80; x <= 80; x += 0.0137) {
        double xf = (float)x; /* compare at the float input */
        double rel = fabs(tensor_exp((float)x) - exp(xf)) / exp(xf);
        worst_exp = rel > worst_exp ? rel : worst_exp;
    }
    for (double x = -8; x <= 8; x += 0.0011) {
        double d = fabs(tensor_erf((float)x) - erf((double)(float)x));
        worst_erf = d > worst_erf ? d : worst_erf;
    }
    printf("    exp max relative error %.2g, erf max absolute error %.2g\n", worst_exp, worst_erf);
    CHECK(worst_exp < 4e-7);
    CHECK(worst_erf < 1e-6);
}

int main(void) {
    find_kernels();
    RUN(test_exp_and_erf_against_libm);
    RUN(test_bf16_rounding);
    RUN(test_linear_against_reference);
    RUN(test_linear_rows_do_not_depend_on_each_other);
    RUN(test_linear_on_strided_view);
    RUN(test_split_products_are_the_same_bits);
    RUN(test_fused_epilogues);
    RUN(test_layernorm_and_gelu);
    RUN(test_attention);
    return test_summary("tensor");
}
