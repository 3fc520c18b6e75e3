/* keyword_index.c - BM25 over one shard's FTS5 index, scored in memory */
#include "keyword_index.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "mem.h"
#include "strmap.h"

#define BM25_K1 1.2
#define BM25_B 0.75
#define KW_MAX_ARGS 8
#define KW_MAX_TOKEN 128

struct kwindex {
    fts5_api *api;
    fts5_tokenizer tok; /* the shard's tokenizer (porter over unicode61, or unicode61) */
    void *tok_ctx;
    char *tok_spec;                 /* "porter unicode61 remove_diacritics 2": name, then arguments */
    const char *tok_args[KW_MAX_ARGS];
    int n_args;
    int64_t n_rows;
    int64_t *rowids; /* dense row -> chunk id, ascending */
    float *doclen;   /* tokens per row, all columns */
    double avgdl;
    strmap *terms;   /* term -> term number + 1 */
    int64_t n_terms;
    int64_t *term_off; /* n_terms + 1 offsets into the postings */
    uint32_t *post_row;
    float *post_tf; /* the term's weighted frequency in the row */
    int64_t n_post, cap_post, cap_terms;
};

static fts5_api *fts5_api_of(sqlite3 *db) {
    fts5_api *api = NULL;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_pointer(st, 1, (void *)&api, "fts5_api_ptr", NULL);
        sqlite3_step(st);
    }
    sqlite3_finalize(st);
    return api;
}

/* FTS5's varint (SQLite's format): 7 bits a byte, high bit = more. */
static const unsigned char *get_varint(const unsigned char *p, const unsigned char *end, uint64_t *v) {
    *v = 0;
    for (int i = 0; p < end && i < 9; i++, p++) {
        if (i == 8) {
            *v = (*v << 8) | *p;
            return p + 1;
        }
        *v = (*v << 7) | (*p & 0x7f);
        if (!(*p & 0x80)) return p + 1;
    }
    return p;
}

static int64_t row_of(const kwindex *ki, int64_t rowid) {
    int64_t lo = 0, hi = ki->n_rows - 1;
    while (lo <= hi) {
        int64_t mid = (lo + hi) / 2;
        if (ki->rowids[mid] == rowid) return mid;
        if (ki->rowids[mid] < rowid) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

static int load_rows(kwindex *ki, sqlite3 *db, char *err) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM chunks_fts_docsize", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        return err_set(err, "keyword index: %s", sqlite3_errmsg(db));
    }
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    ki->rowids = mem_alloc(sizeof(int64_t) * (size_t)(n + 1));
    ki->doclen = mem_alloc(sizeof(float) * (size_t)(n + 1));
    if (sqlite3_prepare_v2(db, "SELECT id, sz FROM chunks_fts_docsize ORDER BY id", -1, &st, NULL) != SQLITE_OK)
        return err_set(err, "keyword index: %s", sqlite3_errmsg(db));
    double total = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && ki->n_rows < n) {
        const unsigned char *p = sqlite3_column_blob(st, 1), *end = p + sqlite3_column_bytes(st, 1);
        uint64_t len = 0, v;
        while (p && p < end) p = get_varint(p, end, &v), len += v;
        ki->rowids[ki->n_rows] = sqlite3_column_int64(st, 0);
        ki->doclen[ki->n_rows++] = (float)len;
        total += (double)len;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) return err_set(err, "keyword index: %s", sqlite3_errmsg(db));
    ki->avgdl = ki->n_rows ? total / (double)ki->n_rows : 1.0;
    if (ki->avgdl <= 0) ki->avgdl = 1.0;
    return RAGD_OK;
}

static void add_term(kwindex *ki, const char *term) {
    if (ki->n_terms + 2 > ki->cap_terms) {
        ki->cap_terms = ki->cap_terms ? ki->cap_terms * 2 : 4096;
        ki->term_off = mem_realloc(ki->term_off, sizeof(int64_t) * (size_t)ki->cap_terms);
    }
    ki->term_off[ki->n_terms] = ki->n_post;
    strmap_put(ki->terms, term, (void *)(uintptr_t)(ki->n_terms + 1));
    ki->n_terms++;
}

static void add_posting(kwindex *ki, uint32_t row) {
    if (ki->n_post == ki->cap_post) {
        ki->cap_post = ki->cap_post ? ki->cap_post * 2 : 65536;
        ki->post_row = mem_realloc(ki->post_row, sizeof(uint32_t) * (size_t)ki->cap_post);
        ki->post_tf = mem_realloc(ki->post_tf, sizeof(float) * (size_t)ki->cap_post);
    }
    ki->post_row[ki->n_post] = row;
    ki->post_tf[ki->n_post++] = 0;
}

/* Every token occurrence, ordered by term then row: postings with the
 * column-weighted term frequency. */
static int load_postings(kwindex *ki, sqlite3 *db, const double w[3], char *err) {
    if (sqlite3_exec(db, "CREATE VIRTUAL TABLE temp.ragd_kw_instances USING fts5vocab(main, chunks_fts, instance)",
                     NULL, NULL, NULL) != SQLITE_OK)
        return err_set(err, "keyword index: %s", sqlite3_errmsg(db));
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT term, doc, col FROM temp.ragd_kw_instances", -1, &st, NULL);
    char last[KW_MAX_TOKEN + 1] = "";
    int64_t last_doc = -1, row = -1;
    int have_term = 0;
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        if ((rc = sqlite3_step(st)) != SQLITE_ROW) break;
        const char *term = (const char *)sqlite3_column_text(st, 0), *col = (const char *)sqlite3_column_text(st, 2);
        int64_t doc = sqlite3_column_int64(st, 1);
        if (!term || !col) continue;
        if (!have_term || strncmp(term, last, KW_MAX_TOKEN) != 0) {
            snprintf(last, sizeof(last), "%s", term);
            add_term(ki, last);
            have_term = 1;
            last_doc = -1;
        }
        if (doc != last_doc) {
            row = row_of(ki, doc);
            last_doc = doc;
            if (row >= 0) add_posting(ki, (uint32_t)row);
        }
        if (row < 0) continue;
        ki->post_tf[ki->n_post - 1] += (float)(!strcmp(col, "title") ? w[0] : !strcmp(col, "headings") ? w[1] : w[2]);
    }
    int ok = rc == SQLITE_DONE;
    if (!ok) err_set(err, "keyword index: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_exec(db, "DROP TABLE temp.ragd_kw_instances", NULL, NULL, NULL);
    if (ki->term_off) ki->term_off[ki->n_terms] = ki->n_post;
    return ok ? RAGD_OK : RAGD_ERR;
}

static int load_tokenizer(kwindex *ki, sqlite3 *db, char *err) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'keyword_tokenizer'", -1, &st, NULL) ==
            SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        ki->tok_spec = mem_strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    if (!ki->tok_spec) return err_set(err, "keyword index: the store names no tokenizer");
    if (!(ki->api = fts5_api_of(db))) return err_set(err, "keyword index: this SQLite has no FTS5");
    char *save = NULL, *name = strtok_r(ki->tok_spec, " ", &save), *a;
    while ((a = strtok_r(NULL, " ", &save)) && ki->n_args < KW_MAX_ARGS) ki->tok_args[ki->n_args++] = a;
    if (!name || ki->api->xFindTokenizer(ki->api, name, &ki->tok_ctx, &ki->tok) != SQLITE_OK)
        return err_set(err, "keyword index: unknown tokenizer \"%s\"", name ? name : "");
    return RAGD_OK;
}

kwindex *kwindex_load(sqlite3 *db, const char *weights, char *err) {
    double w[3] = {1, 1, 1};
    if (sscanf(weights, "%lf, %lf, %lf", &w[0], &w[1], &w[2]) != 3) {
        err_set(err, "keyword index: bad weights \"%s\"", weights);
        return NULL;
    }
    kwindex *ki = mem_calloc(1, sizeof(*ki));
    ki->terms = strmap_new();
    if (load_tokenizer(ki, db, err) != RAGD_OK || load_rows(ki, db, err) != RAGD_OK ||
        load_postings(ki, db, w, err) != RAGD_OK) {
        kwindex_free(ki);
        return NULL;
    }
    return ki;
}

/* ---- search ---- */

typedef struct tok_ctx {
    const kwindex *ki;
    int64_t *terms; /* term numbers of the query's tokens */
    int n, cap;
} tok_ctx;

static int on_token(void *p, int flags, const char *token, int len, int start, int end) {
    (void)start, (void)end;
    tok_ctx *t = p;
    if ((flags & FTS5_TOKEN_COLOCATED) || len <= 0 || len > KW_MAX_TOKEN || t->n == t->cap) return SQLITE_OK;
    char buf[KW_MAX_TOKEN + 1];
    memcpy(buf, token, (size_t)len);
    buf[len] = '\0';
    int64_t term = (int64_t)(uintptr_t)strmap_get(t->ki->terms, buf) - 1;
    /* a term the query holds twice ("changing list ... change list") counts
     * twice, as in FTS5's bm25() and BM25's query term frequency */
    if (term >= 0) t->terms[t->n++] = term;
    return SQLITE_OK;
}

typedef struct scored {
    uint32_t row;
    float score;
} scored;

/* Worse first: lower score, then the larger chunk id. */
static int worse(const kwindex *ki, scored a, scored b) {
    if (a.score != b.score) return a.score < b.score;
    return ki->rowids[a.row] > ki->rowids[b.row];
}

static void sift_down(const kwindex *ki, scored *h, int n, int i) {
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && worse(ki, h[l], h[m])) m = l;
        if (r < n && worse(ki, h[r], h[m])) m = r;
        if (m == i) return;
        scored t = h[i];
        h[i] = h[m], h[m] = t, i = m;
    }
}

static int is_allowed(const int64_t *allowed, int64_t n, int64_t id) {
    int64_t lo = 0, hi = n - 1;
    while (lo <= hi) {
        int64_t mid = (lo + hi) / 2;
        if (allowed[mid] == id) return 1;
        if (allowed[mid] < id) lo = mid + 1;
        else hi = mid - 1;
    }
    return 0;
}

int kwindex_search(const kwindex *ki, const char *const *words, int n, const int64_t *allowed, int64_t n_allowed,
                   int limit, int64_t *ids, float *scores) {
    if (limit <= 0 || n <= 0 || ki->n_rows == 0) return 0;
    int64_t terms[256];
    tok_ctx t = {.ki = ki, .terms = terms, .cap = 256};
    Fts5Tokenizer *inst = NULL;
    if (ki->tok.xCreate(ki->tok_ctx, (const char **)ki->tok_args, ki->n_args, &inst) != SQLITE_OK) return 0;
    for (int i = 0; i < n; i++)
        ki->tok.xTokenize(inst, &t, FTS5_TOKENIZE_QUERY, words[i], (int)strlen(words[i]), on_token);
    ki->tok.xDelete(inst);
    if (t.n == 0) return 0;
    float *acc = mem_calloc((size_t)ki->n_rows, sizeof(float));
    uint32_t *touched = mem_alloc(sizeof(uint32_t) * (size_t)ki->n_rows);
    int64_t nt = 0;
    double N = (double)ki->n_rows;
    for (int i = 0; i < t.n; i++) {
        int64_t a = ki->term_off[t.terms[i]], b = ki->term_off[t.terms[i] + 1];
        double df = (double)(b - a), idf = log((N - df + 0.5) / (df + 0.5));
        if (idf <= 0.0) idf = 1e-6;
        for (int64_t p = a; p < b; p++) {
            uint32_t r = ki->post_row[p];
            double tf = ki->post_tf[p];
            double s = idf * tf * (BM25_K1 + 1.0) / (tf + BM25_K1 * (1.0 - BM25_B + BM25_B * ki->doclen[r] / ki->avgdl));
            if (acc[r] == 0.0f) touched[nt++] = r;
            acc[r] += (float)s;
        }
    }
    /* top `limit`: a heap whose root is the worst kept */
    scored *h = mem_alloc(sizeof(scored) * (size_t)limit);
    int hn = 0;
    for (int64_t i = 0; i < nt; i++) {
        scored c = {touched[i], acc[touched[i]]};
        if (allowed && !is_allowed(allowed, n_allowed, ki->rowids[c.row])) continue;
        if (hn < limit) {
            h[hn++] = c;
            for (int j = hn / 2 - 1; hn == limit && j >= 0; j--) sift_down(ki, h, hn, j);
        } else if (worse(ki, h[0], c)) {
            h[0] = c;
            sift_down(ki, h, hn, 0);
        }
    }
    if (hn < limit)
        for (int j = hn / 2 - 1; j >= 0; j--) sift_down(ki, h, hn, j);
    /* pop worst-first into the tail: best first */
    for (int i = hn - 1; i >= 0; i--) {
        ids[i] = ki->rowids[h[0].row];
        scores[i] = h[0].score;
        h[0] = h[i];
        sift_down(ki, h, i, 0);
    }
    mem_free(h);
    mem_free(acc);
    mem_free(touched);
    return hn;
}

int64_t kwindex_rows(const kwindex *ki) {
    return ki->n_rows;
}

int64_t kwindex_terms(const kwindex *ki) {
    return ki->n_terms;
}

void kwindex_free(kwindex *ki) {
    if (!ki) return;
    strmap_free(ki->terms, NULL);
    mem_free(ki->tok_spec);
    mem_free(ki->rowids);
    mem_free(ki->doclen);
    mem_free(ki->term_off);
    mem_free(ki->post_row);
    mem_free(ki->post_tf);
    mem_free(ki);
}
