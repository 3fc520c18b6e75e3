/* text_extract.h - Markdown and plain text files to a document
 *
 * Plain text: paragraphs are separated by blank lines; the first line is
 * the title. Markdown: ATX headings ("#".."######") become heading blocks,
 * fenced code (``` or ~~~) becomes preformatted blocks, other lines are
 * grouped into paragraphs; the first level-1 heading is the title. Invalid
 * UTF-8 bytes are replaced with U+FFFD so everything downstream may assume
 * valid UTF-8.
 *
 *     document d;
 *     text_extract(buf, len, "file:///docs/a.md", TEXT_MARKDOWN, &d);
 *     doc_clear(&d);
 */
#ifndef RAGD_TEXT_EXTRACT_H
#define RAGD_TEXT_EXTRACT_H

#include <stddef.h>

#include "document.h"

enum text_format { TEXT_PLAIN = 0, TEXT_MARKDOWN = 1 };

/* Never fails; *d is initialised and owned by the caller (doc_clear). */
void text_extract(const char *buf, size_t len, const char *url, enum text_format fmt, document *d);

/* Copy of s[0..len) with invalid UTF-8 sequences replaced by U+FFFD and
 * NUL bytes dropped (caller frees). */
char *utf8_sanitize(const char *s, size_t len, size_t *out_len);

#endif
