/* build.h - one index build: load sources, chunk, embed, build shards, publish a version
 *
 * The pipeline: loaders (crawl or folder walk) hand documents to the
 * chunker on the loading thread; chunks whose content was not seen before
 * go in batches to the embedding pool while loading continues; identical
 * chunks are embedded once and stored once with every source kept. Then
 * every shard (documents go to shard hash(url) % N) is built in parallel
 * through FAISS and written with its chunk store into a new version, which
 * is published atomically. With incremental, chunk vectors whose content
 * hash is in the live version (same embedder and chunking) are reused, so
 * a run over an unchanged site embeds nothing.
 *
 *     build_opts o = build_opts_default();
 *     o.out_dir = "var/index"; o.sources = srcs; o.n_sources = 1;
 *     int code = build_run(&o, err);   // BUILD_EXIT_* below
 */
#ifndef RAGD_BUILD_H
#define RAGD_BUILD_H

#include "chunker.h"
#include "embedder.h"
#include "http_crawl.h"
#include "local_walk.h"

/* Exit codes of ragd-index build. */
enum {
    BUILD_EXIT_PUBLISHED = 0, /* a new version is live */
    BUILD_EXIT_FAILED = 1,    /* nothing published */
    BUILD_EXIT_USAGE = 2,     /* bad command line or config */
    BUILD_EXIT_PARTIAL = 3,   /* published, but too many pages failed (carried over) */
    BUILD_EXIT_SHRINK = 4     /* not published: the shrink guard kept the live version */
};

typedef struct build_opts {
    const char *out_dir;
    const char *const *sources;
    int n_sources;
    int shards;
    const char *index_spec;
    const char *embedder; /* NULL: minilm if its model is installed, else a usage error */
    embedder_opts emb;
    chunker_opts chunk;
    crawl_opts crawl;
    local_opts local;
    int incremental;
    int embed_cache; /* reuse cached chunk vectors (default 1) */
    const char *redis_url; /* the cache in Redis; NULL: INDEX_DIR/embed-cache.db */
    int keep_versions;
    int prune_grace_s;  /* versions replaced less than this ago are not pruned yet */
    const char *report_path;
    double max_failed_share; /* exit 3 above this share of failed pages */
    double max_shrink;       /* refuse to publish a version this much smaller (0.1) */
    int allow_shrink;        /* publish anyway */
    int no_stemming;         /* keyword index without porter stemming (non-English text) */
    int64_t max_carry_age_s; /* carry a failing page this long after its last fetch (7 days) */
    const char *metrics_file; /* Prometheus textfile written at the end, or NULL */
    int threads;             /* embedding workers and shard builders */
    int batch;               /* texts per embedding call */
    int progress;            /* 1: a progress line on a TTY; 0: periodic log lines */
    volatile int *stop;      /* set by a signal: finish early, publish nothing */
} build_opts;

build_opts build_opts_default(void);

/* Run a build. Returns a BUILD_EXIT_* code; on failure err says why. The
 * report goes to o->report_path (if set) and into the version folder. */
int build_run(const build_opts *o, char *err);

#endif
