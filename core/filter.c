/* filter.c - which chunks a search may return: URL, title and heading words, source, modified time, metadata */
#include "filter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "keyword_query.h"
#include "mem.h"

int filter_empty(const search_filter *f) {
    return !f || (!f->url && !f->url_prefix && !f->title_contains && !f->heading && !f->source &&
                  !f->modified_after && !f->modified_before && f->n_meta == 0);
}

/* "col : "w1 w2 ..."" from the words of text (stopwords kept: a phrase). */
static int phrase(const char *col, const char *text, char *buf, size_t cap, size_t *o) {
    char **w;
    int n = keyword_split(text, strlen(text), 1, &w);
    if (n == 0) return keyword_words_free(w, n), -1;
    *o += (size_t)snprintf(buf + *o, cap - *o, "%s%s : \"", *o ? " AND " : "", col);
    for (int i = 0; i < n && *o < cap; i++) *o += (size_t)snprintf(buf + *o, cap - *o, "%s%s", i ? " " : "", w[i]);
    if (*o < cap) *o += (size_t)snprintf(buf + *o, cap - *o, "\"");
    keyword_words_free(w, n);
    return 0;
}

static void bind_text(filter_plan *p, const char *v) {
    p->binds[p->n_binds++] = (filter_bind){.text = v};
}

static void bind_int(filter_plan *p, int64_t v) {
    p->binds[p->n_binds++] = (filter_bind){.integer = v};
}

static char *own(filter_plan *p, char *s) {
    return p->owned[p->n_owned++] = s;
}

/* The chunks-row conditions: URL ones on c.doc_url, document ones through
 * the documents table (a small subquery: one row per document). */
static void row_conditions(const search_filter *f, filter_plan *p) {
    char sql[1024] = "";
    size_t o = 0;
    if (f->url) {
        o += (size_t)snprintf(sql + o, sizeof(sql) - o, " AND c.doc_url = ?");
        bind_text(p, f->url);
    }
    if (f->url_prefix && *f->url_prefix) {
        /* [prefix, end): the last byte below 0xff goes up by one */
        o += (size_t)snprintf(sql + o, sizeof(sql) - o, " AND c.doc_url >= ?");
        bind_text(p, f->url_prefix);
        size_t n = strlen(f->url_prefix);
        char *e = own(p, mem_strdup(f->url_prefix));
        while (n > 0 && (unsigned char)e[n - 1] == 0xff) e[--n] = '\0';
        if (n > 0) {
            e[n - 1] = (char)((unsigned char)e[n - 1] + 1);
            o += (size_t)snprintf(sql + o, sizeof(sql) - o, " AND c.doc_url < ?");
            bind_text(p, e);
        }
    }
    if (f->source || f->modified_after || f->modified_before || f->n_meta) {
        p->documents = 1;
        o += (size_t)snprintf(sql + o, sizeof(sql) - o, " AND c.doc_url IN (SELECT url FROM documents WHERE 1");
        if (f->source) {
            o += (size_t)snprintf(sql + o, sizeof(sql) - o, " AND source = ?");
            bind_text(p, f->source);
        }
        if (f->modified_after) {
            o += (size_t)snprintf(sql + o, sizeof(sql) - o, " AND modified >= ?");
            bind_int(p, f->modified_after);
        }
        if (f->modified_before) {
            o += (size_t)snprintf(sql + o, sizeof(sql) - o, " AND modified < ?");
            bind_int(p, f->modified_before);
        }
        for (int i = 0; i < f->n_meta; i++) {
            /* names are [a-z0-9_.:-] (checked by the caller): safe inside "" */
            o += (size_t)snprintf(sql + o, sizeof(sql) - o, " AND json_extract(meta, ?) = ?");
            bind_text(p, own(p, mem_printf("$.\"%s\"", f->meta_names[i])));
            bind_text(p, f->meta_values[i]);
        }
        o += (size_t)snprintf(sql + o, sizeof(sql) - o, ")");
    }
    p->row_sql = mem_strdup(sql);
}

int filter_plan_make(const search_filter *f, filter_plan *p, char *err) {
    memset(p, 0, sizeof(*p));
    if (filter_empty(f)) {
        p->row_sql = mem_strdup("");
        return RAGD_OK;
    }
    if (f->n_meta > FILTER_MAX_META) return err_set(err, "at most %d meta.NAME filters", FILTER_MAX_META);
    p->active = 1;
    row_conditions(f, p);
    if (f->title_contains || f->heading) {
        size_t cap = 2 * 4 * FILTER_MAX_BYTES + 64, o = 0;
        p->match = mem_alloc(cap);
        p->match[0] = '\0';
        if (f->title_contains && phrase("title", f->title_contains, p->match, cap, &o) != 0) {
            filter_plan_clear(p);
            return err_set(err, "filter \"title_contains\" holds no word");
        }
        if (f->heading && phrase("headings", f->heading, p->match, cap, &o) != 0) {
            filter_plan_clear(p);
            return err_set(err, "filter \"heading\" holds no word");
        }
    }
    return RAGD_OK;
}

void filter_plan_clear(filter_plan *p) {
    for (int i = 0; i < p->n_owned; i++) mem_free(p->owned[i]);
    mem_free(p->row_sql);
    mem_free(p->match);
    memset(p, 0, sizeof(*p));
}

int filter_parse_time(const char *s, int64_t *t) {
    char *end;
    long long n = strtoll(s, &end, 10);
    if (*s && !*end && n > 0) return *t = n, 0;
    struct tm tm = {0};
    const char *rest = strptime(s, "%Y-%m-%d", &tm);
    if (!rest) return -1;
    if (*rest == 'T' || *rest == ' ') {
        rest = strptime(rest + 1, "%H:%M:%S", &tm);
        if (!rest || (*rest != 'Z' && *rest != 'z') || rest[1]) return -1;
    } else if (*rest) {
        return -1;
    }
    time_t v = timegm(&tm);
    if (v <= 0) return -1;
    *t = (int64_t)v;
    return 0;
}
