/* test_hash_embedder.c - the hashing embedder: deterministic, normalised, sensible */
#include <math.h>

#include "embedder.h"
#include "err.h"
#include "test.h"

static float dot(const float *a, const float *b, int n) {
    float s = 0;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

TEST(test_normalised_and_deterministic) {
    char err[RAGD_ERR_LEN];
    embedder_opts o = embedder_opts_default();
    o.dim = 256;
    embedder *e = embedder_create("hash", &o, err);
    CHECK(e != NULL);
    CHECK_EQ_INT(embedder_dim(e), 256);
    CHECK(strcmp(embedder_model_id(e), "hash-v1-d256") == 0);
    const char *texts[] = {"How do I install Python packages?", "how do i INSTALL python packages",
                           "Installing Python packages with pip", "The cat sat on the mat.", ""};
    float v[5][256], w[5][256];
    CHECK(embedder_embed(e, texts, 5, &v[0][0], err) == 0);
    CHECK(embedder_embed(e, texts, 5, &w[0][0], err) == 0);
    CHECK(memcmp(v, w, sizeof(v)) == 0);
    for (int i = 0; i < 4; i++) CHECK(fabsf(dot(v[i], v[i], 256) - 1.0f) < 1e-5f);
    CHECK(dot(v[4], v[4], 256) == 0.0f);                    /* no words, no features */
    CHECK(fabsf(dot(v[0], v[1], 256) - 1.0f) < 1e-5f);      /* case and punctuation */
    CHECK(dot(v[0], v[2], 256) > dot(v[0], v[3], 256) + 0.2f);
    embedder_free(e);
}

TEST(test_tokens_and_unicode) {
    char err[RAGD_ERR_LEN];
    embedder *e = embedder_create("hash", NULL, err);
    CHECK(e != NULL);
    const char *t = "Caf\xc3\xa9 na\xc3\xafve, x_y 3.14 \xe4\xb8\xad\xe6\x96\x87 \xff\xfe bad";
    /* Café, naïve, x_y, 3, 14, 中文, bad: the invalid bytes only separate. */
    CHECK_EQ_INT(embedder_count_tokens(e, t, strlen(t)), 7);
    CHECK_EQ_INT(embedder_count_tokens(e, "", 0), 0);
    const char *u[] = {"CAF\xc3\x89", "caf\xc3\xa9"};
    float v[2][384];
    CHECK(embedder_embed(e, u, 2, &v[0][0], err) == 0);
    CHECK(fabsf(dot(v[0], v[1], 384) - 1.0f) < 1e-5f);
    embedder_free(e);
}

TEST(test_bad_names_and_dims) {
    char err[RAGD_ERR_LEN];
    CHECK(embedder_create("nope", NULL, err) == NULL);
    CHECK_CONTAINS(err, "unknown embedder \"nope\"");
    embedder_opts o = embedder_opts_default();
    o.dim = 0;
    CHECK(embedder_create("hash", &o, err) == NULL);
    CHECK_CONTAINS(err, "dim");
}

int main(void) {
    RUN(test_normalised_and_deterministic);
    RUN(test_tokens_and_unicode);
    RUN(test_bad_names_and_dims);
    return test_summary("hash_embedder");
}
