/* embedder_impl.h - what an embedder implementation provides (private to embedders/)
 *
 * Each embedder (hash.c, bert.c, openai.c) embeds a struct embedder as its
 * first member, fills in the common fields and points vt at its
 * functions; embedder.c finds its constructor by name in one table.
 * Callers outside embedders/ see only embedder.h.
 */
#ifndef RAGD_EMBEDDER_IMPL_H
#define RAGD_EMBEDDER_IMPL_H

#include "embedder.h"

struct embedder_vtable {
    int (*embed)(embedder *e, const char *const *texts, int n, float *out, char *err);
    int (*count_tokens)(embedder *e, const char *text, size_t len);
    void (*destroy)(embedder *e);
};

/* The common part every embedder starts with. */
struct embedder {
    const struct embedder_vtable *vt;
    char name[32];
    char model_id[128];
    int dim;
    int max_tokens; /* most content tokens one text may hold (before truncation) */
    int uncased;    /* 1 if the model ignores case (cache keys may fold case) */
    int remote;     /* 1 if each call goes over the network to a model server (openai) */
    char precision[8]; /* minilm: "fp32" or "bf16", what its products compute in; "" otherwise */
    char kernel[16];   /* minilm: the kernel that runs them ("bf16-amx", ...); "" otherwise */
};

/* The constructors embedder_create looks up by name. */
embedder *emb_hash_create(const embedder_opts *opts, char *err);
embedder *emb_bert_create(const embedder_opts *opts, char *err);
embedder *emb_openai_create(const embedder_opts *opts, char *err);

#endif
