/* html_extract.h - HTML to a document (title, headings, main text, links) with libxml2
 *
 * Parses with libxml2's forgiving HTML parser (no network, errors
 * recovered), converts the declared charset (HTTP header, else <meta
 * charset>, else libxml2's detection) to UTF-8, and keeps only text a
 * reader sees: script, style, nav, header, footer, aside, forms, hidden
 * elements (hidden, aria-hidden="true", inline display:none or
 * visibility:hidden) and comments are dropped, so hidden text cannot
 * smuggle instructions into the index. <main>/role=main or <article> is
 * preferred over the whole body. pre/code text is kept verbatim.
 *
 *     document d;
 *     if (html_extract(buf, len, url, "iso-8859-1", &d, err) != 0) ...;
 *     // d.title, d.text, d.blocks, d.links
 *     doc_clear(&d);
 */
#ifndef RAGD_HTML_EXTRACT_H
#define RAGD_HTML_EXTRACT_H

#include <stddef.h>

#include "document.h"

/* charset may be NULL (then <meta charset> or detection decides). On
 * success *d is initialised and owned by the caller (doc_clear); on error
 * it is left cleared. */
int html_extract(const char *html, size_t len, const char *url, const char *charset, document *d, char *err);

#endif
