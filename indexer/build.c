/* build.c - one index build: load, chunk, embed, build shards, publish */
#include "build.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "chunk_store.h"
#include "embed_cache.h"
#include "embed_pool.h"
#include "err.h"
#include "index_version.h"
#include "index_writer.h"
#include "log.h"
#include "mem.h"
#include "report.h"
#include "shard_build.h"
#include "strmap.h"
#include "vindex.h"

#define TRAIN_SAMPLE_MAX 100000

typedef struct bdoc {
    char *url, *title;
    char hash[SHA256_HEX_LEN + 1];
    int shard, n_chunks;
} bdoc;

typedef struct bchunk {
    int doc, ordinal;
    int64_t start, end;
    char *text, *headings;
    char hash[SHA256_HEX_LEN + 1];
    int slot; /* vector slot, shared by identical contents */
    int owner; /* index of the chunk that stores this content */
} bchunk;

typedef struct old_ref {
    int shard;
    int64_t id;
    int used;
} old_ref;

typedef struct builder {
    const build_opts *o;
    embedder *e;
    report *r;
    embed_pool *pool;
    bdoc *docs;
    int n_docs, docs_cap;
    bchunk *chunks;
    int n_chunks, chunks_cap;
    float *vecs;
    int n_slots, slots_cap;
    strmap *slot_of;  /* content hash -> slot + 1 */
    strmap *doc_seen; /* url -> 1 */
    embed_job *job;
    index_version *old;
    strmap *old_hash; /* content hash -> old_ref */
    ecache *ecache;   /* chunk-embedding cache, NULL if off */
    char fatal[RAGD_ERR_LEN];
    volatile int stop;
    double t0, last_progress;
} builder;

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

build_opts build_opts_default(void) {
    build_opts o = {0};
    o.shards = 2;
    o.index_spec = "HNSW32";
    o.embedder = "hash";
    o.emb = embedder_opts_default();
    o.chunk = (chunker_opts){.max_tokens = 200, .overlap = 30};
    o.crawl = crawl_opts_default();
    o.local = (local_opts){.max_file_bytes = 5u << 20, .max_files = 10000, .max_depth = 20};
    o.keep_versions = 3;
    o.max_failed_share = 0.2;
    o.threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (o.threads < 1) o.threads = 1;
    o.batch = 64;
    o.embed_cache = 1;
    return o;
}

static int shard_of(const char *url, int n) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const char *p = url; *p; p++) h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
    return (int)(h % (uint64_t)n);
}

/* A new vector slot (zeroed until its embedding arrives). */
static int new_slot(builder *b) {
    int dim = embedder_dim(b->e);
    if (b->n_slots == b->slots_cap) {
        b->slots_cap = b->slots_cap ? b->slots_cap * 2 : 1024;
        b->vecs = mem_realloc(b->vecs, sizeof(float) * (size_t)b->slots_cap * (size_t)dim);
    }
    memset(b->vecs + (size_t)b->n_slots * dim, 0, sizeof(float) * (size_t)dim);
    return b->n_slots++;
}

static void collect(builder *b, embed_job *j) {
    int dim = embedder_dim(b->e);
    if (j->rc != 0 && !b->fatal[0]) {
        snprintf(b->fatal, sizeof(b->fatal), "embedding failed: %.200s", j->err);
        b->stop = 1;
    }
    if (j->rc == 0)
        for (int i = 0; i < j->n; i++) {
            memcpy(b->vecs + (size_t)j->slots[i] * dim, j->out + (size_t)i * dim, sizeof(float) * (size_t)dim);
            if (b->ecache && j->keys)
                ecache_put(b->ecache, embedder_model_id(b->e), j->keys[i], j->out + (size_t)i * dim, dim);
        }
    b->r->embed_calls++;
    b->r->embed_texts += j->n;
    b->r->embed_ms += j->ms;
    embed_job_free(j);
}

static void submit_job(builder *b) {
    if (!b->job || b->job->n == 0) return;
    embed_pool_submit(b->pool, b->job);
    b->job = NULL;
}

/* Reuse the live version's vector for this content, if it has one. */
static int reuse_vector(builder *b, const char *hash, int slot) {
    old_ref *ref = b->old_hash ? strmap_get(b->old_hash, hash) : NULL;
    if (!ref) return 0;
    chunk_row row;
    char err[RAGD_ERR_LEN];
    float *v = b->vecs + (size_t)slot * embedder_dim(b->e);
    int rc = chunk_store_get(b->old->shards[ref->shard].store, ref->id, &row, v, err);
    chunk_row_clear(&row);
    if (rc != 0) return 0;
    ref->used = 1;
    return 1;
}

/* Vector slot for a chunk's content: shared, reused or queued to embed. */
static int slot_for(builder *b, const char *text, const char *hash, int tokens) {
    intptr_t have = (intptr_t)strmap_get(b->slot_of, hash);
    if (have) return (int)have - 1;
    int slot = new_slot(b);
    strmap_put(b->slot_of, hash, (void *)(intptr_t)(slot + 1));
    b->r->chunks_unique++;
    if (reuse_vector(b, hash, slot)) {
        b->r->chunks_reused++;
        return slot;
    }
    if (b->ecache && ecache_get(b->ecache, embedder_model_id(b->e), hash, embedder_dim(b->e),
                                b->vecs + (size_t)slot * embedder_dim(b->e)) == 1) {
        b->r->chunks_cached++;
        return slot;
    }
    if (!b->job) b->job = embed_job_new(b->o->batch);
    embed_job_add(b->job, text, slot, hash);
    b->r->chunks_embedded++;
    b->r->embed_tokens += tokens;
    if (b->job->n == b->job->cap) submit_job(b);
    return slot;
}

static void add_chunk(builder *b, int doc, int ordinal, const document *d, const chunk_span *s) {
    if (b->n_chunks == b->chunks_cap) {
        b->chunks_cap = b->chunks_cap ? b->chunks_cap * 2 : 4096;
        b->chunks = mem_realloc(b->chunks, sizeof(bchunk) * (size_t)b->chunks_cap);
    }
    bchunk *c = &b->chunks[b->n_chunks++];
    memset(c, 0, sizeof(*c));
    c->doc = doc;
    c->ordinal = ordinal;
    c->start = (int64_t)s->start;
    c->end = (int64_t)s->end;
    c->text = mem_strndup(d->text + s->start, s->end - s->start);
    c->headings = mem_strdup(s->headings);
    sha256_hex(c->text, strlen(c->text), c->hash);
    c->slot = slot_for(b, c->text, c->hash, s->tokens);
}

static void on_document(void *ctx, document *d) {
    builder *b = ctx;
    if (b->stop || !strmap_put(b->doc_seen, d->url, NULL)) return;
    chunk_span *spans;
    int n;
    char err[RAGD_ERR_LEN];
    if (chunker_split(d, b->e, &b->o->chunk, &spans, &n, err) != 0 || n == 0) {
        if (n == 0) report_event(b->r, d->url, LOAD_SKIPPED, "no_text", "no text to index");
        chunker_free(spans, n);
        return;
    }
    if (b->n_docs == b->docs_cap) {
        b->docs_cap = b->docs_cap ? b->docs_cap * 2 : 256;
        b->docs = mem_realloc(b->docs, sizeof(bdoc) * (size_t)b->docs_cap);
    }
    int di = b->n_docs++;
    bdoc *bd = &b->docs[di];
    bd->url = mem_strdup(d->url);
    bd->title = mem_strdup(d->title ? d->title : d->url);
    memcpy(bd->hash, d->hash, sizeof(bd->hash));
    bd->shard = shard_of(d->url, b->o->shards);
    bd->n_chunks = n;
    for (int i = 0; i < n; i++) add_chunk(b, di, i, d, &spans[i]);
    b->r->documents++;
    b->r->chunks_total += n;
    chunker_free(spans, n);
}

static void on_event(void *ctx, const char *url, enum load_outcome o, const char *reason, const char *detail) {
    builder *b = ctx;
    report_event(b->r, url, o, reason, detail);
    if (o == LOAD_FAILED) log_debug("%s: %s (%s)", url, reason, detail);
}

static void progress(builder *b, int final) {
    double now = now_ms();
    double every = b->o->progress ? 250 : 10000;
    if (!final && now - b->last_progress < every) return;
    b->last_progress = now;
    double secs = (now - b->t0) / 1000.0;
    if (b->o->progress) {
        fprintf(stderr, "\rragd-index: %lld pages (%.1f/s), %lld failed, %lld chunks, %lld embedded%s",
                (long long)b->r->fetched, secs > 0 ? (double)b->r->fetched / secs : 0.0, (long long)b->r->failed,
                (long long)b->r->chunks_total, (long long)b->r->chunks_embedded, final ? "\n" : "   ");
    } else {
        log_info("progress: %lld pages (%.1f/s), %lld failed, %lld chunks, %lld embedded", (long long)b->r->fetched,
                 secs > 0 ? (double)b->r->fetched / secs : 0.0, (long long)b->r->failed,
                 (long long)b->r->chunks_total, (long long)b->r->chunks_embedded);
    }
}

static void on_tick(void *ctx) {
    builder *b = ctx;
    embed_job *j;
    while ((j = embed_pool_poll(b->pool)) != NULL) collect(b, j);
    if (b->o->stop && *b->o->stop) b->stop = 1;
    progress(b, 0);
}

static int is_url(const char *s) {
    return strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0;
}

/* Load every source through the pipeline; drains the embedding pool. */
static int load_all(builder *b, char *err) {
    loader_sink sink = {.document = on_document, .event = on_event, .tick = on_tick, .ctx = b, .stop = &b->stop};
    double t = now_ms();
    for (int i = 0; i < b->o->n_sources && !b->stop; i++) {
        const char *src = b->o->sources[i];
        int rc = is_url(src) ? crawl_run(src, &b->o->crawl, &sink, err) : local_walk(src, &b->o->local, &sink, err);
        if (rc != 0) return err_prefix(err, "source %s", src);
    }
    submit_job(b);
    b->r->load_ms = now_ms() - t;
    t = now_ms();
    embed_job *j;
    while ((j = embed_pool_wait(b->pool)) != NULL) collect(b, j);
    b->r->embed_wait_ms = now_ms() - t;
    progress(b, 1);
    if (b->fatal[0]) return err_set(err, "%s", b->fatal);
    if (b->o->stop && *b->o->stop) return err_set(err, "interrupted by a signal; nothing published");
    return RAGD_OK;
}

static void count_old_hash(void *ctx, const char *hash, int64_t id) {
    void **a = ctx;
    strmap *m = a[0];
    int shard = *(int *)a[1];
    if (strmap_has(m, hash)) return;
    old_ref *r = mem_calloc(1, sizeof(*r));
    r->shard = shard;
    r->id = id;
    strmap_put(m, hash, r);
}

/* Open the live version for reuse when it was built the same way. */
static void open_old(builder *b) {
    char err[RAGD_ERR_LEN];
    b->r->incremental = 1;
    b->old = index_version_open(b->o->out_dir, 0, err);
    if (!b->old) {
        snprintf(b->r->incremental_note, sizeof(b->r->incremental_note), "full build: %.200s", err);
        return;
    }
    const manifest *m = &b->old->m;
    const char *why = NULL;
    if (strcmp(m->model_id, embedder_model_id(b->e)) != 0) why = "embedder changed";
    else if (m->chunk_tokens != b->o->chunk.max_tokens || m->chunk_overlap != b->o->chunk.overlap)
        why = "chunking changed";
    if (why) {
        snprintf(b->r->incremental_note, sizeof(b->r->incremental_note), "full build: %s since %s", why,
                 m->version_id);
        index_version_free(b->old);
        b->old = NULL;
        return;
    }
    b->old_hash = strmap_new();
    for (int s = 0; s < m->n_shards; s++) {
        void *ctx[2] = {b->old_hash, &s};
        if (chunk_store_each_hash(b->old->shards[s].store, count_old_hash, ctx, err) != 0) log_warn("%s", err);
    }
    snprintf(b->r->incremental_note, sizeof(b->r->incremental_note), "reusing vectors of %s (%zu contents)",
             m->version_id, strmap_len(b->old_hash));
}


static void builder_free(builder *b) {
    for (int i = 0; i < b->n_docs; i++) {
        mem_free(b->docs[i].url);
        mem_free(b->docs[i].title);
    }
    for (int i = 0; i < b->n_chunks; i++) {
        mem_free(b->chunks[i].text);
        mem_free(b->chunks[i].headings);
    }
    mem_free(b->docs);
    mem_free(b->chunks);
    mem_free(b->vecs);
    strmap_free(b->slot_of, NULL);
    strmap_free(b->doc_seen, NULL);
    strmap_free(b->old_hash, mem_free);
    ecache_close(b->ecache);
    index_version_free(b->old);
    embed_job_free(b->job);
    embed_pool_free(b->pool);
    embedder_free(b->e);
}

static const bchunk *sort_base;
static const bdoc *sort_docs;

static int cmp_chunks(const void *a, const void *b) {
    const bchunk *x = &sort_base[*(const int *)a], *y = &sort_base[*(const int *)b];
    int c = strcmp(x->hash, y->hash);
    if (c == 0) c = strcmp(sort_docs[x->doc].url, sort_docs[y->doc].url);
    if (c == 0) c = x->ordinal - y->ordinal;
    return c;
}

/* Decide which chunk stores each content (the smallest URL, then
 * ordinal, so builds are reproducible) and fill the shard plans. */
static void make_plans(builder *b, shard_plan *plans) {
    int dim = embedder_dim(b->e);
    int *order = mem_alloc(sizeof(int) * (size_t)(b->n_chunks + 1));
    for (int i = 0; i < b->n_chunks; i++) order[i] = i;
    sort_base = b->chunks;
    sort_docs = b->docs;
    qsort(order, (size_t)b->n_chunks, sizeof(int), cmp_chunks);
    for (int g = 0; g < b->n_chunks;) {
        const bchunk *own = &b->chunks[order[g]];
        const bdoc *od = &b->docs[own->doc];
        chunk_row row = {.doc_url = od->url, .title = od->title, .headings = own->headings, .text = own->text,
                         .start_byte = own->start, .end_byte = own->end};
        row.id = chunk_id_make(od->url, own->ordinal, own->text, strlen(own->text));
        memcpy(row.content_hash, own->hash, sizeof(row.content_hash));
        memcpy(row.doc_hash, od->hash, sizeof(row.doc_hash));
        shard_plan *p = &plans[od->shard];
        shard_plan_add_row(p, &row, b->vecs + (size_t)own->slot * dim, dim);
        int e = g + 1;
        for (; e < b->n_chunks && strcmp(b->chunks[order[e]].hash, own->hash) == 0; e++) {
            const bchunk *dup = &b->chunks[order[e]];
            shard_plan_add_source(p, (shard_source){row.id, b->docs[dup->doc].url, b->docs[dup->doc].title,
                                                    dup->headings});
        }
        g = e;
    }
    for (int i = 0; i < b->n_docs; i++) {
        const bdoc *d = &b->docs[i];
        shard_plan_add_doc(&plans[d->shard], (shard_doc){d->url, d->hash, d->title, d->n_chunks});
    }
    mem_free(order);
}

/* IVF and PQ specs learn from the data: train one empty index on a sample
 * of all vectors and give every shard a copy, so they share quantizers. */
static vindex *train_proto(builder *b, char *err) {
    int dim = embedder_dim(b->e);
    vindex *vi = vindex_create(dim, b->o->index_spec, MANIFEST_METRIC_IP, err);
    if (!vi || vindex_is_trained(vi)) {
        vindex_free(vi);
        return NULL;
    }
    int n = b->n_slots < TRAIN_SAMPLE_MAX ? b->n_slots : TRAIN_SAMPLE_MAX;
    float *x = mem_alloc(sizeof(float) * (size_t)n * (size_t)dim);
    for (int i = 0; i < n; i++) {
        size_t from = (size_t)((int64_t)i * b->n_slots / n);
        memcpy(x + (size_t)i * dim, b->vecs + from * dim, sizeof(float) * (size_t)dim);
    }
    log_info("training %s on %d vectors", b->o->index_spec, n);
    int rc = vindex_train(vi, n, x, err);
    mem_free(x);
    if (rc != 0) {
        err_prefix(err, "training %s on %d vectors", b->o->index_spec, n);
        vindex_free(vi);
        return NULL;
    }
    return vi;
}

static void fill_manifest(builder *b, manifest *m) {
    memset(m, 0, sizeof(*m));
    snprintf(m->embedder, sizeof(m->embedder), "%s", embedder_name(b->e));
    snprintf(m->model_id, sizeof(m->model_id), "%s", embedder_model_id(b->e));
    snprintf(m->index_spec, sizeof(m->index_spec), "%s", b->o->index_spec);
    m->dim = embedder_dim(b->e);
    m->metric = MANIFEST_METRIC_IP;
    m->normalized = 1;
    m->chunk_tokens = b->o->chunk.max_tokens;
    m->chunk_overlap = b->o->chunk.overlap;
    for (int i = 0; i < b->o->n_sources; i++) manifest_add_source(m, b->o->sources[i]);
}

/* Build the shards into a new version and publish it. */
static int build_and_publish(builder *b, index_writer *w, char *err) {
    double t = now_ms();
    snprintf(b->r->version_id, sizeof(b->r->version_id), "%s", index_writer_version_id(w));
    int ns = b->o->shards;
    shard_plan *plans = mem_calloc((size_t)ns, sizeof(shard_plan));
    make_plans(b, plans);
    manifest m;
    fill_manifest(b, &m);
    for (int i = 0; i < ns; i++) manifest_add_shard(&m);
    err[0] = '\0';
    vindex *proto = train_proto(b, err);
    int rc = err[0] ? RAGD_ERR : RAGD_OK;
    shard_build_ctx ctx = {.writer = w, .dim = m.dim, .spec = b->o->index_spec, .proto = proto,
                           .embedder = m.embedder, .model_id = m.model_id};
    if (rc == RAGD_OK) rc = shard_build_all(&ctx, plans, ns, m.shards, b->o->threads, err);
    for (int i = 0; i < ns; i++) {
        m.total_chunks += m.shards[i].chunks;
        m.total_documents += m.shards[i].documents;
        shard_plan_clear(&plans[i]);
    }
    mem_free(plans);
    vindex_free(proto);
    if (b->old_hash) {
        size_t it = 0;
        void *v;
        while (strmap_next(b->old_hash, &it, NULL, &v)) b->r->chunks_deleted += !((old_ref *)v)->used;
    }
    b->r->build_ms = now_ms() - t;
    t = now_ms();
    if (rc == RAGD_OK) {
        char *rp = index_writer_path(w, "report.json");
        b->r->published = 1; /* as the copy inside the version will say */
        rc = report_write(b->r, rp, err);
        b->r->published = 0;
        mem_free(rp);
    }
    if (rc == RAGD_OK) rc = index_writer_commit(w, &m, b->o->keep_versions, err);
    if (rc == RAGD_OK) b->r->published = 1;
    b->r->publish_ms = now_ms() - t;
    manifest_clear(&m);
    return rc;
}

static int finish(builder *b, int code, const char *err) {
    report *r = b->r;
    r->exit_code = code;
    if (code == BUILD_EXIT_FAILED && err && *err) snprintf(r->error, sizeof(r->error), "%s", err);
    log_timestamp(r->finished_at, 0);
    r->total_ms = now_ms() - b->t0;
    char werr[RAGD_ERR_LEN];
    if (b->o->report_path && report_write(r, b->o->report_path, werr) != 0) log_error("report: %s", werr);
    return code;
}

int build_run(const build_opts *o, char *err) {
    builder b = {.o = o, .t0 = now_ms()};
    b.r = report_new();
    log_timestamp(b.r->started_at, 0);
    for (int i = 0; i < o->n_sources; i++) report_add_source(b.r, o->sources[i]);
    int code = BUILD_EXIT_FAILED;
    b.e = embedder_create(o->embedder, &o->emb, err);
    if (!b.e || chunker_check_opts(&o->chunk, b.e, err) != 0) {
        code = finish(&b, BUILD_EXIT_USAGE, err);
        goto out;
    }
    /* Lock INDEX_DIR for the whole run: two cron runs never crawl at once. */
    index_writer *w = index_writer_begin(o->out_dir, err);
    if (!w) {
        code = finish(&b, BUILD_EXIT_FAILED, err);
        goto out;
    }
    b.slot_of = strmap_new();
    b.doc_seen = strmap_new();
    /* Parallelism comes from the embedding workers; BLAS inside each
     * embed call runs on one thread so workers x BLAS threads = cores. */
    if (o->threads > 1) embedder_set_blas_threads(1);
    b.pool = embed_pool_new(b.e, o->threads, o->threads * 4);
    if (o->incremental) open_old(&b);
    if (o->embed_cache && o->redis_url) {
        char cerr[RAGD_ERR_LEN];
        if (!(b.ecache = ecache_open_redis(o->redis_url, cerr))) log_warn("embedding cache off: %s", cerr);
    } else if (o->embed_cache) {
        char *path = mem_printf("%s/embed-cache.db", o->out_dir), cerr[RAGD_ERR_LEN];
        if (!(b.ecache = ecache_open(path, cerr))) log_warn("embedding cache off: %s", cerr);
        mem_free(path);
    }
    if (b.r->incremental_note[0]) log_info("incremental: %s", b.r->incremental_note);
    if (load_all(&b, err) != 0) {
        code = finish(&b, BUILD_EXIT_FAILED, err);
    } else if (b.n_chunks == 0) {
        err_set(err, "no chunks: %lld pages fetched, %lld failed; nothing published", (long long)b.r->fetched,
                (long long)b.r->failed);
        code = finish(&b, BUILD_EXIT_FAILED, err);
    } else if (b.ecache && ecache_commit(b.ecache, err) != 0) {
        code = finish(&b, BUILD_EXIT_FAILED, err);
    } else if (build_and_publish(&b, w, err) != 0) {
        code = finish(&b, BUILD_EXIT_FAILED, err);
    } else {
        double share = (double)b.r->failed / (double)(b.r->fetched + b.r->failed > 0 ? b.r->fetched + b.r->failed : 1);
        code = finish(&b, share > o->max_failed_share ? BUILD_EXIT_PARTIAL : BUILD_EXIT_PUBLISHED, err);
        if (code == BUILD_EXIT_PARTIAL)
            err_set(err, "published %s, but %.0f%% of pages failed (limit %.0f%%)", b.r->version_id, share * 100,
                    o->max_failed_share * 100);
    }
    index_writer_free(w);
out:
    builder_free(&b);
    report_free(b.r);
    return code;
}
