/* filter.h - which chunks a search may return: URL, title and heading words, source, modified time, metadata
 *
 * A filter is compiled once per request into a plan each shard's chunk
 * store can answer in SQL: the URL conditions use the chunks table's
 * doc_url index, the document conditions (source, modified time,
 * metadata) the documents table, and the title and heading conditions are
 * FTS5 phrase queries on the keyword index's title and headings columns
 * (the words in order, case, accents and word endings ignored, as keyword
 * search matches them). The search then either scores the matching chunks
 * exactly (a selective filter) or searches deeper and keeps what passes (a
 * broad one), so a filter never returns fewer than k results while k
 * chunks match.
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
#include <stdint.h>

#define FILTER_MAX_BYTES 2048 /* each condition's value */
#define FILTER_MAX_META 8     /* meta.NAME conditions per request */
#define FILTER_MAX_BINDS 24

typedef struct search_filter {
    const char *url;            /* the document URL, exactly */
    const char *url_prefix;     /* the document URL starts with this */
    const char *title_contains; /* the document title holds these words, in order */
    const char *heading;        /* one heading of the chunk's path holds these words, in order */
    const char *source;         /* the --source the document came from, exactly */
    int64_t modified_after;     /* document modified at or after (Unix seconds); 0: no condition */
    int64_t modified_before;    /* ... strictly before; 0: no condition */
    const char *meta_names[FILTER_MAX_META], *meta_values[FILTER_MAX_META]; /* meta.NAME = value */
    int n_meta;
} search_filter;

/* One bound value of a plan's SQL, in order. */
typedef struct filter_bind {
    const char *text; /* NULL: the integer */
    int64_t integer;
} filter_bind;

typedef struct filter_plan {
    int active;      /* 0: no condition, every chunk passes */
    int documents;   /* uses the documents table's source, modified or meta (chunk store schema 4) */
    char *row_sql;   /* " AND c.doc_url ..." conditions on the chunks row c, or "" */
    filter_bind binds[FILTER_MAX_BINDS]; /* row_sql's values */
    int n_binds;
    char *match;     /* FTS5 query for the title and heading conditions, or NULL */
    char *owned[FILTER_MAX_META + 1]; /* strings binds point to */
    int n_owned;
} filter_plan;

/* Compile f; 0, or -1 + message naming the condition (e.g. no words in it). */
int filter_plan_make(const search_filter *f, filter_plan *p, char *err);
void filter_plan_clear(filter_plan *p);

int filter_empty(const search_filter *f);

/* A date for modified_after/_before: Unix seconds ("1700000000"), a day
 * ("2024-05-01", midnight UTC) or a UTC time ("2024-05-01T12:30:00Z").
 * 0 and *t, or -1. */
int filter_parse_time(const char *s, int64_t *t);

#endif
