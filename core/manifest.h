/* manifest.h - the manifest.json of one index version: what it holds and how to check it
 *
 * A version folder is described by its manifest: format version, version
 * id, embedder (name, model id, precision, dim, metric, normalised), index spec,
 * chunking parameters, sources, and for every shard its two files with
 * sizes, counts and SHA-256 checksums. Readers trust nothing in a shard
 * that the manifest does not vouch for.
 *
 *     manifest m;
 *     char err[RAGD_ERR_LEN];
 *     if (manifest_load("versions/v1/manifest.json", &m, err) != 0) die(err);
 *     printf("%s: %d shards, dim %d\n", m.version_id, m.n_shards, m.dim);
 *     manifest_clear(&m);
 */
#ifndef RAGD_MANIFEST_H
#define RAGD_MANIFEST_H

#include <stdint.h>

#include "sha256.h"

#define MANIFEST_FORMAT "ragd-index"
#define MANIFEST_FORMAT_VERSION 1
#define MANIFEST_FILE "manifest.json"
#define MANIFEST_MAX_BYTES (16u << 20)
#define MANIFEST_MAX_SHARDS 1024
#define MANIFEST_MAX_DIM 16384
#define MANIFEST_NAME_LEN 128

enum manifest_metric { MANIFEST_METRIC_IP = 0, MANIFEST_METRIC_L2 = 1 };

typedef struct manifest_shard {
    char index_file[MANIFEST_NAME_LEN]; /* "shard-000.faiss" */
    char store_file[MANIFEST_NAME_LEN]; /* "shard-000.db" */
    int64_t chunks;                     /* vectors in the index == rows in the store */
    int64_t documents;
    int64_t index_bytes, store_bytes;
    char index_sha256[SHA256_HEX_LEN + 1];
    char store_sha256[SHA256_HEX_LEN + 1];
    /* set by the build, not stored in the manifest (the store's meta has them) */
    double keyword_ms;     /* building the keyword index */
    int64_t keyword_bytes; /* its size */
} manifest_shard;

typedef struct manifest {
    int format_version;
    char version_id[MANIFEST_NAME_LEN];
    char created_at[40]; /* RFC 3339 UTC */
    /* embedder */
    char embedder[64];                 /* "hash", "minilm", "openai" */
    char model_id[MANIFEST_NAME_LEN];  /* stable id, goes into cache keys */
    char precision[8];                 /* minilm: "fp32", "bf16" or "int8" (absent before: fp32); "" otherwise */
    int dim;
    enum manifest_metric metric;
    int normalized;
    /* index and chunking */
    char index_spec[MANIFEST_NAME_LEN]; /* FAISS index_factory string */
    int chunk_tokens, chunk_overlap;
    char **sources;
    int n_sources;
    manifest_shard *shards;
    int n_shards;
    int64_t total_chunks, total_documents;
} manifest;

/* Parse and validate manifest JSON. On success *m owns its arrays and must
 * be released with manifest_clear. On error *m is left empty. */
int manifest_parse(const char *json, size_t len, manifest *m, char *err);

/* Read and parse path (bounded by MANIFEST_MAX_BYTES). Errors name path. */
int manifest_load(const char *path, manifest *m, char *err);

/* Serialise to pretty JSON; the caller frees the string. Validates first
 * and returns NULL with a message if m is not a valid manifest. */
char *manifest_to_json(const manifest *m, char *err);

/* Write to path durably (write, fsync). */
int manifest_save(const char *path, const manifest *m, char *err);

/* Check the invariants (names, dims, counts, totals); 0 if valid. */
int manifest_validate(const manifest *m, char *err);

/* Add a source string / a zeroed shard entry, growing the arrays. */
void manifest_add_source(manifest *m, const char *src);
manifest_shard *manifest_add_shard(manifest *m);

const char *manifest_metric_name(enum manifest_metric metric);

/* Free the arrays and zero the struct. NULL is accepted. */
void manifest_clear(manifest *m);

#endif
