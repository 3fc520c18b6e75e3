/* index_version.c - open and verify one published index version; search it */
#include "index_version.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "fsio.h"
#include "fusion.h"
#include "mem.h"

int index_dir_current(const char *index_dir, char *out, size_t cap, char *err) {
    char *link = fsio_join(index_dir, "current");
    char target[512];
    ssize_t n = readlink(link, target, sizeof(target) - 1);
    if (n < 0) {
        err_set(err, "%s: %s", link, errno == ENOENT ? "no published version" : strerror(errno));
        mem_free(link);
        return RAGD_ERR;
    }
    target[n] = '\0';
    mem_free(link);
    if (strncmp(target, "versions/", 9) != 0 || !fsio_is_plain_name(target + 9))
        return err_set(err, "%s/current: unexpected target \"%s\"", index_dir, target);
    if (strlen(target + 9) >= cap) return err_set(err, "%s/current: version id too long", index_dir);
    memcpy(out, target + 9, strlen(target + 9) + 1);
    return RAGD_OK;
}

index_version *index_version_open(const char *index_dir, int flags, char *err) {
    return index_version_open_tracked(index_dir, flags, NULL, err);
}

index_version *index_version_open_dir(const char *version_dir, int flags, char *err) {
    return index_version_open_dir_tracked(version_dir, flags, NULL, err);
}

index_version *index_version_open_tracked(const char *index_dir, int flags, index_load_progress *p, char *err) {
    return index_version_open_subset(index_dir, flags, NULL, p, err);
}

index_version *index_version_open_dir_tracked(const char *version_dir, int flags, index_load_progress *p,
                                              char *err) {
    return index_version_open_dir_subset(version_dir, flags, NULL, p, err);
}

index_version *index_version_open_subset(const char *index_dir, int flags, const shard_set *only,
                                         index_load_progress *p, char *err) {
    /* `current` may be swapped, and the version it named pruned, between
     * readlink and open: try again on a fresh readlink. */
    for (int attempt = 0; attempt < 3; attempt++) {
        char id[MANIFEST_NAME_LEN];
        if (index_dir_current(index_dir, id, sizeof(id), err) != 0) return NULL;
        char *dir = mem_printf("%s/versions/%s", index_dir, id);
        int gone = !fsio_exists(dir);
        index_version *v = gone ? NULL : index_version_open_dir_subset(dir, flags, only, p, err);
        mem_free(dir);
        if (v) return v;
        char now[MANIFEST_NAME_LEN];
        if (index_dir_current(index_dir, now, sizeof(now), NULL) != 0 || strcmp(now, id) == 0) {
            if (gone) err_set(err, "%s/versions/%s: missing", index_dir, id);
            return NULL;
        }
    }
    err_set(err, "%s: current kept changing while opening", index_dir);
    return NULL;
}

/* Size and (optionally) checksum of one shard file against the manifest. */
static int check_file(const char *dir, const char *name, int64_t bytes, const char *sha, int flags, char *err) {
    char *p = fsio_join(dir, name);
    int rc = RAGD_OK;
    int64_t size = fsio_file_size(p, NULL);
    if (size < 0) rc = err_set(err, "%s: missing", name);
    else if (size != bytes)
        rc = err_set(err, "%s: %lld bytes, manifest says %lld (truncated or replaced)", name, (long long)size,
                     (long long)bytes);
    if (rc == RAGD_OK && (flags & INDEX_VERIFY_CHECKSUMS)) {
        char got[SHA256_HEX_LEN + 1];
        if (sha256_file(p, got, NULL, err) != 0) rc = RAGD_ERR;
        else if (strcmp(got, sha) != 0)
            rc = err_set(err, "%s: SHA-256 %.12s..., manifest says %.12s...", name, got, sha);
    }
    mem_free(p);
    return rc;
}

static void progress_add(index_load_progress *p, int64_t bytes) {
    if (p) atomic_fetch_add(&p->bytes_done, (long long)bytes);
}

static int open_shard(const index_version *v, int i, int flags, index_shard *sh, index_load_progress *prog,
                      char *err) {
    const manifest_shard *ms = &v->m.shards[i];
    if (check_file(v->dir, ms->index_file, ms->index_bytes, ms->index_sha256, flags, err) ||
        check_file(v->dir, ms->store_file, ms->store_bytes, ms->store_sha256, flags, err))
        return RAGD_ERR;
    if (flags & INDEX_VERIFY_CHECKSUMS) progress_add(prog, ms->index_bytes + ms->store_bytes);
    char *p = fsio_join(v->dir, ms->index_file);
    sh->index = vindex_read(p, err);
    mem_free(p);
    if (!sh->index) return RAGD_ERR;
    progress_add(prog, ms->index_bytes);
    if (vindex_dim(sh->index) != v->m.dim)
        return err_set(err, "%s: dimension %d, manifest says %d", ms->index_file, vindex_dim(sh->index), v->m.dim);
    if (vindex_ntotal(sh->index) != ms->chunks)
        return err_set(err, "%s: %lld vectors, manifest says %lld", ms->index_file,
                       (long long)vindex_ntotal(sh->index), (long long)ms->chunks);
    if (vindex_metric(sh->index) != v->m.metric)
        return err_set(err, "%s: metric %s, manifest says %s", ms->index_file,
                       manifest_metric_name(vindex_metric(sh->index)), manifest_metric_name(v->m.metric));
    p = fsio_join(v->dir, ms->store_file);
    sh->store = chunk_store_open(p, err);
    mem_free(p);
    if (!sh->store) return RAGD_ERR;
    progress_add(prog, ms->store_bytes);
    if (chunk_store_dim(sh->store) != v->m.dim)
        return err_set(err, "%s: dimension %d, manifest says %d", ms->store_file, chunk_store_dim(sh->store),
                       v->m.dim);
    if (chunk_store_count(sh->store) != ms->chunks)
        return err_set(err, "%s: %lld chunks, manifest says %lld", ms->store_file,
                       (long long)chunk_store_count(sh->store), (long long)ms->chunks);
    return RAGD_OK;
}

/* want[s] = 1 for each shard to open; -1 + err for a shard the version lacks. */
static int wanted(const index_version *v, const shard_set *only, unsigned char *want, char *err) {
    int all = !only || only->n == 0;
    for (int s = 0; s < v->m.n_shards; s++) want[s] = (unsigned char)all;
    for (int i = 0; !all && i < only->n; i++) {
        if (only->ids[i] < 0 || only->ids[i] >= v->m.n_shards)
            return err_set(err, "shard %d: version %s has shards 0 to %d", only->ids[i], v->m.version_id,
                           v->m.n_shards - 1);
        want[only->ids[i]] = 1;
    }
    return RAGD_OK;
}

int index_version_serves(const index_version *v, int s) {
    return s >= 0 && s < v->m.n_shards && v->shards[s].index != NULL;
}

index_version *index_version_open_dir_subset(const char *version_dir, int flags, const shard_set *only,
                                             index_load_progress *p, char *err) {
    index_version *v = mem_calloc(1, sizeof(*v));
    unsigned char want[MANIFEST_MAX_SHARDS];
    v->dir = mem_strdup(version_dir);
    char *mpath = fsio_join(version_dir, MANIFEST_FILE);
    int rc = manifest_load(mpath, &v->m, err);
    mem_free(mpath);
    if (rc != RAGD_OK) goto fail;
    const char *base = strrchr(version_dir, '/') ? strrchr(version_dir, '/') + 1 : version_dir;
    if (*base && strcmp(base, v->m.version_id) != 0) {
        err_set(err, "%s: manifest names version %s", version_dir, v->m.version_id);
        goto fail;
    }
    v->rerank = vindex_spec_is_lossy(v->m.index_spec);
    v->shards = mem_calloc((size_t)v->m.n_shards, sizeof(index_shard));
    if (wanted(v, only, want, err) != RAGD_OK) {
        err_prefix(err, "%s", version_dir);
        goto fail;
    }
    if (p) {
        long long total = 0;
        for (int i = 0; i < v->m.n_shards; i++)
            if (want[i]) total += v->m.shards[i].index_bytes + v->m.shards[i].store_bytes;
        if (flags & INDEX_VERIFY_CHECKSUMS) total *= 2;
        atomic_store(&p->shards_done, 0);
        atomic_store(&p->bytes_done, 0);
        atomic_store(&p->bytes_total, total);
        atomic_store(&p->shards_total, v->m.n_shards);
    }
    for (int i = 0; i < v->m.n_shards; i++) {
        if (p) atomic_store(&p->shards_done, i);
        if (!want[i]) continue;
        v->n_served++;
        if (open_shard(v, i, flags, &v->shards[i], p, err) != 0) {
            err_prefix(err, "%s", version_dir);
            goto fail;
        }
    }
    if (p) atomic_store(&p->shards_done, v->m.n_shards);
    return v;
fail:
    index_version_free(v);
    return NULL;
}

static int better(float a, float b, enum manifest_metric metric) {
    return metric == MANIFEST_METRIC_L2 ? a < b : a > b;
}

int index_merge_topk(int n_lists, const float *const *scores, const int64_t *const *ids, int per_list,
                     enum manifest_metric metric, int k, index_hit *out) {
    int pos[MANIFEST_MAX_SHARDS] = {0};
    int n = 0;
    while (n < k) {
        int best = -1;
        for (int s = 0; s < n_lists; s++) {
            if (pos[s] >= per_list || ids[s][pos[s]] < 0) continue;
            if (best < 0 || better(scores[s][pos[s]], scores[best][pos[best]], metric)) best = s;
        }
        if (best < 0) break;
        out[n].id = ids[best][pos[best]];
        out[n].score = scores[best][pos[best]];
        out[n].shard = best;
        pos[best]++;
        n++;
    }
    return n;
}

int index_version_candidates(const index_version *v, int k) {
    if (!v->rerank) return k;
    int64_t c = (int64_t)k * INDEX_RERANK_FACTOR;
    return c > INDEX_RERANK_MAX ? (k > INDEX_RERANK_MAX ? k : INDEX_RERANK_MAX) : (int)c;
}

static int by_score_desc(const void *a, const void *b) {
    float x = ((const index_hit *)a)->score, y = ((const index_hit *)b)->score;
    return (x < y) - (x > y);
}

int index_version_rerank(const index_version *v, const float *query, index_hit *hits, int n, char *err) {
    if (!v->rerank || n <= 0) return RAGD_OK;
    int dim = v->m.dim;
    float *vec = mem_alloc(sizeof(float) * (size_t)dim);
    int rc = RAGD_OK;
    for (int i = 0; i < n && rc == RAGD_OK; i++) {
        int got = chunk_store_get_vector(v->shards[hits[i].shard].store, hits[i].id, vec, err);
        if (got == 1) rc = err_set(err, "chunk %lld is in the index but not in its store", (long long)hits[i].id);
        if (got != 0) {
            rc = RAGD_ERR;
            break;
        }
        double dot = 0;
        for (int d = 0; d < dim; d++) dot += (double)query[d] * vec[d];
        hits[i].score = (float)(v->m.metric == MANIFEST_METRIC_L2 ? -dot : dot);
    }
    mem_free(vec);
    if (rc == RAGD_OK) qsort(hits, (size_t)n, sizeof(index_hit), by_score_desc);
    return rc;
}

/* One search's per-shard lists, filled by run_shard from any thread. */
typedef struct fanout {
    const index_version *v;
    const float *q;
    int k;
    float *scores;
    int64_t *ids;
    int failed;
    char err[RAGD_ERR_LEN];
    pthread_mutex_t mu; /* guards failed and err */
} fanout;

static void run_shard(void *arg, int s) {
    fanout *f = arg;
    char err[RAGD_ERR_LEN];
    size_t off = (size_t)s * (size_t)f->k;
    if (!f->v->shards[s].index) { /* not served here: an empty list */
        for (int i = 0; i < f->k; i++) f->ids[off + i] = -1;
        return;
    }
    if (vindex_search(f->v->shards[s].index, 1, f->q, f->k, f->scores + off, f->ids + off, err) == 0) return;
    pthread_mutex_lock(&f->mu);
    if (!f->failed) {
        f->failed = 1;
        snprintf(f->err, sizeof(f->err), "shard %d: %.200s", s, err);
    }
    pthread_mutex_unlock(&f->mu);
}

int index_version_search_on(const index_version *v, const shard_runner *runner, const float *query, int k_out,
                            index_hit *out, char *err) {
    int ns = v->m.n_shards, k = index_version_candidates(v, k_out);
    fanout f = {.v = v, .q = query, .k = k};
    f.scores = mem_alloc(sizeof(float) * (size_t)(ns ? ns : 1) * (size_t)k);
    f.ids = mem_alloc(sizeof(int64_t) * (size_t)(ns ? ns : 1) * (size_t)k);
    pthread_mutex_init(&f.mu, NULL);
    if (runner && runner->run_all) runner->run_all(runner->ctx, ns, run_shard, &f);
    else
        for (int s = 0; s < ns; s++) run_shard(&f, s);
    int rc = -1;
    if (f.failed) {
        err_set(err, "%s", f.err);
    } else {
        const float **sp = mem_alloc(sizeof(float *) * (size_t)(ns ? ns : 1));
        const int64_t **ip = mem_alloc(sizeof(int64_t *) * (size_t)(ns ? ns : 1));
        for (int s = 0; s < ns; s++) {
            sp[s] = f.scores + (size_t)s * (size_t)k;
            ip[s] = f.ids + (size_t)s * (size_t)k;
        }
        index_hit *hits = mem_alloc(sizeof(index_hit) * (size_t)k);
        rc = index_merge_topk(ns, sp, ip, k, v->m.metric, k, hits);
        if (rc >= 0 && index_version_rerank(v, query, hits, rc, err) != 0) rc = -1;
        if (rc > k_out) rc = k_out;
        if (rc > 0) memcpy(out, hits, sizeof(index_hit) * (size_t)rc);
        mem_free(hits);
        mem_free(sp);
        mem_free(ip);
    }
    pthread_mutex_destroy(&f.mu);
    mem_free(f.scores);
    mem_free(f.ids);
    return rc;
}

int index_version_search(const index_version *v, const float *query, int k_out, index_hit *out, char *err) {
    return index_version_search_on(v, NULL, query, k_out, out, err);
}

int index_version_has_keywords(const index_version *v) {
    for (int i = 0; i < v->m.n_shards; i++)
        if (v->shards[i].store && !chunk_store_has_keywords(v->shards[i].store)) return 0;
    return 1;
}

static int ranked_desc(const void *a, const void *b) {
    const ranked_hit *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    return x->id < y->id ? -1 : x->id > y->id;
}

int index_version_filter(const index_version *v, const filter_plan *p, int64_t max, int64_t ***ids, int64_t **n,
                         char *err) {
    int ns = v->m.n_shards;
    *ids = mem_calloc((size_t)ns, sizeof(int64_t *));
    *n = mem_calloc((size_t)ns, sizeof(int64_t));
    for (int s = 0; s < ns; s++) {
        (*ids)[s] = mem_alloc(sizeof(int64_t) * (size_t)(max + 1));
        if (!v->shards[s].store) continue; /* not served here: matches nothing */
        if (((*n)[s] = chunk_store_filter_ids(v->shards[s].store, p, max, (*ids)[s], err)) < 0) return RAGD_ERR;
    }
    return RAGD_OK;
}

/* Merge candidate lists of all shards into the best k. */
static int merge_ranked(ranked_hit *all, int n, int k, ranked_hit *out) {
    qsort(all, (size_t)n, sizeof(ranked_hit), ranked_desc);
    if (n > k) n = k;
    memcpy(out, all, sizeof(ranked_hit) * (size_t)n);
    return n;
}

int index_version_search_in(const index_version *v, const float *query, int64_t *const *ids, const int64_t *n, int k,
                            ranked_hit *out, char *err) {
    int64_t total = 0;
    for (int s = 0; s < v->m.n_shards; s++) total += n[s];
    ranked_hit *all = mem_alloc(sizeof(ranked_hit) * (size_t)(total + 1));
    float *vec = mem_alloc(sizeof(float) * (size_t)v->m.dim);
    int m = 0, rc = RAGD_OK;
    for (int s = 0; s < v->m.n_shards && rc == RAGD_OK; s++)
        for (int64_t i = 0; i < n[s] && rc == RAGD_OK; i++) {
            int got = chunk_store_get_vector(v->shards[s].store, ids[s][i], vec, err);
            if (got < 0) rc = RAGD_ERR;
            if (got != 0) continue;
            float dot = 0;
            for (int d = 0; d < v->m.dim; d++) dot += vec[d] * query[d];
            all[m++] = (ranked_hit){ids[s][i], s, dot};
        }
    int out_n = rc == RAGD_OK ? merge_ranked(all, m, k, out) : -1;
    mem_free(vec);
    mem_free(all);
    return out_n;
}

int index_version_keyword_in(const index_version *v, const char *const *words, int n_words, int64_t *const *ids,
                             const int64_t *n, int k, ranked_hit *out, char *err) {
    int ns = v->m.n_shards, m = 0;
    ranked_hit *all = mem_alloc(sizeof(ranked_hit) * (size_t)k * (size_t)ns + 1);
    int64_t *got_ids = mem_alloc(sizeof(int64_t) * (size_t)k);
    float *scores = mem_alloc(sizeof(float) * (size_t)k);
    for (int s = 0; s < ns && m >= 0; s++) {
        if (!v->shards[s].store) continue;
        int got = ids ? chunk_store_keyword_in(v->shards[s].store, words, n_words, ids[s], n[s], k, got_ids, scores, err)
                      : chunk_store_keyword(v->shards[s].store, words, n_words, k, got_ids, scores, err);
        if (got < 0) m = -1;
        for (int i = 0; i < got; i++) all[m++] = (ranked_hit){got_ids[i], s, scores[i]};
    }
    int out_n = m >= 0 ? merge_ranked(all, m, k, out) : -1;
    mem_free(all);
    mem_free(got_ids);
    mem_free(scores);
    return out_n;
}

int index_version_keyword(const index_version *v, const char *const *words, int n_words, int k, ranked_hit *out,
                          char *err) {
    return index_version_keyword_in(v, words, n_words, NULL, NULL, k, out, err);
}

void index_version_free(index_version *v) {
    if (!v) return;
    for (int i = 0; v->shards && i < v->m.n_shards; i++) {
        vindex_free(v->shards[i].index);
        chunk_store_close(v->shards[i].store);
    }
    mem_free(v->shards);
    manifest_clear(&v->m);
    mem_free(v->dir);
    mem_free(v);
}
