/* openai.c - an OpenAI-compatible HTTP embedder (OpenAI, Azure OpenAI, Ollama, TEI, vLLM) on libcurl
 *
 * POSTs {"model", "input": [texts]} to BASE/embeddings (Azure: BASE/openai/
 * deployments/MODEL/embeddings?api-version=V with an "api-key" header;
 * otherwise "Authorization: Bearer KEY"). The key is read from a file or an
 * environment variable and never logged. Texts go in batches of at most
 * openai_batch; each is cut to about openai_max_tokens tokens (4 bytes per
 * token: the model's own tokenizer is not available here). 429, 5xx,
 * timeouts and connection errors are retried up to openai_retries times
 * with exponential backoff and jitter, or after the server's Retry-After /
 * retry-after-ms; other 4xx (and 429 insufficient_quota) fail at once with
 * the server's message. Several base URLs fail over in order. A circuit
 * breaker per URL skips it for a cool-down after repeated failures, so
 * callers fail fast while the upstream is down. The calling thread's
 * deadline (core/clock.h: a request's, set by the service) bounds every
 * attempt's timeout and ends the retries early. All of that is
 * core/upstream.c, shared with the answer route's LLM calls. Responses are
 * validated here (count, indexes, dimension) and the vectors L2-normalised.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embedder_impl.h"
#include "openai_response.h"
#include "err.h"
#include "fsio.h"
#include "mem.h"
#include "upstream.h"

#define OAI_MAX_URLS UPSTREAM_MAX_URLS

typedef struct openai {
    embedder base; /* must be first */
    upstream *up;  /* the endpoints, retries, breakers (core/upstream.c) */
    char *model;
    int batch, max_bytes;
} openai;

int openai_parse_embeddings(const char *s, size_t len, int n, int dim, float *out, char *err) {

    json_error_t je;
    json_t *j = json_loadb(s ? s : "", len, 0, &je);
    json_t *data = json_object_get(j, "data");
    int rc = RAGD_OK;
    if (!json_is_array(data)) rc = err_set(err, "malformed response: no \"data\" array (%s)", j ? "" : je.text);
    else if ((int)json_array_size(data) != n)
        rc = err_set(err, "response has %zu embeddings for %d inputs", json_array_size(data), n);
    char *seen = mem_calloc((size_t)(n > 0 ? n : 1), 1);
    for (int i = 0; rc == RAGD_OK && i < n; i++) {
        json_t *item = json_array_get(data, (size_t)i), *emb = json_object_get(item, "embedding");
        json_t *ix = json_object_get(item, "index");
        int at = json_is_integer(ix) ? (int)json_integer_value(ix) : i;
        if (at < 0 || at >= n || seen[at]) {
            rc = err_set(err, "response has a bad or repeated index %d", at);
            break;
        }
        seen[at] = 1;
        if (!json_is_array(emb) || (int)json_array_size(emb) != dim) {
            rc = err_set(err, "embedding %d has %zu dimensions, expected %d (check --dim)", at,
                         json_is_array(emb) ? json_array_size(emb) : 0, dim);
            break;
        }
        float *v = out + (size_t)at * dim;
        double norm = 0;
        for (int d = 0; d < dim; d++) {
            json_t *x = json_array_get(emb, (size_t)d);
            if (!json_is_number(x)) {
                rc = err_set(err, "embedding %d has a non-number at %d", at, d);
                break;
            }
            v[d] = (float)json_number_value(x);
            if (!isfinite(v[d])) { /* 1e300 is valid JSON and an infinite float */
                rc = err_set(err, "embedding %d has a value out of range at %d", at, d);
                break;
            }
            norm += (double)v[d] * v[d];
        }
        for (int d = 0; rc == RAGD_OK && norm > 0 && d < dim; d++) v[d] = (float)(v[d] / sqrt(norm));
    }
    mem_free(seen);
    json_decref(j);
    return rc;
}

static char *request_json(const openai *o, const char *const *texts, int n) {
    json_t *in = json_array();
    for (int i = 0; i < n; i++) {
        size_t len = strlen(texts[i]);
        if (len > (size_t)o->max_bytes) {
            len = (size_t)o->max_bytes;
            while (len > 0 && ((unsigned char)texts[i][len] & 0xc0) == 0x80) len--; /* whole UTF-8 chars */
        }
        json_array_append_new(in, json_stringn(texts[i], len));
    }
    json_t *req = json_pack("{s:s, s:o}", "model", o->model, "input", in);
    char *s = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    return s;
}

/* One batch through the upstream (failover, retries, breakers); the
 * reply is validated here: a malformed 200 is not retried. */
static int embed_batch(openai *o, const char *const *texts, int n, float *out, char *err) {
    char *payload = request_json(o, texts, n);
    upstream_call c = {.payload = payload};
    int rc = upstream_post(o->up, &c, err);
    if (rc == RAGD_OK && openai_parse_embeddings(c.body, c.len, n, o->base.dim, out, err) != RAGD_OK) rc = RAGD_ERR;
    upstream_call_clear(&c);
    free(payload);
    return rc;
}

static int oai_embed(embedder *e, const char *const *texts, int n, float *out, char *err) {
    openai *o = (openai *)e;
    for (int i = 0; i < n; i += o->batch) {
        int m = n - i < o->batch ? n - i : o->batch;
        if (embed_batch(o, texts + i, m, out + (size_t)i * o->base.dim, err) != 0) return RAGD_ERR;
    }
    return RAGD_OK;
}

/* No tokenizer for remote models: about 4 bytes per token, as OpenAI
 * documents for English. Chunk sizes are therefore approximate. */
static int oai_count_tokens(embedder *e, const char *text, size_t len) {
    (void)e;
    (void)text;
    return (int)((len + 3) / 4);
}

static void oai_destroy(embedder *e) {
    openai *o = (openai *)e;
    upstream_free(o->up);
    mem_free(o->model);
    mem_free(o);
}

static const struct embedder_vtable oai_vt = {oai_embed, oai_count_tokens, oai_destroy};

/* The key from its file or environment variable (NULL: none); the
 * caller wipes and frees it. */
static int read_key(const embedder_opts *opts, char **key, char *err) {
    *key = NULL;
    if (opts->openai_key_file) {
        char *buf;
        if (fsio_read_file(opts->openai_key_file, 64 * 1024, &buf, NULL, err) != 0) return RAGD_ERR;
        buf[strcspn(buf, "\r\n")] = '\0';
        *key = buf;
    } else if (opts->openai_key_env && getenv(opts->openai_key_env) && *getenv(opts->openai_key_env)) {
        *key = mem_strdup(getenv(opts->openai_key_env));
    }
    return RAGD_OK;
}

/* The endpoint URLs: BASE/embeddings, or Azure's
 * BASE/openai/deployments/MODEL/embeddings?api-version=V. */
static int endpoint_urls(const embedder_opts *opts, char **urls, int *n, char *err) {
    char *copy = mem_strdup(opts->openai_urls ? opts->openai_urls : ""), *save = NULL;
    *n = 0;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ') t++;
        size_t len = strlen(t);
        while (len && (t[len - 1] == '/' || t[len - 1] == ' ')) t[--len] = '\0';
        if (strncmp(t, "http://", 7) && strncmp(t, "https://", 8)) {
            err_set(err, "--openai-url: \"%s\" is not an http(s) URL", t);
            break;
        }
        if (*n == OAI_MAX_URLS) continue;
        if (opts->openai_api_version)
            urls[(*n)++] = mem_printf("%s/openai/deployments/%s/embeddings?api-version=%s", t, opts->openai_model,
                                      opts->openai_api_version);
        else urls[(*n)++] = mem_printf("%s/embeddings", t);
    }
    mem_free(copy);
    if (err[0]) return RAGD_ERR;
    return *n ? RAGD_OK : err_set(err, "--openai-url is required for the openai embedder");
}

static upstream *make_upstream(const embedder_opts *opts, char *err) {
    char *urls[OAI_MAX_URLS], *key = NULL;
    int n = 0;
    upstream *u = NULL;
    err[0] = '\0';
    if (endpoint_urls(opts, urls, &n, err) == RAGD_OK && read_key(opts, &key, err) == RAGD_OK) {
        upstream_opts uo = upstream_opts_default();
        uo.name = "embeddings API";
        uo.key = key;
        uo.timeout_ms = opts->openai_timeout_ms > 0 ? opts->openai_timeout_ms : 30000;
        uo.retries = opts->openai_retries >= 0 ? opts->openai_retries : 4;
        uo.backoff_ms = opts->openai_backoff_ms > 0 ? opts->openai_backoff_ms : 500;
        u = upstream_new(&uo, (const char *const *)urls, n, err);
    }
    for (int i = 0; i < n; i++) mem_free(urls[i]);
    if (key) {
        memset(key, 0, strlen(key));
        mem_free(key);
    }
    return u;
}

embedder *emb_openai_create(const embedder_opts *opts, char *err) {
    if (!opts->openai_model || !*opts->openai_model)
        return err_set(err, "--openai-model is required for the openai embedder"), NULL;
    /* --dim is the model's dimension; every response is checked against it. */
    if (opts->dim < 1 || opts->dim > 16384)
        return err_set(err, "--dim %d: the openai embedder needs the model's embedding size", opts->dim), NULL;
    upstream *up = make_upstream(opts, err);
    if (!up) return NULL;
    openai *o = mem_calloc(1, sizeof(*o));
    o->base.vt = &oai_vt;
    o->up = up;
    o->model = mem_strdup(opts->openai_model);
    o->batch = opts->openai_batch > 0 ? opts->openai_batch : 64;
    o->max_bytes = (opts->openai_max_tokens > 0 ? opts->openai_max_tokens : 8191) * 4;
    snprintf(o->base.name, sizeof(o->base.name), "openai");
    o->base.remote = 1;
    o->base.max_tokens = opts->openai_max_tokens > 0 ? opts->openai_max_tokens : 8191;
    o->base.uncased = 0;
    o->base.dim = opts->dim;
    snprintf(o->base.model_id, sizeof(o->base.model_id), "openai-%.100s-d%d", o->model, o->base.dim);
    return &o->base;
}
