/* inspect.h - look inside a published index: dump its chunks, search it from the shell
 *
 * For operators and tests: `ragd-index dump` writes every chunk as a JSON
 * line (id, url, title, headings, text, extra sources); `ragd-index
 * search` embeds a query with the index's own embedder and prints the top
 * k as JSON lines, through FAISS or (--exact) by brute force over the
 * vectors kept in the chunk stores, which checks FAISS's answers.
 *
 *     inspect_dump("var/index", stdout, err);
 *     inspect_search("var/index", "how to open a file", &(inspect_query){.k = 10}, stdout, err);
 */
#ifndef RAGD_INSPECT_H
#define RAGD_INSPECT_H

#include <stdio.h>

int inspect_dump(const char *index_dir, FILE *out, char *err);

/* What ragd-index search asks: k, --exact (brute force over stored
 * vectors), the mode (enum search_mode) and, for hybrid, fusion and alpha. */
typedef struct inspect_query {
    int k, exact, mode, fusion;
    float alpha;
} inspect_query;

int inspect_search(const char *index_dir, const char *query, const inspect_query *q, FILE *out, char *err);

#endif
