/* tensor.c - 2-D float32 views and the BERT encoder's kernels on OpenBLAS */
#include "tensor.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "check.h"
#include "mem.h"

tensor tensor_alloc(int64_t cols, int64_t rows) {
    tensor t;
    t.data = mem_alloc(sizeof(float) * (size_t)(cols * rows > 0 ? cols * rows : 1));
    t.ne[0] = cols;
    t.ne[1] = rows;
    t.nb[0] = sizeof(float);
    t.nb[1] = sizeof(float) * (size_t)cols;
    return t;
}

void tensor_free(tensor *t) {
    mem_free(t->data);
    t->data = NULL;
}

tensor tensor_view(const tensor *t, int64_t c0, int64_t m, int64_t r0, int64_t n) {
    RAGD_CHECK(c0 >= 0 && m >= 0 && c0 + m <= t->ne[0] && r0 >= 0 && n >= 0 && r0 + n <= t->ne[1]);
    tensor v = *t;
    v.data = (float *)((char *)t->data + (size_t)r0 * t->nb[1]) + c0;
    v.ne[0] = m;
    v.ne[1] = n;
    return v;
}

static int ld(const tensor *t) {
    return (int)(t->nb[1] / sizeof(float));
}

void tensor_linear(const tensor *x, const float *w, const float *b, tensor *y) {
    int64_t rows = x->ne[1], in = x->ne[0], out = y->ne[0];
    RAGD_CHECK(y->ne[1] == rows);
    if (rows == 0) return;
    /* Start from the bias, then accumulate x W^T into it (beta = 1). */
    for (int64_t r = 0; r < rows; r++) memcpy(tensor_row(y, r), b, sizeof(float) * (size_t)out);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)out, (int)in, 1.0f, x->data, ld(x), w,
                (int)in, 1.0f, y->data, ld(y));
}

void tensor_layernorm(tensor *x, const float *g, const float *b, float eps) {
    int64_t n = x->ne[0];
    for (int64_t r = 0; r < x->ne[1]; r++) {
        float *p = tensor_row(x, r);
        float mean = 0, var = 0;
        for (int64_t i = 0; i < n; i++) mean += p[i];
        mean /= (float)n;
        for (int64_t i = 0; i < n; i++) {
            float d = p[i] - mean;
            var += d * d;
        }
        float inv = 1.0f / sqrtf(var / (float)n + eps);
        for (int64_t i = 0; i < n; i++) p[i] = (p[i] - mean) * inv * g[i] + b[i];
    }
}

void tensor_add(tensor *x, const tensor *y) {
    RAGD_CHECK(x->ne[0] == y->ne[0] && x->ne[1] == y->ne[1]);
    for (int64_t r = 0; r < x->ne[1]; r++) {
        float *a = tensor_row(x, r);
        const float *c = tensor_row(y, r);
        for (int64_t i = 0; i < x->ne[0]; i++) a[i] += c[i];
    }
}

void tensor_gelu(tensor *x) {
    for (int64_t r = 0; r < x->ne[1]; r++) {
        float *p = tensor_row(x, r);
        for (int64_t i = 0; i < x->ne[0]; i++) p[i] = 0.5f * p[i] * (1.0f + erff(p[i] * (float)M_SQRT1_2));
    }
}

static void softmax_rows(float *s, int rows, int cols) {
    for (int r = 0; r < rows; r++) {
        float *p = s + (size_t)r * cols, m = p[0], sum = 0;
        for (int i = 1; i < cols; i++) m = p[i] > m ? p[i] : m;
        for (int i = 0; i < cols; i++) sum += p[i] = expf(p[i] - m);
        float inv = 1.0f / sum;
        for (int i = 0; i < cols; i++) p[i] *= inv;
    }
}

void tensor_attention(const tensor *q, const tensor *k, const tensor *v, int heads, tensor *out, float *scratch) {
    int len = (int)q->ne[1], dh = (int)(q->ne[0] / heads);
    float scale = 1.0f / sqrtf((float)dh);
    for (int h = 0; h < heads; h++) {
        const float *qh = q->data + h * dh, *kh = k->data + h * dh, *vh = v->data + h * dh;
        float *oh = out->data + h * dh;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, len, len, dh, scale, qh, ld(q), kh, ld(k), 0.0f,
                    scratch, len);
        softmax_rows(scratch, len, len);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, len, dh, len, 1.0f, scratch, len, vh, ld(v), 0.0f,
                    oh, ld(out));
    }
}
