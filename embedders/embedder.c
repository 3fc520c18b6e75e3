/* embedder.c - create embedders by name; dispatch through their vtables */
#include "embedder.h"
#include "tensor.h"
#include "embedder_impl.h"

#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "err.h"
#include "manifest.h"

embedder_opts embedder_opts_default(void) {
    embedder_opts o = {.dim = 384, .openai_key_env = "OPENAI_API_KEY", .openai_batch = 64,
                       .openai_max_tokens = 8191, .openai_timeout_ms = 30000, .openai_retries = 4,
                       .openai_backoff_ms = 500};
    return o;
}

/* Every embedder this build can make, by name. */
static const struct {
    const char *name;
    embedder *(*create)(const embedder_opts *opts, char *err);
} constructors[] = {
    {"hash", emb_hash_create},
    {"minilm", emb_bert_create},
    {"openai", emb_openai_create},
};
#define N_CONSTRUCTORS (sizeof(constructors) / sizeof(constructors[0]))

static char names[128];
static pthread_once_t names_once = PTHREAD_ONCE_INIT;

static void fill_names(void) {
    size_t o = 0;
    for (size_t i = 0; i < N_CONSTRUCTORS; i++)
        o += (size_t)snprintf(names + o, sizeof(names) - o, "%s%s", i ? ", " : "", constructors[i].name);
}

const char *embedder_names(void) {
    pthread_once(&names_once, fill_names);
    return names;
}

const char *embedder_default_name(const embedder_opts *opts, char *err) {
    char dir[4200], tried[4 * 4200];
    if (embedder_find_model(opts, dir, sizeof(dir), tried, sizeof(tried)) == 0) return "minilm";
    err_set(err, "no --embedder given and the " EMBEDDER_MODEL_NAME " model is not installed: run `make model` "
            "(or `make install`), point --model or RAGD_MODEL_DIR at it, or choose --embedder hash "
            "(test quality). Looked in %s", tried);
    return NULL;
}

embedder *embedder_create(const char *name, const embedder_opts *opts, char *err) {
    embedder_opts def = embedder_opts_default();
    if (!opts) opts = &def;
    for (size_t i = 0; i < N_CONSTRUCTORS; i++)
        if (strcmp(name, constructors[i].name) == 0) return constructors[i].create(opts, err);
    err_set(err, "unknown embedder \"%s\" (known: %s)", name, embedder_names());
    return NULL;
}

int embedder_embed(embedder *e, const char *const *texts, int n, float *out, char *err) {
    if (n <= 0) return 0;
    return e->vt->embed(e, texts, n, out, err);
}

int embedder_count_tokens(embedder *e, const char *text, size_t len) {
    return e->vt->count_tokens(e, text, len);
}

int embedder_dim(const embedder *e) {
    return e->dim;
}

const char *embedder_model_id(const embedder *e) {
    return e->model_id;
}

const char *embedder_name(const embedder *e) {
    return e->name;
}

int embedder_max_tokens(const embedder *e) {
    return e->max_tokens;
}

int embedder_uncased(const embedder *e) {
    return e->uncased;
}

int embedder_is_remote(const embedder *e) {
    return e->remote;
}

const char *embedder_precision(const embedder *e) {
    return e->precision;
}

const char *embedder_kernel(const embedder *e) {
    return e->kernel;
}

void embedder_free(embedder *e) {
    if (e) e->vt->destroy(e);
}

/* The length of a minilm id without its precision suffix ("-bf16", "-int8"). */
static size_t id_without_precision(const char *id) {
    size_t n = strlen(id), ls = strlen("-bf16"); /* == strlen("-int8") */
    if (n >= ls && (!strcmp(id + n - ls, "-bf16") || !strcmp(id + n - ls, "-int8"))) n -= ls;
    return n;
}

/* Two minilm ids that differ only in the precision suffix. */
static int same_model_other_precision(const char *a, const char *b) {
    size_t la = id_without_precision(a), lb = id_without_precision(b);
    return la == lb && !strncmp(a, b, la);
}

embedder *embedder_for_manifest(const manifest *m, const embedder_opts *opts, char *err) {
    embedder_opts o = opts ? *opts : embedder_opts_default();
    o.dim = m->dim;
    /* The build's precision (fp32 for an index made before there was a
     * choice), unless asked otherwise. */
    if (!o.precision) o.precision = m->precision[0] ? m->precision : "fp32";
    embedder *e = embedder_create(m->embedder, &o, err);
    if (!e) return NULL;
    /* An index built at one precision may be queried at another (the
     * vectors agree to a cosine of 0.9999 at bf16, 0.998 on average at
     * int8: docs/embedders.md); any other difference is another model. */
    int same = !strcmp(e->model_id, m->model_id) || (e->precision[0] && same_model_other_precision(e->model_id, m->model_id));
    if (!same || e->dim != m->dim) {
        err_set(err, "index %s was built with %s (dim %d), this embedder is %s (dim %d)", m->version_id,
                m->model_id, m->dim, e->model_id, e->dim);
        embedder_free(e);
        return NULL;
    }
    return e;
}

void embedder_set_blas_threads(int n) {
    openblas_set_num_threads(n < 1 ? 1 : n);
}

void embedder_threads_set(int n) {
    tensor_threads_set(n);
}

const char *embedder_cli_help(void) {
    return "  --precision P          minilm: auto (default: the fastest measured: bf16 with AMX,\n"
           "                         int8 with AVX512_VNNI on AMD; else fp32), fp32, bf16 (weights and inputs of the\n"
           "                         products in bfloat16, fp32 sums), or int8 (8-bit weights and inputs, a scale\n"
           "                         per output and per token, exact int32 sums); serving: the index's unless given\n"
           "  --openai-url URLS      openai embedder: base URLs (\"http://host/v1\"), comma-separated,\n"
           "                         tried in order (failover)\n"
           "  --openai-model NAME    model (OpenAI) or deployment (Azure) name\n"
           "  --openai-key-file F    file holding the API key (a mounted secret)\n"
           "  --openai-key-env VAR   environment variable holding the key (OPENAI_API_KEY)\n"
           "  --openai-api-version V Azure OpenAI: api-version (switches to api-key header\n"
           "                         and /openai/deployments/NAME/embeddings)\n"
           "  --openai-batch N       texts per request (64)\n"
           "  --openai-max-tokens N  tokens per text the model takes (8191)\n"
           "  --openai-timeout-ms N  per request (30000)\n"
           "  --openai-retries N     retries on 429/5xx/timeouts (4)\n";
}

int embedder_cli_option(embedder_opts *o, const char *key, const char *v, char *err) {
    static const struct {
        const char *key;
        size_t off;
    } strs[] = {{"model", offsetof(embedder_opts, model_dir)},
                {"openai-url", offsetof(embedder_opts, openai_urls)},
                {"openai-model", offsetof(embedder_opts, openai_model)},
                {"openai-key-file", offsetof(embedder_opts, openai_key_file)},
                {"openai-key-env", offsetof(embedder_opts, openai_key_env)},
                {"openai-api-version", offsetof(embedder_opts, openai_api_version)}};
    static const struct {
        const char *key;
        size_t off;
        long lo, hi;
    } ints[] = {{"openai-batch", offsetof(embedder_opts, openai_batch), 1, 2048},
                {"openai-max-tokens", offsetof(embedder_opts, openai_max_tokens), 8, 1000000},
                {"openai-timeout-ms", offsetof(embedder_opts, openai_timeout_ms), 1, 3600000},
                {"openai-retries", offsetof(embedder_opts, openai_retries), 0, 20}};
    if (!strcmp(key, "precision")) {
        tensor_precision parsed;
        if (!v || tensor_precision_parse(v, &parsed) != 0)
            return err_set(err, "--precision: \"%s\": expected " TENSOR_PRECISION_CHOICES, v ? v : ""), -1;
        o->precision = v;
        return 1;
    }
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        if (strcmp(key, strs[i].key) != 0) continue;
        if (!v || !*v) return err_set(err, "--%s needs a value", key), -1;
        *(const char **)((char *)o + strs[i].off) = v;
        return 1;
    }
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        if (strcmp(key, ints[i].key) != 0) continue;
        char *end;
        long x = v ? strtol(v, &end, 10) : 0;
        if (!v || !*v || *end || x < ints[i].lo || x > ints[i].hi)
            return err_set(err, "--%s: \"%s\" is not an integer in %ld..%ld", key, v ? v : "", ints[i].lo,
                           ints[i].hi), -1;
        *(int *)((char *)o + ints[i].off) = (int)x;
        return 1;
    }
    return 0;
}
