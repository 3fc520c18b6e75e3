/* test_chunk_store.c - SQLite chunk store: write once, read back, reject strangers */
#include <stdlib.h>
#include <unistd.h>

#include "chunk_store.h"
#include "err.h"
#include "fsio.h"
#include "mem.h"
#include "test.h"

static char *tmp_path(const char *name) {
    char tmpl[] = "/tmp/ragd-cs-XXXXXX";
    char *d = mkdtemp(tmpl);
    return d ? fsio_join(d, name) : NULL;
}

static void drop(char *path) {
    char *dir = mem_strdup(path);
    *strrchr(dir, '/') = '\0';
    fsio_remove_tree(dir, NULL);
    mem_free(dir);
    mem_free(path);
}

TEST(test_chunk_id_stable_and_positive) {
    int64_t a = chunk_id_make("http://x/a", 0, "hello", 5);
    CHECK(a == chunk_id_make("http://x/a", 0, "hello", 5));
    CHECK(a != chunk_id_make("http://x/a", 1, "hello", 5));
    CHECK(a != chunk_id_make("http://x/b", 0, "hello", 5));
    CHECK(a != chunk_id_make("http://x/a", 0, "hellp", 5));
    /* The separator keeps ("ab", "c") and ("a", "bc") apart. */
    CHECK(chunk_id_make("ab", 1, "c", 1) != chunk_id_make("a", 1, "bc", 2));
    for (int i = 0; i < 1000; i++) CHECK(chunk_id_make("u", i, "t", 1) >= 0);
}

static void doc_line(void *ctx, const chunk_doc *d) {
    char *out = ctx;
    size_t l = strlen(out);
    snprintf(out + l, 512 - l, "%s|%s|%s|%lld|%s|%s|%lld|%s;", d->url, d->etag, d->last_modified,
             (long long)d->fetched_at, d->links, d->source, (long long)d->modified, d->meta);
}

static void chunk_line(void *ctx, const doc_chunk *c) {
    char *out = ctx;
    size_t l = strlen(out);
    snprintf(out + l, 512 - l, "%d:%s:%lld-%lld:%s;", c->ordinal, c->headings, (long long)c->start_byte,
             (long long)c->end_byte, c->content_hash);
}

TEST(test_write_then_read) {
    char err[RAGD_ERR_LEN];
    char *p = tmp_path("s.db");
    chunk_store *cs = chunk_store_create(p, 4, err);
    CHECK(cs != NULL);
    float v[4] = {0.5f, -0.5f, 0.25f, 1.0f};
    chunk_row r = {.id = 42, .doc_url = "http://h/doc", .title = "Title \xc3\xa9", .headings = "[\"A\",\"B\"]",
                   .text = "some text", .start_byte = 10, .end_byte = 19};
    sha256_hex("some text", 9, r.content_hash);
    sha256_hex("doc", 3, r.doc_hash);
    CHECK(chunk_store_put(cs, &r, v, err) == 0);
    CHECK(chunk_store_put(cs, &r, v, err) == -1); /* same id twice */
    CHECK(chunk_store_add_source(cs, 42, "http://h/copy", "Copy", "[]", err) == 0);
    chunk_doc doc = {.url = "http://h/doc", .doc_hash = r.doc_hash, .title = "Title", .chunks = 1,
                     .etag = "\"v1\"", .last_modified = NULL, .fetched_at = 1700000000,
                     .links = "http://h/a\nhttp://h/b", .source = "http://h/", .modified = 1690000000,
                     .meta = "{\"lang\":\"en\"}"};
    CHECK(chunk_store_put_document(cs, &doc, err) == 0);
    doc_chunk dc = {.ordinal = 0, .headings = "[\"A\"]", .start_byte = 10, .end_byte = 19};
    memcpy(dc.content_hash, r.content_hash, sizeof(dc.content_hash));
    CHECK(chunk_store_put_doc_chunk(cs, "http://h/doc", &dc, err) == 0);
    CHECK(chunk_store_put_meta(cs, "embedder", "hash", err) == 0);
    CHECK(chunk_store_finish(cs, NULL, err) == 0);

    cs = chunk_store_open(p, err);
    CHECK(cs != NULL);
    CHECK_EQ_INT(chunk_store_dim(cs), 4);
    CHECK_EQ_INT(chunk_store_count(cs), 1);
    chunk_row got;
    float back[4];
    CHECK(chunk_store_get(cs, 42, &got, back, err) == 0);
    int same = strcmp(got.title, "Title \xc3\xa9") == 0 && strcmp(got.headings, "[\"A\",\"B\"]") == 0 &&
               got.start_byte == 10 && got.end_byte == 19 && strcmp(got.content_hash, r.content_hash) == 0;
    chunk_row_clear(&got);
    CHECK(same);
    CHECK(memcmp(back, v, sizeof(v)) == 0);
    CHECK(chunk_store_get(cs, 43, &got, NULL, err) == 1);
    CHECK_EQ_INT(chunk_store_schema(cs), 4);
    CHECK(chunk_store_has_keywords(cs));
    const char *words[] = {"Title"};
    int64_t kid;
    float ksc;
    CHECK_EQ_INT(chunk_store_keyword(cs, words, 1, 5, &kid, &ksc, err), 1);
    CHECK(kid == 42 && ksc > 0);
    char seen[512] = "";
    CHECK(chunk_store_each_document(cs, doc_line, seen, err) == 0);
    CHECK(strcmp(seen, "http://h/doc|\"v1\"||1700000000|http://h/a\nhttp://h/b|http://h/|1690000000|{\"lang\":\"en\"};") == 0);
    seen[0] = '\0';
    CHECK(chunk_store_doc_chunks(cs, "http://h/doc", chunk_line, seen, err) == 0);
    CHECK(strncmp(seen, "0:[\"A\"]:10-19:", 14) == 0 && strstr(seen, r.content_hash));
    seen[0] = '\0';
    CHECK(chunk_store_doc_chunks(cs, "http://h/none", chunk_line, seen, err) == 0 && !seen[0]);
    char *meta = chunk_store_get_meta(cs, "embedder");
    CHECK(meta && strcmp(meta, "hash") == 0);
    mem_free(meta);
    chunk_store_close(cs);
    CHECK(chunk_store_create(p, 4, err) == NULL); /* never overwrite */
    CHECK_CONTAINS(err, "already exists");
    drop(p);
}

TEST(test_abandoned_store_has_no_rows) {
    char err[RAGD_ERR_LEN];
    char *p = tmp_path("s.db");
    chunk_store *cs = chunk_store_create(p, 2, err);
    CHECK(cs != NULL);
    float v[2] = {1, 0};
    chunk_row r = {.id = 1, .doc_url = "u", .text = "t"};
    CHECK(chunk_store_put(cs, &r, v, err) == 0);
    chunk_store_close(cs);
    cs = chunk_store_open(p, err);
    /* Rolled back before the meta rows were committed: not a store. */
    CHECK(cs == NULL);
    drop(p);
}

TEST(test_rejects_non_store_files) {
    char err[RAGD_ERR_LEN];
    char *p = tmp_path("x.db");
    CHECK(chunk_store_open(p, err) == NULL);
    CHECK_CONTAINS(err, "missing");
    CHECK(fsio_write_file_durable(p, "this is not sqlite at all, just text............", 48, err) == 0);
    CHECK(chunk_store_open(p, err) == NULL);
    drop(p);
}

int main(void) {
    RUN(test_chunk_id_stable_and_positive);
    RUN(test_write_then_read);
    RUN(test_abandoned_store_has_no_rows);
    RUN(test_rejects_non_store_files);
    return test_summary("chunk_store");
}
