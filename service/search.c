/* search.c - one similarity search: embed, search shards, fetch rows */
#include "search.h"

#include <omp.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "mem.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
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
        r->n++;
    }
    return RAGD_OK;
}

int search_run(searcher *s, const search_query *q, search_result *r, char *err) {
    memset(r, 0, sizeof(*r));
    r->cache = s->cache ? CACHE_MISS : CACHE_BYPASS;
    live_version *lv = live_index_acquire(s->li);
    if (!lv) {
        live_index_ready(s->li, err, RAGD_ERR_LEN);
        return SEARCH_NOT_READY;
    }
    const index_version *v = lv->v;
    snprintf(r->version_id, sizeof(r->version_id), "%s", v->m.version_id);
    omp_set_num_threads(1); /* this request thread searches a shard itself */
    int status = SEARCH_FAILED;
    float *qv = mem_alloc(sizeof(float) * (size_t)v->m.dim);
    int depth = q->url_prefix ? SEARCH_FILTER_DEPTH : q->k;
    index_hit *hits = mem_alloc(sizeof(index_hit) * (size_t)depth);
    double t = now_ms();
    char *text = mem_strndup(q->text, q->len);
    int rc = embedder_embed(lv->e, (const char *const *)&text, 1, qv, err);
    mem_free(text);
    r->embed_ms = now_ms() - t;
    metrics_embed(1, rc != 0, 0);
    metrics_stage(STAGE_EMBED, r->embed_ms / 1000.0);
    if (rc == 0) {
        t = now_ms();
        int n = search_pool_search(s->pool, v, qv, depth, hits, err);
        r->search_ms = now_ms() - t;
        metrics_stage(STAGE_SEARCH, r->search_ms / 1000.0);
        t = now_ms();
        if (n >= 0 && fetch_rows(v, hits, n, q, r, err) == RAGD_OK) status = SEARCH_OK;
        r->fetch_ms = now_ms() - t;
        metrics_stage(STAGE_FETCH, r->fetch_ms / 1000.0);
    }
    mem_free(qv);
    mem_free(hits);
    live_version_release(lv);
    return status;
}

void search_result_clear(search_result *r) {
    for (int i = 0; r->hits && i < r->n; i++) chunk_row_clear(&r->hits[i].row);
    mem_free(r->hits);
    memset(r, 0, sizeof(*r));
}
