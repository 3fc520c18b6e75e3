/* onednn_gemm.c - ragd's bf16 and int8 linear kernels against oneDNN's matmul on the encoder's shapes (issue 16)
 *
 *     bash bench/onednn_gemm.sh      (installs Debian's libdnnl-dev, builds, runs on one thread)
 *
 * For each product of all-MiniLM-L6-v2 (QKV 1152x384, O 384x384, FFN up
 * 1536x384, down 384x1536) at 4,096 rows (a batch) and 8 rows (a query):
 * GFLOP/s of ragd's tensor_linear at fp32 and on every bf16 and int8
 * kernel this CPU runs (its input in fp32, converted or quantized inside,
 * as the encoder calls it), and of oneDNN's bf16 matmul (bf16 input) and
 * int8 matmul (u8 input, s8 weights, one output scale per column: its
 * input already quantized, a head start ragd's kernel does not get), both
 * with fp32 output and weights in the layout oneDNN picks
 * (format_tag_any, reordered once), with the implementation oneDNN chose.
 * One JSON object per line.
 */
#include <dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tensor.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

#define CHECK(x)                                                        \
    do {                                                                \
        dnnl_status_t s_ = (x);                                         \
        if (s_ != dnnl_success) {                                       \
            fprintf(stderr, "%s: status %d\n", #x, (int)s_);           \
            exit(1);                                                    \
        }                                                               \
    } while (0)

/* Repeat fn until `seconds` pass; returns calls per second. */
#define TIMED(seconds, stmt)                                            \
    ({                                                                  \
        double t0_ = now(), n_ = 0;                                     \
        do {                                                            \
            stmt;                                                       \
            n_++;                                                       \
        } while (now() - t0_ < (seconds));                              \
        n_ / (now() - t0_);                                             \
    })

static uint16_t to_bf16(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

/* int8: 1 (u8 input, s8 weights, per-column output scales), else bf16. */
static double onednn(dnnl_engine_t eng, dnnl_stream_t st, int64_t M, int64_t K, int64_t N, const float *w, const float *x,
                     int int8, const char **impl) {
    dnnl_memory_desc_t a_md, b_md, c_md, b_plain;
    dnnl_dims_t ad = {M, K}, bd = {K, N}, cd = {M, N};
    dnnl_data_type_t at = int8 ? dnnl_u8 : dnnl_bf16, bt = int8 ? dnnl_s8 : dnnl_bf16;
    CHECK(dnnl_memory_desc_init_by_tag(&a_md, 2, ad, at, dnnl_ab));
    CHECK(dnnl_memory_desc_init_by_tag(&b_md, 2, bd, bt, dnnl_format_tag_any));
    CHECK(dnnl_memory_desc_init_by_tag(&b_plain, 2, bd, bt, dnnl_ba)); /* W is N x K row-major: K x N "ba" */
    CHECK(dnnl_memory_desc_init_by_tag(&c_md, 2, cd, dnnl_f32, dnnl_ab));
    dnnl_matmul_desc_t md;
    CHECK(dnnl_matmul_desc_init(&md, &a_md, &b_md, NULL, &c_md));
    dnnl_primitive_attr_t attr = NULL;
    float *scales = malloc(sizeof(float) * (size_t)N);
    for (int64_t i = 0; i < N; i++) scales[i] = 1.0f / (127.0f * 127.0f);
    if (int8) {
        CHECK(dnnl_primitive_attr_create(&attr));
        CHECK(dnnl_primitive_attr_set_output_scales(attr, N, 1 << 1, scales));
    }
    dnnl_primitive_desc_t pd;
    CHECK(dnnl_primitive_desc_create(&pd, &md, attr, eng, NULL));
    CHECK(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, impl));
    const dnnl_memory_desc_t *bq = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    size_t es = int8 ? 1 : 2;
    uint8_t *a16 = malloc(es * (size_t)(M * K)), *w16 = malloc(es * (size_t)(K * N));
    for (int64_t i = 0; i < M * K; i++) {
        if (int8) a16[i] = (uint8_t)(int)(x[i] * 127.0f + 128.0f);
        else ((uint16_t *)a16)[i] = to_bf16(x[i]);
    }
    for (int64_t i = 0; i < K * N; i++) {
        if (int8) ((int8_t *)w16)[i] = (int8_t)(int)(w[i] * 127.0f);
        else ((uint16_t *)w16)[i] = to_bf16(w[i]);
    }
    dnnl_memory_t am, bm_plain, bm, cm;
    CHECK(dnnl_memory_create(&am, &a_md, eng, a16));
    CHECK(dnnl_memory_create(&bm_plain, &b_plain, eng, w16));
    CHECK(dnnl_memory_create(&bm, bq, eng, DNNL_MEMORY_ALLOCATE));
    CHECK(dnnl_memory_create(&cm, &c_md, eng, DNNL_MEMORY_ALLOCATE));
    dnnl_primitive_desc_t rpd;
    dnnl_primitive_t reorder, mm;
    CHECK(dnnl_reorder_primitive_desc_create(&rpd, &b_plain, eng, bq, eng, NULL));
    CHECK(dnnl_primitive_create(&reorder, rpd));
    dnnl_exec_arg_t rargs[2] = {{DNNL_ARG_FROM, bm_plain}, {DNNL_ARG_TO, bm}};
    CHECK(dnnl_primitive_execute(reorder, st, 2, rargs));
    CHECK(dnnl_stream_wait(st));
    CHECK(dnnl_primitive_create(&mm, pd));
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}};
    double calls = TIMED(1.0, (dnnl_primitive_execute(mm, st, 3, args), dnnl_stream_wait(st)));
    dnnl_primitive_destroy(mm), dnnl_primitive_destroy(reorder), dnnl_primitive_desc_destroy(rpd);
    dnnl_primitive_desc_destroy(pd);
    dnnl_memory_destroy(am), dnnl_memory_destroy(bm_plain), dnnl_memory_destroy(bm), dnnl_memory_destroy(cm);
    if (attr) dnnl_primitive_attr_destroy(attr);
    free(a16), free(w16), free(scales);
    return calls * 2.0 * (double)(M * K * N) / 1e9;
}

int main(void) {
    dnnl_engine_t eng;
    dnnl_stream_t st;
    CHECK(dnnl_engine_create(&eng, dnnl_cpu, 0));
    CHECK(dnnl_stream_create(&st, eng, dnnl_stream_default_flags));
    const struct {
        const char *name;
        int64_t out, in;
    } shapes[] = {{"qkv", 1152, 384}, {"o", 384, 384}, {"up", 1536, 384}, {"down", 384, 1536}};
    int64_t rows[] = {4096, 8};
    tensor_kernel ks[] = {TENSOR_KERNEL_FP32, TENSOR_KERNEL_BF16_AVX512, TENSOR_KERNEL_BF16_AMX, TENSOR_KERNEL_INT8_VNNI};
    for (size_t r = 0; r < 2; r++)
        for (size_t s = 0; s < 4; s++) {
            int64_t M = rows[r], N = shapes[s].out, K = shapes[s].in;
            float *w = malloc(sizeof(float) * (size_t)(N * K));
            tensor x = tensor_alloc(K, M), y = tensor_alloc(N, M);
            for (int64_t i = 0; i < N * K; i++) w[i] = (float)((i * 7919) % 2001 - 1000) / 1000.0f;
            for (int64_t i = 0; i < M * K; i++) x.data[i] = (float)((i * 104729) % 2001 - 1000) / 1000.0f;
            printf("{\"shape\": \"%s\", \"rows\": %lld, \"out\": %lld, \"in\": %lld", shapes[s].name, (long long)M,
                   (long long)N, (long long)K);
            for (size_t k = 0; k < 4; k++) {
                if (!tensor_kernel_runs(ks[k])) continue;
                tensor_weight tw = tensor_weight_make(ks[k], w, N, K);
                double calls = TIMED(1.0, tensor_linear(&x, &tw, NULL, &y));
                printf(", \"ragd_%s\": %.1f", tensor_kernel_name(ks[k]), calls * 2.0 * (double)(M * K * N) / 1e9);
                tensor_weight_free(&tw);
            }
            const char *impl = "", *impl8 = "";
            double g = onednn(eng, st, M, K, N, w, x.data, 0, &impl);
            double g8 = onednn(eng, st, M, K, N, w, x.data, 1, &impl8);
            printf(", \"onednn_bf16\": %.1f, \"onednn_impl\": \"%s\", \"onednn_int8\": %.1f, \"onednn_int8_impl\": \"%s\"}\n",
                   g, impl, g8, impl8);
            fflush(stdout);
            free(w), tensor_free(&x), tensor_free(&y);
        }
    dnnl_stream_destroy(st), dnnl_engine_destroy(eng);
    return 0;
}
