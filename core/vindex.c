/* vindex.c - one shard's vector index, through the FAISS C API */
#include "vindex.h"

#include <faiss/c_api/AutoTune_c.h>
#include <faiss/c_api/IndexIVF_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/MetaIndexes_c.h>
#include <faiss/c_api/impl/AuxIndexStructures_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/index_factory_c.h>
#include <faiss/c_api/index_io_c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "hugepages.h"
#include "mem.h"

struct vindex {
    FaissIndex *index;
};

static int faiss_err(char *err, const char *what) {
    const char *msg = faiss_get_last_error();
    return err_set(err, "%s: %s", what, msg ? msg : "FAISS error");
}

vindex *vindex_create(int dim, const char *spec, enum manifest_metric metric, char *err) {
    if (dim < 1 || dim > MANIFEST_MAX_DIM) {
        err_set(err, "dimension %d out of range", dim);
        return NULL;
    }
    FaissMetricType fm = metric == MANIFEST_METRIC_L2 ? METRIC_L2 : METRIC_INNER_PRODUCT;
    FaissIndex *base = NULL;
    if (faiss_index_factory(&base, dim, spec, fm) != 0) {
        faiss_err(err, spec);
        return NULL;
    }
    FaissIndex *top = base;
    if (strncmp(spec, "IDMap", 5) != 0) {
        /* Flat and HNSW cannot store ids; IndexIDMap maps our chunk ids. */
        FaissIndexIDMap *map = NULL;
        if (faiss_IndexIDMap_new(&map, base) != 0) {
            faiss_err(err, spec);
            faiss_Index_free(base);
            return NULL;
        }
        faiss_IndexIDMap_set_own_fields(map, 1);
        top = (FaissIndex *)map;
    }
    vindex *vi = mem_calloc(1, sizeof(*vi));
    vi->index = top;
    return vi;
}

/* The IVF inside an IndexIDMap (or the index itself), or NULL. */
static FaissIndexIVF *ivf_of(FaissIndex *idx) {
    FaissIndexIDMap *map = faiss_IndexIDMap_cast(idx);
    return faiss_IndexIVF_cast(map ? faiss_IndexIDMap_sub_index(map) : idx);
}

/* FAISS opens an IVF index with nprobe 1, which visits one list in
 * nlist: recall@10 near 0.2 on IVF64. Probe max(16, nlist/16) lists
 * (all of them below 16) unless the caller sets nprobe. */
static void default_nprobe(FaissIndex *idx) {
    FaissIndexIVF *ivf = ivf_of(idx);
    if (!ivf || faiss_IndexIVF_nprobe(ivf) != 1) return;
    size_t nlist = faiss_IndexIVF_nlist(ivf), np = nlist / 16 > 16 ? nlist / 16 : 16;
    faiss_IndexIVF_set_nprobe(ivf, np < nlist ? np : nlist);
}

vindex *vindex_read(const char *path, char *err) {
    FaissIndex *idx = NULL;
    /* The vectors and the graph on huge pages: a search's random reads
     * then miss the TLB far less (hugepages.h has the measurement). */
    huge_mark *mark = huge_mark_take();
    int rc = faiss_read_index_fname(path, 0, &idx);
    huge_mark_advise(mark, (size_t)4 << 20);
    if (rc != 0) {
        faiss_err(err, path);
        return NULL;
    }
    default_nprobe(idx);
    vindex *vi = mem_calloc(1, sizeof(*vi));
    vi->index = idx;
    return vi;
}

int vindex_spec_is_lossy(const char *spec) {
    /* Product, scalar, residual and additive quantizers and LSH store codes,
     * not the vectors: their scores are approximations. */
    static const char *const codes[] = {"PQ", "SQ", "RQ", "LSQ", "LSH", "ITQ"};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        if (strstr(spec, codes[i])) return 1;
    return 0;
}

int vindex_write(const vindex *vi, const char *path, char *err) {
    if (faiss_write_index_fname(vi->index, path) != 0) return faiss_err(err, path);
    return RAGD_OK;
}

/* A deep copy through FAISS's own serializer. faiss_clone_index is not
 * used: its Cloner turns every IndexHNSW subclass (HNSWSQ, HNSWPQ) into a
 * plain IndexHNSW, which write_index then rejects ('h != 0'); a
 * write/read round trip keeps every type FAISS can store. */
vindex *vindex_clone(const vindex *vi, char *err) {
    char *buf = NULL;
    size_t len = 0;
    FILE *w = open_memstream(&buf, &len);
    if (!w) {
        err_set(err, "clone: open_memstream failed");
        return NULL;
    }
    int rc = faiss_write_index(vi->index, w);
    fclose(w);
    FaissIndex *copy = NULL;
    if (rc == 0) {
        FILE *r = fmemopen(buf, len, "rb");
        rc = r ? faiss_read_index(r, 0, &copy) : -1;
        if (r) fclose(r);
    }
    free(buf);
    if (rc != 0 || !copy) {
        faiss_err(err, "clone");
        return NULL;
    }
    vindex *c = mem_calloc(1, sizeof(*c));
    c->index = copy;
    return c;
}

int vindex_is_trained(const vindex *vi) {
    return faiss_Index_is_trained(vi->index);
}

int vindex_train(vindex *vi, int64_t n, const float *x, char *err) {
    if (faiss_Index_train(vi->index, n, x) != 0) return faiss_err(err, "train");
    return RAGD_OK;
}

int vindex_add(vindex *vi, int64_t n, const float *x, const int64_t *ids, char *err) {
    if (!vindex_is_trained(vi)) return err_set(err, "add: index is not trained");
    if (faiss_Index_add_with_ids(vi->index, n, x, ids) != 0) return faiss_err(err, "add");
    return RAGD_OK;
}

int vindex_search(const vindex *vi, int64_t nq, const float *q, int k, float *scores, int64_t *ids,
                  char *err) {
    if (k < 1) return err_set(err, "search: k must be >= 1");
    if (faiss_Index_search(vi->index, nq, q, k, scores, ids) != 0) return faiss_err(err, "search");
    return RAGD_OK;
}

int64_t vindex_remove_range(vindex *vi, int64_t lo, int64_t hi, char *err) {
    FaissIDSelectorRange *sel = NULL;
    if (faiss_IDSelectorRange_new(&sel, lo, hi) != 0) return faiss_err(err, "remove"), -1;
    size_t n = 0;
    int rc = faiss_Index_remove_ids(vi->index, (const FaissIDSelector *)sel, &n);
    faiss_IDSelector_free((FaissIDSelector *)sel);
    if (rc != 0) return faiss_err(err, "remove"), -1;
    return (int64_t)n;
}

int vindex_set_param(vindex *vi, const char *name, double value, char *err) {
    FaissParameterSpace *ps = NULL;
    if (faiss_ParameterSpace_new(&ps) != 0) return faiss_err(err, "parameter space");
    int rc = faiss_ParameterSpace_set_index_parameter(ps, vi->index, name, value);
    faiss_ParameterSpace_free(ps);
    if (rc != 0) return faiss_err(err, name);
    return RAGD_OK;
}

int vindex_dim(const vindex *vi) {
    return faiss_Index_d(vi->index);
}

int64_t vindex_ntotal(const vindex *vi) {
    return faiss_Index_ntotal(vi->index);
}

enum manifest_metric vindex_metric(const vindex *vi) {
    return faiss_Index_metric_type(vi->index) == METRIC_L2 ? MANIFEST_METRIC_L2 : MANIFEST_METRIC_IP;
}

void vindex_free(vindex *vi) {
    if (!vi) return;
    faiss_Index_free(vi->index);
    mem_free(vi);
}
