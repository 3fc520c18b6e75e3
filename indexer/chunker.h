/* chunker.h - split a document into chunks by structure, sized by the embedder's tokenizer
 *
 * Sections (a heading and what follows it up to the next heading) are
 * split into chunks of at most max_tokens tokens, as counted by the active
 * embedder. A section that does not fit is split at paragraphs, then
 * sentences (lines inside code), then words, and the pieces are packed
 * greedily. Consecutive chunks of one section share up to overlap tokens
 * (whole words). Each chunk is a contiguous byte range of the document's
 * text and carries its heading path. A heading with nothing under it but a
 * deeper heading joins the next section instead of becoming a chunk alone.
 *
 *     chunker_opts o = {.max_tokens = 200, .overlap = 30};
 *     chunk_span *c; int n;
 *     chunker_split(&doc, emb, &o, &c, &n);
 *     for (int i = 0; i < n; i++) use(doc.text + c[i].start, c[i].end - c[i].start, c[i].headings);
 *     chunker_free(c, n);
 */
#ifndef RAGD_CHUNKER_H
#define RAGD_CHUNKER_H

#include <stddef.h>

#include "document.h"
#include "embedder.h"

#define CHUNKER_MAX_HEADING_DEPTH 6

typedef struct chunker_opts {
    int max_tokens; /* >= 8 */
    int overlap;    /* 0 .. max_tokens/2 */
} chunker_opts;

typedef struct chunk_span {
    size_t start, end; /* byte range in document.text */
    int tokens;
    char *headings; /* JSON array of the heading path */
} chunk_span;

/* Split d into chunks; *out is an array of *n spans (chunker_free). A
 * document with no text gives zero chunks. Returns 0, or -1 with a message
 * for invalid options. */
int chunker_split(const document *d, embedder *e, const chunker_opts *o, chunk_span **out, int *n, char *err);

/* Check options against an embedder's limits. */
int chunker_check_opts(const chunker_opts *o, const embedder *e, char *err);

void chunker_free(chunk_span *c, int n);

#endif
