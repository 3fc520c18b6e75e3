/* inspect.h - look inside a published index: dump its chunks, search it from the shell
 *
 * For operators and tests: `ragd-index dump` writes every chunk as a JSON
 * line (id, url, title, headings, text, extra sources); `ragd-index
 * search` embeds a query with the index's own embedder and prints the top
 * k as JSON lines, through FAISS or (--exact) by brute force over the
 * vectors kept in the chunk stores, which checks FAISS's answers.
 *
 *     inspect_dump("var/index", stdout, err);
 *     inspect_search("var/index", "how to open a file", 10, 1, stdout, err);
 */
#ifndef RAGD_INSPECT_H
#define RAGD_INSPECT_H

#include <stdio.h>

int inspect_dump(const char *index_dir, FILE *out, char *err);

int inspect_search(const char *index_dir, const char *query, int k, int exact, FILE *out, char *err);

#endif
