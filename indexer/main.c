/* main.c - ragd-index: the command line of the offline index builder */
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "index_version.h"
#include "log.h"

#define RAGD_VERSION "0.1.0"

/* Exit codes, documented in --help and the README. */
enum { EXIT_PUBLISHED = 0, EXIT_FAILED = 1, EXIT_USAGE = 2, EXIT_PARTIAL = 3 };

static void usage(FILE *f) {
    fprintf(f,
            "usage: ragd-index COMMAND [options]\n"
            "\n"
            "commands:\n"
            "  info INDEX_DIR [--verify]   describe the live version of an index;\n"
            "                              --verify also checks every shard's SHA-256\n"
            "  --help                      this text\n"
            "  --version                   print the version\n"
            "\n"
            "exit codes:\n"
            "  0  success (for build: a version was published)\n"
            "  1  failed, nothing published\n"
            "  2  usage or configuration error\n"
            "  3  published, but more than the allowed share of pages failed\n");
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
            return EXIT_USAGE;
        } else if (!dir) dir = argv[i];
        else {
            fprintf(stderr, "ragd-index info: one INDEX_DIR, got %s too\n", argv[i]);
            return EXIT_USAGE;
        }
    }
    if (!dir) {
        fprintf(stderr, "ragd-index info: INDEX_DIR is required\n");
        return EXIT_USAGE;
    }
    char err[RAGD_ERR_LEN];
    index_version *v = index_version_open(dir, flags, err);
    if (!v) {
        fprintf(stderr, "ragd-index info: %s\n", err);
        return EXIT_FAILED;
    }
    print_version_info(v);
    if (flags & INDEX_VERIFY_CHECKSUMS) printf("verified    all shard checksums match the manifest\n");
    index_version_free(v);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("ragd-index %s\n", RAGD_VERSION);
        return 0;
    }
    if (strcmp(argv[1], "info") == 0) return cmd_info(argc - 2, argv + 2);
    fprintf(stderr, "ragd-index: unknown command \"%s\" (see ragd-index --help)\n", argv[1]);
    return EXIT_USAGE;
}
