/* shard_api.c - a shard server's internal routes: state, and candidate lists with rows for a router */
#include "shard_api.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "fsio.h"
#include "mem.h"
#include "sha256.h"

struct shard_api {
    uint8_t sha[SHA256_LEN];
};

shard_api *shard_api_new(const char *secret_file, char *err) {
    char *buf;
    if (fsio_read_file(secret_file, 64 * 1024, &buf, NULL, err) != 0) return err_prefix(err, "--peer-secret-file"), NULL;
    buf[strcspn(buf, "\r\n")] = '\0';
    size_t n = strlen(buf);
    shard_api *a = NULL;
    if (n < 16) err_set(err, "--peer-secret-file %s: the secret must be at least 16 characters", secret_file);
    else {
        a = mem_calloc(1, sizeof(*a));
        sha256_ctx c;
        sha256_init(&c);
        sha256_update(&c, buf, n);
        sha256_final(&c, a->sha);
    }
    memset(buf, 0, n);
    mem_free(buf);
    return a;
}

int shard_api_allows(const shard_api *a, const char *presented) {
    if (!a || !presented) return 0;
    uint8_t got[SHA256_LEN];
    sha256_ctx c;
    sha256_init(&c);
    sha256_update(&c, presented, strlen(presented));
    sha256_final(&c, got);
    volatile uint8_t diff = 0;
    for (int i = 0; i < SHA256_LEN; i++) diff |= (uint8_t)(got[i] ^ a->sha[i]);
    return diff == 0;
}

void shard_api_free(shard_api *a) {
    mem_free(a);
}

static json_t *served_shards(const index_version *v) {
    json_t *a = json_array();
    for (int s = 0; s < v->m.n_shards; s++)
        if (index_version_serves(v, s)) json_array_append_new(a, json_integer(s));
    return a;
}

int shard_api_state(searcher *s, const char *index_name, json_t **out) {
    char ids[2][MANIFEST_NAME_LEN];
    int n = live_index_versions(s->li, ids);
    json_t *versions = json_array(), *shards = NULL;
    int n_shards = 0;
    for (int i = 0; i < n; i++) {
        live_version *lv = live_index_acquire_id(s->li, ids[i]);
        if (!lv) continue;
        const manifest *m = &lv->v->m;
        char err[RAGD_ERR_LEN], *mj = manifest_to_json(m, err);
        json_t *mo = mj ? json_loads(mj, 0, NULL) : NULL;
        mem_free(mj);
        json_array_append_new(versions, json_pack("{s:s, s:s, s:s, s:i, s:i, s:I, s:o}", "index_version",
                                                  m->version_id, "embedder", m->embedder, "model_id", m->model_id,
                                                  "dim", m->dim, "n_shards", m->n_shards, "chunks",
                                                  (json_int_t)m->total_chunks, "manifest", mo ? mo : json_null()));
        if (!shards) shards = served_shards(lv->v), n_shards = m->n_shards;
        live_version_release(lv);
    }
    if (!shards) {
        json_decref(versions);
        *out = json_pack("{s:{s:s, s:s}}", "error", "code", "not_ready", "message", "no index version is loaded");
        return 503;
    }
    *out = json_pack("{s:s, s:o, s:i, s:o}", "index_name", index_name, "shards", shards, "n_shards", n_shards,
                     "versions", versions);
    return 200;
}

static int fail(api_error *e, int status, const char *code, const char *msg) {
    e->status = status;
    e->code = code;
    snprintf(e->message, sizeof(e->message), "%.250s", msg);
    return status;
}

static json_t *list_json(const ranked_hit *l, int n) {
    json_t *a = json_array();
    for (int i = 0; i < n; i++) {
        char id[24];
        snprintf(id, sizeof(id), "%lld", (long long)l[i].id);
        json_array_append_new(a, json_pack("[s, i, f]", id, l[i].shard, (double)l[i].score));
    }
    return a;
}

static json_t *row_json(const chunk_row *row, int shard) {
    char id[24];
    snprintf(id, sizeof(id), "%lld", (long long)row->id);
    json_t *heads = json_loads(row->headings ? row->headings : "[]", 0, NULL);
    return json_pack("{s:s, s:i, s:s?, s:s?, s:o, s:s?}", "id", id, "shard", shard, "url", row->doc_url, "title",
                     row->title, "headings", heads ? heads : json_array(), "text", row->text);
}

/* The rows of every candidate of both lists, each once. */
static int rows_json(const index_version *v, const search_lists_out *L, json_t **out, char *err) {
    json_t *rows = json_array(), *seen = json_object();
    const ranked_hit *lists[2] = {L->vl, L->kl};
    int counts[2] = {L->nv, L->nk}, rc = RAGD_OK;
    for (int w = 0; w < 2 && rc == RAGD_OK; w++)
        for (int i = 0; i < counts[w] && rc == RAGD_OK; i++) {
            const ranked_hit *h = &lists[w][i];
            char id[24];
            snprintf(id, sizeof(id), "%lld", (long long)h->id);
            if (json_object_get(seen, id)) continue;
            json_object_set_new(seen, id, json_true());
            chunk_row row;
            int got = chunk_store_get(v->shards[h->shard].store, h->id, &row, NULL, err);
            if (got != 0) {
                if (got == 1) err_set(err, "chunk %s is in the index but not in its store", id);
                rc = RAGD_ERR;
                break;
            }
            row.id = h->id;
            json_t *o = row_json(&row, h->shard);
            if (o) json_array_append_new(rows, o); /* NULL: stored bytes that are not UTF-8; the router skips it */
            chunk_row_clear(&row);
        }
    json_decref(seen);
    if (rc == RAGD_OK) *out = rows;
    else json_decref(rows);
    return rc;
}

/* The router's vector at the version's dimension, unit length where the index is normalised. */
static int query_vector(const manifest *m, const search_query *q, float *qv, api_error *e) {
    if (q->mode == MODE_KEYWORD) return 0;
    if (q->vector_dim != m->dim) return fail(e, 400, "invalid_vector", "the vector's dimension is not the version's");
    double ss = 0;
    for (int i = 0; i < m->dim; i++) ss += (double)q->vector[i] * q->vector[i];
    if (m->normalized && !(ss > 0 && isfinite(ss))) return fail(e, 400, "invalid_vector", "zero or infinite vector");
    /* the router sends the vector it searches with: unit length already
     * (scaling it again would move scores by an ulp from a single process's) */
    float scale = m->normalized && fabs(ss - 1.0) > 1e-5 ? (float)(1.0 / sqrt(ss)) : 1.0f;
    for (int i = 0; i < m->dim; i++) qv[i] = q->vector[i] * scale;
    return 0;
}

int shard_api_search(searcher *s, const search_limits *l, const char *body, size_t len, json_t **out, api_error *e) {
    shard_search_request r;
    *out = NULL;
    if (parse_shard_search_json(l, body, len, &r, e) != 0) {
        shard_search_request_clear(&r);
        return e->status;
    }
    int status = 200;
    live_version *lv = live_index_acquire_id(s->li, r.version);
    if (!lv) {
        char ids[2][MANIFEST_NAME_LEN], msg[600];
        int n = live_index_versions(s->li, ids);
        snprintf(msg, sizeof(msg), "version %s is not loaded here (this server has: %s%s%s)", r.version,
                 n > 0 ? ids[0] : "none", n > 1 ? ", " : "", n > 1 ? ids[1] : "");
        status = fail(e, 409, "version_unavailable", msg);
        shard_search_request_clear(&r);
        return status;
    }
    float *qv = mem_calloc((size_t)lv->v->m.dim, sizeof(float));
    search_lists_out L = {0};
    search_result sr;
    char err[RAGD_ERR_LEN];
    if (query_vector(&lv->v->m, &r.s.q, qv, e) == 0) {
        int st = search_candidates(s, lv, &r.s.q, qv, r.depth, &L, &sr, err);
        json_t *rows = NULL;
        if (st == SEARCH_BAD_REQUEST || st == SEARCH_FILTER_UNAVAILABLE) status = fail(e, 400, "mode_unavailable", err);
        else if (st != SEARCH_OK || rows_json(lv->v, &L, &rows, err) != RAGD_OK) status = fail(e, 500, "search_failed", err);
        else
            *out = json_pack("{s:s, s:o, s:o, s:o, s:o}", "index_version", lv->v->m.version_id, "shards",
                             served_shards(lv->v), "vector", list_json(L.vl, L.nv), "keyword", list_json(L.kl, L.nk),
                             "rows", rows);
    } else {
        status = e->status;
    }
    search_lists_clear(&L);
    mem_free(qv);
    live_version_release(lv);
    shard_search_request_clear(&r);
    return status;
}

int shard_api_rows(searcher *s, const char *body, size_t len, json_t **out, api_error *e) {
    shard_rows_request r;
    *out = NULL;
    if (parse_shard_rows_json(body, len, &r, e) != 0) {
        shard_rows_request_clear(&r);
        return e->status;
    }
    live_version *lv = live_index_acquire_id(s->li, r.version);
    if (!lv) {
        shard_rows_request_clear(&r);
        return fail(e, 409, "version_unavailable", "that version is not loaded here");
    }
    json_t *rows = json_array();
    char err[RAGD_ERR_LEN];
    int status = 200;
    for (int i = 0; i < r.n && status == 200; i++) {
        if (!index_version_serves(lv->v, r.shards[i])) continue; /* another group's */
        chunk_row row;
        int got = chunk_store_get(lv->v->shards[r.shards[i]].store, r.ids[i], &row, NULL, err);
        if (got < 0) status = fail(e, 500, "search_failed", err);
        if (got != 0) continue; /* not in this version: the router treats the hit as a miss */
        row.id = r.ids[i];
        json_t *o = row_json(&row, r.shards[i]);
        if (o) json_array_append_new(rows, o);
        chunk_row_clear(&row);
    }
    if (status == 200) *out = json_pack("{s:s, s:o}", "index_version", lv->v->m.version_id, "rows", rows);
    else json_decref(rows);
    live_version_release(lv);
    shard_rows_request_clear(&r);
    return status;
}
