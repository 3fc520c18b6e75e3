/* index_fixture.h - build small random indexes through the real core writer, for tests
 *
 *     float *vecs = fixture_vectors(1000, 32, 7);
 *     fixture_build(dir, "HNSW32", 2, 1000, 32, vecs, ids, 3, err);  // publishes
 *     fixture_brute_force(vecs, ids, 1000, 32, query, 10, top_ids);
 */
#ifndef RAGD_INDEX_FIXTURE_H
#define RAGD_INDEX_FIXTURE_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chunk_store.h"
#include "err.h"
#include "index_writer.h"
#include "mem.h"
#include "vindex.h"

/* n unit vectors of dim floats from a fixed seed (caller frees). */
static inline float *fixture_vectors(int n, int dim, unsigned seed) {
    float *v = mem_alloc(sizeof(float) * (size_t)n * (size_t)dim);
    for (int i = 0; i < n; i++) {
        double norm = 0;
        for (int j = 0; j < dim; j++) {
            seed = seed * 1103515245u + 12345u;
            float x = (float)((seed >> 8) & 0xffff) / 65535.0f - 0.5f;
            v[(size_t)i * dim + j] = x;
            norm += (double)x * x;
        }
        for (int j = 0; j < dim; j++) v[(size_t)i * dim + j] /= (float)sqrt(norm);
    }
    return v;
}

static inline char *fixture_text(int i) {
    return mem_printf("chunk %d: the quick brown fox %d jumps", i, i * 7);
}

/* Build and publish one version: vector i belongs to document "doc-(i/4)",
 * shard = document % n_shards. ids[i] receives its chunk id. */
static inline int fixture_build(const char *index_dir, const char *spec, int n_shards, int n, int dim,
                                const float *vecs, int64_t *ids, int keep, char *err) {
    index_writer *w = index_writer_begin(index_dir, err);
    if (!w) return -1;
    manifest m;
    memset(&m, 0, sizeof(m));
    snprintf(m.embedder, sizeof(m.embedder), "test");
    snprintf(m.model_id, sizeof(m.model_id), "test-d%d", dim);
    snprintf(m.index_spec, sizeof(m.index_spec), "%s", spec);
    m.dim = dim;
    m.normalized = 1;
    manifest_add_source(&m, "fixture");
    int rc = 0;
    for (int s = 0; s < n_shards && rc == 0; s++) {
        manifest_shard *ms = manifest_add_shard(&m);
        snprintf(ms->index_file, sizeof(ms->index_file), "shard-%03d.faiss", s);
        snprintf(ms->store_file, sizeof(ms->store_file), "shard-%03d.db", s);
        vindex *vi = vindex_create(dim, spec, MANIFEST_METRIC_IP, err);
        char *sp = index_writer_path(w, ms->store_file);
        chunk_store *cs = vi ? chunk_store_create(sp, dim, err) : NULL;
        mem_free(sp);
        if (!vi || !cs) rc = -1;
        if (rc == 0 && !vindex_is_trained(vi)) rc = vindex_train(vi, n, vecs, err);
        int last_doc = -1;
        for (int i = 0; i < n && rc == 0; i++) {
            int doc = i / 4;
            if (doc % n_shards != s) continue;
            char *url = mem_printf("doc-%d", doc), *text = fixture_text(i);
            chunk_row row = {0};
            row.id = ids[i] = chunk_id_make(url, i % 4, text, strlen(text));
            row.doc_url = url;
            row.text = text;
            row.end_byte = (int64_t)strlen(text);
            sha256_hex(text, strlen(text), row.content_hash);
            sha256_hex(url, strlen(url), row.doc_hash);
            rc = chunk_store_put(cs, &row, vecs + (size_t)i * dim, err);
            if (rc == 0) rc = vindex_add(vi, 1, vecs + (size_t)i * dim, &row.id, err);
            if (doc != last_doc) ms->documents++, last_doc = doc;
            ms->chunks++;
            mem_free(url);
            mem_free(text);
        }
        char *ip = index_writer_path(w, ms->index_file);
        if (rc == 0) rc = vindex_write(vi, ip, err);
        mem_free(ip);
        if (rc == 0) rc = chunk_store_finish(cs, NULL, err);
        else chunk_store_close(cs);
        vindex_free(vi);
        m.total_chunks += ms->chunks;
        m.total_documents += ms->documents;
    }
    if (rc == 0) rc = index_writer_commit(w, &m, keep, err);
    manifest_clear(&m);
    index_writer_free(w);
    return rc;
}

/* Exact top-k ids by inner product over all n vectors. */
static inline void fixture_brute_force(const float *vecs, const int64_t *ids, int n, int dim, const float *q,
                                       int k, int64_t *top) {
    float *best = mem_alloc(sizeof(float) * (size_t)k);
    for (int j = 0; j < k; j++) best[j] = -1e30f, top[j] = -1;
    for (int i = 0; i < n; i++) {
        float s = 0;
        for (int d = 0; d < dim; d++) s += vecs[(size_t)i * dim + d] * q[d];
        int j = k - 1;
        if (s <= best[j]) continue;
        while (j > 0 && best[j - 1] < s) {
            best[j] = best[j - 1];
            top[j] = top[j - 1];
            j--;
        }
        best[j] = s;
        top[j] = ids[i];
    }
    mem_free(best);
}

/* A fresh empty folder under /tmp (caller frees the path). */
static inline char *fixture_tmpdir(void) {
    char tmpl[] = "/tmp/ragd-test-XXXXXX";
    char *d = mkdtemp(tmpl);
    return d ? mem_strdup(d) : NULL;
}

#endif
