/* search.c - one similarity search: embed, search shards, fetch rows */
#include "search.h"

#include <omp.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "log.h"
#include "mem.h"
#include "query_cache.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void search_result_clear_hits(search_result *r) {
    for (int i = 0; r->hits && i < r->n; i++) chunk_row_clear(&r->hits[i].row);
    mem_free(r->hits);
    r->hits = NULL;
    r->n = 0;
}

/* Fetch rows for hits, keep those passing the filter, at most k. */
static int fetch_rows(const index_version *v, const index_hit *hits, int n, const search_query *q, search_result *r,
                      char *err) {
    r->hits = mem_calloc((size_t)(q->k > 0 ? q->k : 1), sizeof(search_hit));
    size_t plen = q->url_prefix ? strlen(q->url_prefix) : 0;
    for (int i = 0; i < n && r->n < q->k; i++) {
        search_hit *h = &r->hits[r->n];
        int rc = chunk_store_get(v->shards[hits[i].shard].store, hits[i].id, &h->row, NULL, err);
        if (rc < 0) return RAGD_ERR;
        if (rc == 1) return err_set(err, "chunk %lld is in the index but not in its store", (long long)hits[i].id);
        if (plen && strncmp(h->row.doc_url, q->url_prefix, plen) != 0) {
            chunk_row_clear(&h->row);
            continue;
        }
        h->id = hits[i].id;
        h->score = hits[i].score;
        h->shard = hits[i].shard;
        r->n++;
    }
    return RAGD_OK;
}

/* Embed the query (counted in metrics). */
static int embed_query(live_version *lv, const search_query *q, float *qv, search_result *r, char *err) {
    double t = now_ms();
    char *text = mem_strndup(q->text, q->len);
    int rc = embedder_embed(lv->e, (const char *const *)&text, 1, qv, err);
    mem_free(text);
    r->embed_ms = now_ms() - t;
    metrics_embed(1, rc != 0, 0);
    metrics_stage(STAGE_EMBED, r->embed_ms / 1000.0);
    return rc;
}

static int run_search(searcher *s, const index_version *v, const float *qv, int depth, index_hit *hits,
                      search_result *r, char *err) {
    double t = now_ms();
    int n = search_pool_search(s->pool, v, qv, depth, hits, err);
    r->search_ms = now_ms() - t;
    metrics_stage(STAGE_SEARCH, r->search_ms / 1000.0);
    return n;
}

static int fetch_timed(const index_version *v, const index_hit *hits, int n, const search_query *q, search_result *r,
                       char *err) {
    double t = now_ms();
    int rc = fetch_rows(v, hits, n, q, r, err);
    r->fetch_ms = now_ms() - t;
    metrics_stage(STAGE_FETCH, r->fetch_ms / 1000.0);
    return rc;
}

/* Serve cached hits: their rows must all exist in this version (anything
 * else means a foreign or corrupt entry: treat it as a miss). */
static int serve_cached(const index_version *v, const index_hit *hits, int n, const search_query *q,
                        search_result *r) {
    char err[RAGD_ERR_LEN];
    for (int i = 0; i < n; i++)
        if (hits[i].shard < 0 || hits[i].shard >= v->m.n_shards) return RAGD_ERR;
    if (fetch_timed(v, hits, n, q, r, err) == RAGD_OK) return RAGD_OK;
    search_result_clear_hits(r);
    return RAGD_ERR;
}

/* Does the semantic tier run for this version? */
static int semantic_runs(const searcher *s, const live_version *lv) {
    if (!s->cache || !qcache_semantic_on(s->cache) || s->semantic == SEMANTIC_OFF) return 0;
    return s->semantic == SEMANTIC_ON || lv->e->remote;
}

const char *search_semantic_state(const searcher *s, const live_version *lv, char *buf, size_t cap) {
    if (!s->cache) return "off: no --redis";
    if (s->semantic_off) {
        snprintf(buf, cap, "off: %s", s->semantic_off);
        return buf;
    }
    if (s->semantic == SEMANTIC_OFF || !qcache_semantic_on(s->cache)) return "off";
    if (lv && !semantic_runs(s, lv)) return "off: auto, the index embedder is local";
    return "on";
}

/* The key vector of the query from a key embedder other than the
 * index's: 0, or -1 when it failed (the search then goes on without the
 * semantic tier: a cache must never fail a request). */
static int key_embed(embedder *key, const search_query *q, float *kv) {
    char err[RAGD_ERR_LEN];
    char *text = mem_strndup(q->text, q->len);
    int rc = embedder_embed(key, (const char *const *)&text, 1, kv, err);
    mem_free(text);
    metrics_key_embed(rc != 0);
    if (rc != 0) log_warn("semantic cache: key embedder: %s", err);
    return rc;
}

int search_run(searcher *s, const search_query *q, search_result *r, char *err) {
    memset(r, 0, sizeof(*r));
    r->cache = CACHE_BYPASS;
    live_version *lv = live_index_acquire(s->li);
    if (!lv) {
        live_index_ready(s->li, err, RAGD_ERR_LEN);
        return SEARCH_NOT_READY;
    }
    const index_version *v = lv->v;
    snprintf(r->version_id, sizeof(r->version_id), "%s", v->m.version_id);
    omp_set_num_threads(1); /* this request thread searches a shard itself */
    int dim = v->m.dim, status = SEARCH_FAILED, have_vec = 0, embedded = 0, n = 0, cst = QC_BYPASS;
    float *qv = mem_alloc(sizeof(float) * (size_t)dim), *kv = NULL;
    int depth = index_version_candidates(v, q->k);
    if (q->url_prefix && depth < SEARCH_FILTER_DEPTH) depth = SEARCH_FILTER_DEPTH;
    index_hit *hits = mem_alloc(sizeof(index_hit) * (size_t)(depth > q->k ? depth : q->k));
    int semantic = semantic_runs(s, lv);
    /* A separate key embedder: the semantic tier never waits for the index's. */
    embedder *key = semantic && s->key && strcmp(s->key->model_id, lv->e->model_id) != 0 ? s->key : NULL;
    int kdim = key ? key->dim : dim;
    qkey ck;
    if (s->cache) {
        double t = now_ms();
        qcache_key(s->cache, &ck, q->tenant ? q->tenant : "default", v->m.version_id, v->m.model_id,
                   semantic ? (key ? key->model_id : lv->e->model_id) : NULL, lv->e->uncased, q->text, q->len, q->k,
                   q->url_prefix);
        cst = qcache_lookup(s->cache, &ck, dim, hits, &n, qv, &have_vec);
        metrics_stage(STAGE_CACHE, (now_ms() - t) / 1000.0);
        if (cst == QC_HIT && serve_cached(v, hits, n, q, r) == RAGD_OK) {
            r->cache = CACHE_RESULTS;
            metrics_calls_avoided(CACHE_RESULTS, MODEL_INDEX);
            if (key) metrics_calls_avoided(CACHE_RESULTS, MODEL_KEY);
            status = SEARCH_OK;
            goto done;
        }
        r->cache = cst == QC_BYPASS ? CACHE_BYPASS : CACHE_MISS;
    }
    if (have_vec) {
        r->cache = CACHE_EXACT;
        metrics_calls_avoided(CACHE_EXACT, MODEL_INDEX);
    }
    semantic = semantic && cst != QC_BYPASS;
    if (semantic) {
        if (key) {
            kv = mem_alloc(sizeof(float) * (size_t)kdim);
            if (key_embed(key, q, kv) != 0) semantic = 0;
        } else {
            /* the index's own embedder makes the key vector */
            if (!have_vec) {
                if (embed_query(lv, q, qv, r, err) != 0) goto done;
                embedded = 1;
            }
            kv = mem_alloc(sizeof(float) * (size_t)kdim);
            memcpy(kv, qv, sizeof(float) * (size_t)kdim);
        }
    }
    float score;
    if (semantic) {
        double t = now_ms();
        int hit = qcache_semantic(s->cache, &ck, kv, kdim, q->text, q->len, hits, &n, &score);
        metrics_stage(STAGE_CACHE, (now_ms() - t) / 1000.0);
        if (hit && serve_cached(v, hits, n, q, r) == RAGD_OK) {
            r->cache = CACHE_SEMANTIC;
            status = SEARCH_OK;
            if (!have_vec && !embedded) metrics_calls_avoided(CACHE_SEMANTIC, MODEL_INDEX);
            /* An identical repeat of this query is then an exact hit. */
            qcache_store_exact(s->cache, &ck, (have_vec || embedded) ? qv : NULL, dim, hits, n);
            goto done;
        }
    }
    if (!have_vec && !embedded && embed_query(lv, q, qv, r, err) != 0) goto done;
    n = run_search(s, v, qv, depth, hits, r, err);
    if (n > 0 && index_version_rerank(v, qv, hits, n, err) != 0) n = -1;
    if (n >= 0 && fetch_timed(v, hits, n, q, r, err) == RAGD_OK) {
        status = SEARCH_OK;
        if (cst != QC_BYPASS) {
            /* Cache what was served (after any filter), best first. */
            index_hit *served = mem_alloc(sizeof(index_hit) * (size_t)(r->n ? r->n : 1));
            for (int i = 0; i < r->n; i++) served[i] = (index_hit){r->hits[i].id, r->hits[i].score, r->hits[i].shard};
            qcache_store(s->cache, &ck, qv, dim, !have_vec, semantic ? kv : NULL, kdim, q->text, q->len, served,
                         r->n);
            mem_free(served);
        }
    }
done:
    mem_free(qv);
    mem_free(kv);
    mem_free(hits);
    live_version_release(lv);
    return status;
}

void search_result_clear(search_result *r) {
    for (int i = 0; r->hits && i < r->n; i++) chunk_row_clear(&r->hits[i].row);
    mem_free(r->hits);
    memset(r, 0, sizeof(*r));
}
