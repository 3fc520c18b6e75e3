/* test_index.c - write/read sharded index versions through FAISS; reject damaged ones */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsio.h"
#include "index_fixture.h"
#include "index_version.h"
#include "test.h"

#define N 1200
#define DIM 32
#define K 10

/* Build with spec, set a search parameter, compare every query's top-k
 * ids with brute force over all vectors. */
static int search_matches_brute_force(const char *spec, const char *param, double value) {
    char err[RAGD_ERR_LEN];
    char *dir = fixture_tmpdir();
    float *vecs = fixture_vectors(N, DIM, 42), *queries = fixture_vectors(25, DIM, 99);
    int64_t *ids = mem_alloc(sizeof(int64_t) * N);
    int ok = fixture_build(dir, spec, 2, N, DIM, vecs, ids, 3, err) == 0;
    index_version *v = ok ? index_version_open(dir, INDEX_VERIFY_CHECKSUMS, err) : NULL;
    ok = v != NULL;
    if (!ok) printf("    %s: %s\n", spec, err);
    for (int s = 0; ok && param && s < v->m.n_shards; s++)
        ok = vindex_set_param(v->shards[s].index, param, value, err) == 0;
    for (int q = 0; ok && q < 25; q++) {
        index_hit hits[K];
        int64_t expect[K];
        fixture_brute_force(vecs, ids, N, DIM, queries + q * DIM, K, expect);
        ok = index_version_search(v, queries + q * DIM, K, hits, err) == K;
        for (int j = 0; ok && j < K; j++) {
            if (hits[j].id != expect[j]) {
                printf("    %s query %d rank %d: id %lld, brute force %lld\n", spec, q, j,
                       (long long)hits[j].id, (long long)expect[j]);
                ok = 0;
            }
        }
    }
    index_version_free(v);
    fsio_remove_tree(dir, NULL);
    mem_free(dir);
    mem_free(vecs);
    mem_free(queries);
    mem_free(ids);
    return ok;
}

TEST(test_flat_exact_topk) {
    CHECK(search_matches_brute_force("Flat", NULL, 0));
}

TEST(test_hnsw_topk_with_wide_search) {
    /* efSearch far above k on 600 vectors per shard makes HNSW exhaustive
     * in practice; the graph and the id mapping are what is under test. */
    CHECK(search_matches_brute_force("HNSW32", "efSearch", 512));
}

TEST(test_ivf_trained_topk_all_probes) {
    CHECK(search_matches_brute_force("IVF8,Flat", "nprobe", 8));
}

TEST(test_rows_and_vectors_come_back) {
    char err[RAGD_ERR_LEN];
    char *dir = fixture_tmpdir();
    float *vecs = fixture_vectors(N, DIM, 5);
    int64_t *ids = mem_alloc(sizeof(int64_t) * N);
    CHECK(fixture_build(dir, "Flat", 3, N, DIM, vecs, ids, 3, err) == 0);
    index_version *v = index_version_open(dir, 0, err);
    CHECK(v != NULL);
    CHECK_EQ_INT(v->m.n_shards, 3);
    CHECK_EQ_INT(v->m.total_chunks, N);
    CHECK_EQ_INT(v->m.total_documents, N / 4);
    index_hit hits[1];
    CHECK(index_version_search(v, vecs + 77 * DIM, 1, hits, err) == 1);
    CHECK(hits[0].id == ids[77]);
    CHECK(hits[0].score > 0.999f);
    chunk_row row;
    float back[DIM];
    CHECK(chunk_store_get(v->shards[hits[0].shard].store, hits[0].id, &row, back, err) == 0);
    char *text = fixture_text(77);
    int same = strcmp(row.text, text) == 0 && strcmp(row.doc_url, "doc-19") == 0;
    mem_free(text);
    chunk_row_clear(&row);
    CHECK(same);
    CHECK(memcmp(back, vecs + 77 * DIM, sizeof(back)) == 0);
    CHECK(chunk_store_get(v->shards[0].store, 12345, &row, NULL, err) == 1);
    index_version_free(v);
    fsio_remove_tree(dir, NULL);
    mem_free(dir);
    mem_free(vecs);
    mem_free(ids);
}

TEST(test_a_shard_subset_searches_only_its_shards) {
    char err[RAGD_ERR_LEN];
    char *dir = fixture_tmpdir();
    float *vecs = fixture_vectors(N, DIM, 5);
    int64_t *ids = mem_alloc(sizeof(int64_t) * N);
    CHECK(fixture_build(dir, "Flat", 3, N, DIM, vecs, ids, 3, err) == 0);
    index_version *all = index_version_open(dir, 0, err);
    int one[] = {1}, bad[] = {3};
    shard_set only = {one, 1}, wrong = {bad, 1};
    index_version *v = index_version_open_subset(dir, 0, &only, NULL, err);
    CHECK(all && v && v->n_served == 1 && all->n_served == 3);
    CHECK(index_version_serves(v, 1) && !index_version_serves(v, 0) && !index_version_serves(v, 2));
    /* the subset's top 10 are the whole version's shard-1 hits, in its order */
    index_hit whole[N], part[10];
    int nw = index_version_search(all, vecs + 11 * DIM, N, whole, err), np = index_version_search(v, vecs + 11 * DIM, 10, part, err);
    CHECK(nw == N && np == 10);
    int j = 0;
    for (int i = 0; i < nw && j < np; i++)
        if (whole[i].shard == 1) {
            CHECK(part[j].id == whole[i].id && part[j].shard == 1 && part[j].score == whole[i].score);
            j++;
        }
    CHECK_EQ_INT(j, 10);
    CHECK(index_version_open_subset(dir, 0, &wrong, NULL, err) == NULL && strstr(err, "shard 3"));
    index_version_free(v);
    index_version_free(all);
    fsio_remove_tree(dir, NULL);
    mem_free(dir);
    mem_free(vecs);
    mem_free(ids);
}

/* A published 2-shard Flat index in a new folder; returns its version dir. */
static char *published(char **index_dir) {
    char err[RAGD_ERR_LEN], id[128];
    *index_dir = fixture_tmpdir();
    float *vecs = fixture_vectors(200, DIM, 9);
    int64_t ids[200];
    int rc = fixture_build(*index_dir, "Flat", 2, 200, DIM, vecs, ids, 3, err);
    mem_free(vecs);
    if (rc != 0 || index_dir_current(*index_dir, id, sizeof(id), err) != 0) return NULL;
    return mem_printf("%s/versions/%s", *index_dir, id);
}

static void cleanup(char *index_dir, char *vdir) {
    fsio_remove_tree(index_dir, NULL);
    mem_free(index_dir);
    mem_free(vdir);
}

TEST(test_truncated_shard_rejected) {
    char err[RAGD_ERR_LEN], *idir, *vdir = published(&idir);
    CHECK(vdir != NULL);
    char *p = fsio_join(vdir, "shard-001.faiss");
    int64_t size = fsio_file_size(p, err);
    CHECK(truncate(p, size - 10) == 0);
    mem_free(p);
    index_version *v = index_version_open(idir, 0, err);
    CHECK(v == NULL);
    CHECK_CONTAINS(err, "shard-001.faiss");
    CHECK_CONTAINS(err, "manifest says");
    cleanup(idir, vdir);
}

TEST(test_flipped_byte_fails_checksum) {
    char err[RAGD_ERR_LEN], *idir, *vdir = published(&idir);
    CHECK(vdir != NULL);
    char *p = fsio_join(vdir, "shard-000.faiss");
    int fd = open(p, O_RDWR);
    mem_free(p);
    CHECK(fd >= 0);
    unsigned char c;
    CHECK(pread(fd, &c, 1, 200) == 1);
    c ^= 0x5a;
    CHECK(pwrite(fd, &c, 1, 200) == 1);
    close(fd);
    index_version *v = index_version_open(idir, INDEX_VERIFY_CHECKSUMS, err);
    CHECK(v == NULL);
    CHECK_CONTAINS(err, "shard-000.faiss: SHA-256");
    cleanup(idir, vdir);
}

TEST(test_wrong_dimension_manifest_rejected) {
    char err[RAGD_ERR_LEN], *idir, *vdir = published(&idir);
    CHECK(vdir != NULL);
    char *mp = fsio_join(vdir, MANIFEST_FILE);
    manifest m;
    CHECK(manifest_load(mp, &m, err) == 0);
    m.dim = 768;
    CHECK(manifest_save(mp, &m, err) == 0);
    manifest_clear(&m);
    mem_free(mp);
    index_version *v = index_version_open(idir, INDEX_VERIFY_CHECKSUMS, err);
    CHECK(v == NULL);
    CHECK_CONTAINS(err, "shard-000.faiss: dimension 32, manifest says 768");
    cleanup(idir, vdir);
}

TEST(test_missing_store_rejected) {
    char err[RAGD_ERR_LEN], *idir, *vdir = published(&idir);
    CHECK(vdir != NULL);
    char *p = fsio_join(vdir, "shard-001.db");
    CHECK(unlink(p) == 0);
    mem_free(p);
    CHECK(index_version_open(idir, 0, err) == NULL);
    CHECK_CONTAINS(err, "shard-001.db: missing");
    cleanup(idir, vdir);
}

TEST(test_garbage_manifest_rejected) {
    char err[RAGD_ERR_LEN], *idir, *vdir = published(&idir);
    CHECK(vdir != NULL);
    char *mp = fsio_join(vdir, MANIFEST_FILE);
    CHECK(fsio_write_file_durable(mp, "{\"format\": ", 11, err) == 0);
    mem_free(mp);
    CHECK(index_version_open(idir, 0, err) == NULL);
    CHECK_CONTAINS(err, "manifest.json: invalid JSON");
    cleanup(idir, vdir);
}

TEST(test_second_writer_is_refused) {
    char err[RAGD_ERR_LEN];
    char *dir = fixture_tmpdir();
    index_writer *a = index_writer_begin(dir, err);
    CHECK(a != NULL);
    index_writer *b = index_writer_begin(dir, err);
    CHECK(b == NULL);
    CHECK(index_writer_lock_busy());
    CHECK_CONTAINS(err, "locked by another build");
    index_writer_free(a);
    b = index_writer_begin(dir, err);
    CHECK(b != NULL);
    CHECK(!index_writer_lock_busy());
    index_writer_free(b);
    fsio_remove_tree(dir, NULL);
    mem_free(dir);
}

TEST(test_abort_keeps_current_and_cleans_up) {
    char err[RAGD_ERR_LEN], before[128], after[128], *idir, *vdir = published(&idir);
    CHECK(vdir != NULL);
    CHECK(index_dir_current(idir, before, sizeof(before), err) == 0);
    index_writer *w = index_writer_begin(idir, err);
    CHECK(w != NULL);
    char *p = index_writer_path(w, "shard-000.faiss");
    CHECK(fsio_write_file_durable(p, "partial", 7, err) == 0);
    char *tmp = mem_strdup(index_writer_dir(w));
    mem_free(p);
    index_writer_free(w);
    CHECK(!fsio_exists(tmp));
    mem_free(tmp);
    CHECK(index_dir_current(idir, after, sizeof(after), err) == 0);
    CHECK(strcmp(before, after) == 0);
    cleanup(idir, vdir);
}

TEST(test_old_versions_pruned_live_kept) {
    char err[RAGD_ERR_LEN], id[128];
    char *dir = fixture_tmpdir();
    float *vecs = fixture_vectors(40, DIM, 3);
    int64_t ids[40];
    for (int i = 0; i < 5; i++) CHECK(fixture_build(dir, "Flat", 1, 40, DIM, vecs, ids, 2, err) == 0);
    mem_free(vecs);
    char *versions = fsio_join(dir, "versions");
    int count = 0;
    DIR *d = opendir(versions);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) count += de->d_name[0] != '.';
    closedir(d);
    mem_free(versions);
    CHECK_EQ_INT(count, 2);
    CHECK(index_dir_current(dir, id, sizeof(id), err) == 0);
    index_version *v = index_version_open(dir, INDEX_VERIFY_CHECKSUMS, err);
    CHECK(v != NULL);
    CHECK(strcmp(v->m.version_id, id) == 0);
    index_version_free(v);
    fsio_remove_tree(dir, NULL);
    mem_free(dir);
}

/* Security review finding 5 (read): a replica still on a replaced version
 * (loading, or retrying a failed load) must not lose its files. */
TEST(test_recently_replaced_versions_wait_for_the_grace) {
    char err[RAGD_ERR_LEN];
    char *dir = fixture_tmpdir();
    float *vecs = fixture_vectors(40, DIM, 3);
    int64_t ids[40];
    for (int i = 0; i < 4; i++) CHECK(fixture_build(dir, "Flat", 1, 40, DIM, vecs, ids, 0, err) == 0);
    mem_free(vecs);
    CHECK_EQ_INT(index_writer_prune(dir, 1, 3600, err), 0); /* all replaced just now */
    CHECK_EQ_INT(index_writer_prune(dir, 1, 0, err), 3);    /* no grace: all but the live one */
    char id[128];
    CHECK(index_dir_current(dir, id, sizeof(id), err) == 0);
    index_version *v = index_version_open(dir, INDEX_VERIFY_CHECKSUMS, err);
    CHECK(v && !strcmp(v->m.version_id, id));
    index_version_free(v);
    fsio_remove_tree(dir, NULL);
    mem_free(dir);
}

int main(void) {
    RUN(test_flat_exact_topk);
    RUN(test_hnsw_topk_with_wide_search);
    RUN(test_ivf_trained_topk_all_probes);
    RUN(test_rows_and_vectors_come_back);
    RUN(test_truncated_shard_rejected);
    RUN(test_flipped_byte_fails_checksum);
    RUN(test_wrong_dimension_manifest_rejected);
    RUN(test_missing_store_rejected);
    RUN(test_garbage_manifest_rejected);
    RUN(test_second_writer_is_refused);
    RUN(test_a_shard_subset_searches_only_its_shards);
    RUN(test_abort_keeps_current_and_cleans_up);
    RUN(test_old_versions_pruned_live_kept);
    RUN(test_recently_replaced_versions_wait_for_the_grace);
    return test_summary("index");
}
