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

int embeddings_answer(live_index *li, embed_batcher *b, const embeddings_opts *o, const char *body, size_t len,
                      json_t **resp) {
    live_version *lv = live_index_acquire(li);
    if (!lv) return oai_error(resp, 503, "server_error", NULL, "not_ready", "no index version is loaded yet");
    int status = embeddings_answer_with(lv->e, b, o, body, len, resp);
    live_version_release(lv);
    return status;
}

int embeddings_answer_with(embedder *e, embed_batcher *b, const embeddings_opts *o, const char *body, size_t len,
                           json_t **resp) {
    if (!e) return oai_error(resp, 503, "server_error", NULL, "not_ready", "no index version is served yet");
    embeddings_request rq;
    api_error ae;
    int status;
    if (parse_embeddings_json(o, e, body, len, &rq, &ae) != 0) {
        status = oai_error(resp, ae.status, "invalid_request_error", ae.param, ae.code, ae.message);
    } else {
        int n = rq.n;
        float *vecs = mem_alloc(sizeof(float) * (size_t)n * (size_t)embedder_dim(e));
        char err[RAGD_ERR_LEN];
        int rc = embed_batcher_embed(b, e, rq.texts, n, vecs, err);
        metrics_embed(1, rc != 0, 0);
        if (rc != 0) {
            status = oai_error(resp, 500, "server_error", NULL, "embedding_failed", err);
        } else {
            json_t *data = json_array(), *truncated = json_array();
            long long tokens = 0;
            for (int i = 0; i < n; i++) {
                int t = embedder_count_tokens(e, rq.texts[i], strlen(rq.texts[i]));
                if (embedder_max_tokens(e) > 0 && t > embedder_max_tokens(e)) {
                    json_array_append_new(truncated, json_integer(i));
                    t = embedder_max_tokens(e);
                }
                tokens += t;
                const float *v = vecs + (size_t)i * (size_t)embedder_dim(e);
                json_t *emb;
                if (rq.b64) {
                    char *s = base64((const unsigned char *)v, sizeof(float) * (size_t)embedder_dim(e));
                    emb = json_string(s);
                    mem_free(s);
                } else {
                    emb = json_array();
                    for (int d = 0; d < embedder_dim(e); d++) json_array_append_new(emb, json_real(v[d]));
                }
                json_array_append_new(data, json_pack("{s:s, s:i, s:o}", "object", "embedding", "index", i,
                                                      "embedding", emb));
            }
            /* truncated_inputs: inputs cut at the model's limit, as the model does (a ragd field) */
            *resp = json_pack("{s:s, s:o, s:s, s:{s:I, s:I}, s:o}", "object", "list", "data", data, "model",
                              rq.model, "usage", "prompt_tokens", (json_int_t)tokens, "total_tokens",
                              (json_int_t)tokens, "truncated_inputs", truncated);
            status = 200;
        }
        mem_free(vecs);
    }
    embeddings_request_clear(&rq);
    return status;
}

int embeddings_models(live_index *li, json_t **resp) {
    live_version *lv = live_index_acquire(li);
    if (!lv) return oai_error(resp, 503, "server_error", NULL, "not_ready", "no index version is loaded yet");
    int status = embeddings_models_of(lv->e, resp);
    live_version_release(lv);
    return status;
}

int embeddings_models_of(embedder *e, json_t **resp) {
    if (!e) return oai_error(resp, 503, "server_error", NULL, "not_ready", "no index version is served yet");
    *resp = json_pack("{s:s, s:[{s:s, s:s, s:i, s:s, s:i}]}", "object", "list", "data", "id", embeddings_model_name(e),
                      "object", "model", "created", 0, "owned_by", "ragd", "dimensions", embedder_dim(e));
    return 200;
}
