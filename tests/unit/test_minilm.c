/* test_minilm.c - ragd's native encoder against sentence-transformers (golden fixture)
 *
 * tests/reference/minilm_fixture.json holds, for 60+ varied texts, the token
 * ids and embeddings that sentence-transformers (PyTorch) produced with the
 * same model files; tests/reference/make_minilm_fixture.sh regenerates it.
 * Token ids must be identical; every vector must have cosine >= 0.9999.
 *
 * --precision bf16 on every bf16 kernel this CPU runs (AMX; AVX512_BF16
 * forced with RAGD_MAX_CPU_ISA=avx512): every fixture vector within a
 * cosine of 0.999 of the reference (issue 16 asks 0.98 at least, 0.995 on
 * average; measured 0.9999), and with RAGD_MAX_CPU_ISA=generic (a CPU
 * without the instructions) bf16 falls back to fp32, bit for bit.
 * --precision int8 (AVX512_VNNI) likewise, within issue 16's bounds:
 * every vector >= 0.98, the average >= 0.995.
 */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "embedder.h"
#include "err.h"
#include "fsio.h"
#include "mem.h"
#include "test.h"
#include "wordpiece.h"

#define FIXTURE "tests/reference/minilm_fixture.json"

static json_t *fixture;
static embedder *emb;
static wordpiece *wp;

static char *model_dir(void) {
    char buf[4096];
    embedder_default_model_dir(NULL, buf, sizeof(buf));
    return mem_strdup(buf);
}

TEST(test_load) {
    char err[RAGD_ERR_LEN];
    json_error_t je;
    fixture = json_load_file(FIXTURE, 0, &je);
    if (!fixture) printf("    %s: %s\n", FIXTURE, je.text);
    CHECK(fixture != NULL);
    CHECK(json_array_size(json_object_get(fixture, "texts")) >= 60);
    embedder_opts o = embedder_opts_default();
    o.precision = "fp32"; /* the reference's arithmetic; bf16 is checked below */
    emb = embedder_create("minilm", &o, err);
    if (!emb) printf("    %s (run make model)\n", err);
    CHECK(emb != NULL);
    CHECK_EQ_INT(embedder_dim(emb), 384);
    CHECK_EQ_INT(embedder_max_tokens(emb), 254);
    char *dir = model_dir(), *vocab = fsio_join(dir, "vocab.txt");
    wp = wp_load(vocab, 1, err);
    mem_free(dir);
    mem_free(vocab);
    CHECK(wp != NULL);
}

TEST(test_token_ids_identical) {
    CHECK(fixture && wp);
    json_t *texts = json_object_get(fixture, "texts"), *ids = json_object_get(fixture, "ids");
    int bad = 0;
    for (size_t i = 0; i < json_array_size(texts); i++) {
        const char *t = json_string_value(json_array_get(texts, i));
        size_t len = json_string_length(json_array_get(texts, i));
        int32_t got[256];
        int n = wp_encode(wp, t, len, got, 256);
        json_t *want = json_array_get(ids, i);
        int same = n == (int)json_array_size(want);
        for (int j = 0; same && j < n; j++) same = got[j] == json_integer_value(json_array_get(want, (size_t)j));
        if (!same) {
            printf("    text %zu (%.40s...): %d ids, reference %zu\n", i, t, n, json_array_size(want));
            bad++;
        }
    }
    CHECK_EQ_INT(bad, 0);
}

/* Worst cosine between out (n x 384) and the fixture's vectors[key]. */
/* The lowest cosine of out's vectors to the fixture's (and, when mean is
 * not NULL, the average). */
static double worst_cosine_mean(const float *out, json_t *vecs, size_t n, size_t *worst_i, double *mean) {
    double worst = 1.0, sum = 0;
    for (size_t i = 0; i < n; i++) {
        double dot = 0, na = 0, nb = 0;
        for (int d = 0; d < 384; d++) {
            double a = out[i * 384 + d], b = json_real_value(json_array_get(json_array_get(vecs, i), (size_t)d));
            dot += a * b, na += a * a, nb += b * b;
        }
        double cos = dot / sqrt(na * nb);
        sum += cos;
        if (cos < worst) worst = cos, *worst_i = i;
    }
    if (mean) *mean = n ? sum / (double)n : 1.0;
    return worst;
}

static double worst_cosine(const float *out, json_t *vecs, size_t n, size_t *worst_i) {
    return worst_cosine_mean(out, vecs, n, worst_i, NULL);
}

/* All texts in one call (one pass over the packed tokens), then each
 * text alone. */
TEST(test_vectors_match_reference) {
    CHECK(fixture && emb);
    json_t *texts = json_object_get(fixture, "texts"), *vecs = json_object_get(fixture, "vectors");
    size_t n = json_array_size(texts), wi = 0;
    const char **t = mem_alloc(sizeof(char *) * n);
    for (size_t i = 0; i < n; i++) t[i] = json_string_value(json_array_get(texts, i));
    float *out = mem_alloc(sizeof(float) * 384 * n);
    char err[RAGD_ERR_LEN];
    CHECK(embedder_embed(emb, t, (int)n, out, err) == 0);
    double worst = worst_cosine(out, vecs, n, &wi);
    printf("    one batch: worst cosine %.7f (text %zu)\n", worst, wi);
    CHECK(worst >= 0.9999);
    int rc = 0;
    for (size_t i = 0; i < n; i++) rc |= embedder_embed(emb, &t[i], 1, out + i * 384, err);
    CHECK(rc == 0);
    worst = worst_cosine(out, vecs, n, &wi);
    printf("    one text per call: worst cosine %.7f (text %zu)\n", worst, wi);
    CHECK(worst >= 0.9999);
    mem_free(t);
    mem_free(out);
}

/* The same weights with 1_Pooling/config.json asking for the CLS token: a
 * folder of symlinks to the model's files with its own pooling config. */
TEST(test_cls_pooling_matches_reference) {
    CHECK(fixture);
    json_t *texts = json_object_get(fixture, "texts"), *vecs = json_object_get(fixture, "cls_vectors");
    CHECK(json_array_size(vecs) >= 8);
    char tmpl[] = "/tmp/ragd-cls-XXXXXX", err[RAGD_ERR_LEN];
    CHECK(mkdtemp(tmpl) != NULL);
    char *rel = model_dir(), *src = realpath(rel, NULL); /* symlinks need an absolute target */
    mem_free(rel);
    CHECK(src != NULL);
    const char *files[] = {"config.json", "vocab.txt", "model.safetensors", "sentence_bert_config.json",
                           "tokenizer_config.json"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char *from = fsio_join(src, files[i]), *to = fsio_join(tmpl, files[i]);
        CHECK(symlink(from, to) == 0);
        mem_free(from), mem_free(to);
    }
    char *pool_dir = fsio_join(tmpl, "1_Pooling"), *pool = fsio_join(pool_dir, "config.json");
    CHECK(mkdir(pool_dir, 0755) == 0);
    const char *cfg = "{\"word_embedding_dimension\": 384, \"pooling_mode_cls_token\": true, "
                      "\"pooling_mode_mean_tokens\": false}\n";
    CHECK(fsio_write_file_durable(pool, cfg, strlen(cfg), err) == 0);
    embedder_opts o = embedder_opts_default();
    o.model_dir = tmpl;
    o.precision = "fp32";
    embedder *cls = embedder_create("minilm", &o, err);
    if (!cls) printf("    %s\n", err);
    CHECK(cls != NULL);
    size_t n = json_array_size(vecs), wi = 0;
    const char **t = mem_alloc(sizeof(char *) * n);
    for (size_t i = 0; i < n; i++) t[i] = json_string_value(json_array_get(texts, i));
    float *out = mem_alloc(sizeof(float) * 384 * n);
    CHECK(cls && embedder_embed(cls, t, (int)n, out, err) == 0);
    double worst = worst_cosine(out, vecs, n, &wi);
    printf("    CLS pooling: worst cosine %.7f (text %zu)\n", worst, wi);
    CHECK(worst >= 0.9999);
    CHECK(cls && strstr(embedder_model_id(cls), "-cls-") != NULL); /* not the mean-pooled model's id */
    if (cls) embedder_free(cls);
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char *to = fsio_join(tmpl, files[i]);
        unlink(to);
        mem_free(to);
    }
    unlink(pool), rmdir(pool_dir), rmdir(tmpl);
    mem_free(pool), mem_free(pool_dir), free(src), mem_free(t), mem_free(out);
}

TEST(test_single_equals_batched) {
    CHECK(emb);
    /* A text's vector does not depend on the batch it is in, to the bit:
     * the service batches concurrent requests, and its vectors must equal
     * `ragd-index embed` of the same text. The batch is over 256 tokens,
     * where the encoder once switched to cblas_sgemm (and drifted ~1e-7). */
    char longer[4096] = "";
    for (int i = 0; i < 60; i++) strcat(longer, "files and folders, ");
    const char *texts[] = {"short", "a somewhat longer query about files and folders", "", longer, longer + 6};
    float batch[5 * 384], one[384];
    char err[RAGD_ERR_LEN];
    CHECK(embedder_embed(emb, texts, 5, batch, err) == 0);
    for (int i = 0; i < 5; i++) {
        CHECK(embedder_embed(emb, &texts[i], 1, one, err) == 0);
        CHECK(memcmp(one, batch + i * 384, sizeof(one)) == 0);
    }
}

/* The fixture's texts through a minilm made with --precision prec under
 * RAGD_MAX_CPU_ISA=isa (NULL: unset); the embedder is returned. */
static embedder *embed_fixture_at(const char *prec, const char *isa, float *out, size_t n, const char **t) {
    char err[RAGD_ERR_LEN];
    if (isa) setenv("RAGD_MAX_CPU_ISA", isa, 1);
    else unsetenv("RAGD_MAX_CPU_ISA");
    embedder_opts o = embedder_opts_default();
    o.precision = prec;
    embedder *e = embedder_create("minilm", &o, err);
    unsetenv("RAGD_MAX_CPU_ISA");
    if (!e) printf("    %s\n", err);
    if (e && embedder_embed(e, t, (int)n, out, err) != 0) printf("    %s\n", err), embedder_free(e), e = NULL;
    return e;
}

/* The fixture's texts, and their vectors from the fp32 encoder. */
typedef struct fixture_run {
    const char **t;
    size_t n;
    json_t *vecs;
    float *fp32, *out; /* out: n vectors for the precision under test */
} fixture_run;

static void fixture_run_open(fixture_run *f) {
    json_t *texts = json_object_get(fixture, "texts");
    f->vecs = json_object_get(fixture, "vectors");
    f->n = json_array_size(texts);
    f->t = mem_alloc(sizeof(char *) * f->n);
    for (size_t i = 0; i < f->n; i++) f->t[i] = json_string_value(json_array_get(texts, i));
    f->fp32 = mem_alloc(sizeof(float) * 384 * f->n), f->out = mem_alloc(sizeof(float) * 384 * f->n);
    char err[RAGD_ERR_LEN];
    CHECK(embedder_embed(emb, f->t, (int)f->n, f->fp32, err) == 0);
}

static void fixture_run_close(fixture_run *f) {
    mem_free(f->t), mem_free(f->out), mem_free(f->fp32);
}

/* Every 7th text embedded alone is the same bits as in f->out (a batch). */
static int alone_equals_batched(embedder *e, const fixture_run *f) {
    char err[RAGD_ERR_LEN];
    float one[384];
    int same = 1;
    for (size_t i = 0; i < f->n; i += 7)
        same &= embedder_embed(e, &f->t[i], 1, one, err) == 0 && memcmp(one, f->out + i * 384, sizeof(one)) == 0;
    return same;
}

/* A CPU without the instructions (generic) runs `prec` in fp32: the same
 * bits and model id as fp32. */
static void check_generic_falls_back(const char *prec, fixture_run *f) {
    embedder *e = embed_fixture_at(prec, "generic", f->out, f->n, f->t);
    CHECK(e != NULL);
    if (e) {
        CHECK_EQ_STR(embedder_kernel(e), "fp32");
        CHECK_EQ_STR(embedder_precision(e), "fp32");
        CHECK_EQ_STR(embedder_model_id(e), embedder_model_id(emb));
        CHECK(memcmp(f->out, f->fp32, sizeof(float) * 384 * f->n) == 0);
        embedder_free(e);
    }
}

TEST(test_bf16_matches_reference) {
    CHECK(fixture && emb);
    fixture_run f;
    fixture_run_open(&f);
    size_t wi = 0;
    char err[RAGD_ERR_LEN];
    const char *isas[] = {NULL, "avx512"};
    for (int k = 0; k < 2; k++) {
        embedder *e = embed_fixture_at("bf16", isas[k], f.out, f.n, f.t);
        CHECK(e != NULL);
        if (!e) continue;
        if (!strcmp(embedder_precision(e), "fp32")) { /* this CPU has no bf16 kernel at this level */
            printf("    %s: no bf16 kernel on this CPU, skipped\n", isas[k] ? isas[k] : "amx");
            embedder_free(e);
            continue;
        }
        double worst = worst_cosine(f.out, f.vecs, f.n, &wi);
        printf("    %s: worst cosine to the reference %.6f (text %zu)\n", embedder_kernel(e), worst, wi);
        CHECK(worst >= 0.999);
        CHECK_CONTAINS(embedder_model_id(e), "-bf16");
        CHECK(strcmp(embedder_model_id(e), embedder_model_id(emb)) != 0);
        CHECK(alone_equals_batched(e, &f)); /* to the bit, at bf16 too */
        embedder_free(e);
    }
    check_generic_falls_back("bf16", &f);
    embedder_opts o = embedder_opts_default();
    o.precision = "int4";
    CHECK(embedder_create("minilm", &o, err) == NULL);
    CHECK_CONTAINS(err, "expected fp32, bf16, int8 or auto");
    fixture_run_close(&f);
}

/* --precision int8 (AVX512_VNNI): the fixture within issue 16's bounds
 * (cosine to the reference >= 0.98 for every text, >= 0.995 on average;
 * docs/embedders.md has the measured figures), alone == in a batch to the
 * bit, its own model id; and on a CPU without VNNI (generic) fp32, bit
 * for bit. */
TEST(test_int8_matches_reference) {
    CHECK(fixture && emb);
    fixture_run f;
    fixture_run_open(&f);
    size_t wi = 0;
    embedder *e = embed_fixture_at("int8", NULL, f.out, f.n, f.t);
    CHECK(e != NULL);
    if (e && !strcmp(embedder_precision(e), "fp32")) {
        printf("    no AVX512_VNNI on this CPU: int8 runs fp32 (checked below)\n");
    } else if (e) {
        double mean, worst = worst_cosine_mean(f.out, f.vecs, f.n, &wi, &mean);
        printf("    %s: cosine to the reference mean %.5f, worst %.5f (text %zu)\n", embedder_kernel(e), mean, worst, wi);
        CHECK_EQ_STR(embedder_kernel(e), "int8-vnni");
        CHECK(worst >= 0.98);
        CHECK(mean >= 0.995);
        CHECK_CONTAINS(embedder_model_id(e), "-int8");
        CHECK(alone_equals_batched(e, &f));
    }
    embedder_free(e);
    check_generic_falls_back("int8", &f);
    fixture_run_close(&f);
}

TEST(test_bad_model_folders) {
    char err[RAGD_ERR_LEN];
    embedder_opts o = embedder_opts_default();
    o.model_dir = "/nonexistent/model";
    CHECK(embedder_create("minilm", &o, err) == NULL);
    CHECK_CONTAINS(err, "/nonexistent/model");
}

int main(void) {
    RUN(test_load);
    RUN(test_token_ids_identical);
    RUN(test_vectors_match_reference);
    RUN(test_cls_pooling_matches_reference);
    RUN(test_single_equals_batched);
    RUN(test_bf16_matches_reference);
    RUN(test_int8_matches_reference);
    RUN(test_bad_model_folders);
    embedder_free(emb);
    wp_free(wp);
    json_decref(fixture);
    return test_summary("minilm");
}
