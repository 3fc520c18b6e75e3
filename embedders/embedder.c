/* embedder.c - create embedders by name; dispatch through their vtables */
#include "embedder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cblas.h>

#include "err.h"
#include "manifest.h"

embedder_opts embedder_opts_default(void) {
    embedder_opts o = {.dim = 384, .model_dir = NULL};
    return o;
}

const char *embedder_names(void) {
    return "hash, minilm";
}

void embedder_default_model_dir(const embedder_opts *opts, char *out, size_t cap) {
    const char *env = getenv("RAGD_MODEL_DIR");
    if (opts && opts->model_dir && *opts->model_dir) {
        snprintf(out, cap, "%s", opts->model_dir);
    } else if (env && *env) {
        snprintf(out, cap, "%s", env);
    } else {
        char exe[4096];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        exe[n > 0 ? n : 0] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) *slash = '\0';
        snprintf(out, cap, "%s/../models/all-MiniLM-L6-v2", n > 0 ? exe : ".");
    }
}

embedder *embedder_create(const char *name, const embedder_opts *opts, char *err) {
    embedder_opts def = embedder_opts_default();
    if (!opts) opts = &def;
    if (strcmp(name, "hash") == 0) return emb_hash_create(opts, err);
    if (strcmp(name, "minilm") == 0) return emb_bert_create(opts, err);
    err_set(err, "unknown embedder \"%s\" (known: %s)", name, embedder_names());
    return NULL;
}

int embedder_embed(embedder *e, const char *const *texts, int n, float *out, char *err) {
    if (n <= 0) return 0;
    return e->vt->embed(e, texts, n, out, err);
}

int embedder_count_tokens(embedder *e, const char *text, size_t len) {
    return e->vt->count_tokens(e, text, len);
}

int embedder_dim(const embedder *e) {
    return e->dim;
}

const char *embedder_model_id(const embedder *e) {
    return e->model_id;
}

const char *embedder_name(const embedder *e) {
    return e->name;
}

int embedder_max_tokens(const embedder *e) {
    return e->max_tokens;
}

void embedder_free(embedder *e) {
    if (e) e->vt->destroy(e);
}

embedder *embedder_for_manifest(const manifest *m, const char *model_dir, char *err) {
    embedder_opts o = embedder_opts_default();
    o.dim = m->dim;
    o.model_dir = model_dir;
    embedder *e = embedder_create(m->embedder, &o, err);
    if (!e) return NULL;
    if (strcmp(e->model_id, m->model_id) != 0 || e->dim != m->dim) {
        err_set(err, "index %s was built with %s (dim %d), this embedder is %s (dim %d)", m->version_id,
                m->model_id, m->dim, e->model_id, e->dim);
        embedder_free(e);
        return NULL;
    }
    return e;
}

void embedder_set_blas_threads(int n) {
    openblas_set_num_threads(n < 1 ? 1 : n);
}
