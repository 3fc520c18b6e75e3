/* keyword_index.h - BM25 over one shard's FTS5 index, scored in memory
 *
 * The indexer builds a SQLite FTS5 index (chunks_fts: title, headings,
 * text) in each shard's chunk store. Asking FTS5 for the top k by bm25()
 * scores every matching row through the auxiliary-function API: 7 ms p50
 * and 50 ms p99 on a 75k-chunk shard. So at load the postings are read
 * once from FTS5 itself (fts5vocab 'instance' rows and the docsize table)
 * into flat arrays, and a query is scored term-at-a-time into a dense
 * accumulator: the same BM25 as FTS5's bm25() (k1 1.2, b 0.75, IDF
 * log((N - n + 0.5) / (n + 0.5)) floored at 1e-6, each occurrence adding
 * its column's weight to the term frequency), in microseconds. Query
 * words go through the shard's own FTS5 tokenizer (porter, unicode61), so
 * they stem exactly as the indexed text did.
 *
 *     kwindex *ki = kwindex_load(db, "2.0, 2.0, 1.0", err);   // title, headings, text weights
 *     const char *words[] = {"asyncio", "gather"};
 *     int n = kwindex_search(ki, words, 2, 40, ids, scores);
 *     kwindex_free(ki);
 */
#ifndef RAGD_KEYWORD_INDEX_H
#define RAGD_KEYWORD_INDEX_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

typedef struct kwindex kwindex;

/* Read the FTS5 index chunks_fts of db (its tokenizer is named by the
 * meta key keyword_tokenizer) with column weights "title, headings,
 * text". NULL + message. The connection must stay open while the index
 * is used (its tokenizer lives there). */
kwindex *kwindex_load(sqlite3 *db, const char *weights, char *err);

/* Top `limit` chunks for n query words (any case; stopwords already
 * removed), ids and scores (higher is better) best first; with allowed
 * (ascending chunk ids, n_allowed), only among those. Returns the count
 * (0 when no word is in the index). Thread-safe. */
int kwindex_search(const kwindex *ki, const char *const *words, int n, const int64_t *allowed, int64_t n_allowed,
                   int limit, int64_t *ids, float *scores);

/* Rows and distinct terms held (for logs and tests). */
int64_t kwindex_rows(const kwindex *ki);
int64_t kwindex_terms(const kwindex *ki);

void kwindex_free(kwindex *ki);

#endif
