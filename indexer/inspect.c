/* inspect.c - dump and search a published index from the shell */
#include "inspect.h"
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "embedder.h"
#include "err.h"
#include "fusion.h"
#include "index_version.h"
#include "keyword_query.h"
#include "mem.h"

typedef struct dump_ctx {
    FILE *out;
    json_t *sources; /* chunk id (as string) -> array of urls */
} dump_ctx;

static void add_source(void *ctx, int64_t id, const char *url) {
    dump_ctx *d = ctx;
    char key[32];
    snprintf(key, sizeof(key), "%lld", (long long)id);
    json_t *a = json_object_get(d->sources, key);
    if (!a) json_object_set_new(d->sources, key, a = json_array());
    json_array_append_new(a, json_string(url));
}

static json_t *row_json(const chunk_row *r) {
    json_t *h = json_loads(r->headings, 0, NULL);
    return json_pack("{s:I, s:s, s:s, s:o, s:s, s:I, s:I}", "id", (json_int_t)r->id, "url", r->doc_url,
                     "title", r->title, "headings", h ? h : json_array(), "text", r->text, "start_byte",
                     (json_int_t)r->start_byte, "end_byte", (json_int_t)r->end_byte);
}

static void print_json(FILE *out, json_t *o) {
    char *s = json_dumps(o, JSON_COMPACT);
    if (s) fprintf(out, "%s\n", s);
    free(s);
    json_decref(o);
}

static void dump_row(void *ctx, const chunk_row *r, const float *vec) {
    (void)vec;
    dump_ctx *d = ctx;
    json_t *o = row_json(r);
    char key[32];
    snprintf(key, sizeof(key), "%lld", (long long)r->id);
    json_t *src = json_object_get(d->sources, key);
    if (src) json_object_set(o, "sources", src);
    else json_object_set_new(o, "sources", json_array());
    print_json(d->out, o);
}

int inspect_dump(const char *index_dir, FILE *out, char *err) {
    index_version *v = index_version_open(index_dir, 0, err);
    if (!v) return RAGD_ERR;
    int rc = RAGD_OK;
    for (int s = 0; s < v->m.n_shards && rc == RAGD_OK; s++) {
        dump_ctx d = {.out = out, .sources = json_object()};
        rc = chunk_store_each_source(v->shards[s].store, add_source, &d, err);
        if (rc == RAGD_OK) rc = chunk_store_each(v->shards[s].store, dump_row, &d, err);
        json_decref(d.sources);
    }
    index_version_free(v);
    return rc;
}

typedef struct exact_ctx {
    const float *q;
    int dim, k, n;
    index_hit *hits;
    int shard;
} exact_ctx;

/* Keep the k best inner products seen so far (insertion into a sorted list). */
static void exact_row(void *ctx, const chunk_row *r, const float *vec) {
    exact_ctx *x = ctx;
    if (!vec) return;
    float s = 0;
    for (int d = 0; d < x->dim; d++) s += vec[d] * x->q[d];
    if (x->n == x->k && s <= x->hits[x->k - 1].score) return;
    int i = x->n < x->k ? x->n++ : x->k - 1;
    while (i > 0 && x->hits[i - 1].score < s) {
        x->hits[i] = x->hits[i - 1];
        i--;
    }
    x->hits[i] = (index_hit){r->id, s, x->shard};
}

static int search_hits(index_version *v, const float *q, int k, int exact, index_hit *hits, char *err) {
    if (!exact) return index_version_search(v, q, k, hits, err);
    exact_ctx x = {.q = q, .dim = v->m.dim, .k = k, .hits = hits};
    for (int s = 0; s < v->m.n_shards; s++) {
        x.shard = s;
        if (chunk_store_each(v->shards[s].store, exact_row, &x, err) != 0) return RAGD_ERR;
    }
    return x.n;
}

int inspect_search(const char *index_dir, const char *query, const inspect_query *iq, FILE *out, char *err) {
    int k = iq->k;
    if (k < 1 || k > 1000) return err_set(err, "k must be 1..1000");
    index_version *v = index_version_open(index_dir, 0, err);
    if (!v) return RAGD_ERR;
    if (iq->mode != MODE_VECTOR && !index_version_has_keywords(v)) {
        err_set(err, "version %s has no keyword index (built before keyword search): rebuild it", v->m.version_id);
        index_version_free(v);
        return RAGD_ERR;
    }
    int depth = iq->mode == MODE_HYBRID ? HYBRID_DEPTH(k) : k;
    embedder *e = NULL;
    float *q = NULL;
    index_hit *hits = mem_alloc(sizeof(index_hit) * (size_t)depth);
    ranked_hit *vl = mem_alloc(sizeof(ranked_hit) * (size_t)depth), *kl = mem_alloc(sizeof(ranked_hit) * (size_t)depth);
    fused_hit *fused = mem_alloc(sizeof(fused_hit) * (size_t)depth);
    int n = 0, nv = 0, nk = 0;
    if (iq->mode != MODE_KEYWORD) {
        e = embedder_for_manifest(&v->m, NULL, err);
        q = e ? mem_alloc(sizeof(float) * (size_t)v->m.dim) : NULL;
        nv = e && embedder_embed(e, &query, 1, q, err) == 0 ? search_hits(v, q, depth, iq->exact, hits, err) : -1;
        for (int i = 0; i < nv; i++) vl[i] = (ranked_hit){hits[i].id, hits[i].shard, hits[i].score};
    }
    if (nv >= 0 && iq->mode != MODE_VECTOR) {
        char **words;
        int nw = keyword_words(query, strlen(query), &words);
        nk = nw ? index_version_keyword(v, (const char *const *)words, nw, depth, kl, err) : 0;
        keyword_words_free(words, nw);
    }
    if (nv < 0 || nk < 0) n = -1;
    else if (iq->mode == MODE_HYBRID) n = fusion_fuse((enum fusion_method)iq->fusion, iq->alpha, vl, nv, kl, nk, k, fused);
    else {
        n = iq->mode == MODE_VECTOR ? nv : nk;
        for (int i = 0; i < n; i++) {
            const ranked_hit *h = iq->mode == MODE_VECTOR ? &vl[i] : &kl[i];
            fused[i] = (fused_hit){.id = h->id, .shard = h->shard, .score = h->score};
        }
    }
    for (int i = 0; i < n; i++) {
        chunk_row r;
        if (chunk_store_get(v->shards[fused[i].shard].store, fused[i].id, &r, NULL, err) != 0) {
            n = -1;
            break;
        }
        json_t *o = row_json(&r);
        json_object_set_new(o, "rank", json_integer(i + 1));
        json_object_set_new(o, "score", json_real(fused[i].score));
        if (iq->mode == MODE_HYBRID) {
            json_t *sc = json_object();
            if (fused[i].found & FUSION_FOUND_VECTOR) json_object_set_new(sc, "vector", json_real(fused[i].vector_score));
            if (fused[i].found & FUSION_FOUND_KEYWORD) json_object_set_new(sc, "keyword", json_real(fused[i].keyword_score));
            json_object_set_new(o, "scores", sc);
        }
        print_json(out, o);
        chunk_row_clear(&r);
    }
    mem_free(hits);
    mem_free(vl);
    mem_free(kl);
    mem_free(fused);
    mem_free(q);
    embedder_free(e);
    index_version_free(v);
    return n < 0 ? RAGD_ERR : RAGD_OK;
}
