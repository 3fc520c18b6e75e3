/* embeddings.c - the OpenAI-compatible /v1/embeddings and /v1/models answers, from the index's own embedder */
#include "embeddings.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "embedder.h"
#include "err.h"
#include "mem.h"
#include "metrics.h"
#include "text_extract.h"

embeddings_opts embeddings_opts_default(void) {
    return (embeddings_opts){.max_inputs = 256, .max_input_bytes = 65536, .allow_remote = 0};
}

/* OpenAI's error shape. */
static int oai_error(json_t **resp, int status, const char *type, const char *param, const char *code,
                     const char *message) {
    char *safe = utf8_sanitize(message, strlen(message), NULL);
    *resp = json_pack("{s:{s:s, s:s, s:s?, s:s}}", "error", "message", safe, "type", type, "param", param, "code",
                      code);
    mem_free(safe);
    return status;
}

static int bad(json_t **resp, const char *param, const char *code, const char *message) {
    return oai_error(resp, 400, "invalid_request_error", param, code, message);
}

static char *base64(const unsigned char *p, size_t n) {
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = mem_alloc((n + 2) / 3 * 4 + 1), *o = out;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        *o++ = tab[v >> 18 & 63];
        *o++ = tab[v >> 12 & 63];
        *o++ = i + 1 < n ? tab[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? tab[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

/* The names a request may give for the live model. */
static int model_matches(const embedder *e, const char *m) {
    return !strcmp(m, e->model_id) || !strcmp(m, e->name) ||
           (!strcmp(e->name, "minilm") && !strcmp(m, EMBEDDER_MODEL_NAME));
}

static const char *model_name(const embedder *e) {
    return !strcmp(e->name, "minilm") ? EMBEDDER_MODEL_NAME : e->model_id;
}

/* Check the request; 0 and the inputs (borrowed from root), or a status with *resp. */
static int parse(const embeddings_opts *o, const embedder *e, json_t *root, const char ***texts, int *n, int *b64,
                 json_t **resp) {
    static const char *const fields[] = {"input", "model", "encoding_format", "dimensions", "user", NULL};
    const char *key;
    json_t *v;
    if (!json_is_object(root)) return bad(resp, NULL, "invalid_request", "the body must be a JSON object");
    json_object_foreach(root, key, v) {
        int known = 0;
        for (int i = 0; fields[i] && !known; i++) known = !strcmp(fields[i], key);
        if (!known) {
            char msg[160];
            snprintf(msg, sizeof(msg), "unknown parameter \"%.60s\"", key);
            return bad(resp, key, "unknown_parameter", msg);
        }
    }
    json_t *model = json_object_get(root, "model"), *input = json_object_get(root, "input");
    json_t *fmt = json_object_get(root, "encoding_format"), *dims = json_object_get(root, "dimensions");
    if (!json_is_string(model)) return bad(resp, "model", "invalid_model", "\"model\" must be a string");
    if (!model_matches(e, json_string_value(model))) {
        char msg[300];
        snprintf(msg, sizeof(msg), "The model `%.100s` does not exist here; this server embeds with `%s`",
                 json_string_value(model), model_name(e));
        return oai_error(resp, 404, "invalid_request_error", "model", "model_not_found", msg);
    }
    if (fmt && !(json_is_string(fmt) && (!strcmp(json_string_value(fmt), "float") ||
                                          !strcmp(json_string_value(fmt), "base64"))))
        return bad(resp, "encoding_format", "invalid_encoding_format", "encoding_format must be \"float\" or \"base64\"");
    *b64 = fmt && !strcmp(json_string_value(fmt), "base64");
    if (dims && !(json_is_integer(dims) && json_integer_value(dims) == e->dim)) {
        char msg[160];
        snprintf(msg, sizeof(msg), "this model makes %d dimensions and cannot shorten them", e->dim);
        return bad(resp, "dimensions", "invalid_dimensions", msg);
    }
    if (!input) return bad(resp, "input", "missing_input", "\"input\" is required");
    int count = json_is_string(input) ? 1 : json_is_array(input) ? (int)json_array_size(input) : -1;
    if (count < 0) return bad(resp, "input", "invalid_input", "\"input\" must be a string or an array of strings");
    if (count == 0) return bad(resp, "input", "invalid_input", "\"input\" is empty");
    if (count > o->max_inputs) {
        char msg[120];
        snprintf(msg, sizeof(msg), "at most %d inputs per request", o->max_inputs);
        return bad(resp, "input", "too_many_inputs", msg);
    }
    *texts = mem_calloc((size_t)count, sizeof(char *));
    for (int i = 0; i < count; i++) {
        json_t *t = json_is_string(input) ? input : json_array_get(input, (size_t)i);
        char msg[160];
        if (!json_is_string(t)) {
            snprintf(msg, sizeof(msg), "input[%d] is not a string (token arrays are not supported)", i);
        } else if (json_string_length(t) == 0) {
            snprintf(msg, sizeof(msg), "input[%d] is empty", i);
        } else if (json_string_length(t) > o->max_input_bytes || memchr(json_string_value(t), 0, json_string_length(t))) {
            snprintf(msg, sizeof(msg), "input[%d] is over %zu bytes or holds a NUL", i, o->max_input_bytes);
        } else {
            (*texts)[i] = json_string_value(t);
            continue;
        }
        mem_free(*texts);
        *texts = NULL;
        return bad(resp, "input", "invalid_input", msg);
    }
    *n = count;
    return 0;
}

int embeddings_answer(live_index *li, embed_batcher *b, const embeddings_opts *o, const char *body, size_t len,
                      json_t **resp) {
    json_error_t jerr;
    json_t *root = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        char msg[300];
        snprintf(msg, sizeof(msg), "the body is not valid JSON: %s", jerr.text);
        return bad(resp, NULL, "invalid_json", msg);
    }
    live_version *lv = live_index_acquire(li);
    if (!lv) {
        json_decref(root);
        return oai_error(resp, 503, "server_error", NULL, "not_ready", "no index version is loaded yet");
    }
    embedder *e = lv->e;
    int status, n = 0, b64 = 0;
    const char **texts = NULL;
    if (e->remote && !o->allow_remote) {
        status = bad(resp, "model", "remote_embedder",
                     "this index embeds with a remote model; start ragd-serve with --embeddings-allow-remote to proxy it");
    } else if ((status = parse(o, e, root, &texts, &n, &b64, resp)) == 0) {
        float *vecs = mem_alloc(sizeof(float) * (size_t)n * (size_t)e->dim);
        char err[RAGD_ERR_LEN];
        int rc = embed_batcher_embed(b, e, texts, n, vecs, err);
        metrics_embed(1, rc != 0, 0);
        if (rc != 0) {
            status = oai_error(resp, 500, "server_error", NULL, "embedding_failed", err);
        } else {
            json_t *data = json_array(), *truncated = json_array();
            long long tokens = 0;
            for (int i = 0; i < n; i++) {
                int t = embedder_count_tokens(e, texts[i], strlen(texts[i]));
                if (e->max_tokens > 0 && t > e->max_tokens) {
                    json_array_append_new(truncated, json_integer(i));
                    t = e->max_tokens;
                }
                tokens += t;
                const float *v = vecs + (size_t)i * (size_t)e->dim;
                json_t *emb;
                if (b64) {
                    char *s = base64((const unsigned char *)v, sizeof(float) * (size_t)e->dim);
                    emb = json_string(s);
                    mem_free(s);
                } else {
                    emb = json_array();
                    for (int d = 0; d < e->dim; d++) json_array_append_new(emb, json_real(v[d]));
                }
                json_array_append_new(data, json_pack("{s:s, s:i, s:o}", "object", "embedding", "index", i,
                                                      "embedding", emb));
            }
            /* truncated_inputs: inputs cut at the model's limit, as the model does (a ragd field) */
            *resp = json_pack("{s:s, s:o, s:s, s:{s:I, s:I}, s:o}", "object", "list", "data", data, "model",
                              json_string_value(json_object_get(root, "model")), "usage", "prompt_tokens",
                              (json_int_t)tokens, "total_tokens", (json_int_t)tokens, "truncated_inputs", truncated);
            status = 200;
        }
        mem_free(vecs);
    }
    mem_free(texts);
    live_version_release(lv);
    json_decref(root);
    return status;
}

int embeddings_models(live_index *li, json_t **resp) {
    live_version *lv = live_index_acquire(li);
    if (!lv) return oai_error(resp, 503, "server_error", NULL, "not_ready", "no index version is loaded yet");
    *resp = json_pack("{s:s, s:[{s:s, s:s, s:i, s:s, s:i}]}", "object", "list", "data", "id", model_name(lv->e),
                      "object", "model", "created", 0, "owned_by", "ragd", "dimensions", lv->e->dim);
    live_version_release(lv);
    return 200;
}
