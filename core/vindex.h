/* vindex.h - one shard's vector index, through the FAISS C API
 *
 * Wraps a FAISS index built from an index_factory string ("Flat", "HNSW32",
 * "IVF1024,PQ48", ...) so that vectors carry our 64-bit chunk ids (an
 * IndexIDMap is added around specs that do not keep ids themselves), and
 * turns FAISS's error codes into messages naming the file or the spec.
 *
 *     vindex *vi = vindex_create(384, "HNSW32", MANIFEST_METRIC_IP, err);
 *     vindex_add(vi, n, vectors, ids, err);
 *     vindex_write(vi, "shard-000.faiss", err);
 *     vindex_search(vi, 1, query, 10, scores, ids_out, err);
 *     vindex_free(vi);
 */
#ifndef RAGD_VINDEX_H
#define RAGD_VINDEX_H

#include <stdint.h>

#include "manifest.h"

typedef struct vindex vindex;

/* New empty index for vectors of dim floats. NULL + message if FAISS
 * rejects the spec. Free with vindex_free. */
vindex *vindex_create(int dim, const char *spec, enum manifest_metric metric, char *err);

/* Read an index file written by vindex_write. NULL + message naming path.
 * An IVF index is opened with nprobe max(16, nlist/16) (capped at nlist). */
vindex *vindex_read(const char *path, char *err);

int vindex_write(const vindex *vi, const char *path, char *err);

/* Deep copy (e.g. of a trained, empty index, one per shard). */
vindex *vindex_clone(const vindex *vi, char *err);

/* 1 when the index needs no (more) training. IVF and PQ specs need
 * vindex_train on a sample before vindex_add. */
int vindex_is_trained(const vindex *vi);
int vindex_train(vindex *vi, int64_t n, const float *x, char *err);

/* Add n vectors (n x dim floats, row-major) with their ids. */
int vindex_add(vindex *vi, int64_t n, const float *x, const int64_t *ids, char *err);

/* k nearest neighbours of nq queries. scores and ids hold nq x k entries;
 * missing results have id -1. Scores are inner products (cosine for
 * normalised vectors) or squared L2 distances, as the metric says.
 * Safe to call from several threads at once on one index. */
int vindex_search(const vindex *vi, int64_t nq, const float *q, int k, float *scores, int64_t *ids,
                  char *err);

/* Remove the vectors with ids in [lo, hi). Returns the count or -1. */
int64_t vindex_remove_range(vindex *vi, int64_t lo, int64_t hi, char *err);

/* Set a search-time parameter by FAISS name ("efSearch", "nprobe"). */
int vindex_set_param(vindex *vi, const char *name, double value, char *err);

int vindex_dim(const vindex *vi);
int64_t vindex_ntotal(const vindex *vi);
enum manifest_metric vindex_metric(const vindex *vi);

/* 1 if the spec stores compressed codes (PQ, SQ, ...), whose scores are
 * approximate: searches then re-rank candidates by the exact vectors. */
int vindex_spec_is_lossy(const char *spec);

void vindex_free(vindex *vi);

#endif
