/* main.c - ragd-index: the command line of the offline index builder */
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "build.h"
#include "config.h"
#include "err.h"
#include "index_version.h"
#include "fusion.h"
#include "inspect.h"
#include "embedder.h"
#include "log.h"
#include "net_guard.h"
#include "mem.h"
#include "options.h"

#define RAGD_VERSION "0.1.0"
#define MAX_SOURCES 64
#define MAX_PATTERNS 64

static volatile int stop_flag;

static void on_signal(int sig) {
    (void)sig;
    stop_flag = 1;
}

typedef struct cli {
    build_opts o;
    const char *sources[MAX_SOURCES];
    int n_sources;
    const char *include[MAX_PATTERNS], *exclude[MAX_PATTERNS];
    int n_include, n_exclude;
    int overlap_set, flag_sources;
    const char *config_path;
} cli;

static int add_pattern(cli *c, const char *key, const char *v, char *err) {
    int inc = key[0] == 'i';
    int *n = inc ? &c->n_include : &c->n_exclude;
    if (*n == MAX_PATTERNS) return err_set(err, "--%s: at most %d patterns", key, MAX_PATTERNS);
    if (!*v || strlen(v) > 1024) return err_set(err, "--%s: a pattern of 1 to 1024 bytes", key);
    (inc ? c->include : c->exclude)[(*n)++] = v;
    return RAGD_OK;
}

/* ---- options that are not one typed field ---- */

static int set_source(void *ctx, const char *k, const char *v, char *err) {
    cli *c = ctx;
    (void)k;
    if (c->n_sources == MAX_SOURCES) return err_set(err, "at most %d sources", MAX_SOURCES);
    c->sources[c->n_sources++] = v;
    return RAGD_OK;
}

static int set_pattern(void *ctx, const char *k, const char *v, char *err) {
    return add_pattern(ctx, k, v, err);
}

static int set_stemming(void *ctx, const char *k, const char *v, char *err) {
    if (strcmp(v, "porter") != 0 && strcmp(v, "none") != 0)
        return err_set(err, "--%s: \"%s\" is not porter or none", k, v);
    ((cli *)ctx)->o.no_stemming = !strcmp(v, "none");
    return RAGD_OK;
}

static int set_shrink(void *ctx, const char *k, const char *v, char *err) {
    if (config_share(v, &((cli *)ctx)->o.max_shrink) != 0)
        return err_set(err, "--%s: \"%s\" is not a share (\"10%%\" or 0.1, at most 100%%)", k, v);
    return RAGD_OK;
}

static int set_carry_age(void *ctx, const char *k, const char *v, char *err) {
    long long n;
    if (config_duration_ms(v, 0, 3650LL * 86400000, &n) != 0)
        return err_set(err, "--%s: \"%s\" is not a duration up to 3650d (e.g. 7d, 36h)", k, v);
    ((cli *)ctx)->o.max_carry_age_s = n / 1000;
    return RAGD_OK;
}

static int set_targets(void *ctx, const char *k, const char *v, char *err) {
    int t = net_targets_parse(v);
    if (t < 0) return err_set(err, "--%s: \"%s\" is not auto, public or any", k, v);
    ((cli *)ctx)->o.crawl.targets = t;
    return RAGD_OK;
}

static int set_crawl_delay(void *ctx, const char *k, const char *v, char *err) {
    long long n;
    if (config_duration_ms(v, 0, 3600000, &n) != 0)
        return err_set(err, "--%s: \"%s\" is not a duration up to 1h (e.g. 10s)", k, v);
    ((cli *)ctx)->o.crawl.max_crawl_delay_ms = (int)n;
    return RAGD_OK;
}

static int set_overlap(void *ctx, const char *k, const char *v, char *err) {
    cli *c = ctx;
    long long n;
    if (config_int(v, 0, 50000, &n) != 0) return err_set(err, "--%s: \"%s\" is not an integer in 0..50000", k, v);
    c->o.chunk.overlap = (int)n;
    c->overlap_set = 1;
    return RAGD_OK;
}

/* --max-pages, --max-depth and --max-page-bytes bound crawls and folder walks alike. */
static int set_source_limit(void *ctx, const char *k, const char *v, char *err) {
    build_opts *o = &((cli *)ctx)->o;
    int pages = !strcmp(k, "max-pages"), depth = !strcmp(k, "max-depth");
    long long lo = pages ? 1 : depth ? 0 : 1024, hi = pages ? 10000000 : depth ? 1000 : 1LL << 30, n;
    if (config_int(v, lo, hi, &n) != 0) return err_set(err, "--%s: \"%s\" is not an integer in %lld..%lld", k, v, lo, hi);
    if (pages) o->crawl.max_pages = o->local.max_files = (int)n;
    else if (depth) o->crawl.max_depth = o->local.max_depth = (int)n;
    else o->crawl.max_page_bytes = o->local.max_file_bytes = (size_t)n;
    return RAGD_OK;
}

static int embedder_group(void *ctx, const char *k, const char *v, char *err) {
    return embedder_cli_option(&((cli *)ctx)->o.emb, k, v, err);
}

/* The --embedder line names the embedders this build has. */
static const char *embedder_help(void) {
    static char line[300];
    snprintf(line, sizeof(line),
             "  --embedder NAME        %s (default minilm; without its model installed\n"
             "                         the build stops and says how to get it: make model)\n",
             embedder_names());
    return line;
}

#define F(field) offsetof(cli, field)

/* Every option of ragd-index build: the command line, config files and --help. */
static const opt build_options[] = {
    {"config", OPT_STRING, F(config_path), 0, 0, NULL, NULL,
     "  --config FILE          read \"option = value\" lines first; flags win\n"},
    {"out", OPT_STRING, F(o.out_dir), 0, 0, NULL, NULL, NULL},
    {"source", OPT_FUNC, 0, 0, 0, set_source, NULL, NULL},
    {"shards", OPT_INT, F(o.shards), 1, 256, NULL, NULL,
     "  --shards N             shards, documents go to hash(url) % N (default 2)\n"},
    {"index-spec", OPT_STRING, F(o.index_spec), 0, 0, NULL, NULL,
     "  --index-spec S         FAISS index_factory string (default HNSW32); IVF/PQ\n"
     "                         specs are trained on a sample of the vectors\n"},
    {"embedder", OPT_STRING, F(o.embedder), 0, 0, NULL, embedder_help, NULL},
    {"dim", OPT_INT, F(o.emb.dim), 8, 16384, NULL, NULL,
     "  --dim N                hash embedder dimension (default 384)\n"},
    {"embedder options", OPT_GROUP, 0, 0, 0, embedder_group, embedder_cli_help,
     "  --model DIR            minilm model folder; else $RAGD_MODEL_DIR, else\n"
     "                         BINDIR/../models/, BINDIR/../share/ragd/models/,\n"
     "                         " RAGD_SYSTEM_MODEL_DIR "/ (each + all-MiniLM-L6-v2)\n"},
    {"chunk-tokens", OPT_INT, F(o.chunk.max_tokens), 8, 100000, NULL, NULL,
     "  --chunk-tokens N       most tokens per chunk, by the embedder's tokenizer (200)\n"},
    {"chunk-overlap", OPT_FUNC, 0, 0, 0, set_overlap, NULL,
     "  --chunk-overlap N      tokens shared by consecutive chunks (15% of chunk-tokens)\n"},
    {"max-pages", OPT_FUNC, 0, 0, 0, set_source_limit, NULL,
     "  --max-pages N          pages (or files) loaded at most per source (10000)\n"},
    {"max-depth", OPT_FUNC, 0, 0, 0, set_source_limit, NULL,
     "  --max-depth N          link hops (or folder levels) from the source (20)\n"},
    {"concurrency", OPT_INT, F(o.crawl.concurrency), 1, 64, NULL, NULL,
     "  --concurrency N        requests in flight per host (4)\n"},
    {"delay-ms", OPT_INT, F(o.crawl.delay_ms), 0, 600000, NULL, NULL,
     "  --delay-ms N           least time between request starts (0)\n"},
    {"timeout-ms", OPT_INT, F(o.crawl.timeout_ms), 1, 3600000, NULL, NULL,
     "  --timeout-ms N         per-request timeout (10000)\n"},
    {"retries", OPT_INT, F(o.crawl.max_retries), 0, 10, NULL, NULL,
     "  --retries N            retries on 5xx/429/network errors (3)\n"},
    {"max-page-bytes", OPT_FUNC, 0, 0, 0, set_source_limit, NULL,
     "  --max-page-bytes N     response and file size cap (5242880)\n"},
    {"user-agent", OPT_STRING, F(o.crawl.user_agent), 0, 0, NULL, NULL,
     "  --user-agent S         User-Agent; its first word is the robots.txt token\n"
     "                         (ragd/0.1)\n"},
    {"max-crawl-delay", OPT_FUNC, 0, 0, 0, set_crawl_delay, NULL,
     "  --max-crawl-delay D    honour robots.txt Crawl-delay up to D (10s)\n"},
    {"crawl-targets", OPT_FUNC, 0, 0, 0, set_targets, NULL,
     "  --crawl-targets T      addresses a crawl may connect to: auto (public, plus\n"
     "                         private and loopback when the seed is on them), public,\n"
     "                         or any; link-local/metadata (169.254/16, fd00::/8) only\n"
     "                         with any (auto)\n"},
    {"include", OPT_FUNC, 0, 0, 0, set_pattern, NULL,
     "  --include GLOB         crawl only URL paths matching GLOB (repeatable;\n"
     "                         fnmatch, '*' crosses '/'; the seed is always read)\n"},
    {"exclude", OPT_FUNC, 0, 0, 0, set_pattern, NULL,
     "  --exclude GLOB         never crawl URL paths matching GLOB (repeatable)\n"},
    {"incremental", OPT_FLAG, F(o.incremental), 0, 0, NULL, NULL,
     "  --incremental          ask the site only for changed pages (If-None-Match /\n"
     "                         If-Modified-Since; a 304 reuses the live copy) and\n"
     "                         reuse the live version's vectors for unchanged chunks\n"},
    {"no-embed-cache", OPT_FLAG_OFF, F(o.embed_cache), 0, 0, NULL, NULL,
     "  --no-embed-cache       do not use INDEX_DIR/embed-cache.db, the cache of chunk\n"
     "                         vectors by (model, content hash) that makes full\n"
     "                         rebuilds re-embed only new chunks\n"},
    {"redis", OPT_STRING, F(o.redis_url), 0, 0, NULL, NULL,
     "  --redis URL            keep that cache in Redis instead (shared by indexers;\n"
     "                         redis://[:password@]host[:port][/db])\n"},
    {"keep-versions", OPT_INT, F(o.keep_versions), 1, 1000, NULL, NULL,
     "  --keep-versions N      versions kept in INDEX_DIR/versions (3)\n"},
    {"prune-grace-s", OPT_INT, F(o.prune_grace_s), 0, 30 * 86400, NULL, NULL,
     "  --prune-grace-s N      a version replaced less than N s ago is kept even\n"
     "                         beyond --keep-versions, for replicas still moving\n"
     "                         off it (600)\n"},
    {"report", OPT_STRING, F(o.report_path), 0, 0, NULL, NULL,
     "  --report FILE          write the run report there too (it is always kept\n"
     "                         as report.json inside the published version)\n"},
    {"max-failed-share", OPT_DOUBLE, F(o.max_failed_share), 0, 1, NULL, NULL,
     "  --max-failed-share F   exit 3 when more than this share of pages could not be\n"
     "                         fetched (transient failures; 404/410 do not count) (0.2)\n"},
    {"max-carry-age", OPT_FUNC, 0, 0, 0, set_carry_age, NULL,
     "  --max-carry-age D      a page whose fetch fails for a transient reason (timeout,\n"
     "                         5xx, 429, network, robots.txt unreachable) keeps its live\n"
     "                         copy until D after its last good fetch (7d; 0 = never)\n"},
    {"max-shrink", OPT_FUNC, 0, 0, 0, set_shrink, NULL,
     "  --max-shrink S         publish nothing (exit 4) if documents or chunks would drop\n"
     "                         by more than S against the live version (10%)\n"},
    {"allow-shrink", OPT_FLAG, F(o.allow_shrink), 0, 0, NULL, NULL, "  --allow-shrink         publish even so\n"},
    {"keyword-stemming", OPT_FUNC, 0, 0, 0, set_stemming, NULL,
     "  --keyword-stemming S   keyword index: porter (English, default) or none\n"},
    {"metrics-file", OPT_STRING, F(o.metrics_file), 0, 0, NULL, NULL,
     "  --metrics-file PATH    write the run's figures for Prometheus' textfile collector\n"
     "                         (its folder must exist and be writable)\n"},
    {"threads", OPT_INT, F(o.threads), 1, 256, NULL, NULL,
     "  --threads N            embedding workers and shard builders (cores)\n"},
    {"batch", OPT_INT, F(o.batch), 1, 4096, NULL, NULL, "  --batch N              texts per embedding call (64)\n"},
    {"log-level", OPT_FUNC, 0, 0, 0, log_level_option, NULL, "  --log-level L          debug, info, warn, error (info)\n"},
    {"log-format", OPT_FUNC, 0, 0, 0, log_format_option, NULL,
     "  --log-format F         text or json lines (json when stderr is not a terminal)\n"},
    {NULL},
};

#undef F

static void usage(FILE *f) {
    fputs(
        "usage: ragd-index build --out INDEX_DIR --source SRC [--source SRC ...] [options]\n"
        "       ragd-index info INDEX_DIR [--verify]\n"
        "       ragd-index search INDEX_DIR QUERY [--k N] [--exact] [--mode vector|keyword|hybrid]\n"
        "                         [--fusion convex|rrf] [--alpha F]\n"
        "       ragd-index dump INDEX_DIR\n"
        "       ragd-index embed [--embedder NAME] [--model DIR] [--precision P] [--dim N] < lines\n"
        "       ragd-index --help | --version\n"
        "\n"
        "build: crawl or walk the sources, chunk, embed, build sharded FAISS indexes and\n"
        "publish them as a new version of INDEX_DIR (INDEX_DIR/current is swapped\n"
        "atomically; a killed build publishes nothing). SRC is an http(s):// URL\n"
        "(crawled within its folder) or a local file or folder (.html .htm .md .txt).\n"
        "\n", f);
    opt_help(build_options, f);
    fputs("\n"
        "info: describe the live version; --verify also checks every SHA-256.\n"
        "search: embed QUERY with the index's embedder, print the top k (10) as JSON\n"
        "        lines; --exact searches by brute force over the stored vectors.\n"
        "        --mode keyword ranks by BM25 over the keyword index, hybrid fuses both\n"
        "        (--fusion convex with --alpha, the vector list's weight (0.5), or rrf).\n"
        "dump: every chunk as a JSON line (id, url, title, headings, text, sources).\n"
        "embed: one text per input line (at most 1 MiB) -> one JSON array of floats per\n"
        "       output line, same order and count (default embedder: minilm).\n"
        "\n"
        "durations (D): a number with ms, s, m, h or d (\"7d\"); a bare number is seconds.\n"
        "\n"
        "exit codes (build):\n"
        "  0  published\n"
        "  1  failed, nothing published (also: another build holds the lock, interrupted)\n"
        "  2  usage or configuration error, nothing fetched\n"
        "  3  published, but more than --max-failed-share of the pages failed this run\n"
        "     (their live copies were carried over; look at the report)\n"
        "  4  not published: the shrink guard kept the live version (--max-shrink)\n", f);
}

static int build_is_flag(const char *key) {
    return opt_is_flag(build_options, key);
}

/* Apply one option (from argv or the config file). Strings must outlive
 * the build: argv does, config values are kept until exit. */
static int apply(cli *c, const char *key, const char *v, char *err) {
    int r = opt_apply(build_options, c, key, v, err);
    if (r == 0) return err_set(err, "unknown option --%s (see ragd-index --help)", key);
    return r < 0 ? RAGD_ERR : RAGD_OK;
}

/* Sources given as flags replace the config file's. */
static int apply_arg(void *ctx, const char *key, const char *value, int from_flags, char *err) {
    cli *c = ctx;
    if (from_flags && !strcmp(key, "source") && !c->flag_sources++) c->n_sources = 0;
    return apply(c, key, value, err);
}

static int parse_build_args(cli *c, int argc, char **argv, config_entry **conf, int *nconf, char *err) {
    if (config_args(argc, argv, apply_arg, build_is_flag, c, conf, nconf, err) != 0) return RAGD_ERR;
    if (!c->overlap_set) c->o.chunk.overlap = c->o.chunk.max_tokens * 15 / 100;
    if (!c->o.out_dir) return err_set(err, "--out INDEX_DIR is required");
    if (c->n_sources == 0) return err_set(err, "at least one --source is required");
    return RAGD_OK;
}

static int cmd_build(int argc, char **argv) {
    cli c = {.o = build_opts_default()};
    config_entry *conf = NULL;
    int nconf = 0;
    char err[RAGD_ERR_LEN];
    if (parse_build_args(&c, argc, argv, &conf, &nconf, err) != 0) {
        fprintf(stderr, "ragd-index build: %s\n", err);
        config_free(conf, nconf);
        return BUILD_EXIT_USAGE;
    }
    c.o.sources = c.sources;
    c.o.n_sources = c.n_sources;
    c.o.crawl.include = c.include;
    c.o.crawl.n_include = c.n_include;
    c.o.crawl.exclude = c.exclude;
    c.o.crawl.n_exclude = c.n_exclude;
    c.o.progress = isatty(STDERR_FILENO);
    c.o.stop = &stop_flag;
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    int code = build_run(&c.o, err);
    if (code == BUILD_EXIT_PUBLISHED) log_info("published a new version of %s", c.o.out_dir);
    else fprintf(stderr, "ragd-index build: %s\n", err);
    config_free(conf, nconf);
    return code;
}

static void print_version_info(const index_version *v) {
    const manifest *m = &v->m;
    printf("version     %s\n", m->version_id);
    printf("created     %s\n", m->created_at);
    printf("folder      %s\n", v->dir);
    printf("embedder    %s (%s), dim %d, %s%s\n", m->embedder, m->model_id, m->dim,
           manifest_metric_name(m->metric), m->normalized ? ", normalized" : "");
    printf("index       %s\n", m->index_spec);
    printf("chunking    %d tokens, %d overlap\n", m->chunk_tokens, m->chunk_overlap);
    printf("totals      %lld chunks, %lld documents, %d shards\n", (long long)m->total_chunks,
           (long long)m->total_documents, m->n_shards);
    for (int i = 0; i < m->n_sources; i++) printf("source      %s\n", m->sources[i]);
    for (int i = 0; i < m->n_shards; i++) {
        const manifest_shard *s = &m->shards[i];
        printf("shard %-5d %s (%lld bytes) + %s (%lld bytes): %lld chunks, %lld documents\n", i,
               s->index_file, (long long)s->index_bytes, s->store_file, (long long)s->store_bytes,
               (long long)s->chunks, (long long)s->documents);
    }
}

static int cmd_info(int argc, char **argv) {
    const char *dir = NULL;
    int flags = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--verify") == 0) flags |= INDEX_VERIFY_CHECKSUMS;
        else if (argv[i][0] == '-') {
            fprintf(stderr, "ragd-index info: unknown option %s\n", argv[i]);
            return BUILD_EXIT_USAGE;
        } else if (!dir) dir = argv[i];
        else {
            fprintf(stderr, "ragd-index info: one INDEX_DIR, got %s too\n", argv[i]);
            return BUILD_EXIT_USAGE;
        }
    }
    if (!dir) {
        fprintf(stderr, "ragd-index info: INDEX_DIR is required\n");
        return BUILD_EXIT_USAGE;
    }
    char err[RAGD_ERR_LEN];
    index_version *v = index_version_open(dir, flags, err);
    if (!v) {
        fprintf(stderr, "ragd-index info: %s\n", err);
        return BUILD_EXIT_FAILED;
    }
    print_version_info(v);
    if (flags & INDEX_VERIFY_CHECKSUMS) printf("verified    all shard checksums match the manifest\n");
    index_version_free(v);
    return 0;
}

static int cmd_search(int argc, char **argv) {
    const char *dir = NULL, *query = NULL;
    inspect_query iq = {.k = 10, .mode = MODE_VECTOR, .fusion = FUSION_CONVEX, .alpha = 0.5f};
    long long k = 10;
    int alpha_set = 0, fusion_set = 0;
    for (int i = 0; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--exact")) iq.exact = 1;
        else if (!strcmp(argv[i], "--k") && v) {
            if (config_int(argv[++i], 1, 1000, &k) != 0) {
                fprintf(stderr, "ragd-index search: --k must be 1..1000\n");
                return BUILD_EXIT_USAGE;
            }
        } else if (!strcmp(argv[i], "--mode") && v) {
            if (search_mode_parse(v, strlen(v), &iq.mode) != 0) {
                fprintf(stderr, "ragd-index search: --mode must be vector, keyword or hybrid\n");
                return BUILD_EXIT_USAGE;
            }
            i++;
        } else if (!strcmp(argv[i], "--fusion") && v) {
            enum fusion_method f;
            if (fusion_parse(v, &f) != 0) {
                fprintf(stderr, "ragd-index search: --fusion must be convex or rrf\n");
                return BUILD_EXIT_USAGE;
            }
            iq.fusion = f, fusion_set = 1, i++;
        } else if (!strcmp(argv[i], "--alpha") && v) {
            char *end;
            double a = strtod(v, &end);
            if (*end || !(a >= 0 && a <= 1)) {
                fprintf(stderr, "ragd-index search: --alpha must be a number from 0 to 1\n");
                return BUILD_EXIT_USAGE;
            }
            iq.alpha = (float)a, alpha_set = 1, i++;
        } else if (!strncmp(argv[i], "--", 2)) {
            fprintf(stderr, "ragd-index search: unknown option \"%s\" (see --help)\n", argv[i]);
            return BUILD_EXIT_USAGE;
        } else if (!dir) dir = argv[i];
        else if (!query) query = argv[i];
        else {
            fprintf(stderr, "ragd-index search: unexpected argument \"%s\"\n", argv[i]);
            return BUILD_EXIT_USAGE;
        }
    }
    if (!dir || !query) {
        fprintf(stderr, "ragd-index search: INDEX_DIR and QUERY are required\n");
        return BUILD_EXIT_USAGE;
    }
    if ((alpha_set || fusion_set) && iq.mode != MODE_HYBRID) {
        fprintf(stderr, "ragd-index search: --alpha and --fusion apply to --mode hybrid only\n");
        return BUILD_EXIT_USAGE;
    }
    iq.k = (int)k;
    char err[RAGD_ERR_LEN];
    if (inspect_search(dir, query, &iq, stdout, err) != 0) {
        fprintf(stderr, "ragd-index search: %s\n", err);
        return BUILD_EXIT_FAILED;
    }
    return 0;
}

static int cmd_dump(int argc, char **argv) {
    if (argc != 1) {
        fprintf(stderr, "ragd-index dump: exactly one INDEX_DIR\n");
        return BUILD_EXIT_USAGE;
    }
    char err[RAGD_ERR_LEN];
    if (inspect_dump(argv[0], stdout, err) != 0) {
        fprintf(stderr, "ragd-index dump: %s\n", err);
        return BUILD_EXIT_FAILED;
    }
    return 0;
}

#define EMBED_MAX_LINE (1u << 20)
#define EMBED_BATCH 32

static int embed_flush(embedder *e, char **lines, int n, float *out, char *err) {
    if (n == 0) return RAGD_OK;
    if (embedder_embed(e, (const char *const *)lines, n, out, err) != 0) return RAGD_ERR;
    int dim = embedder_dim(e);
    for (int i = 0; i < n; i++) {
        fputc('[', stdout);
        for (int d = 0; d < dim; d++) printf(d ? ",%.9g" : "%.9g", out[(size_t)i * dim + d]); /* float32 round-trips */
        fputs("]\n", stdout);
        mem_free(lines[i]);
    }
    return RAGD_OK;
}

static int cmd_embed(int argc, char **argv) {
    embedder_opts o = embedder_opts_default();
    const char *name = "minilm";
    long long n;
    char err[RAGD_ERR_LEN];
    for (int i = 0; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int r = strncmp(argv[i], "--", 2) == 0 && v ? embedder_cli_option(&o, argv[i] + 2, v, err) : 0;
        if (r > 0) {
            i++;
        } else if (r < 0) {
            fprintf(stderr, "ragd-index embed: %s\n", err);
            return BUILD_EXIT_USAGE;
        } else if (!strcmp(argv[i], "--embedder") && v) {
            name = v, i++;
        } else if (!strcmp(argv[i], "--dim") && v && config_int(v, 8, 16384, &n) == 0) {
            o.dim = (int)n, i++;
        } else {
            fprintf(stderr, "ragd-index embed: bad argument \"%s\" (see --help)\n", argv[i]);
            return BUILD_EXIT_USAGE;
        }
    }
    embedder *e = embedder_create(name, &o, err);
    if (!e) {
        fprintf(stderr, "ragd-index embed: %s\n", err);
        return BUILD_EXIT_USAGE;
    }
    char *lines[EMBED_BATCH];
    float *out = mem_alloc(sizeof(float) * EMBED_BATCH * (size_t)embedder_dim(e));
    char *buf = NULL;
    size_t cap = 0;
    ssize_t len;
    int nl = 0, rc = 0;
    long lineno = 0;
    while (rc == 0 && (len = getline(&buf, &cap, stdin)) >= 0) {
        lineno++;
        if (len > 0 && buf[len - 1] == '\n') buf[--len] = '\0';
        if ((size_t)len > EMBED_MAX_LINE) {
            fprintf(stderr, "ragd-index embed: line %ld is longer than %u bytes\n", lineno, EMBED_MAX_LINE);
            rc = BUILD_EXIT_FAILED;
            break;
        }
        lines[nl++] = mem_strndup(buf, (size_t)len);
        if (nl == EMBED_BATCH) {
            if (embed_flush(e, lines, nl, out, err) != 0) rc = BUILD_EXIT_FAILED;
            nl = 0;
        }
    }
    if (rc == 0 && embed_flush(e, lines, nl, out, err) != 0) rc = BUILD_EXIT_FAILED;
    if (rc != 0 && err[0]) fprintf(stderr, "ragd-index embed: %s\n", err);
    for (int i = 0; rc != 0 && i < nl; i++) mem_free(lines[i]);
    free(buf);
    mem_free(out);
    embedder_free(e);
    return rc;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return BUILD_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("ragd-index %s\n", RAGD_VERSION);
        return 0;
    }
    if (!strcmp(argv[1], "build")) return cmd_build(argc - 2, argv + 2);
    if (!strcmp(argv[1], "info")) return cmd_info(argc - 2, argv + 2);
    if (!strcmp(argv[1], "search")) return cmd_search(argc - 2, argv + 2);
    if (!strcmp(argv[1], "dump")) return cmd_dump(argc - 2, argv + 2);
    if (!strcmp(argv[1], "embed")) return cmd_embed(argc - 2, argv + 2);
    fprintf(stderr, "ragd-index: unknown command \"%s\" (see ragd-index --help)\n", argv[1]);
    return BUILD_EXIT_USAGE;
}
