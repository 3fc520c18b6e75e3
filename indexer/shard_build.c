/* shard_build.c - write shards (FAISS index + chunk store) in parallel */
#include "shard_build.h"

#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "fsio.h"
#include "mem.h"

void shard_plan_add_row(shard_plan *p, const chunk_row *row, const float *vec, int dim) {
    if (p->n_rows == p->rows_cap) {
        p->rows_cap = p->rows_cap ? p->rows_cap * 2 : 256;
        p->rows = mem_realloc(p->rows, sizeof(chunk_row) * (size_t)p->rows_cap);
        p->vecs = mem_realloc(p->vecs, sizeof(float) * (size_t)p->rows_cap * (size_t)dim);
    }
    p->rows[p->n_rows] = *row;
    memcpy(p->vecs + (size_t)p->n_rows * dim, vec, sizeof(float) * (size_t)dim);
    p->n_rows++;
}

void shard_plan_add_source(shard_plan *p, shard_source s) {
    if (p->n_sources == p->sources_cap) {
        p->sources_cap = p->sources_cap ? p->sources_cap * 2 : 64;
        p->sources = mem_realloc(p->sources, sizeof(shard_source) * (size_t)p->sources_cap);
    }
    p->sources[p->n_sources++] = s;
}

void shard_plan_add_doc(shard_plan *p, shard_doc d) {
    if (p->n_docs == p->docs_cap) {
        p->docs_cap = p->docs_cap ? p->docs_cap * 2 : 64;
        p->docs = mem_realloc(p->docs, sizeof(shard_doc) * (size_t)p->docs_cap);
    }
    p->docs[p->n_docs++] = d;
}

void shard_plan_add_doc_chunk(shard_plan *p, shard_doc_chunk c) {
    if (p->n_doc_chunks == p->doc_chunks_cap) {
        p->doc_chunks_cap = p->doc_chunks_cap ? p->doc_chunks_cap * 2 : 256;
        p->doc_chunks = mem_realloc(p->doc_chunks, sizeof(shard_doc_chunk) * (size_t)p->doc_chunks_cap);
    }
    p->doc_chunks[p->n_doc_chunks++] = c;
}

void shard_plan_clear(shard_plan *p) {
    mem_free(p->doc_chunks);
    mem_free(p->rows);
    mem_free(p->vecs);
    mem_free(p->sources);
    mem_free(p->docs);
    memset(p, 0, sizeof(*p));
}

static int write_index(const shard_build_ctx *ctx, const shard_plan *p, int shard, const char *path, char *err) {
    /* Versions are immutable: the same rows make the same index, so link it. */
    if (ctx->same_index && ctx->same_index[shard]) return fsio_link_or_copy(ctx->same_index[shard], path, err);
    vindex *vi = ctx->proto ? vindex_clone(ctx->proto, err)
                            : vindex_create(ctx->dim, ctx->spec, MANIFEST_METRIC_IP, err);
    if (!vi) return RAGD_ERR;
    int rc = RAGD_OK;
    if (!vindex_is_trained(vi)) rc = err_set(err, "%s needs training but no trained copy was given", ctx->spec);
    if (rc == RAGD_OK && p->n_rows > 0) {
        int64_t *ids = mem_alloc(sizeof(int64_t) * (size_t)p->n_rows);
        for (int i = 0; i < p->n_rows; i++) ids[i] = p->rows[i].id;
        rc = vindex_add(vi, p->n_rows, p->vecs, ids, err);
        mem_free(ids);
    }
    if (rc == RAGD_OK) rc = vindex_write(vi, path, err);
    vindex_free(vi);
    return rc;
}

static int write_store(const shard_build_ctx *ctx, const shard_plan *p, int shard, const char *path,
                       manifest_shard *out, char *err) {
    chunk_store *cs = chunk_store_create(path, ctx->dim, err);
    if (!cs) return RAGD_ERR;
    char num[16];
    snprintf(num, sizeof(num), "%d", shard);
    int rc = chunk_store_put_meta(cs, "embedder", ctx->embedder, err);
    if (rc == 0) rc = chunk_store_put_meta(cs, "model_id", ctx->model_id, err);
    if (rc == 0) rc = chunk_store_put_meta(cs, "index_spec", ctx->spec, err);
    if (rc == 0) rc = chunk_store_put_meta(cs, "shard", num, err);
    for (int i = 0; rc == 0 && i < p->n_rows; i++)
        rc = chunk_store_put(cs, &p->rows[i], p->vecs + (size_t)i * ctx->dim, err);
    for (int i = 0; rc == 0 && i < p->n_sources; i++) {
        const shard_source *s = &p->sources[i];
        rc = chunk_store_add_source(cs, s->chunk_id, s->url, s->title, s->headings, err);
    }
    for (int i = 0; rc == 0 && i < p->n_docs; i++) {
        rc = chunk_store_put_document(cs, &p->docs[i], err);
    }
    for (int i = 0; rc == 0 && i < p->n_doc_chunks; i++)
        rc = chunk_store_put_doc_chunk(cs, p->doc_chunks[i].url, &p->doc_chunks[i].c, err);
    if (rc != 0) {
        chunk_store_close(cs);
        return RAGD_ERR;
    }
    chunk_store_set_stemming(cs, ctx->keyword_stemming);
    chunk_store_stats st = {0};
    rc = chunk_store_finish(cs, &st, err);
    out->keyword_ms = st.keyword_ms;
    out->keyword_bytes = st.keyword_bytes;
    return rc;
}

typedef struct job {
    const shard_build_ctx *ctx;
    shard_plan *plan;
    manifest_shard *out;
    int shard, omp_threads, rc;
    char err[RAGD_ERR_LEN];
} job;

static void *build_one(void *arg) {
    job *j = arg;
    /* OpenMP's thread count is per calling thread: split the cores. */
    omp_set_num_threads(j->omp_threads);
    manifest_shard *ms = j->out;
    snprintf(ms->index_file, sizeof(ms->index_file), "shard-%03d.faiss", j->shard);
    snprintf(ms->store_file, sizeof(ms->store_file), "shard-%03d.db", j->shard);
    ms->chunks = j->plan->n_rows;
    ms->documents = j->plan->n_docs;
    char *ip = index_writer_path(j->ctx->writer, ms->index_file);
    char *sp = index_writer_path(j->ctx->writer, ms->store_file);
    j->rc = write_index(j->ctx, j->plan, j->shard, ip, j->err);
    if (j->rc == 0) j->rc = write_store(j->ctx, j->plan, j->shard, sp, j->out, j->err);
    if (j->rc != 0) err_prefix(j->err, "shard %d", j->shard);
    mem_free(ip);
    mem_free(sp);
    return NULL;
}

int shard_build_all(const shard_build_ctx *ctx, shard_plan *plans, int n, manifest_shard *out, int threads,
                    char *err) {
    if (threads < 1) threads = 1;
    int par = threads < n ? threads : n;
    job *jobs = mem_calloc((size_t)n, sizeof(job));
    pthread_t *tids = mem_calloc((size_t)n, sizeof(pthread_t));
    int rc = RAGD_OK;
    for (int first = 0; first < n; first += par) {
        int last = first + par < n ? first + par : n;
        for (int i = first; i < last; i++) {
            jobs[i] = (job){.ctx = ctx, .plan = &plans[i], .out = &out[i], .shard = i,
                            .omp_threads = threads / par > 0 ? threads / par : 1};
            if (pthread_create(&tids[i], NULL, build_one, &jobs[i]) != 0) build_one(&jobs[i]), tids[i] = 0;
        }
        for (int i = first; i < last; i++) {
            if (tids[i]) pthread_join(tids[i], NULL);
            if (jobs[i].rc != 0 && rc == RAGD_OK) rc = err_set(err, "%s", jobs[i].err);
        }
    }
    mem_free(jobs);
    mem_free(tids);
    return rc;
}
