/* baseline.h - the live version as a build's baseline: reuse, carry-over, shrink guard
 *
 * A build compares itself with the version it would replace. The
 * baseline opens that version and answers three questions: what is known
 * of a page (validators and links for a conditional GET, the page's
 * chunk list so a 304 or a failed fetch can reuse it), which vector a
 * chunk content already has, and how this run's outcome for each live
 * page decides its fate: kept fresh (fetched or 304), carried over (the
 * fetch failed for a reason that does not say the page is gone), or
 * removed (404/410, out of scope or excluded, disallowed by robots.txt,
 * not reached by any source, or carried for longer than max-carry-age).
 * Reuse needs the same embedder and chunking and a schema 2 store; the
 * document and chunk totals for the shrink guard are always there.
 *
 *     baseline *bl = baseline_open("var/index", model_id, &chunk_opts, note, sizeof(note));
 *     baseline_outcome(bl, url, LOAD_FAILED, "http_503");   // from loader events
 *     baseline_fresh(bl, url);                              // fetched or 304
 *     const baseline_doc *d = baseline_doc_get(bl, url);    // NULL if unknown
 *     baseline_close(bl);
 */
#ifndef RAGD_BASELINE_H
#define RAGD_BASELINE_H

#include <stdint.h>

#include "chunk_store.h"
#include "chunker.h"
#include "loader.h"

/* What this run said about a live page. */
enum baseline_state {
    BASELINE_UNSEEN = 0, /* no source mentioned it */
    BASELINE_FRESH,      /* fetched again, or 304 */
    BASELINE_TRANSIENT,  /* failed for a reason that does not say it is gone */
    BASELINE_GONE        /* the site or the configuration says it is gone */
};

typedef struct baseline_doc {
    char *url, *title, *hash, *etag, *last_modified;
    char *links;        /* '\n'-separated, as stored */
    int64_t fetched_at; /* last successful fetch, Unix seconds */
    char *source, *meta; /* the --source it came from, its metadata (JSON); "" unknown */
    int64_t modified;    /* Unix seconds, 0 unknown */
    int64_t chunks;
    int shard;
    loader_prior prior; /* etag, last_modified and links split, for the crawler */
    enum baseline_state state;
    char reason[48]; /* the event that set state */
} baseline_doc;

typedef struct baseline baseline;

/* The live version of index_dir as a baseline, or NULL when there is
 * none (note says why, e.g. "no live version"). Reuse (docs, vectors) is
 * on only when the live version was built with model_id and chunking;
 * otherwise note says why and only the totals are known. */
baseline *baseline_open(const char *index_dir, const char *model_id, const chunker_opts *chunk, char *note,
                        size_t cap);

/* 1 if the live version was chunked with these options (chunk counts
 * are then comparable); 0 also when there is no baseline. */
int baseline_same_chunking(const baseline *bl, const chunker_opts *chunk);

/* 1 if pages and vectors of the live version can be reused. */
int baseline_reusable(const baseline *bl);

const char *baseline_version_id(const baseline *bl);
int64_t baseline_documents(const baseline *bl);
int64_t baseline_chunks(const baseline *bl); /* distinct contents stored */

/* The live page at url, or NULL (also when reuse is off). */
const baseline_doc *baseline_doc_get(const baseline *bl, const char *url);

/* Call visit for every live page (the crawler revisits them). */
void baseline_each_url(const baseline *bl, void (*visit)(void *arg, const char *url), void *arg);

/* Record a loader event for url (ignored for unknown URLs). A fetch
 * beats everything; a transient failure beats "gone", so one source's
 * out-of-scope never removes a page another source failed to fetch. */
void baseline_outcome(baseline *bl, const char *url, enum load_outcome outcome, const char *reason);
void baseline_fresh(baseline *bl, const char *url);

/* 1 if a page that had this outcome may be carried over. */
int baseline_is_transient(enum load_outcome outcome, const char *reason);

/* Call fn for every live page with its final state. */
void baseline_each_doc(baseline *bl, void (*fn)(void *ctx, baseline_doc *d), void *ctx);

/* The chunks of a live page in order, each with its text (copied into
 * *texts, caller frees each and the arrays) and headings. Returns the
 * count, or -1 + message when the chunk list or a text is missing. */
int baseline_doc_chunks(baseline *bl, const baseline_doc *d, doc_chunk **chunks, char ***headings, char ***texts,
                        char *err);

/* Free what baseline_doc_chunks returned. */
void baseline_chunks_free(doc_chunk *chunks, char **headings, char **texts, int n);

/* Copy the live vector of a chunk content into out (dim floats) and mark
 * it used. 1 found, 0 not. */
int baseline_vector(baseline *bl, const char *content_hash, float *out);

/* The live shard s's FAISS file (caller frees) if the live version has
 * shards shards built with spec and shard s holds exactly the sorted
 * chunk ids ids[0..n): a build can then link that file instead of
 * building the same index again. NULL otherwise. */
char *baseline_same_shard(baseline *bl, int s, int shards, const char *spec, const int64_t *ids, int64_t n);

/* Contents of the live version no chunk of this build used. */
int64_t baseline_unused(const baseline *bl);

void baseline_close(baseline *bl);

#endif
