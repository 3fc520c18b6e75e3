/* main.c - ragd-serve: the command line of the query service */
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "index_version.h"
#include "log.h"

#define RAGD_VERSION "0.1.0"

static void usage(FILE *f) {
    fprintf(f,
            "usage: ragd-serve --index INDEX_DIR --check\n"
            "\n"
            "  --index DIR   index directory published by ragd-index\n"
            "  --check       load and verify the live version (checksums, dims,\n"
            "                counts), print a summary and exit: 0 if it would serve\n"
            "  --help        this text\n"
            "  --version     print the version\n"
            "\n"
            "HTTP serving is not built yet; this binary only checks an index.\n");
}

int main(int argc, char **argv) {
    const char *index_dir = NULL;
    int check = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("ragd-serve %s\n", RAGD_VERSION);
            return 0;
        } else if (strcmp(argv[i], "--index") == 0 && i + 1 < argc) {
            index_dir = argv[++i];
        } else if (strcmp(argv[i], "--check") == 0) {
            check = 1;
        } else {
            fprintf(stderr, "ragd-serve: unknown option %s (see --help)\n", argv[i]);
            return 2;
        }
    }
    if (!index_dir || !check) {
        usage(stderr);
        return 2;
    }
    char err[RAGD_ERR_LEN];
    index_version *v = index_version_open(index_dir, INDEX_VERIFY_CHECKSUMS, err);
    if (!v) {
        log_error("not ready: %s", err);
        return 1;
    }
    log_info("version %s would serve: %lld chunks in %d shards, embedder %s dim %d", v->m.version_id,
             (long long)v->m.total_chunks, v->m.n_shards, v->m.model_id, v->m.dim);
    index_version_free(v);
    return 0;
}
