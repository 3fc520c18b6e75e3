/* document.h - one extracted document: title, plain UTF-8 text in blocks, outgoing links
 *
 * Every loader (HTML, Markdown, plain text; local files or crawled pages)
 * produces a document: its text is the blocks (headings, paragraphs,
 * preformatted code) joined by blank lines, and each block records its
 * byte range and kind, which the chunker uses to split by structure. The
 * hash covers title and text, so an unchanged page under new navigation
 * chrome still counts as unchanged for incremental reindexing.
 *
 *     document d;
 *     doc_init(&d, "http://127.0.0.1:8000/a.html");
 *     doc_add_block(&d, DOC_HEADING, 1, "Intro", 5);
 *     doc_finish(&d);             // computes d.hash
 *     doc_clear(&d);
 */
#ifndef RAGD_DOCUMENT_H
#define RAGD_DOCUMENT_H

#include <stddef.h>
#include <stdint.h>

#include "sha256.h"

enum doc_block_kind { DOC_PARAGRAPH = 0, DOC_HEADING = 1, DOC_PRE = 2 };

typedef struct doc_block {
    size_t start, end; /* byte range in document.text */
    enum doc_block_kind kind;
    int level; /* 1..6 for headings */
} doc_block;

typedef struct document {
    char *url;
    char *title;
    char *text; /* blocks separated by "\n\n", NUL-terminated */
    size_t text_len, text_cap;
    doc_block *blocks;
    int n_blocks, blocks_cap;
    char **links; /* hrefs as found in the page (unresolved) */
    int n_links, links_cap;
    char *base_href; /* <base href>, if any */
    char *etag, *last_modified; /* HTTP validators of a crawled page, or NULL */
    int64_t modified;           /* Unix seconds: HTTP Last-Modified or the file's mtime; 0 unknown */
    char **meta_names, **meta_values; /* <meta name content> or Markdown front matter */
    int n_meta;
    char hash[SHA256_HEX_LEN + 1];
} document;

void doc_init(document *d, const char *url);

/* Append a block (text is copied; empty text is ignored). */
void doc_add_block(document *d, enum doc_block_kind kind, int level, const char *text, size_t len);

void doc_add_link(document *d, const char *href);

#define DOC_META_MAX 32          /* entries kept per document */
#define DOC_META_NAME_MAX 64     /* name bytes: [a-z0-9_.:-], lowercased */
#define DOC_META_VALUE_MAX 512   /* value bytes (longer values are cut) */

/* Add a metadata entry; a name seen before, an invalid name or one past
 * DOC_META_MAX is ignored. */
void doc_add_meta(document *d, const char *name, size_t name_len, const char *value, size_t value_len);
void doc_set_title(document *d, const char *title);

/* Compute the content hash once all blocks are in. */
void doc_finish(document *d);

/* Free everything and zero the struct. NULL is accepted. */
void doc_clear(document *d);

#endif
