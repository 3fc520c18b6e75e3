/* model_dir.c - where the all-MiniLM-L6-v2 model files are */
#include "model_dir.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "embedder.h"

/* The folder of this executable (for the search beside the binary). */
static void exe_dir(char *out, size_t cap) {
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    exe[n > 0 ? n : 0] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash) *slash = '\0';
    snprintf(out, cap, "%s", n > 0 ? exe : ".");
}

static int is_model_dir(const char *dir) {
    char path[4300];
    if (strlen(dir) > 4200) return 0;
    snprintf(path, sizeof(path), "%s/model.safetensors", dir);
    return access(path, R_OK) == 0;
}

int embedder_find_model(const embedder_opts *opts, char *out, size_t cap, char *tried, size_t tcap) {
    const char *env = getenv("RAGD_MODEL_DIR");
    if (tried && tcap) tried[0] = '\0';
    /* An explicit choice is final: a wrong --model must not fall back. */
    if (opts && opts->model_dir && *opts->model_dir) {
        snprintf(out, cap, "%s", opts->model_dir);
        if (tried) snprintf(tried, tcap, "%s (--model)", out);
        return is_model_dir(out) ? 0 : -1;
    }
    if (env && *env) {
        snprintf(out, cap, "%s", env);
        if (tried) snprintf(tried, tcap, "%s ($RAGD_MODEL_DIR)", out);
        return is_model_dir(out) ? 0 : -1;
    }
    char bin[4096], cand[3][4200];
    exe_dir(bin, sizeof(bin));
    snprintf(cand[0], sizeof(cand[0]), "%s/../models/" EMBEDDER_MODEL_NAME, bin);
    snprintf(cand[1], sizeof(cand[1]), "%s/../share/ragd/models/" EMBEDDER_MODEL_NAME, bin);
    snprintf(cand[2], sizeof(cand[2]), "%s/" EMBEDDER_MODEL_NAME, RAGD_SYSTEM_MODEL_DIR);
    for (int i = 0; i < 3; i++) {
        if (tried) {
            size_t l = strlen(tried);
            snprintf(tried + l, tcap - l, "%s%s", l ? ", " : "", cand[i]);
        }
        if (is_model_dir(cand[i])) {
            snprintf(out, cap, "%s", cand[i]);
            return 0;
        }
    }
    snprintf(out, cap, "%s", cand[0]);
    return -1;
}

void embedder_default_model_dir(const embedder_opts *opts, char *out, size_t cap) {
    embedder_find_model(opts, out, cap, NULL, 0);
}
