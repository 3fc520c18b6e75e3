/* search.c - one search: cache tiers, then vector, keyword or hybrid retrieval, then rows */
#include "search.h"
#include "clock.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "filter.h"
#include "keyword_query.h"
#include "log.h"
#include "mem.h"
#include "query_cache.h"


static void search_result_clear_hits(search_result *r) {
    for (int i = 0; r->hits && i < r->n; i++) chunk_row_clear(&r->hits[i].row);
    mem_free(r->hits);
    r->hits = NULL;
    r->n = 0;
}

/* Fetch rows for hits (which passed the filter already), at most k. */
static int fetch_rows(const index_version *v, const fused_hit *hits, int n, const search_query *q, search_result *r,
                      char *err) {
    r->hits = mem_calloc((size_t)(q->k > 0 ? q->k : 1), sizeof(search_hit));
    for (int i = 0; i < n && r->n < q->k; i++) {
        search_hit *h = &r->hits[r->n];
        int rc = chunk_store_get(v->shards[hits[i].shard].store, hits[i].id, &h->row, NULL, err);
        if (rc < 0) return RAGD_ERR;
        if (rc == 1) return err_set(err, "chunk %lld is in the index but not in its store", (long long)hits[i].id);
        h->id = hits[i].id;
        h->score = hits[i].score;
        h->vector_score = hits[i].vector_score;
        h->keyword_score = hits[i].keyword_score;
        h->found = hits[i].found;
        h->shard = hits[i].shard;
        r->n++;
    }
    metrics_rows(ROWS_FETCHED, r->n);
    return RAGD_OK;
}

/* One text through the batcher (with other requests' texts) if there is one. */
static int embed_one(const searcher *s, embedder *e, const char *text, float *out, char *err) {
    return embed_batcher_embed(s->batcher, e, &text, 1, out, err);
}

/* Embed the query (counted in metrics). */
static int embed_query(const searcher *s, embedder *e, const search_query *q, float *qv, search_result *r,
                       char *err) {
    double t = clock_ms();
    char *text = mem_strndup(q->text, q->len);
    int rc = embed_one(s, e, text, qv, err);
    mem_free(text);
    r->embed_ms = clock_ms() - t;
    metrics_embed(1, rc != 0, 0);
    metrics_stage(STAGE_EMBED, r->embed_ms / 1000.0);
    return rc;
}

/* Vector search for depth candidates (re-ranked for lossy specs), as ranked hits. */
static int vector_search(searcher *s, const index_version *v, const float *qv, int depth, ranked_hit *out,
                         search_result *r, char *err) {
    double t = clock_ms();
    index_hit *hits = mem_alloc(sizeof(index_hit) * (size_t)depth);
    shard_runner runner = search_pool_runner(s->pool);
    int n = index_version_search_on(v, &runner, qv, depth, hits, err);
    for (int i = 0; i < n; i++) out[i] = (ranked_hit){hits[i].id, hits[i].shard, hits[i].score};
    mem_free(hits);
    r->search_ms = clock_ms() - t;
    metrics_stage(STAGE_SEARCH, r->search_ms / 1000.0);
    return n;
}

/* BM25 over the shards' keyword indexes; 0 hits for a query without words. */
static int keyword_search(const index_version *v, const search_query *q, int depth, ranked_hit *out,
                          search_result *r, char *err) {
    double t = clock_ms();
    char **words;
    int nw = keyword_words(q->text, q->len, &words);
    int n = nw ? index_version_keyword(v, (const char *const *)words, nw, depth, out, err) : 0;
    keyword_words_free(words, nw);
    r->keyword_ms = clock_ms() - t;
    metrics_stage(STAGE_KEYWORD, r->keyword_ms / 1000.0);
    return n;
}

static int fetch_timed(const index_version *v, const fused_hit *hits, int n, const search_query *q, search_result *r,
                       char *err) {
    double t = clock_ms();
    int rc = fetch_rows(v, hits, n, q, r, err);
    r->fetch_ms = clock_ms() - t;
    metrics_stage(STAGE_FETCH, r->fetch_ms / 1000.0);
    return rc;
}


/* What besides the text and k decides the results, for cache keys: the
 * filter, and for other modes than vector the mode, fusion and weight. */
char *search_cache_spec(const search_query *q) {
    const search_filter *f = &q->filter;
    const char *p = f->url_prefix ? f->url_prefix : "";
    /* vector mode with at most a url_prefix keeps its earlier keys */
    search_filter rest = *f;
    rest.url_prefix = NULL;
    if (q->mode == MODE_VECTOR && filter_empty(&rest)) return mem_strdup(p);
    /* every value with its length first: no value can forge another's field */
    const char *texts[] = {p, f->url, f->title_contains, f->heading, f->source};
    size_t cap = 256, o;
    for (int i = 0; i < 5; i++) cap += 24 + (texts[i] ? strlen(texts[i]) : 0);
    for (int i = 0; i < f->n_meta; i++) cap += 48 + strlen(f->meta_names[i]) + strlen(f->meta_values[i]);
    char *s = mem_alloc(cap);
    o = (size_t)snprintf(s, cap, "mode=%s;fusion=%s;alpha=%.4f;after=%lld;before=%lld", search_mode_name(q->mode),
                         fusion_name((enum fusion_method)q->fusion), (double)q->alpha, (long long)f->modified_after,
                         (long long)f->modified_before);
    for (int i = 0; i < 5; i++)
        o += (size_t)snprintf(s + o, cap - o, ";%d=%zu:%s", i, texts[i] ? strlen(texts[i]) : 0, texts[i] ? texts[i] : "");
    /* meta conditions in name order: the same filter makes the same key */
    int order[FILTER_MAX_META];
    for (int i = 0; i < f->n_meta; i++) order[i] = i;
    for (int i = 1; i < f->n_meta; i++)
        for (int j = i; j > 0 && strcmp(f->meta_names[order[j - 1]], f->meta_names[order[j]]) > 0; j--) {
            int t = order[j];
            order[j] = order[j - 1], order[j - 1] = t;
        }
    for (int i = 0; i < f->n_meta; i++)
        o += (size_t)snprintf(s + o, cap - o, ";meta=%zu:%s=%zu:%s", strlen(f->meta_names[order[i]]),
                              f->meta_names[order[i]], strlen(f->meta_values[order[i]]), f->meta_values[order[i]]);
    return s;
}

/* Keep the first `want` hits that pass the plan (the row check of a
 * broad filter): one query per shard for all candidates, order kept. */
static int keep_passing(const index_version *v, const filter_plan *p, ranked_hit *l, int n, int want, char *err) {
    unsigned char *pass = mem_alloc((size_t)n + 1);
    int64_t *ids = mem_alloc(sizeof(int64_t) * (size_t)(n + 1));
    int *at = mem_alloc(sizeof(int) * (size_t)(n + 1)), rc = 0;
    for (int s = 0; s < v->m.n_shards && rc == 0; s++) {
        int m = 0;
        if (!v->shards[s].store) continue; /* not served here: no candidates from it */
        for (int i = 0; i < n; i++)
            if (l[i].shard == s) at[m] = i, ids[m++] = l[i].id;
        unsigned char *sp = mem_alloc((size_t)m + 1);
        if (chunk_store_filter_check_many(v->shards[s].store, p, ids, m, sp, err) != 0) rc = -1;
        metrics_rows(ROWS_FILTER_CHECKED, m);
        for (int j = 0; j < m; j++) pass[at[j]] = sp[j];
        mem_free(sp);
    }
    int kept = 0;
    for (int i = 0; rc == 0 && i < n && kept < want; i++)
        if (pass[i]) l[kept++] = l[i];
    mem_free(pass);
    mem_free(ids);
    mem_free(at);
    return rc == 0 ? kept : -1;
}

/* Does the semantic tier run for this version? */
static int semantic_runs(const searcher *s, const embedder *e) {
    if (!s->cache || !qcache_semantic_on(s->cache) || s->semantic == SEMANTIC_OFF) return 0;
    return s->semantic == SEMANTIC_ON || (e && embedder_is_remote(e));
}

const char *search_semantic_state(const searcher *s, const live_version *lv, char *buf, size_t cap) {
    if (!s->cache) return "off: no --redis";
    if (s->semantic_off) {
        snprintf(buf, cap, "off: %s", s->semantic_off);
        return buf;
    }
    if (s->semantic == SEMANTIC_OFF || !qcache_semantic_on(s->cache)) return "off";
    if (lv && !semantic_runs(s, lv->e)) return "off: auto, the index embedder is local";
    return "on";
}

/* The key vector of the query from a key embedder other than the
 * index's: 0, or -1 when it failed (the search then goes on without the
 * semantic tier: a cache must never fail a request). */
static int key_embed(const searcher *s, embedder *key, const search_query *q, float *kv) {
    char err[RAGD_ERR_LEN];
    char *text = mem_strndup(q->text, q->len);
    int rc = embed_one(s, key, text, kv, err);
    mem_free(text);
    metrics_key_embed(rc != 0);
    if (rc != 0) log_warn("semantic cache: key embedder: %s", err);
    return rc;
}

/* The candidate lists of a search (filtered), into vl / kl (depth each). */
typedef struct lists {
    ranked_hit *vl, *kl;
    int nv, nk;
} lists;

/* One list, unfiltered or broadly filtered: search `d` deep, keep what
 * passes, and go 4x deeper while fewer than depth pass and the index
 * holds more. Each list deepens on its own. */
static int one_list(searcher *s, const index_version *v, const search_query *q, const float *qv,
                    const filter_plan *p, int depth, int vector, ranked_hit **out, search_result *r, char *err) {
    int64_t total = v->m.total_chunks > 0 ? v->m.total_chunks : 1;
    int d = p->active ? depth * 4 : depth;
    for (;;) {
        /* a lossy spec asks each shard for more and re-ranks (index_version_search_on) */
        ranked_hit *l = mem_alloc(sizeof(ranked_hit) * (size_t)d);
        int n = vector ? vector_search(s, v, qv, d, l, r, err) : keyword_search(v, q, d, l, r, err);
        if (n > d) n = d;
        int got = n;
        if (n >= 0 && p->active) n = keep_passing(v, p, l, n, depth, err);
        if (n >= 0 && n < depth && got == d && (int64_t)d < total) {
            mem_free(l);
            d = (int64_t)d * 4 > total ? (int)total : d * 4;
            continue;
        }
        *out = l;
        return n;
    }
}

static int search_lists(searcher *s, live_version *lv, const search_query *q, const float *qv, const filter_plan *p,
                        int depth, lists *L, search_result *r, char *err) {
    const index_version *v = lv->v;
    L->nv = L->nk = 0;
    if (q->mode != MODE_KEYWORD && (L->nv = one_list(s, v, q, qv, p, depth, 1, &L->vl, r, err)) < 0) return RAGD_ERR;
    if (q->mode != MODE_VECTOR && (L->nk = one_list(s, v, q, qv, p, depth, 0, &L->kl, r, err)) < 0) return RAGD_ERR;
    return RAGD_OK;
}

/* A selective filter: score exactly the chunks it matches. */
static int exact_lists(live_version *lv, const search_query *q, const float *qv, int64_t **ids, int64_t *n, int depth,
                       lists *L, search_result *r, char *err) {
    const index_version *v = lv->v;
    L->vl = mem_alloc(sizeof(ranked_hit) * (size_t)depth);
    L->kl = mem_alloc(sizeof(ranked_hit) * (size_t)depth);
    L->nv = L->nk = 0;
    if (q->mode != MODE_KEYWORD) {
        double t = clock_ms();
        L->nv = index_version_search_in(v, qv, ids, n, depth, L->vl, err);
        r->search_ms = clock_ms() - t;
        metrics_stage(STAGE_SEARCH, r->search_ms / 1000.0);
        if (L->nv < 0) return RAGD_ERR;
    }
    if (q->mode != MODE_VECTOR) {
        double t = clock_ms();
        char **words;
        int nw = keyword_words(q->text, q->len, &words);
        L->nk = nw ? index_version_keyword_in(v, (const char *const *)words, nw, ids, n, depth, L->kl, err) : 0;
        keyword_words_free(words, nw);
        r->keyword_ms = clock_ms() - t;
        metrics_stage(STAGE_KEYWORD, r->keyword_ms / 1000.0);
        if (L->nk < 0) return RAGD_ERR;
    }
    return RAGD_OK;
}

static int check_version_of(live_version *lv, const search_query *q, char *err);

/* The mode's candidate lists inside the filter, depth each: a selective
 * filter scores exactly its chunks, a broad one searches deeper. */
static int filtered_lists(searcher *s, live_version *lv, const search_query *q, const float *qv, int depth, lists *L,
                          search_result *r, char *err) {
    const index_version *v = lv->v;
    filter_plan plan;
    if (filter_plan_make(&q->filter, &plan, err) != RAGD_OK) return RAGD_ERR;
    int64_t **ids = NULL, *n = NULL;
    int rc = RAGD_ERR, selective = 0;
    if (plan.active) {
        double t = clock_ms();
        if (index_version_filter(v, &plan, SEARCH_FILTER_EXACT_MAX, &ids, &n, err) != RAGD_OK) goto out;
        r->filter_ms = clock_ms() - t;
        selective = 1;
        for (int i = 0; i < v->m.n_shards; i++) {
            selective = selective && n[i] <= SEARCH_FILTER_EXACT_MAX;
            metrics_rows(ROWS_FILTER_MATCHED, n[i]);
        }
    }
    rc = selective ? exact_lists(lv, q, qv, ids, n, depth, L, r, err) : search_lists(s, lv, q, qv, &plan, depth, L, r, err);
out:
    for (int i = 0; ids && i < v->m.n_shards; i++) mem_free(ids[i]);
    mem_free(ids);
    mem_free(n);
    filter_plan_clear(&plan);
    return rc;
}

int search_candidates(searcher *s, live_version *lv, const search_query *q, const float *qv, int depth,
                      search_lists_out *out, search_result *r, char *err) {
    lists L = {0};
    memset(out, 0, sizeof(*out));
    memset(r, 0, sizeof(*r));
    int st = check_version_of(lv, q, err);
    if (st != SEARCH_OK) return st;
    omp_set_num_threads(1); /* this request thread searches a shard itself */
    int rc = filtered_lists(s, lv, q, qv, depth, &L, r, err);
    out->vl = L.vl, out->nv = L.nv, out->kl = L.kl, out->nk = L.nk;
    if (rc != RAGD_OK) search_lists_clear(out);
    return rc == RAGD_OK ? SEARCH_OK : SEARCH_FAILED;
}

void search_lists_clear(search_lists_out *o) {
    mem_free(o->vl);
    mem_free(o->kl);
    memset(o, 0, sizeof(*o));
}

/* Fresh results for a miss: the mode's lists (inside the filter), fused
 * for hybrid, rows fetched. qv holds the query vector when have_vec (else
 * it is embedded here when needed). fused holds depth entries (the
 * candidates each list contributes, HYBRID_DEPTH for hybrid). */
static int search_fresh(searcher *s, live_version *lv, const search_query *q, const float *qv, int depth,
                        fused_hit *fused, int *nf, search_result *r, char *err) {
    const index_version *v = lv->v;
    lists L = {0};
    int rc = RAGD_ERR;
    if (filtered_lists(s, lv, q, qv, depth, &L, r, err) != RAGD_OK) goto out;
    if (q->mode == MODE_HYBRID) {
        *nf = fusion_fuse((enum fusion_method)q->fusion, q->alpha, L.vl, L.nv, L.kl, L.nk, depth, fused);
    } else {
        const ranked_hit *l = q->mode == MODE_VECTOR ? L.vl : L.kl;
        int cnt = q->mode == MODE_VECTOR ? L.nv : L.nk, found = q->mode == MODE_VECTOR ? FUSION_FOUND_VECTOR
                                                                                      : FUSION_FOUND_KEYWORD;
        for (int i = 0; i < cnt; i++)
            fused[i] = (fused_hit){.id = l[i].id, .shard = l[i].shard, .score = l[i].score, .found = found,
                                   .vector_score = found == FUSION_FOUND_VECTOR ? l[i].score : 0,
                                   .keyword_score = found == FUSION_FOUND_KEYWORD ? l[i].score : 0};
        *nf = cnt;
    }
    rc = fetch_timed(v, fused, *nf, q, r, err);
out:
    mem_free(L.vl);
    mem_free(L.kl);
    return rc;
}

/* One search as it goes through the cache tiers: what each tier needs
 * and what it leaves for the next. */
typedef struct search_ctx {
    searcher *s;
    const search_backend *b;
    const search_query *q;
    search_result *r;
    char *err;
    int dim, depth;
    float *qv;        /* the index embedder's query vector (dim) */
    int have_vec;     /* qv came from the cache (tier 1) or the caller */
    int embedded;     /* qv was computed by this request */
    embedder *key;    /* a key embedder other than the index's, or NULL */
    int kdim;
    float *kv;        /* the semantic key vector (kdim), or NULL */
    int semantic;     /* tier 3 runs for this request */
    int cst;          /* what tiers 1-2 said: CACHE_RESULTS, CACHE_MISS or CACHE_BYPASS */
    qkey ck;
    fused_hit *hits;  /* depth (at least k) entries */
    int n;
    fused_hit *verify; /* a sampled semantic hit's results, to compare with the fresh ones; NULL: none */
    int n_verify;
} search_ctx;

/* The chunk store of the first shard this process serves (--shards), or NULL. */
static chunk_store *first_store(const index_version *v) {
    for (int s = 0; s < v->m.n_shards; s++)
        if (v->shards[s].store) return v->shards[s].store;
    return NULL;
}

/* Before any tier: the version can answer this mode and filter. */
static int check_version_of(live_version *lv, const search_query *q, char *err) {
    const index_version *v = lv->v;
    if (q->mode != MODE_VECTOR && !index_version_has_keywords(v)) {
        err_set(err, "version %s has no keyword index (built before keyword search): rebuild the index for "
                "mode \"%s\"", v->m.version_id, search_mode_name(q->mode));
        return SEARCH_BAD_REQUEST;
    }
    const search_filter *f = &q->filter;
    int needs_words = f->title_contains || f->heading, needs_docs = f->source || f->modified_after ||
                                                                    f->modified_before || f->n_meta;
    if ((needs_words && !index_version_has_keywords(v)) ||
        (needs_docs && first_store(v) && chunk_store_schema(first_store(v)) < 4)) {
        err_set(err, "version %s cannot apply this filter (%s need an index built by this version): rebuild the "
                "index", v->m.version_id, needs_words ? "title and heading filters" : "source, modified and meta filters");
        return SEARCH_FILTER_UNAVAILABLE;
    }
    return SEARCH_OK;
}

/* Rows for cached hits from the backend; anything missing makes it a miss. */
static int serve_from(const search_ctx *x) {
    for (int i = 0; i < x->n; i++)
        if (x->hits[i].shard < 0 || x->hits[i].shard >= x->b->n_shards) return RAGD_ERR;
    if (x->b->rows(x->b->ctx, x->hits, x->n, x->q, x->r, x->err) == RAGD_OK) return RAGD_OK;
    search_result_clear_hits(x->r);
    return RAGD_ERR;
}

/* Tiers 1 and 2 (one Redis round trip): 1 if the whole result list was
 * served from the cache; else 0, with the query vector if tier 1 had it. */
static int tier_exact(search_ctx *x) {
    searcher *s = x->s;
    const search_query *q = x->q;
    const search_backend *b = x->b;
    if (!s->cache) return 0;
    double t = clock_ms();
    char *spec = search_cache_spec(q);
    qcache_key(s->cache, &x->ck, q->tenant ? q->tenant : "default", b->version_id, b->model_id,
               x->semantic ? embedder_model_id(x->key ? x->key : b->e) : NULL, b->e ? embedder_uncased(b->e) : 0,
               q->text, q->len, q->k, spec);
    mem_free(spec);
    x->cst = qcache_lookup(s->cache, &x->ck, x->dim, x->hits, &x->n, x->qv, &x->have_vec);
    metrics_stage(STAGE_CACHE, (clock_ms() - t) / 1000.0);
    if (x->cst == CACHE_RESULTS && serve_from(x) == RAGD_OK) {
        x->r->cache = CACHE_RESULTS;
        if (q->mode != MODE_KEYWORD) metrics_calls_avoided(CACHE_RESULTS, MODEL_INDEX);
        if (x->key) metrics_calls_avoided(CACHE_RESULTS, MODEL_KEY);
        return 1;
    }
    x->r->cache = x->cst == CACHE_BYPASS ? CACHE_BYPASS : CACHE_MISS;
    if (q->mode == MODE_KEYWORD) x->have_vec = 0; /* no model call to avoid */
    if (x->have_vec) {
        x->r->cache = CACHE_EXACT;
        metrics_calls_avoided(CACHE_EXACT, MODEL_INDEX);
    }
    return 0;
}

/* The index embedder's query vector, if this request does not have it yet. */
static int need_vector(search_ctx *x) {
    if (x->have_vec || x->embedded || x->q->mode == MODE_KEYWORD) return 0;
    if (!x->b->e) return err_set(x->err, "no query embedder for version %s", x->b->version_id);
    if (embed_query(x->s, x->b->e, x->q, x->qv, x->r, x->err) != 0) return -1;
    x->embedded = 1;
    return 0;
}

/* The semantic key vector: from the key embedder, or the index's own
 * query vector (embedded now if tier 1 did not have it). 0, or -1 when
 * the index embedder failed (the request fails; a key embedder's failure
 * only turns the tier off). */
static int key_vector(search_ctx *x) {
    x->kv = mem_alloc(sizeof(float) * (size_t)x->kdim);
    if (x->key) {
        if (key_embed(x->s, x->key, x->q, x->kv) != 0) x->semantic = 0;
        return 0;
    }
    if (need_vector(x) != 0) return -1;
    memcpy(x->kv, x->qv, sizeof(float) * (size_t)x->kdim);
    return 0;
}

/* Is this semantic hit one of the --cache-verify-rate share checked
 * against a fresh search? Every 1/rate-th hit, counted across threads. */
static int verify_this(searcher *s) {
    if (!(s->verify_rate > 0)) return 0;
    uint_fast64_t c = atomic_fetch_add(&s->verify_seq, 1);
    return s->verify_rate >= 1 || floor((double)(c + 1) * s->verify_rate) > floor((double)c * s->verify_rate);
}

/* A sampled semantic hit against the fresh results now in x->r: the share
 * of the cached list the fresh one holds too. */
static void verify_compare(const search_ctx *x) {
    const search_result *r = x->r;
    int both = 0;
    for (int i = 0; i < x->n_verify; i++)
        for (int j = 0; j < r->n; j++)
            if (r->hits[j].id == x->verify[i].id && r->hits[j].shard == x->verify[i].shard) {
                both++;
                break;
            }
    double overlap = x->n_verify ? (double)both / x->n_verify : r->n == 0;
    metrics_semantic_verified(overlap >= SEARCH_VERIFY_AGREE, overlap);
}

/* Tier 3: 1 if the results of a near-duplicate earlier query were served. */
static int tier_semantic(search_ctx *x) {
    float score;
    double t = clock_ms();
    int hit = qcache_semantic(x->s->cache, &x->ck, x->kv, x->kdim, x->q->text, x->q->len, x->hits, &x->n, &score);
    metrics_stage(STAGE_CACHE, (clock_ms() - t) / 1000.0);
    if (!hit || serve_from(x) != RAGD_OK) return 0;
    if (verify_this(x->s)) {
        /* checked: this request is served by a fresh search, then compared */
        x->n_verify = x->n;
        x->verify = mem_alloc(sizeof(fused_hit) * (size_t)(x->n ? x->n : 1));
        memcpy(x->verify, x->hits, sizeof(fused_hit) * (size_t)x->n);
        search_result_clear_hits(x->r);
        return 0;
    }
    x->r->cache = CACHE_SEMANTIC;
    if (!x->have_vec && !x->embedded) metrics_calls_avoided(CACHE_SEMANTIC, MODEL_INDEX);
    /* An identical repeat of this query is then an exact hit. */
    qcache_store_exact(x->s->cache, &x->ck, (x->have_vec || x->embedded) ? x->qv : NULL, x->dim, x->hits, x->n);
    return 1;
}

/* A miss: search, then cache what was served (after any filter), best first. */
static int search_and_store(search_ctx *x) {
    const search_query *q = x->q;
    search_result *r = x->r;
    int st = need_vector(x) != 0 ? SEARCH_FAILED : x->b->fresh(x->b->ctx, q, x->qv, x->depth, r, x->err);
    if (st != SEARCH_OK) return st;
    if (x->cst != CACHE_BYPASS && !q->vector) {
        fused_hit *served = mem_alloc(sizeof(fused_hit) * (size_t)(r->n ? r->n : 1));
        for (int i = 0; i < r->n; i++)
            served[i] = (fused_hit){r->hits[i].id, r->hits[i].shard, r->hits[i].score, r->hits[i].vector_score,
                                    r->hits[i].keyword_score, r->hits[i].found};
        /* the index vector is cached only if this request made it */
        int made_vec = q->mode != MODE_KEYWORD && x->embedded;
        qcache_store(x->s->cache, &x->ck, made_vec ? x->qv : NULL, x->dim, made_vec, x->semantic ? x->kv : NULL,
                     x->kdim, q->text, q->len, served, r->n);
        mem_free(served);
    }
    return SEARCH_OK;
}

/* The caller's vector as the query vector: the index's dimension, and
 * unit length where the index's vectors are (cosine by inner product). */
static int given_vector(search_ctx *x) {
    const search_query *q = x->q;
    const search_backend *b = x->b;
    if (q->vector_dim != x->dim) {
        err_set(x->err, "\"vector\" has %d values; index version %s holds %d-dimensional vectors (%s)", q->vector_dim,
                b->version_id, x->dim, b->model_id);
        return SEARCH_BAD_VECTOR;
    }
    double ss = 0;
    for (int i = 0; i < x->dim; i++) ss += (double)q->vector[i] * q->vector[i];
    float scale = 1.0f;
    if (b->normalized) {
        if (!(ss > 0) || !isfinite(ss)) {
            err_set(x->err, "\"vector\" has length %g; this index compares unit vectors (cosine), so it must be "
                    "non-zero and finite", sqrt(ss));
            return SEARCH_BAD_VECTOR;
        }
        scale = (float)(1.0 / sqrt(ss));
    }
    for (int i = 0; i < x->dim; i++) x->qv[i] = q->vector[i] * scale;
    x->have_vec = 1;
    return SEARCH_OK;
}

int search_through(searcher *s, const search_backend *b, const search_query *q, search_result *r, char *err) {
    snprintf(r->version_id, sizeof(r->version_id), "%s", b->version_id);
    r->cache = CACHE_BYPASS;
    search_ctx x = {.s = s, .b = b, .q = q, .r = r, .err = err, .dim = b->dim, .cst = CACHE_BYPASS};
    x.depth = q->mode == MODE_HYBRID ? HYBRID_DEPTH(q->k) : q->k;
    x.qv = mem_alloc(sizeof(float) * (size_t)(x.dim > 0 ? x.dim : 1));
    x.hits = mem_alloc(sizeof(fused_hit) * (size_t)(x.depth > q->k ? x.depth : q->k));
    /* The semantic tier saves a model call, so keyword mode (which makes
     * none) skips it; hybrid results are reused like vector ones, within
     * their own group (mode and alpha are part of it). */
    x.semantic = q->mode != MODE_KEYWORD && semantic_runs(s, b->e) && (b->e || s->key);
    /* A separate key embedder: the semantic tier never waits for the index's. */
    x.key = x.semantic && s->key && (!b->e || strcmp(embedder_model_id(s->key), embedder_model_id(b->e)) != 0) ? s->key
                                                                                                              : NULL;
    x.kdim = x.key ? embedder_dim(x.key) : x.dim;
    int status;
    if (q->vector) {
        status = given_vector(&x);
        if (status == SEARCH_OK) status = b->fresh(b->ctx, q, x.qv, x.depth, r, err);
    } else if (tier_exact(&x)) {
        status = SEARCH_OK;
    } else {
        x.semantic = x.semantic && x.cst != CACHE_BYPASS;
        status = SEARCH_FAILED;
        if (!x.semantic || key_vector(&x) == 0) {
            if (x.semantic && tier_semantic(&x)) status = SEARCH_OK;
            else status = search_and_store(&x);
            if (x.verify && status == SEARCH_OK) verify_compare(&x);
        }
    }
    mem_free(x.verify);
    mem_free(x.qv);
    mem_free(x.kv);
    mem_free(x.hits);
    return status;
}

/* ---- this process's live version as the backend ---- */

typedef struct local_ctx {
    searcher *s;
    live_version *lv;
} local_ctx;

static int local_rows(void *ctx, const fused_hit *hits, int n, const search_query *q, search_result *r, char *err) {
    local_ctx *c = ctx;
    for (int i = 0; i < n; i++)
        if (!index_version_serves(c->lv->v, hits[i].shard)) return RAGD_ERR;
    return fetch_timed(c->lv->v, hits, n, q, r, err);
}

static int local_fresh(void *ctx, const search_query *q, const float *qv, int depth, search_result *r, char *err) {
    local_ctx *c = ctx;
    fused_hit *fused = mem_alloc(sizeof(fused_hit) * (size_t)(depth > q->k ? depth : q->k));
    int nf = 0, rc = search_fresh(c->s, c->lv, q, qv, depth, fused, &nf, r, err);
    mem_free(fused);
    return rc == RAGD_OK ? SEARCH_OK : SEARCH_FAILED;
}

int search_run(searcher *s, const search_query *q, search_result *r, char *err) {
    memset(r, 0, sizeof(*r));
    r->cache = CACHE_BYPASS;
    live_version *lv = live_index_acquire(s->li);
    if (!lv) {
        live_status st;
        live_index_status(s->li, &st);
        err_set(err, "%s", st.reason);
        return SEARCH_NOT_READY;
    }
    snprintf(r->version_id, sizeof(r->version_id), "%s", lv->v->m.version_id);
    int status = check_version_of(lv, q, err);
    if (status == SEARCH_OK) {
        omp_set_num_threads(1); /* this request thread searches a shard itself */
        local_ctx c = {s, lv};
        const manifest *m = &lv->v->m;
        search_backend b = {.version_id = m->version_id, .model_id = m->model_id, .dim = m->dim,
                            .n_shards = m->n_shards, .normalized = m->normalized, .e = lv->e, .rows = local_rows,
                            .fresh = local_fresh, .ctx = &c};
        status = search_through(s, &b, q, r, err);
    }
    live_version_release(lv);
    return status;
}

void search_result_clear(search_result *r) {
    for (int i = 0; r->hits && i < r->n; i++) chunk_row_clear(&r->hits[i].row);
    mem_free(r->hits);
    memset(r, 0, sizeof(*r));
}
