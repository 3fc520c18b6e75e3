/* filter.h - which chunks a search may return: document URL, URL prefix, title and heading words
 *
 * A filter is compiled once per request into a plan each shard's chunk
 * store can answer in SQL: the URL conditions use the chunks table's
 * doc_url index, the title and heading conditions are FTS5 phrase queries
 * on the keyword index's title and headings columns (the words in order,
 * case, accents and word endings ignored, as keyword search matches them).
 * The search then either scores the matching chunks exactly (a selective
 * filter) or searches deeper and keeps what passes (a broad one), so a
 * filter never returns fewer than k results while k chunks match.
 *
 *     search_filter f = {.url_prefix = "https://docs.example.com/admin/", .heading = "Installation"};
 *     filter_plan p;
 *     if (filter_plan_make(&f, &p, err) != 0) ...;      // 400: a condition without words
 *     chunk_store_filter_ids(cs, &p, 4096, ids, err);
 *     filter_plan_clear(&p);
 */
#ifndef RAGD_FILTER_H
#define RAGD_FILTER_H

#include <stddef.h>

#define FILTER_MAX_BYTES 2048 /* each condition's value */

typedef struct search_filter {
    const char *url;            /* the document URL, exactly */
    const char *url_prefix;     /* the document URL starts with this */
    const char *title_contains; /* the document title holds these words, in order */
    const char *heading;        /* one heading of the chunk's path holds these words, in order */
} search_filter;

typedef struct filter_plan {
    int active;       /* 0: no condition, every chunk passes */
    const char *url, *url_prefix;
    char *prefix_end; /* the smallest string after every string with url_prefix, or NULL (none) */
    char *match;      /* FTS5 query for the title and heading conditions, or NULL */
} filter_plan;

/* Compile f; 0, or -1 + message naming the condition (no words in it). */
int filter_plan_make(const search_filter *f, filter_plan *p, char *err);
void filter_plan_clear(filter_plan *p);

int filter_empty(const search_filter *f);

#endif
