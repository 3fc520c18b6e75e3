/* filter.c - which chunks a search may return: document URL, URL prefix, title and heading words */
#include "filter.h"

#include <stdio.h>
#include <string.h>

#include "err.h"
#include "keyword_query.h"
#include "mem.h"

int filter_empty(const search_filter *f) {
    return !f || (!f->url && !f->url_prefix && !f->title_contains && !f->heading);
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

int filter_plan_make(const search_filter *f, filter_plan *p, char *err) {
    memset(p, 0, sizeof(*p));
    if (filter_empty(f)) return RAGD_OK;
    p->active = 1;
    p->url = f->url;
    p->url_prefix = f->url_prefix && *f->url_prefix ? f->url_prefix : NULL;
    if (p->url_prefix) {
        /* [prefix, prefix_end): the last byte below 0xff goes up by one */
        size_t n = strlen(p->url_prefix);
        char *e = mem_strdup(p->url_prefix);
        while (n > 0 && (unsigned char)e[n - 1] == 0xff) e[--n] = '\0';
        if (n > 0) {
            e[n - 1] = (char)((unsigned char)e[n - 1] + 1);
            p->prefix_end = e;
        } else {
            mem_free(e);
        }
    }
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
    mem_free(p->prefix_end);
    mem_free(p->match);
    memset(p, 0, sizeof(*p));
}
