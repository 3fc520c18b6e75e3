/* build.c - one index build: load, chunk, embed, build shards, publish */
#include "build.h"
#include "injection.h"
#include "clock.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "baseline.h"
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
    char *etag, *last_modified, *links; /* crawl state kept for the next run */
    int64_t fetched_at;
    char *source, *meta; /* for filters: the --source it came from, metadata as JSON */
    int64_t modified;
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
    baseline *bl;   /* the live version, NULL if none */
    int spec_trains; /* the index spec learns from the data (IVF, PQ) */
    int64_t now;    /* run start, Unix seconds: the fetch time of fresh pages */
    const char *cur_source; /* the --source being loaded */
    ecache *ecache; /* chunk-embedding cache, NULL if off */
    char fatal[RAGD_ERR_LEN];
    volatile int stop;
    double t0, last_progress;
} builder;


build_opts build_opts_default(void) {
    build_opts o = {0};
    o.shards = 2;
    o.index_spec = "HNSW32";
    o.embedder = NULL; /* minilm when its model is installed */
    o.emb = embedder_opts_default();
    o.chunk = (chunker_opts){.max_tokens = 200, .overlap = 30};
    o.crawl = crawl_opts_default();
    o.local = (local_opts){.max_file_bytes = 5u << 20, .max_files = 10000, .max_depth = 20};
    o.keep_versions = 3;
    o.prune_grace_s = 600;
    o.max_failed_share = 0.2;
    o.max_shrink = 0.1;
    o.max_carry_age_s = 7 * 86400;
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

/* Reuse the live version's vector for this content: in incremental runs,
 * and always for the chunks of a page carried over or not modified. */
static int reuse_vector(builder *b, const char *hash, int slot, int live_page) {
    if (!b->o->incremental && !live_page) return 0;
    return baseline_vector(b->bl, hash, b->vecs + (size_t)slot * embedder_dim(b->e));
}

/* Vector slot for a chunk's content: shared, reused or queued to embed.
 * tokens < 0: not counted yet; live_page: the chunk comes from the live
 * version (304 or carried over), so its vector is there. */
static int slot_for(builder *b, const char *text, const char *hash, int tokens, int live_page) {
    intptr_t have = (intptr_t)strmap_get(b->slot_of, hash);
    if (have) return (int)have - 1;
    int slot = new_slot(b);
    strmap_put(b->slot_of, hash, (void *)(intptr_t)(slot + 1));
    b->r->chunks_unique++;
    if (reuse_vector(b, hash, slot, live_page)) {
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
    if (tokens < 0) tokens = embedder_count_tokens(b->e, text, strlen(text));
    b->r->chunks_embedded++;
    b->r->embed_tokens += tokens;
    if (b->job->n == b->job->cap) submit_job(b);
    return slot;
}

/* Append a chunk of document doc; text is taken (freed by the builder). */
static void add_chunk(builder *b, int doc, int ordinal, char *text, const char *headings, int64_t start,
                      int64_t end, int tokens, int live_page) {
    if (b->n_chunks == b->chunks_cap) {
        b->chunks_cap = b->chunks_cap ? b->chunks_cap * 2 : 4096;
        b->chunks = mem_realloc(b->chunks, sizeof(bchunk) * (size_t)b->chunks_cap);
    }
    bchunk *c = &b->chunks[b->n_chunks++];
    memset(c, 0, sizeof(*c));
    c->doc = doc;
    c->ordinal = ordinal;
    c->start = start;
    c->end = end;
    c->text = text;
    c->headings = mem_strdup(headings);
    sha256_hex(c->text, strlen(c->text), c->hash);
    int known = strmap_get(b->slot_of, c->hash) != NULL;
    c->slot = slot_for(b, c->text, c->hash, tokens, live_page);
    /* once per distinct content: the same flags search and answers compute from the text */
    unsigned flags = known ? 0 : injection_scan(c->text, strlen(c->text));
    if (flags) report_flagged(b->r, b->docs[doc].url, ordinal, flags);
}

static char *join_links(char *const *links, int n) {
    size_t len = 1;
    for (int i = 0; i < n; i++) len += strlen(links[i]) + 1;
    char *out = mem_alloc(len), *o = out;
    for (int i = 0; i < n; i++) o += sprintf(o, "%s%s", i ? "\n" : "", links[i]);
    *o = '\0';
    return out;
}

static char *dup_or_null(const char *s) {
    return s && *s ? mem_strdup(s) : NULL;
}

/* What filters know of a document (strings copied by add_doc). */
typedef struct doc_facts {
    const char *source, *meta;
    int64_t modified;
} doc_facts;

/* A document's metadata as a JSON object ({"author": "..."}), or NULL. */
static char *meta_json(const document *d) {
    if (d->n_meta == 0) return NULL;
    json_t *o = json_object();
    for (int i = 0; i < d->n_meta; i++) json_object_set_new(o, d->meta_names[i], json_string(d->meta_values[i]));
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    char *out = s ? mem_strdup(s) : NULL;
    free(s);
    return out;
}

/* A new document; links is taken. */
static int add_doc(builder *b, const char *url, const char *title, const char *hash, const char *etag,
                   const char *last_modified, char *links, int64_t fetched_at, int n_chunks, doc_facts f) {
    if (b->n_docs == b->docs_cap) {
        b->docs_cap = b->docs_cap ? b->docs_cap * 2 : 256;
        b->docs = mem_realloc(b->docs, sizeof(bdoc) * (size_t)b->docs_cap);
    }
    bdoc *bd = &b->docs[b->n_docs];
    memset(bd, 0, sizeof(*bd));
    bd->url = mem_strdup(url);
    bd->title = mem_strdup(title ? title : url);
    snprintf(bd->hash, sizeof(bd->hash), "%s", hash);
    bd->etag = dup_or_null(etag);
    bd->last_modified = dup_or_null(last_modified);
    bd->links = links;
    bd->fetched_at = fetched_at;
    bd->source = dup_or_null(f.source);
    bd->meta = dup_or_null(f.meta);
    bd->modified = f.modified;
    bd->shard = shard_of(url, b->o->shards);
    bd->n_chunks = n_chunks;
    b->r->documents++;
    b->r->chunks_total += n_chunks;
    return b->n_docs++;
}

static void on_document(void *ctx, document *d) {
    builder *b = ctx;
    if (b->stop || !strmap_put(b->doc_seen, d->url, NULL)) return;
    chunk_span *spans;
    int n;
    char err[RAGD_ERR_LEN];
    if (chunker_split(d, b->e, &b->o->chunk, &spans, &n, err) != 0 || n == 0) {
        if (n == 0) {
            report_event(b->r, d->url, LOAD_SKIPPED, "no_text", "no text to index");
            baseline_outcome(b->bl, d->url, LOAD_SKIPPED, "no_text");
        }
        chunker_free(spans, n);
        return;
    }
    baseline_fresh(b->bl, d->url);
    char *meta = meta_json(d);
    int di = add_doc(b, d->url, d->title, d->hash, d->etag, d->last_modified, join_links(d->links, d->n_links),
                     b->now, n, (doc_facts){b->cur_source, meta, d->modified});
    mem_free(meta);
    for (int i = 0; i < n; i++) {
        const chunk_span *sp = &spans[i];
        add_chunk(b, di, i, mem_strndup(d->text + sp->start, sp->end - sp->start), sp->headings,
                  (int64_t)sp->start, (int64_t)sp->end, sp->tokens, 0);
    }
    chunker_free(spans, n);
}

/* Put a live page into this build as it is (304, or carried over after
 * a failed fetch), with its chunks and their vectors. Returns the chunk
 * count, or -1 (logged) when the live copy cannot be read. */
static int reuse_doc(builder *b, const baseline_doc *d, int64_t fetched_at, const char *source) {
    if (!strmap_put(b->doc_seen, d->url, NULL)) return 0;
    doc_chunk *ch;
    char **heads, **texts, err[RAGD_ERR_LEN];
    int n = baseline_doc_chunks(b->bl, d, &ch, &heads, &texts, err);
    if (n < 0) {
        log_warn("cannot reuse the live copy of %s: %s", d->url, err);
        return -1;
    }
    int di = add_doc(b, d->url, d->title, d->hash, d->etag, d->last_modified, mem_strdup(d->links), fetched_at, n,
                     (doc_facts){source && *source ? source : d->source, d->meta, d->modified});
    for (int i = 0; i < n; i++) {
        add_chunk(b, di, ch[i].ordinal, texts[i], ch[i].headings, ch[i].start_byte, ch[i].end_byte, -1, 1);
        texts[i] = NULL; /* taken by the chunk */
    }
    baseline_chunks_free(ch, heads, texts, n);
    return n;
}

static void on_event(void *ctx, const char *url, enum load_outcome o, const char *reason, const char *detail) {
    builder *b = ctx;
    report_event(b->r, url, o, reason, detail);
    if (o == LOAD_FAILED && baseline_is_transient(o, reason)) b->r->failed_transient++;
    baseline_outcome(b->bl, url, o, reason);
    if (o == LOAD_FAILED) log_debug("%s: %s (%s)", url, reason, detail);
}

/* Conditional GET only in incremental runs. */
static const loader_prior *on_prior(void *ctx, const char *url) {
    builder *b = ctx;
    const baseline_doc *d = b->o->incremental ? baseline_doc_get(b->bl, url) : NULL;
    return d ? &d->prior : NULL;
}

static void on_not_modified(void *ctx, const char *url) {
    builder *b = ctx;
    const baseline_doc *d = baseline_doc_get(b->bl, url);
    if (b->stop || !d) return;
    b->r->not_modified++;
    if (reuse_doc(b, d, b->now, b->cur_source) < 0) {
        report_event(b->r, url, LOAD_FAILED, "reuse_failed", "304, but the live copy could not be read");
        baseline_outcome(b->bl, url, LOAD_FAILED, "reuse_failed");
        return;
    }
    baseline_fresh(b->bl, url);
}

static void on_known(void *ctx, void (*visit)(void *arg, const char *url), void *arg) {
    builder *b = ctx;
    if (b->bl) baseline_each_url(b->bl, visit, arg);
}

static void progress(builder *b, int final) {
    double now = clock_ms();
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

/* Decide the fate of every live page this run did not fetch: carried
 * over (transient failure, not older than max-carry-age) or removed. */
static void settle_one(void *ctx, baseline_doc *d) {
    builder *b = ctx;
    char detail[160];
    int64_t age = b->now - d->fetched_at;
    switch (d->state) {
    case BASELINE_FRESH:
        return;
    case BASELINE_TRANSIENT:
        if (age > b->o->max_carry_age_s) {
            snprintf(detail, sizeof(detail), "%s now; last fetched %lld s ago (limit %lld s)", d->reason,
                     (long long)age, (long long)b->o->max_carry_age_s);
            report_removed(b->r, d->url, "carry_expired", detail);
            return;
        }
        int n = reuse_doc(b, d, d->fetched_at, NULL);
        if (n < 0) {
            report_removed(b->r, d->url, "reuse_failed", "the live copy could not be read");
            return;
        }
        snprintf(detail, sizeof(detail), "last fetched %lld s ago", (long long)age);
        report_carried(b->r, d->url, d->reason, detail);
        b->r->chunks_carried += n;
        return;
    case BASELINE_GONE:
        report_removed(b->r, d->url, d->reason, "");
        return;
    case BASELINE_UNSEEN:
        report_removed(b->r, d->url, "not_reached", "no source reached it");
        return;
    }
}

static void settle_baseline(builder *b) {
    if (baseline_reusable(b->bl)) baseline_each_doc(b->bl, settle_one, b);
}

/* Load every source through the pipeline; drains the embedding pool. */
static int load_all(builder *b, char *err) {
    loader_sink sink = {.document = on_document, .event = on_event, .tick = on_tick, .ctx = b, .stop = &b->stop};
    if (baseline_reusable(b->bl)) {
        sink.prior = on_prior;
        sink.not_modified = on_not_modified;
        sink.known = on_known;
    }
    double t = clock_ms();
    for (int i = 0; i < b->o->n_sources && !b->stop; i++) {
        const char *src = b->o->sources[i];
        b->cur_source = src;
        int rc = is_url(src) ? crawl_run(src, &b->o->crawl, &sink, err) : local_walk(src, &b->o->local, &sink, err);
        if (rc != 0) return err_prefix(err, "source %s", src);
    }
    if (!b->stop) settle_baseline(b);
    submit_job(b);
    b->r->load_ms = clock_ms() - t;
    t = clock_ms();
    embed_job *j;
    while ((j = embed_pool_wait(b->pool)) != NULL) collect(b, j);
    b->r->embed_wait_ms = clock_ms() - t;
    progress(b, 1);
    if (b->fatal[0]) return err_set(err, "%s", b->fatal);
    if (b->o->stop && *b->o->stop) return err_set(err, "interrupted by a signal; nothing published");
    return RAGD_OK;
}

/* The shrink guard: 1 (and r->shrink_reason) if this build would drop
 * more than max_shrink of the live documents or chunks. Chunk counts are
 * compared only under the same chunking. */
static int shrinks_too_much(builder *b) {
    report *r = b->r;
    if (!b->bl) return 0;
    snprintf(r->live_version, sizeof(r->live_version), "%s", baseline_version_id(b->bl));
    r->live_documents = baseline_documents(b->bl);
    r->live_chunks = baseline_chunks(b->bl);
    r->max_shrink = b->o->max_shrink;
    double docs = r->live_documents > 0 ? 1.0 - (double)b->n_docs / (double)r->live_documents : 0;
    double chunks = r->live_chunks > 0 ? 1.0 - (double)b->n_slots / (double)r->live_chunks : 0;
    if (!baseline_same_chunking(b->bl, &b->o->chunk)) chunks = 0;
    if (docs <= b->o->max_shrink && chunks <= b->o->max_shrink) return 0;
    if (b->o->allow_shrink) {
        log_warn("publishing although documents drop %.1f%% and chunks %.1f%% (--allow-shrink)", docs * 100,
                 chunks * 100);
        return 0;
    }
    snprintf(r->shrink_reason, sizeof(r->shrink_reason),
             "documents %lld -> %d (-%.1f%%), chunks %lld -> %d (-%.1f%%); limit %.1f%% (--max-shrink)",
             (long long)r->live_documents, b->n_docs, docs * 100, (long long)r->live_chunks, b->n_slots,
             chunks * 100, b->o->max_shrink * 100);
    r->shrink_refused = 1;
    return 1;
}

/* Open the live version as the baseline (carry-over, reuse, guard). */
static void open_baseline(builder *b) {
    b->r->incremental = b->o->incremental;
    b->bl = baseline_open(b->o->out_dir, embedder_model_id(b->e), &b->o->chunk, b->r->incremental_note,
                          sizeof(b->r->incremental_note));
}

static void builder_free(builder *b) {
    for (int i = 0; i < b->n_docs; i++) {
        mem_free(b->docs[i].url);
        mem_free(b->docs[i].title);
        mem_free(b->docs[i].etag);
        mem_free(b->docs[i].last_modified);
        mem_free(b->docs[i].source);
        mem_free(b->docs[i].meta);
        mem_free(b->docs[i].links);
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
    ecache_close(b->ecache);
    baseline_close(b->bl);
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
        shard_plan_add_doc(&plans[d->shard], (shard_doc){.url = d->url, .doc_hash = d->hash, .title = d->title,
                                                         .chunks = d->n_chunks, .etag = d->etag,
                                                         .last_modified = d->last_modified,
                                                         .fetched_at = d->fetched_at, .links = d->links,
                                                         .source = d->source, .modified = d->modified,
                                                         .meta = d->meta});
    }
    for (int i = 0; i < b->n_chunks; i++) {
        const bchunk *c = &b->chunks[i];
        shard_doc_chunk dc = {.url = b->docs[c->doc].url,
                              .c = {.ordinal = c->ordinal, .headings = c->headings, .start_byte = c->start,
                                    .end_byte = c->end}};
        memcpy(dc.c.content_hash, c->hash, sizeof(dc.c.content_hash));
        shard_plan_add_doc_chunk(&plans[b->docs[c->doc].shard], dc);
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
    snprintf(m->precision, sizeof(m->precision), "%s", embedder_precision(b->e));
    snprintf(m->index_spec, sizeof(m->index_spec), "%s", b->o->index_spec);
    m->dim = embedder_dim(b->e);
    m->metric = MANIFEST_METRIC_IP;
    m->normalized = 1;
    m->chunk_tokens = b->o->chunk.max_tokens;
    m->chunk_overlap = b->o->chunk.overlap;
    for (int i = 0; i < b->o->n_sources; i++) manifest_add_source(m, b->o->sources[i]);
}

static int cmp_id(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Per shard, the live FAISS file holding exactly the rows of this
 * shard's plan (an unchanged shard is linked, not built again), or NULL.
 * Specs that train share one quantizer across shards: for them all
 * shards are reused or none. Returns NULL when no shard is reused. */
static char **same_shards(builder *b, const shard_plan *plans, int ns, int trained) {
    if (!baseline_reusable(b->bl)) return NULL;
    char **same = mem_calloc((size_t)ns, sizeof(char *));
    int n_same = 0;
    for (int s = 0; s < ns; s++) {
        int64_t *ids = mem_alloc(sizeof(int64_t) * (size_t)(plans[s].n_rows + 1));
        for (int i = 0; i < plans[s].n_rows; i++) ids[i] = plans[s].rows[i].id;
        qsort(ids, (size_t)plans[s].n_rows, sizeof(int64_t), cmp_id);
        same[s] = baseline_same_shard(b->bl, s, ns, b->o->index_spec, ids, plans[s].n_rows);
        n_same += same[s] != NULL;
        mem_free(ids);
    }
    if (n_same > 0 && (n_same == ns || !trained)) {
        log_info("%d of %d shard indexes unchanged: linked from %s", n_same, ns, baseline_version_id(b->bl));
        b->r->shards_unchanged = n_same;
        return same;
    }
    for (int s = 0; s < ns; s++) mem_free(same[s]);
    mem_free(same);
    return NULL;
}

/* Build the shards into a new version and publish it. */
static int build_and_publish(builder *b, index_writer *w, char *err) {
    double t = clock_ms();
    snprintf(b->r->version_id, sizeof(b->r->version_id), "%s", index_writer_version_id(w));
    int ns = b->o->shards;
    shard_plan *plans = mem_calloc((size_t)ns, sizeof(shard_plan));
    make_plans(b, plans);
    manifest m;
    fill_manifest(b, &m);
    for (int i = 0; i < ns; i++) manifest_add_shard(&m);
    err[0] = '\0';
    char **same = same_shards(b, plans, ns, b->spec_trains);
    vindex *proto = same ? NULL : train_proto(b, err);
    int rc = err[0] ? RAGD_ERR : RAGD_OK;
    shard_build_ctx ctx = {.writer = w, .dim = m.dim, .spec = b->o->index_spec, .proto = proto,
                           .same_index = same, .embedder = m.embedder, .model_id = m.model_id,
                           .keyword_stemming = !b->o->no_stemming};
    if (rc == RAGD_OK) rc = shard_build_all(&ctx, plans, ns, m.shards, b->o->threads, err);
    b->r->keyword_stemming = !b->o->no_stemming;
    for (int i = 0; same && i < ns; i++) mem_free(same[i]);
    mem_free(same);
    for (int i = 0; i < ns; i++) {
        m.total_chunks += m.shards[i].chunks;
        m.total_documents += m.shards[i].documents;
        b->r->keyword_ms += m.shards[i].keyword_ms;
        b->r->keyword_bytes += m.shards[i].keyword_bytes;
        shard_plan_clear(&plans[i]);
    }
    mem_free(plans);
    vindex_free(proto);
    b->r->chunks_deleted = baseline_unused(b->bl);
    b->r->build_ms = clock_ms() - t;
    t = clock_ms();
    if (rc == RAGD_OK) {
        char *rp = index_writer_path(w, "report.json");
        b->r->published = 1; /* as the copy inside the version will say */
        rc = report_write(b->r, rp, err);
        b->r->published = 0;
        mem_free(rp);
    }
    if (rc == RAGD_OK) rc = index_writer_commit(w, &m, b->o->keep_versions, err);
    if (rc == RAGD_OK) b->r->published = 1;
    b->r->publish_ms = clock_ms() - t;
    manifest_clear(&m);
    return rc;
}

static int finish(builder *b, int code, const char *err) {
    report *r = b->r;
    r->exit_code = code;
    if (code != BUILD_EXIT_PUBLISHED && err && *err) snprintf(r->error, sizeof(r->error), "%s", err);
    log_timestamp(r->finished_at, 0);
    r->total_ms = clock_ms() - b->t0;
    char werr[RAGD_ERR_LEN];
    if (b->o->report_path && report_write(r, b->o->report_path, werr) != 0) log_error("report: %s", werr);
    if (b->o->metrics_file && report_write_prometheus(r, b->o->metrics_file, b->o->out_dir, werr) != 0)
        log_error("metrics file: %s", werr);
    return code;
}

/* A cron run whose metrics cannot be written must say so before it
 * crawls, not publish and leave the alerting blind. */
static int check_metrics_dir(const char *path, char *err) {
    if (!path) return RAGD_OK;
    char *dir = mem_strdup(path), *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    int ok = access(slash ? (*dir ? dir : "/") : ".", W_OK) == 0;
    mem_free(dir);
    return ok ? RAGD_OK : err_set(err, "--metrics-file %s: its folder does not exist or is not writable", path);
}

/* The embedder named, or the default; then the chunking and index spec
 * checked before anything is fetched. BUILD_EXIT_USAGE on error. */
static int prepare(builder *b, char *err) {
    const build_opts *o = b->o;
    const char *name = o->embedder ? o->embedder : embedder_default_name(&o->emb, err);
    if (!name || !(b->e = embedder_create(name, &o->emb, err)) || chunker_check_opts(&o->chunk, b->e, err) != 0)
        return RAGD_ERR;
    vindex *vi = vindex_create(embedder_dim(b->e), o->index_spec, MANIFEST_METRIC_IP, err);
    if (!vi) return err_prefix(err, "--index-spec");
    int ip = vindex_metric(vi) == MANIFEST_METRIC_IP;
    b->spec_trains = !vindex_is_trained(vi);
    vindex_free(vi);
    if (!ip) return err_set(err, "--index-spec %s: FAISS builds it for L2 distance only; ragd needs inner product",
                            o->index_spec);
    return check_metrics_dir(o->metrics_file, err);
}

static void open_embed_cache(builder *b) {
    const build_opts *o = b->o;
    char cerr[RAGD_ERR_LEN];
    if (o->embed_cache && o->redis_url) {
        if (!(b->ecache = ecache_open_redis(o->redis_url, cerr))) log_warn("embedding cache off: %s", cerr);
    } else if (o->embed_cache) {
        char *path = mem_printf("%s/embed-cache.db", o->out_dir);
        if (!(b->ecache = ecache_open(path, cerr))) log_warn("embedding cache off: %s", cerr);
        mem_free(path);
    }
}

/* After a successful publish: 0, or 3 when too many pages could not be
 * fetched this run (transient failures; a 404 is the site's answer). */
static int published_code(builder *b, char *err) {
    const report *r = b->r;
    int64_t tried = r->fetched + r->not_modified + r->failed;
    double share = (double)r->failed_transient / (double)(tried > 0 ? tried : 1);
    if (share <= b->o->max_failed_share) return BUILD_EXIT_PUBLISHED;
    err_set(err, "published %s, but %.0f%% of pages could not be fetched (limit %.0f%%); %lld live pages carried over",
            r->version_id, share * 100, b->o->max_failed_share * 100, (long long)r->carried_over);
    return BUILD_EXIT_PARTIAL;
}

/* Load, settle, guard, build and publish; a BUILD_EXIT_* code. */
static int run_locked(builder *b, index_writer *w, char *err) {
    if (load_all(b, err) != 0) return BUILD_EXIT_FAILED;
    if (b->n_chunks == 0) {
        err_set(err, "no chunks: %lld pages fetched, %lld failed; nothing published", (long long)b->r->fetched,
                (long long)b->r->failed);
        return BUILD_EXIT_FAILED;
    }
    /* Vectors stay cached even when the guard refuses: the next run is cheap. */
    if (b->ecache && ecache_commit(b->ecache, err) != 0) return BUILD_EXIT_FAILED;
    if (shrinks_too_much(b)) {
        err_set(err, "not published, %s stays live: %s", b->r->live_version, b->r->shrink_reason);
        return BUILD_EXIT_SHRINK;
    }
    if (build_and_publish(b, w, err) != 0) return BUILD_EXIT_FAILED;
    return published_code(b, err);
}

int build_run(const build_opts *o, char *err) {
    builder b = {.o = o, .t0 = clock_ms(), .now = (int64_t)time(NULL)};
    b.r = report_new();
    log_timestamp(b.r->started_at, 0);
    for (int i = 0; i < o->n_sources; i++) report_add_source(b.r, o->sources[i]);
    int code;
    if (prepare(&b, err) != 0) {
        code = finish(&b, BUILD_EXIT_USAGE, err);
        goto out;
    }
    /* Lock INDEX_DIR for the whole run: two cron runs never crawl at once. */
    index_writer *w = index_writer_begin(o->out_dir, err);
    if (!w) {
        code = finish(&b, BUILD_EXIT_FAILED, err);
        goto out;
    }
    index_writer_set_prune_grace(w, o->prune_grace_s);
    b.slot_of = strmap_new();
    b.doc_seen = strmap_new();
    /* Parallelism comes from the embedding workers; BLAS inside each
     * embed call runs on one thread so workers x BLAS threads = cores. */
    if (o->threads > 1) embedder_set_blas_threads(1);
    b.pool = embed_pool_new(b.e, o->threads, o->threads * 4);
    open_baseline(&b);
    open_embed_cache(&b);
    if (b.r->incremental_note[0]) log_info("baseline: %s", b.r->incremental_note);
    code = finish(&b, run_locked(&b, w, err), err);
    index_writer_free(w);
out:
    builder_free(&b);
    report_free(b.r);
    return code;
}
