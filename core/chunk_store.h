/* chunk_store.h - one shard's chunk rows in SQLite: text, source, offsets, vector
 *
 * Each shard pairs a FAISS index with a chunk store keyed by the same 64-bit
 * chunk ids. A store is written once by the indexer (inside a version's
 * temporary folder, so no journal is kept) and then opened read-only and
 * immutable by the service. It also carries the shard's metadata (dim,
 * embedder) so that a shard moved to another machine describes itself,
 * each chunk's vector so an incremental build can reuse it, and a BM25
 * keyword index (SQLite FTS5) over each chunk's title, headings and text.
 *
 *     chunk_store *cs = chunk_store_create("shard-000.db", 384, err);
 *     chunk_store_put(cs, &row, vec, err);
 *     chunk_store_finish(cs, err);                  // commits and closes
 *     cs = chunk_store_open("shard-000.db", err);
 *     chunk_store_get(cs, id, &row, NULL, err);     // 0 found, 1 missing
 */
#ifndef RAGD_CHUNK_STORE_H
#define RAGD_CHUNK_STORE_H

#include <stdint.h>

#include "filter.h"
#include "sha256.h"

typedef struct chunk_store chunk_store;

typedef struct chunk_row {
    int64_t id;
    char *doc_url;
    char *title;
    char *headings; /* JSON array of the heading path, e.g. ["Tutorial","Lists"] */
    char *text;
    int64_t start_byte, end_byte; /* offsets in the document's extracted text */
    char content_hash[SHA256_HEX_LEN + 1];
    char doc_hash[SHA256_HEX_LEN + 1];
} chunk_row;

/* Stable 64-bit chunk id from (document URL, ordinal, content): the first
 * 63 bits of SHA-256 over the three, so ids are never negative (FAISS uses
 * -1 for "no result"). */
int64_t chunk_id_make(const char *doc_url, int ordinal, const char *text, size_t text_len);

/* Create a new store at path (which must not exist) for vectors of dim
 * floats. Rows are added in one transaction until chunk_store_finish. */
chunk_store *chunk_store_create(const char *path, int dim, char *err);

int chunk_store_put_meta(chunk_store *cs, const char *key, const char *value, char *err);

/* Add one chunk and its vector (dim floats, may be NULL). */
int chunk_store_put(chunk_store *cs, const chunk_row *row, const float *vec, char *err);

/* Record another document that holds the same chunk text (deduplicated). */
int chunk_store_add_source(chunk_store *cs, int64_t chunk_id, const char *doc_url, const char *title,
                           const char *headings, char *err);

/* A document of this shard with what the next crawl needs: its HTTP
 * validators, when it was last fetched successfully (Unix seconds; a page
 * carried over after a failed fetch keeps its old time) and its links
 * (absolute URLs, '\n'-separated). */
typedef struct chunk_doc {
    const char *url, *doc_hash, *title;
    int64_t chunks;
    const char *etag, *last_modified; /* NULL or "" when the server sent none */
    int64_t fetched_at;
    const char *links;
    /* schema 4: what filters ask about (NULL / 0 when unknown) */
    const char *source; /* the --source it came from */
    int64_t modified;   /* Unix seconds: HTTP Last-Modified or file mtime */
    const char *meta;   /* JSON object of metadata strings ({"author": "..."}) */
} chunk_doc;

/* One entry of a document's chunk list, in document order. The text and
 * vector are the chunk row with this content hash (in any shard: equal
 * contents are stored once). */
typedef struct doc_chunk {
    int ordinal;
    char content_hash[SHA256_HEX_LEN + 1];
    const char *headings;
    int64_t start_byte, end_byte;
} doc_chunk;

int chunk_store_put_document(chunk_store *cs, const chunk_doc *d, char *err);
int chunk_store_put_doc_chunk(chunk_store *cs, const char *url, const doc_chunk *c, char *err);

/* Call fn for every document (strings valid during the call). -1 for a
 * schema 1 store, which keeps no crawl state. */
int chunk_store_each_document(chunk_store *cs, void (*fn)(void *ctx, const chunk_doc *d), void *ctx, char *err);

/* Call fn for each chunk of document url, in order (-1 for schema 1). */
int chunk_store_doc_chunks(chunk_store *cs, const char *url, void (*fn)(void *ctx, const doc_chunk *c), void *ctx,
                           char *err);

/* Every chunk id, ascending (caller frees *ids). 0 or -1. */
int chunk_store_ids(chunk_store *cs, int64_t **ids, int64_t *n, char *err);

/* The store's schema version (1 to 4). */
int chunk_store_schema(const chunk_store *cs);

/* The keyword index's tokenizer: 1 = porter stemming over unicode61 (the
 * default, for English), 0 = unicode61 alone (case and diacritics folded,
 * no stemming: other languages). Call before chunk_store_finish. */
void chunk_store_set_stemming(chunk_store *cs, int porter);

typedef struct chunk_store_stats {
    double keyword_ms;     /* building the keyword index */
    int64_t keyword_bytes; /* its size in the file */
} chunk_store_stats;

/* Build the keyword index, commit and close a store made by
 * chunk_store_create; st (may be NULL) gets what the keyword index cost.
 * The handle is freed whatever the result. */
int chunk_store_finish(chunk_store *cs, chunk_store_stats *st, char *err);

/* Open an existing store read-only; checks the schema and reads its dim. */
chunk_store *chunk_store_open(const char *path, char *err);

/* Fetch one row by id into *row (strings owned by row: chunk_row_clear) and,
 * if vec is not NULL, its vector (dim floats). Returns 0 when found, 1 when
 * no such id, -1 on error. Safe from several threads on one handle. */
int chunk_store_get(chunk_store *cs, int64_t id, chunk_row *row, float *vec, char *err);

/* Only the vector of chunk id (dim floats): 0 found, 1 missing, -1 error. */
int chunk_store_get_vector(chunk_store *cs, int64_t id, float *vec, char *err);

/* Call fn for every chunk's content hash and id (incremental builds use
 * this to find vectors they can reuse). */
int chunk_store_each_hash(chunk_store *cs, void (*fn)(void *ctx, const char *hash, int64_t id), void *ctx,
                          char *err);

/* Call fn for every chunk row in id order, with its vector (NULL if the
 * row has none). The row is valid only during the call. */
int chunk_store_each(chunk_store *cs, void (*fn)(void *ctx, const chunk_row *row, const float *vec), void *ctx,
                     char *err);

/* Call fn for every extra source of a deduplicated chunk. */
int chunk_store_each_source(chunk_store *cs, void (*fn)(void *ctx, int64_t chunk_id, const char *url), void *ctx,
                            char *err);

/* Weights of the keyword index's columns in BM25: title, heading path, text. */
#define KEYWORD_WEIGHTS "2.0, 2.0, 1.0"

/* 1 if the store has a keyword index (schema 3). */
int chunk_store_has_keywords(const chunk_store *cs);

/* BM25 keyword search (keyword_index.h): the best `limit` chunks for the
 * query words (keyword_words), ids and scores (higher is better) best
 * first. Returns the count or -1 + message. Thread-safe. */
int chunk_store_keyword(chunk_store *cs, const char *const *words, int n, int limit, int64_t *ids, float *scores,
                        char *err);

/* The same over the chunks whose ids are in allowed (ascending, n_allowed). */
int chunk_store_keyword_in(chunk_store *cs, const char *const *words, int n, const int64_t *allowed,
                           int64_t n_allowed, int limit, int64_t *ids, float *scores, char *err);

/* Chunks passing a filter plan: their ids ascending into ids (at most max
 * of them). Returns how many pass, max + 1 meaning "more than max" (ids
 * then holds max of them), or -1 + message. Thread-safe. */
int64_t chunk_store_filter_ids(chunk_store *cs, const filter_plan *p, int64_t max, int64_t *ids, char *err);

/* Which of n chunk ids pass the plan, in one query per kind of condition:
 * pass[i] = 1 if ids[i] passes. 0 or -1 + message. Thread-safe. */
int chunk_store_filter_check_many(chunk_store *cs, const filter_plan *p, const int64_t *ids, int n,
                                  unsigned char *pass, char *err);

/* Value of a meta key (caller frees), or NULL if absent. */
char *chunk_store_get_meta(chunk_store *cs, const char *key);

int64_t chunk_store_count(chunk_store *cs);
int chunk_store_dim(const chunk_store *cs);

void chunk_row_clear(chunk_row *row);

/* Close a store opened with chunk_store_open (or abandon one being
 * created: its rows are rolled back). NULL is accepted. */
void chunk_store_close(chunk_store *cs);

#endif
