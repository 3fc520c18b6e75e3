/* baseline.c - the live version as a build's baseline: reuse, carry-over, shrink guard */
#include "baseline.h"

#include <stdio.h>
#include <string.h>

#include "err.h"
#include "fsio.h"
#include "index_version.h"
#include "log.h"
#include "mem.h"
#include "strmap.h"

typedef struct content_ref {
    int shard;
    int64_t id;
    int used;
} content_ref;

struct baseline {
    index_version *v;
    int reusable;
    strmap *docs;     /* url -> baseline_doc */
    strmap *contents; /* content hash -> content_ref */
};

static void doc_free(void *p) {
    baseline_doc *d = p;
    mem_free(d->url);
    mem_free(d->title);
    mem_free(d->hash);
    mem_free(d->etag);
    mem_free(d->last_modified);
    mem_free(d->links);
    mem_free(d->source);
    mem_free(d->meta);
    mem_free(d->prior.links);
    mem_free(d);
}

/* Split the stored links in place into the prior's array. */
static void split_links(baseline_doc *d) {
    int n = 0;
    for (const char *p = d->links; *p; p++) n += *p == '\n';
    d->prior.links = mem_calloc((size_t)n + 2, sizeof(char *));
    for (char *p = d->links; *p;) {
        char *nl = strchr(p, '\n');
        if (nl) *nl = '\0';
        if (*p) d->prior.links[d->prior.n_links++] = p;
        if (!nl) break;
        p = nl + 1;
    }
}

typedef struct load_ctx {
    baseline *bl;
    int shard;
} load_ctx;

static void add_doc(void *ctx, const chunk_doc *cd) {
    load_ctx *lc = ctx;
    baseline_doc *d = mem_calloc(1, sizeof(*d));
    d->url = mem_strdup(cd->url);
    d->title = mem_strdup(cd->title);
    d->hash = mem_strdup(cd->doc_hash);
    d->etag = mem_strdup(cd->etag);
    d->last_modified = mem_strdup(cd->last_modified);
    d->links = mem_strdup(cd->links);
    d->fetched_at = cd->fetched_at;
    d->source = mem_strdup(cd->source);
    d->meta = mem_strdup(cd->meta);
    d->modified = cd->modified;
    d->chunks = cd->chunks;
    d->shard = lc->shard;
    d->prior.etag = d->etag;
    d->prior.last_modified = d->last_modified;
    split_links(d);
    if (!strmap_put(lc->bl->docs, d->url, d)) doc_free(d);
}

static void add_content(void *ctx, const char *hash, int64_t id) {
    load_ctx *lc = ctx;
    if (strmap_has(lc->bl->contents, hash)) return;
    content_ref *r = mem_calloc(1, sizeof(*r));
    r->shard = lc->shard;
    r->id = id;
    strmap_put(lc->bl->contents, hash, r);
}

static int same_chunking(const manifest *m, const chunker_opts *chunk) {
    return m->chunk_tokens == chunk->max_tokens && m->chunk_overlap == chunk->overlap;
}

static const char *why_not_reusable(const index_version *v, const char *model_id, const chunker_opts *chunk) {
    const manifest *m = &v->m;
    if (strcmp(m->model_id, model_id) != 0) return "embedder changed";
    if (!same_chunking(m, chunk)) return "chunking changed";
    for (int s = 0; s < m->n_shards; s++)
        if (chunk_store_schema(v->shards[s].store) < 2) return "it was written by an older ragd";
    return NULL;
}

static int load_reuse(baseline *bl, char *err) {
    for (int s = 0; s < bl->v->m.n_shards; s++) {
        load_ctx lc = {bl, s};
        chunk_store *cs = bl->v->shards[s].store;
        if (chunk_store_each_document(cs, add_doc, &lc, err) != 0) return RAGD_ERR;
        if (chunk_store_each_hash(cs, add_content, &lc, err) != 0) return RAGD_ERR;
    }
    return RAGD_OK;
}

baseline *baseline_open(const char *index_dir, const char *model_id, const chunker_opts *chunk, char *note,
                        size_t cap) {
    char err[RAGD_ERR_LEN];
    index_version *v = index_version_open(index_dir, 0, err);
    if (!v) {
        snprintf(note, cap, "no live version to build on: %.200s", err);
        return NULL;
    }
    baseline *bl = mem_calloc(1, sizeof(*bl));
    bl->v = v;
    bl->docs = strmap_new();
    bl->contents = strmap_new();
    const char *why = why_not_reusable(v, model_id, chunk);
    if (!why && load_reuse(bl, err) != 0) {
        log_warn("live version %s: %s", v->m.version_id, err);
        why = "its chunk stores could not be read";
    }
    if (why) {
        strmap_free(bl->docs, doc_free);
        strmap_free(bl->contents, mem_free);
        bl->docs = strmap_new();
        bl->contents = strmap_new();
        snprintf(note, cap, "nothing reused from %s: %s", v->m.version_id, why);
        return bl;
    }
    bl->reusable = 1;
    snprintf(note, cap, "building on %s (%zu documents, %zu contents)", v->m.version_id, strmap_len(bl->docs),
             strmap_len(bl->contents));
    return bl;
}

int baseline_same_chunking(const baseline *bl, const chunker_opts *chunk) {
    return bl && same_chunking(&bl->v->m, chunk);
}

int baseline_reusable(const baseline *bl) {
    return bl && bl->reusable;
}

const char *baseline_version_id(const baseline *bl) {
    return bl->v->m.version_id;
}

int64_t baseline_documents(const baseline *bl) {
    return bl->v->m.total_documents;
}

int64_t baseline_chunks(const baseline *bl) {
    return bl->v->m.total_chunks;
}

const baseline_doc *baseline_doc_get(const baseline *bl, const char *url) {
    return bl ? strmap_get(bl->docs, url) : NULL;
}

void baseline_each_url(const baseline *bl, void (*visit)(void *arg, const char *url), void *arg) {
    size_t it = 0;
    const char *url;
    while (strmap_next(bl->docs, &it, &url, NULL)) visit(arg, url);
}

int baseline_is_transient(enum load_outcome outcome, const char *reason) {
    if (outcome == LOAD_FAILED) return strcmp(reason, "http_404") != 0 && strcmp(reason, "http_410") != 0;
    /* robots.txt unreachable disallows all for the moment: not a verdict. */
    return outcome == LOAD_SKIPPED && strcmp(reason, "robots_unavailable") == 0;
}

void baseline_outcome(baseline *bl, const char *url, enum load_outcome outcome, const char *reason) {
    baseline_doc *d = bl ? strmap_get(bl->docs, url) : NULL;
    if (!d || d->state == BASELINE_FRESH || outcome == LOAD_FETCHED) return;
    enum baseline_state s = baseline_is_transient(outcome, reason) ? BASELINE_TRANSIENT : BASELINE_GONE;
    if (d->state == BASELINE_TRANSIENT && s == BASELINE_GONE) return;
    d->state = s;
    snprintf(d->reason, sizeof(d->reason), "%s", reason);
}

void baseline_fresh(baseline *bl, const char *url) {
    baseline_doc *d = bl ? strmap_get(bl->docs, url) : NULL;
    if (d) d->state = BASELINE_FRESH;
}

void baseline_each_doc(baseline *bl, void (*fn)(void *ctx, baseline_doc *d), void *ctx) {
    size_t it = 0;
    void *v;
    while (strmap_next(bl->docs, &it, NULL, &v)) fn(ctx, v);
}

typedef struct chunk_list {
    doc_chunk *c;
    char **headings;
    int n, cap;
} chunk_list;

static void add_chunk(void *ctx, const doc_chunk *c) {
    chunk_list *l = ctx;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->c = mem_realloc(l->c, sizeof(doc_chunk) * (size_t)l->cap);
        l->headings = mem_realloc(l->headings, sizeof(char *) * (size_t)l->cap);
    }
    l->c[l->n] = *c;
    l->headings[l->n] = mem_strdup(c->headings);
    l->c[l->n].headings = l->headings[l->n];
    l->n++;
}

static void free_list(chunk_list *l, char **texts, int n_texts) {
    for (int i = 0; i < l->n; i++) mem_free(l->headings[i]);
    for (int i = 0; i < n_texts; i++) mem_free(texts[i]);
    mem_free(l->c);
    mem_free(l->headings);
    mem_free(texts);
}

/* The text of a stored content (any shard), or NULL. */
static char *content_text(baseline *bl, const char *hash, char *err) {
    content_ref *r = strmap_get(bl->contents, hash);
    if (!r) {
        err_set(err, "content %.12s is not stored", hash);
        return NULL;
    }
    chunk_row row;
    if (chunk_store_get(bl->v->shards[r->shard].store, r->id, &row, NULL, err) != 0) return NULL;
    char *text = row.text;
    row.text = NULL;
    chunk_row_clear(&row);
    return text;
}

int baseline_doc_chunks(baseline *bl, const baseline_doc *d, doc_chunk **chunks, char ***headings, char ***texts,
                        char *err) {
    chunk_list l = {0};
    if (chunk_store_doc_chunks(bl->v->shards[d->shard].store, d->url, add_chunk, &l, err) != 0) {
        free_list(&l, NULL, 0);
        return RAGD_ERR;
    }
    if (l.n == 0 || l.n != d->chunks) {
        err_set(err, "%s: %d chunks listed, the document says %lld", d->url, l.n, (long long)d->chunks);
        free_list(&l, NULL, 0);
        return RAGD_ERR;
    }
    char **t = mem_calloc((size_t)l.n, sizeof(char *));
    for (int i = 0; i < l.n; i++) {
        if (!(t[i] = content_text(bl, l.c[i].content_hash, err))) {
            free_list(&l, t, i);
            return RAGD_ERR;
        }
    }
    *chunks = l.c;
    *headings = l.headings;
    *texts = t;
    return l.n;
}

void baseline_chunks_free(doc_chunk *chunks, char **headings, char **texts, int n) {
    chunk_list l = {.c = chunks, .headings = headings, .n = n};
    free_list(&l, texts, n);
}

int baseline_vector(baseline *bl, const char *content_hash, float *out) {
    content_ref *r = bl ? strmap_get(bl->contents, content_hash) : NULL;
    if (!r) return 0;
    chunk_row row;
    char err[RAGD_ERR_LEN];
    int rc = chunk_store_get(bl->v->shards[r->shard].store, r->id, &row, out, err);
    chunk_row_clear(&row);
    if (rc != 0) return 0;
    r->used = 1;
    return 1;
}

char *baseline_same_shard(baseline *bl, int s, int shards, const char *spec, const int64_t *ids, int64_t n) {
    const manifest *m = &bl->v->m;
    if (!bl->reusable || m->n_shards != shards || s >= shards || strcmp(m->index_spec, spec) != 0) return NULL;
    int64_t *old, nold;
    char err[RAGD_ERR_LEN];
    if (chunk_store_ids(bl->v->shards[s].store, &old, &nold, err) != 0) return NULL;
    int same = nold == n && (n == 0 || memcmp(old, ids, sizeof(int64_t) * (size_t)n) == 0);
    mem_free(old);
    return same ? fsio_join(bl->v->dir, m->shards[s].index_file) : NULL;
}

int64_t baseline_unused(const baseline *bl) {
    int64_t n = 0;
    size_t it = 0;
    void *v;
    while (bl && strmap_next(bl->contents, &it, NULL, &v)) n += !((content_ref *)v)->used;
    return n;
}

void baseline_close(baseline *bl) {
    if (!bl) return;
    strmap_free(bl->docs, doc_free);
    strmap_free(bl->contents, mem_free);
    index_version_free(bl->v);
    mem_free(bl);
}
