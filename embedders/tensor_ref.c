/* tensor_ref.c - naive reference kernels (double accumulation) that tensor.c is checked against */
#include <math.h>

#include "mem.h"
#include "tensor.h"
#include "tensor_impl.h"

void tensor_ref_linear(const tensor *x, const float *w, const float *b, tensor *y) {
    int64_t in = x->ne[0], out = y->ne[0];
    for (int64_t r = 0; r < x->ne[1]; r++) {
        const float *xr = tensor_row(x, r);
        float *yr = tensor_row(y, r);
        for (int64_t o = 0; o < out; o++) {
            double s = b[o];
            for (int64_t i = 0; i < in; i++) s += (double)xr[i] * w[o * in + i];
            yr[o] = (float)s;
        }
    }
}

void tensor_ref_layernorm(tensor *x, const float *g, const float *b, float eps) {
    int64_t n = x->ne[0];
    for (int64_t r = 0; r < x->ne[1]; r++) {
        float *p = tensor_row(x, r);
        double mean = 0, var = 0;
        for (int64_t i = 0; i < n; i++) mean += p[i];
        mean /= (double)n;
        for (int64_t i = 0; i < n; i++) var += (p[i] - mean) * (p[i] - mean);
        double inv = 1.0 / sqrt(var / (double)n + eps);
        for (int64_t i = 0; i < n; i++) p[i] = (float)((p[i] - mean) * inv * g[i] + b[i]);
    }
}

void tensor_ref_gelu(tensor *x) {
    for (int64_t r = 0; r < x->ne[1]; r++) {
        float *p = tensor_row(x, r);
        for (int64_t i = 0; i < x->ne[0]; i++) p[i] = (float)(0.5 * p[i] * (1.0 + erf(p[i] / sqrt(2.0))));
    }
}

void tensor_ref_attention(const tensor *q, const tensor *k, const tensor *v, int heads, tensor *out) {
    int len = (int)q->ne[1], dh = (int)(q->ne[0] / heads);
    double *s = mem_alloc(sizeof(double) * (size_t)len);
    for (int h = 0; h < heads; h++) {
        for (int i = 0; i < len; i++) {
            const float *qi = tensor_row(q, i) + h * dh;
            double m = -INFINITY, sum = 0;
            for (int j = 0; j < len; j++) {
                const float *kj = tensor_row(k, j) + h * dh;
                double d = 0;
                for (int e = 0; e < dh; e++) d += (double)qi[e] * kj[e];
                s[j] = d / sqrt((double)dh);
                m = s[j] > m ? s[j] : m;
            }
            for (int j = 0; j < len; j++) sum += s[j] = exp(s[j] - m);
            float *oi = tensor_row(out, i) + h * dh;
            for (int e = 0; e < dh; e++) {
                double acc = 0;
                for (int j = 0; j < len; j++) acc += s[j] / sum * tensor_row(v, j)[h * dh + e];
                oi[e] = (float)acc;
            }
        }
    }
    mem_free(s);
}

void tensor_ref_linear_quantized(const tensor *x, const tensor_weight *w, const float *b, tensor *y) {
    if (w->kernel == TENSOR_KERNEL_INT8_VNNI) int8_linear_ref(x, w, b, y);
    else tensor_linear(x, w, b, y);
}
