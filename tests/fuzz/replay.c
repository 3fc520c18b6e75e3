/* replay.c - run a fuzz harness over its corpus and past crashes, in the plain build
 *
 * SQLite's fuzzcheck in miniature: `make test` links each harness
 * (tests/fuzz/fuzz_NAME.c) with this main instead of libFuzzer and feeds it
 * every file under tests/fuzz/corpus/NAME and tests/fuzz/regress/NAME, so
 * an input that once crashed stays fixed, under the sanitizers too (`make
 * asan`). FUZZ_NAME and FUZZ_DIRS (colon-separated) come from the Makefile;
 * paths given as arguments replace FUZZ_DIRS.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int replay_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    for (size_t r; (r = fread(buf + n, 1, cap - n, f)) > 0;) {
        n += r;
        if (n == cap) buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    /* an exact-size copy, so ASan sees a read one past the input */
    uint8_t *exact = malloc(n ? n : 1);
    memcpy(exact, buf, n);
    free(buf);
    LLVMFuzzerTestOneInput(exact, n);
    free(exact);
    return 0;
}

static int replay_path(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) return 0; /* a harness may have no regressions yet */
    if (!S_ISDIR(st.st_mode)) return replay_file(path) == 0;
    DIR *d = opendir(path);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char p[4096];
        snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
        n += replay_path(p);
    }
    closedir(d);
    return n;
}

int main(int argc, char **argv) {
    if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
    int n = 0;
    if (argc > 1) {
        for (int i = 1; i < argc; i++) n += replay_path(argv[i]);
    } else {
        char dirs[] = FUZZ_DIRS;
        char *save = NULL;
        for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) n += replay_path(d);
    }
    if (n == 0) {
        printf("no inputs found for fuzz_%s\n# fuzz_%s: 0 passed, 1 failed\n", FUZZ_NAME, FUZZ_NAME);
        return 1;
    }
    printf("# fuzz_%s: %d passed, 0 failed\n", FUZZ_NAME, n);
    return 0;
}
