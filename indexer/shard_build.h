/* shard_build.h - write one shard (FAISS index + chunk store) from a plan, or all in parallel
 *
 * A shard plan lists the chunk rows the shard stores (with their vectors),
 * the extra sources of deduplicated chunks, and the documents that live in
 * the shard. shard_build_all builds every plan on its own thread (at most
 * `threads` at once, FAISS's OpenMP threads split between them), adding
 * vectors to a copy of a trained prototype when the spec needs training.
 *
 *     shard_plan p[2] = {...};
 *     shard_build_ctx ctx = {.writer = w, .dim = 384, .spec = "HNSW32", .proto = NULL};
 *     if (shard_build_all(&ctx, p, 2, manifest_shards, 2, err) != 0) ...;
 */
#ifndef RAGD_SHARD_BUILD_H
#define RAGD_SHARD_BUILD_H

#include <stdint.h>

#include "chunk_store.h"
#include "index_writer.h"
#include "manifest.h"
#include "vindex.h"

typedef struct shard_source {
    int64_t chunk_id;
    const char *url, *title, *headings;
} shard_source;

/* A document and its crawl state (strings borrowed from the caller). */
typedef chunk_doc shard_doc;

/* One entry of a document's chunk list. */
typedef struct shard_doc_chunk {
    const char *url;
    doc_chunk c;
} shard_doc_chunk;

typedef struct shard_plan {
    int n_rows, rows_cap;
    chunk_row *rows; /* strings borrowed from the caller */
    float *vecs;     /* n_rows x dim, owned by the plan */
    int n_sources, sources_cap;
    shard_source *sources;
    int n_docs, docs_cap;
    shard_doc *docs;
    int n_doc_chunks, doc_chunks_cap;
    shard_doc_chunk *doc_chunks;
} shard_plan;

typedef struct shard_build_ctx {
    index_writer *writer;
    int dim;
    const char *spec;
    const vindex *proto; /* trained empty index to copy, or NULL */
    char **same_index;   /* per shard: a live FAISS file with exactly this shard's rows, or NULL */
    const char *embedder, *model_id;
    int keyword_stemming; /* 1: porter over unicode61 (default); 0: unicode61 alone */
} shard_build_ctx;

/* Build shard i of plans into files shard-NNN.faiss/.db in the writer's
 * folder and describe them in out[i] (sizes and checksums are filled by
 * the writer's commit). Returns 0, or -1 with the first error. */
int shard_build_all(const shard_build_ctx *ctx, shard_plan *plans, int n, manifest_shard *out, int threads,
                    char *err);

void shard_plan_add_row(shard_plan *p, const chunk_row *row, const float *vec, int dim);
void shard_plan_add_source(shard_plan *p, shard_source s);
void shard_plan_add_doc(shard_plan *p, shard_doc d);
void shard_plan_add_doc_chunk(shard_plan *p, shard_doc_chunk c);
void shard_plan_clear(shard_plan *p);

#endif
