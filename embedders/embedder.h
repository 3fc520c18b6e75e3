/* embedder.h - one interface for every text embedder (hash, minilm, openai)
 *
 * An embedder turns texts into L2-normalised float32 vectors of a fixed
 * dimension. Its model_id is stable across runs and versions of ragd that
 * produce the same vectors; it goes into the manifest and into cache keys,
 * so the service never mixes vectors of two models. count_tokens is the
 * embedder's own tokenizer, which the chunker uses to size chunks.
 * embed() is safe to call from several threads at once.
 *
 *     embedder_opts o = embedder_opts_default();
 *     embedder *e = embedder_create("hash", &o, err);
 *     float *v = mem_alloc(sizeof(float) * n * embedder_dim(e));
 *     if (embedder_embed(e, texts, n, v, err) != 0) ...;
 *     embedder_free(e);
 */
#ifndef RAGD_EMBEDDER_H
#define RAGD_EMBEDDER_H

#include <stddef.h>

#include "model_dir.h"

typedef struct embedder_opts {
    int dim;               /* hash: vector dimension (default 384); openai: expected dim (0 = ask) */
    const char *model_dir; /* minilm: model folder */
    const char *precision; /* minilm: "auto" (NULL), "fp32", "bf16" or "int8" */
    /* openai: an OpenAI-compatible /embeddings API */
    const char *openai_urls;        /* base URLs, comma-separated, tried in order */
    const char *openai_model;       /* model (OpenAI) or deployment (Azure) name */
    const char *openai_key_file;    /* file holding the API key (a mounted secret) */
    const char *openai_key_env;     /* or the environment variable holding it */
    const char *openai_api_version; /* set for Azure OpenAI (api-key header, deployment URL) */
    int openai_batch;               /* texts per request (64) */
    int openai_max_tokens;          /* tokens per text the model takes (8191) */
    int openai_timeout_ms;          /* per request (30000) */
    int openai_retries;             /* retries after the first try (4) */
    int openai_backoff_ms;          /* first backoff step (500) */
} embedder_opts;

/* Opaque outside embedders/ (the vtable and fields are in
 * embedder_impl.h, for the embedders themselves). */
typedef struct embedder embedder;

embedder_opts embedder_opts_default(void);

/* Create an embedder by name ("hash"; the list is in embedder_names()).
 * NULL + message for an unknown name or bad options. Free with
 * embedder_free. */
embedder *embedder_create(const char *name, const embedder_opts *opts, char *err);

/* The embedder an index was built with, as its manifest names it
 * (name, model id, dim); NULL + a clear message if this build cannot make
 * exactly that model. opts (may be NULL) supplies what the manifest does
 * not hold: the model folder, API endpoints and keys. */
struct manifest;
embedder *embedder_for_manifest(const struct manifest *m, const embedder_opts *opts, char *err);

/* Comma-separated names this build knows, for --help and error messages. */
const char *embedder_names(void);

/* Embed n NUL-terminated texts into out (n x dim floats, row-major), each
 * row L2-normalised (an all-zero row for a text with no features, hash
 * only). 0 or -1 + message. */
int embedder_embed(embedder *e, const char *const *texts, int n, float *out, char *err);

/* Tokens in text[0..len) by the embedder's own tokenizer, without the
 * special tokens a model adds around every text. */
int embedder_count_tokens(embedder *e, const char *text, size_t len);

int embedder_dim(const embedder *e);
const char *embedder_model_id(const embedder *e);
const char *embedder_name(const embedder *e);
int embedder_max_tokens(const embedder *e);
/* 1 if the model ignores case (cache keys may fold case). */
int embedder_uncased(const embedder *e);
/* 1 if each call goes over the network to a model server (openai). */
int embedder_is_remote(const embedder *e);

/* minilm: the precision its products run in ("fp32", "bf16": bf16 asked
 * on a CPU without bf16 instructions runs fp32) and the kernel that runs
 * them ("fp32", "bf16-avx512", "bf16-amx"); "" for other embedders. */
const char *embedder_precision(const embedder *e);
const char *embedder_kernel(const embedder *e);

void embedder_free(embedder *e);

/* The embedder a build uses when none is named: "minilm" when its model
 * is found, else NULL + a message saying where it looked and how to get
 * it (make model) or how to choose hash explicitly. */
const char *embedder_default_name(const embedder_opts *opts, char *err);

/* Apply a command-line or config option meant for embedders ("model",
 * "openai-url", ...). Returns 1 if key was one (applied), 0 if not, -1
 * with a message for a bad value. The value must outlive opts. */
int embedder_cli_option(embedder_opts *o, const char *key, const char *value, char *err);

/* Help text for those options (one line each, for --help). */
const char *embedder_cli_help(void);

/* Threads OpenBLAS may use inside one embed call (process-wide). Callers
 * that run several embed calls in parallel set 1, so that callers x BLAS
 * threads do not oversubscribe the cores. */
void embedder_set_blas_threads(int n);

/* Threads the calling thread's embed calls may split the native
 * encoder's products over (1, the default: the caller alone); the vectors
 * are the same bits at any count (tensor_threads_set). */
void embedder_threads_set(int n);

#endif
