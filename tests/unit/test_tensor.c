/* test_tensor.c - the encoder's kernels against naive double-precision references
 *
 * Error bounds (max |fast - reference|): linear 1e-4 x sqrt(in) for inputs
 * in [-1, 1]; layernorm 1e-5; gelu 1e-6; attention 1e-5. They are loose
 * enough for float rounding and BLAS summation order, tight enough to catch
 * any indexing or stride mistake (those give errors of order 1).
 */
#include <math.h>
#include <stdlib.h>

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

TEST(test_linear) {
    int in = 384, out = 96, rows = 37;
    tensor x = tensor_alloc(in, rows), y = tensor_alloc(out, rows), r = tensor_alloc(out, rows);
    float *w = malloc(sizeof(float) * (size_t)in * out), *b = malloc(sizeof(float) * (size_t)out);
    fill(&x);
    for (int i = 0; i < in * out; i++) w[i] = frand();
    for (int i = 0; i < out; i++) b[i] = frand();
    tensor_linear(&x, w, b, &y);
    tensor_ref_linear(&x, w, b, &r);
    float d = max_diff(&y, &r);
    tensor_free(&x), tensor_free(&y), tensor_free(&r), free(w), free(b);
    CHECK(d < 1e-4f * sqrtf((float)in));
}

TEST(test_linear_on_strided_view) {
    tensor big = tensor_alloc(64, 20), out = tensor_alloc(8, 5), ref = tensor_alloc(8, 5);
    fill(&big);
    tensor v = tensor_view(&big, 16, 32, 3, 5);
    float w[8 * 32], b[8];
    for (int i = 0; i < 8 * 32; i++) w[i] = frand();
    for (int i = 0; i < 8; i++) b[i] = frand();
    tensor_linear(&v, w, b, &out);
    tensor_ref_linear(&v, w, b, &ref);
    float d = max_diff(&out, &ref);
    tensor_free(&big), tensor_free(&out), tensor_free(&ref);
    CHECK(d < 1e-4f);
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
    tensor_gelu(&a);
    tensor_ref_gelu(&b);
    float d = max_diff(&a, &b);
    tensor_free(&a), tensor_free(&b);
    CHECK(d < 1e-6f * 10);
}

TEST(test_attention) {
    int len = 23, heads = 12, dh = 32, H = heads * dh;
    tensor q = tensor_alloc(H, len), k = tensor_alloc(H, len), v = tensor_alloc(H, len);
    tensor o = tensor_alloc(H, len), r = tensor_alloc(H, len);
    fill(&q), fill(&k), fill(&v);
    float *scratch = malloc(sizeof(float) * (size_t)len * len);
    tensor_attention(&q, &k, &v, heads, &o, scratch);
    tensor_ref_attention(&q, &k, &v, heads, &r);
    float d = max_diff(&o, &r);
    free(scratch);
    tensor_free(&q), tensor_free(&k), tensor_free(&v), tensor_free(&o), tensor_free(&r);
    CHECK(d < 1e-5f);
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
    RUN(test_exp_and_erf_against_libm);
    RUN(test_linear);
    RUN(test_linear_on_strided_view);
    RUN(test_layernorm_and_gelu);
    RUN(test_attention);
    return test_summary("tensor");
}
