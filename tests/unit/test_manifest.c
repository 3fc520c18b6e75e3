/* test_manifest.c - manifest.json round trip and validation errors */
#include <stdlib.h>
#include <unistd.h>

#include "err.h"
#include "manifest.h"
#include "mem.h"
#include "test.h"

static void sample(manifest *m) {
    memset(m, 0, sizeof(*m));
    m->format_version = MANIFEST_FORMAT_VERSION;
    strcpy(m->version_id, "20261121T213000.123Z-abcdef");
    strcpy(m->created_at, "2026-11-21T21:30:00Z");
    strcpy(m->embedder, "hash");
    strcpy(m->model_id, "hash-v1-d256");
    m->dim = 256;
    m->metric = MANIFEST_METRIC_IP;
    m->normalized = 1;
    strcpy(m->index_spec, "HNSW32");
    m->chunk_tokens = 200;
    m->chunk_overlap = 20;
    manifest_add_source(m, "http://127.0.0.1:8000/");
    manifest_add_source(m, "/srv/docs");
    for (int i = 0; i < 2; i++) {
        manifest_shard *s = manifest_add_shard(m);
        snprintf(s->index_file, sizeof(s->index_file), "shard-%03d.faiss", i);
        snprintf(s->store_file, sizeof(s->store_file), "shard-%03d.db", i);
        s->chunks = 10 + i;
        s->documents = 2 + i;
        s->index_bytes = 1000 + i;
        s->store_bytes = 2000 + i;
        memset(s->index_sha256, 'a' + i, 64);
        memset(s->store_sha256, 'c' + i, 64);
    }
    m->total_chunks = 21;
    m->total_documents = 5;
}

/* The sample's JSON, for checks on what is written (a static copy). */
static const char *json_or_empty(const manifest *m) {
    static char buf[8192];
    char err[RAGD_ERR_LEN], *json = manifest_to_json(m, err);
    snprintf(buf, sizeof(buf), "%s", json ? json : "");
    mem_free(json);
    return buf;
}

TEST(test_roundtrip) {
    manifest m, r;
    char err[RAGD_ERR_LEN];
    sample(&m);
    char *json = manifest_to_json(&m, err);
    CHECK(json != NULL);
    CHECK(manifest_parse(json, strlen(json), &r, err) == 0);
    mem_free(json);
    CHECK(strcmp(r.version_id, m.version_id) == 0);
    CHECK(strcmp(r.model_id, "hash-v1-d256") == 0);
    CHECK_EQ_INT(r.dim, 256);
    CHECK_EQ_INT(r.metric, MANIFEST_METRIC_IP);
    CHECK_EQ_INT(r.normalized, 1);
    CHECK_EQ_INT(r.chunk_tokens, 200);
    CHECK_EQ_INT(r.n_sources, 2);
    CHECK(strcmp(r.sources[1], "/srv/docs") == 0);
    CHECK_EQ_INT(r.n_shards, 2);
    CHECK_EQ_INT(r.shards[1].chunks, 11);
    CHECK_EQ_INT(r.shards[1].store_bytes, 2001);
    CHECK(strcmp(r.shards[1].index_sha256, m.shards[1].index_sha256) == 0);
    CHECK_EQ_INT(r.total_chunks, 21);
    CHECK_EQ_INT(r.precision[0], 0); /* not written for an embedder without one (nor by older builds) */
    CHECK(strstr(json_or_empty(&m), "precision") == NULL);
    manifest_clear(&m);
    manifest_clear(&r);
}

TEST(test_precision_roundtrip) {
    manifest m, r;
    char err[RAGD_ERR_LEN];
    sample(&m);
    strcpy(m.precision, "bf16");
    char *json = manifest_to_json(&m, err);
    CHECK(json != NULL);
    CHECK_CONTAINS(json, "\"precision\": \"bf16\"");
    CHECK(manifest_parse(json, strlen(json), &r, err) == 0);
    CHECK(strcmp(r.precision, "bf16") == 0);
    char *at = strstr(json, "\"bf16\"");
    memcpy(at, "\"int8\"", 6);
    manifest_clear(&r);
    CHECK(manifest_parse(json, strlen(json), &r, err) == 0);
    CHECK(strcmp(r.precision, "int8") == 0);
    memcpy(at, "\"int4\"", 6);
    manifest_clear(&r);
    CHECK(manifest_parse(json, strlen(json), &r, err) == -1);
    CHECK_CONTAINS(err, "precision");
    mem_free(json);
    manifest_clear(&m);
    manifest_clear(&r);
}

/* Serialise a sample, apply one textual edit, expect a parse error. */
static int parse_edited(const char *from, const char *to, char *err) {
    manifest m, r;
    sample(&m);
    char *json = manifest_to_json(&m, err);
    manifest_clear(&m);
    char *at = strstr(json, from);
    if (!at) {
        mem_free(json);
        return 99;
    }
    char *edited = mem_printf("%.*s%s%s", (int)(at - json), json, to, at + strlen(from));
    int rc = manifest_parse(edited, strlen(edited), &r, err);
    manifest_clear(&r);
    mem_free(json);
    mem_free(edited);
    return rc;
}

TEST(test_rejects_bad_values) {
    char err[RAGD_ERR_LEN];
    CHECK(parse_edited("\"dim\": 256", "\"dim\": 0", err) == -1);
    CHECK_CONTAINS(err, "dim");
    CHECK(parse_edited("\"dim\": 256", "\"dim\": \"256\"", err) == -1);
    CHECK(parse_edited("shard-001.faiss", "../../etc/passwd", err) == -1);
    CHECK_CONTAINS(err, "plain names");
    CHECK(parse_edited("\"format_version\": 1", "\"format_version\": 2", err) == -1);
    CHECK_CONTAINS(err, "format_version 2");
    CHECK(parse_edited("\"chunks\": 21", "\"chunks\": 22", err) == -1);
    CHECK_CONTAINS(err, "totals.chunks");
    CHECK(parse_edited("\"inner_product\"", "\"cosine\"", err) == -1);
    CHECK(parse_edited("aaaaaaaa", "AAAAAAAA", err) == -1);
    CHECK_CONTAINS(err, "hex");
    CHECK(parse_edited("\"format\": \"ragd-index\"", "\"format\": \"other\"", err) == -1);
}

TEST(test_rejects_bad_json) {
    manifest r;
    char err[RAGD_ERR_LEN];
    const char *bad[] = {"", "{", "[]", "null", "{\"format\": \"ragd-index\"}",
                         "{\"a\":1,\"a\":2}", "{\"format\": \"ragd-index\", \"format_version\": 1e999}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK(manifest_parse(bad[i], strlen(bad[i]), &r, err) == -1);
        CHECK(r.shards == NULL && r.sources == NULL);
    }
    /* Truncation anywhere must fail cleanly. */
    manifest m;
    sample(&m);
    char *json = manifest_to_json(&m, err);
    manifest_clear(&m);
    for (size_t n = 0; n + 1 < strlen(json); n += 7) CHECK(manifest_parse(json, n, &r, err) == -1);
    mem_free(json);
}

TEST(test_save_load_file) {
    manifest m, r;
    char err[RAGD_ERR_LEN];
    char path[] = "/tmp/ragd-manifest-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    sample(&m);
    CHECK(manifest_save(path, &m, err) == 0);
    CHECK(manifest_load(path, &r, err) == 0);
    CHECK(strcmp(r.index_spec, "HNSW32") == 0);
    manifest_clear(&r);
    manifest_clear(&m);
    unlink(path);
    CHECK(manifest_load(path, &r, err) == -1);
    CHECK_CONTAINS(err, path);
}

int main(void) {
    RUN(test_roundtrip);
    RUN(test_precision_roundtrip);
    RUN(test_rejects_bad_values);
    RUN(test_rejects_bad_json);
    RUN(test_save_load_file);
    return test_summary("manifest");
}
