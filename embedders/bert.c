/* bert.c - the native BERT sentence encoder (all-MiniLM-L6-v2 and same-layout models) on OpenBLAS
 *
 * Loads a sentence-transformers model folder (config.json, vocab.txt,
 * model.safetensors, sentence_bert_config.json, 1_Pooling/config.json,
 * tokenizer_config.json), checks every tensor's shape against the config,
 * and runs the encoder in fp32: word + position + token-type embeddings and
 * LayerNorm, then per layer self-attention and an erf-GELU feed-forward
 * block, each followed by a residual LayerNorm; then mean (or CLS) pooling
 * and L2 normalisation. The linear layers run on tensor.c's packed kernel
 * over all tokens of a batch packed together (no padding); attention runs
 * per sequence. Each text's vector is the same bits alone or in any batch.
 * The model is read-only after loading, so embed() may run on several
 * threads at once (each call has its own buffers). docs/embedders.md.
 */
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "embedder_impl.h"
#include "model_dir.h"
#include "err.h"
#include "fsio.h"
#include "mem.h"
#include "safetensors.h"
#include "sha256.h"
#include "tensor.h"
#include "wordpiece.h"

#define BERT_BATCH_TOKENS 4096 /* tokens per packed forward pass */

typedef struct bert_layer {
    const float *q_w, *q_b, *k_w, *k_b, *v_w, *v_b, *o_w, *o_b, *ln1_g, *ln1_b;
    const float *i_w, *i_b, *out_w, *out_b, *ln2_g, *ln2_b;
    float *qkv_w, *qkv_b;               /* Q, K, V stacked: one 3H x H product */
    tensor_weight qkv, o, up, down;     /* with the packed copies (tensor.h) */
} bert_layer;

typedef struct bert {
    embedder base; /* must be first: the embedder interface */
    safetensors *st;
    wordpiece *wp;
    int hidden, heads, layers, inter, max_pos, type_vocab, vocab, max_seq, pool_cls;
    float eps;
    const float *word, *pos, *type, *ln_g, *ln_b;
    bert_layer *L;
    tensor_kernel kernel; /* of the linear layers (--precision) */
    void *panels;         /* every layer's packed weights, one huge-page block */
} bert;

/* ---- loading ---- */

static json_t *load_json(const char *dir, const char *name, int required, char *err) {
    char *p = fsio_join(dir, name), *buf = NULL;
    json_t *j = NULL;
    if (!fsio_exists(p) && !required) {
        mem_free(p);
        return json_object();
    }
    if (fsio_read_file(p, 1u << 20, &buf, NULL, err) == 0) {
        json_error_t je;
        j = json_loads(buf, 0, &je);
        if (!j) err_set(err, "%s: invalid JSON: %s", p, je.text);
    }
    mem_free(buf);
    mem_free(p);
    return j;
}

static int cfg_int(json_t *cfg, const char *key, int lo, int hi, int *out, char *err) {
    json_t *v = json_object_get(cfg, key);
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return err_set(err, "config.json: \"%s\" must be an integer in %d..%d", key, lo, hi);
    *out = (int)json_integer_value(v);
    return RAGD_OK;
}

static int read_config(bert *m, const char *dir, char *err) {
    json_t *cfg = load_json(dir, "config.json", 1, err);
    if (!cfg) return RAGD_ERR;
    int rc = RAGD_ERR;
    json_t *act = json_object_get(cfg, "hidden_act"), *eps = json_object_get(cfg, "layer_norm_eps");
    json_t *pet = json_object_get(cfg, "position_embedding_type");
    if (cfg_int(cfg, "hidden_size", 8, 8192, &m->hidden, err) || cfg_int(cfg, "num_attention_heads", 1, 256, &m->heads, err) ||
        cfg_int(cfg, "num_hidden_layers", 1, 128, &m->layers, err) ||
        cfg_int(cfg, "intermediate_size", 8, 65536, &m->inter, err) ||
        cfg_int(cfg, "max_position_embeddings", 2, 65536, &m->max_pos, err) ||
        cfg_int(cfg, "type_vocab_size", 1, 1024, &m->type_vocab, err) ||
        cfg_int(cfg, "vocab_size", 8, 10000000, &m->vocab, err)) {
    } else if (!json_is_string(act) || strcmp(json_string_value(act), "gelu") != 0) {
        err_set(err, "config.json: hidden_act must be \"gelu\" (the erf form)");
    } else if (pet && (!json_is_string(pet) || strcmp(json_string_value(pet), "absolute") != 0)) {
        err_set(err, "config.json: only absolute position embeddings are supported");
    } else if (m->hidden % m->heads != 0) {
        err_set(err, "config.json: hidden_size %d is not a multiple of %d heads", m->hidden, m->heads);
    } else {
        m->eps = json_is_number(eps) ? (float)json_number_value(eps) : 1e-12f;
        rc = RAGD_OK;
    }
    json_decref(cfg);
    return rc;
}

static int read_st_configs(bert *m, const char *dir, int *lowercase, char *err) {
    json_t *sb = load_json(dir, "sentence_bert_config.json", 0, err);
    json_t *pool = sb ? load_json(dir, "1_Pooling/config.json", 0, err) : NULL;
    json_t *tok = pool ? load_json(dir, "tokenizer_config.json", 0, err) : NULL;
    int rc = RAGD_ERR;
    if (sb && pool && tok) {
        json_t *msl = json_object_get(sb, "max_seq_length");
        m->max_seq = json_is_integer(msl) ? (int)json_integer_value(msl) : 512;
        if (m->max_seq > m->max_pos) m->max_seq = m->max_pos;
        m->pool_cls = json_is_true(json_object_get(pool, "pooling_mode_cls_token"));
        json_t *lc = json_object_get(tok, "do_lower_case");
        *lowercase = lc ? json_is_true(lc) : 1;
        if (m->max_seq < 3) err_set(err, "sentence_bert_config.json: max_seq_length %d is too small", m->max_seq);
        else if (json_is_true(json_object_get(pool, "pooling_mode_max_tokens")))
            err_set(err, "1_Pooling/config.json: max pooling is not supported (mean or CLS)");
        else rc = RAGD_OK;
    }
    json_decref(sb);
    json_decref(pool);
    json_decref(tok);
    return rc;
}

/* Tensor by name, with or without the "bert." prefix some models use. */
static const float *w2(bert *m, const char *name, int64_t d0, int64_t d1, char *err) {
    int64_t shape[2] = {d0, d1};
    int nd = d1 > 0 ? 2 : 1;
    char full[256];
    snprintf(full, sizeof(full), "bert.%s", name);
    return st_get_f32(m->st, st_has(m->st, name) ? name : full, nd, shape, err);
}

static int map_weights(bert *m, char *err) {
    int H = m->hidden, I = m->inter;
    if (!(m->word = w2(m, "embeddings.word_embeddings.weight", m->vocab, H, err)) ||
        !(m->pos = w2(m, "embeddings.position_embeddings.weight", m->max_pos, H, err)) ||
        !(m->type = w2(m, "embeddings.token_type_embeddings.weight", m->type_vocab, H, err)) ||
        !(m->ln_g = w2(m, "embeddings.LayerNorm.weight", H, 0, err)) ||
        !(m->ln_b = w2(m, "embeddings.LayerNorm.bias", H, 0, err)))
        return RAGD_ERR;
    m->L = mem_calloc((size_t)m->layers, sizeof(bert_layer));
    tensor_kernel k = m->kernel;
    size_t per_layer = tensor_weight_bytes(k, 3 * H, H) + tensor_weight_bytes(k, H, H) + tensor_weight_bytes(k, I, H) +
                       tensor_weight_bytes(k, H, I);
    m->panels = tensor_panels_alloc(per_layer * (size_t)m->layers);
    for (int l = 0; l < m->layers; l++) {
        bert_layer *L = &m->L[l];
        char n[128];
#define W(field, suffix, d0, d1)                                          \
    snprintf(n, sizeof(n), "encoder.layer.%d.%s", l, suffix);            \
    if (!(L->field = w2(m, n, d0, d1, err))) return RAGD_ERR;
        W(q_w, "attention.self.query.weight", H, H) W(q_b, "attention.self.query.bias", H, 0)
        W(k_w, "attention.self.key.weight", H, H) W(k_b, "attention.self.key.bias", H, 0)
        W(v_w, "attention.self.value.weight", H, H) W(v_b, "attention.self.value.bias", H, 0)
        W(o_w, "attention.output.dense.weight", H, H) W(o_b, "attention.output.dense.bias", H, 0)
        W(ln1_g, "attention.output.LayerNorm.weight", H, 0) W(ln1_b, "attention.output.LayerNorm.bias", H, 0)
        W(i_w, "intermediate.dense.weight", I, H) W(i_b, "intermediate.dense.bias", I, 0)
        W(out_w, "output.dense.weight", H, I) W(out_b, "output.dense.bias", H, 0)
        W(ln2_g, "output.LayerNorm.weight", H, 0) W(ln2_b, "output.LayerNorm.bias", H, 0)
#undef W
        size_t hh = (size_t)H * (size_t)H;
        L->qkv_w = mem_alloc(sizeof(float) * 3 * hh);
        L->qkv_b = mem_alloc(sizeof(float) * 3 * (size_t)H);
        memcpy(L->qkv_w, L->q_w, sizeof(float) * hh);
        memcpy(L->qkv_w + hh, L->k_w, sizeof(float) * hh);
        memcpy(L->qkv_w + 2 * hh, L->v_w, sizeof(float) * hh);
        memcpy(L->qkv_b, L->q_b, sizeof(float) * (size_t)H);
        memcpy(L->qkv_b + H, L->k_b, sizeof(float) * (size_t)H);
        memcpy(L->qkv_b + 2 * H, L->v_b, sizeof(float) * (size_t)H);
        char *p = (char *)m->panels + per_layer * (size_t)l;
        L->qkv = tensor_weight_pack(k, L->qkv_w, 3 * H, H, p);
        p += tensor_weight_bytes(k, 3 * H, H);
        L->o = tensor_weight_pack(k, L->o_w, H, H, p);
        p += tensor_weight_bytes(k, H, H);
        L->up = tensor_weight_pack(k, L->i_w, I, H, p);
        p += tensor_weight_bytes(k, I, H);
        L->down = tensor_weight_pack(k, L->out_w, H, I, p);
    }
    return RAGD_OK;
}

static void free_layers(bert *m) {
    for (int l = 0; m->L && l < m->layers; l++) {
        bert_layer *L = &m->L[l];
        mem_free(L->qkv_w);
        mem_free(L->qkv_b);
    }
    mem_free(m->L);
    free(m->panels);
}

/* ---- forward pass ---- */

typedef struct work {
    tensor x, qkv, a, t, f;
    float *scratch;
} work;

static void work_alloc(work *w, const bert *m, int64_t T, int maxlen) {
    w->x = tensor_alloc(m->hidden, T);
    w->qkv = tensor_alloc(3 * m->hidden, T);
    w->a = tensor_alloc(m->hidden, T);
    w->t = tensor_alloc(m->hidden, T);
    w->f = tensor_alloc(m->inter, T);
    w->scratch = mem_alloc(sizeof(float) * tensor_attention_scratch(maxlen, m->hidden / m->heads));
}

static void work_free(work *w) {
    tensor_free(&w->x);
    tensor_free(&w->qkv);
    tensor_free(&w->a);
    tensor_free(&w->t);
    tensor_free(&w->f);
    mem_free(w->scratch);
}

static void embed_tokens(const bert *m, const int32_t *ids, const int *lens, int n, tensor *x) {
    int64_t row = 0;
    for (int s = 0; s < n; s++) {
        for (int p = 0; p < lens[s]; p++, row++) {
            float *o = tensor_row(x, row);
            const float *we = m->word + (size_t)ids[row] * m->hidden, *pe = m->pos + (size_t)p * m->hidden;
            for (int i = 0; i < m->hidden; i++) o[i] = we[i] + pe[i] + m->type[i];
        }
    }
    tensor_layernorm(x, m->ln_g, m->ln_b, m->eps);
}

/* One encoder layer; the biases of the last three products are added in
 * the pass that follows each (GELU, or residual + LayerNorm). */
static void layer_forward(const bert *m, const bert_layer *L, const int *lens, int n, work *w) {
    int H = m->hidden;
    tensor_linear(&w->x, &L->qkv, L->qkv_b, &w->qkv);
    int64_t r0 = 0;
    for (int s = 0; s < n; s++) {
        tensor q = tensor_view(&w->qkv, 0, H, r0, lens[s]), k = tensor_view(&w->qkv, H, H, r0, lens[s]);
        tensor v = tensor_view(&w->qkv, 2 * H, H, r0, lens[s]), a = tensor_view(&w->a, 0, H, r0, lens[s]);
        tensor_attention(&q, &k, &v, m->heads, &a, w->scratch);
        r0 += lens[s];
    }
    tensor_linear(&w->a, &L->o, NULL, &w->t);
    tensor_bias_add_layernorm(&w->t, L->o_b, &w->x, L->ln1_g, L->ln1_b, m->eps);
    tensor_linear(&w->t, &L->up, NULL, &w->f);
    tensor_bias_gelu(&w->f, L->i_b);
    tensor_linear(&w->f, &L->down, NULL, &w->x);
    tensor_bias_add_layernorm(&w->x, L->out_b, &w->t, L->ln2_g, L->ln2_b, m->eps);
}

static void pool(const bert *m, const tensor *x, const int *lens, int n, float *out) {
    int64_t r0 = 0;
    int H = m->hidden;
    for (int s = 0; s < n; s++, out += H) {
        memset(out, 0, sizeof(float) * (size_t)H);
        int rows = m->pool_cls ? 1 : lens[s];
        for (int r = 0; r < rows; r++) {
            const float *p = tensor_row(x, r0 + r);
            for (int i = 0; i < H; i++) out[i] += p[i];
        }
        double norm = 0;
        for (int i = 0; i < H; i++) norm += (double)out[i] * out[i];
        float inv = norm > 0 ? (float)(1.0 / sqrt(norm)) : 0.0f;
        for (int i = 0; i < H; i++) out[i] *= inv; /* mean then L2 == L2 of the sum */
        r0 += lens[s];
    }
}

/* One packed forward pass over n already-tokenised sequences. */
static void forward(const bert *m, const int32_t *ids, const int *lens, int n, float *out) {
    int64_t T = 0;
    int maxlen = 1;
    for (int s = 0; s < n; s++) {
        T += lens[s];
        maxlen = lens[s] > maxlen ? lens[s] : maxlen;
    }
    work w;
    work_alloc(&w, m, T, maxlen);
    embed_tokens(m, ids, lens, n, &w.x);
    for (int l = 0; l < m->layers; l++) layer_forward(m, &m->L[l], lens, n, &w);
    pool(m, &w.x, lens, n, out);
    work_free(&w);
}

static int bert_embed(embedder *e, const char *const *texts, int n, float *out, char *err) {
    (void)err;
    const bert *m = (const bert *)e;
    int32_t *ids = mem_alloc(sizeof(int32_t) * (size_t)m->max_seq * (size_t)(n > 0 ? n : 1));
    int *lens = mem_alloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
    int first = 0;
    int64_t tokens = 0;
    for (int i = 0; i < n; i++) {
        lens[i] = wp_encode(m->wp, texts[i], strlen(texts[i]), ids + tokens, m->max_seq);
        tokens += lens[i];
    }
    /* Pack consecutive texts into passes of at most BERT_BATCH_TOKENS. */
    int64_t off = 0, group_tokens = 0;
    for (int i = 0; i <= n; i++) {
        if (i == n || (group_tokens + lens[i] > BERT_BATCH_TOKENS && i > first)) {
            if (i > first) forward(m, ids + off, lens + first, i - first, out + (size_t)first * m->hidden);
            for (int j = first; j < i; j++) off += lens[j];
            first = i;
            group_tokens = 0;
        }
        if (i < n) group_tokens += lens[i];
    }
    mem_free(ids);
    mem_free(lens);
    return RAGD_OK;
}

static int bert_count_tokens(embedder *e, const char *text, size_t len) {
    return wp_count(((const bert *)e)->wp, text, len);
}

static void bert_destroy(embedder *e) {
    bert *m = (bert *)e;
    st_close(m->st);
    wp_free(m->wp);
    free_layers(m);
    mem_free(m);
}

static const struct embedder_vtable bert_vt = {bert_embed, bert_count_tokens, bert_destroy};

/* The weights' SHA-256, cached per process by path, size and mtime (so a
 * reload of the same model does not hash 90 MB again). */
static int weights_digest(const char *path, char out[SHA256_HEX_LEN + 1], char *err) {
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static char c_path[PATH_MAX], c_hex[SHA256_HEX_LEN + 1];
    static struct stat c_st;
    struct stat st;
    if (stat(path, &st) != 0) return err_set(err, "%s: missing", path);
    pthread_mutex_lock(&mu);
    int hit = strcmp(c_path, path) == 0 && c_st.st_size == st.st_size && c_st.st_mtime == st.st_mtime;
    if (hit) memcpy(out, c_hex, sizeof(c_hex));
    pthread_mutex_unlock(&mu);
    if (hit) return RAGD_OK;
    if (sha256_file(path, out, NULL, err) != 0) return RAGD_ERR;
    pthread_mutex_lock(&mu);
    snprintf(c_path, sizeof(c_path), "%s", path);
    memcpy(c_hex, out, sizeof(c_hex));
    c_st = st;
    pthread_mutex_unlock(&mu);
    return RAGD_OK;
}

/* --precision: auto (the default: the fastest path measured on this kind
 * of CPU, tensor_precision_auto(); docs/embedders.md), fp32, bf16 or int8.
 * bf16 or int8 on a CPU without their instructions runs the fp32 kernel,
 * and the model id then says fp32: the id names the vectors, not the
 * request. */
static int parse_precision(const char *s, tensor_precision *p, char *err) {
    if (tensor_precision_parse(s, p) != 0)
        return err_set(err, "precision \"%s\": expected " TENSOR_PRECISION_CHOICES, s);
    return RAGD_OK;
}

embedder *emb_bert_create(const embedder_opts *opts, char *err) {
    char dir[PATH_MAX], tried[4 * PATH_MAX];
    tensor_precision prec = TENSOR_FP32;
    if (parse_precision(opts->precision, &prec, err) != 0) return NULL;
    if (embedder_find_model(opts, dir, sizeof(dir), tried, sizeof(tried)) != 0) {
        err_set(err, "minilm: no model found; install it with `make model` or `make install`, or give "
                "--model DIR or RAGD_MODEL_DIR. Looked in %s", tried);
        return NULL;
    }
    bert *m = mem_calloc(1, sizeof(*m));
    m->kernel = tensor_kernel_for(prec);
    int lowercase = 1;
    char *wpath = fsio_join(dir, "model.safetensors"), *vpath = fsio_join(dir, "vocab.txt");
    char hex[SHA256_HEX_LEN + 1];
    int ok = read_config(m, dir, err) == 0 && read_st_configs(m, dir, &lowercase, err) == 0 &&
             weights_digest(wpath, hex, err) == 0 && (m->st = st_open(wpath, err)) != NULL &&
             map_weights(m, err) == 0 && (m->wp = wp_load(vpath, lowercase, err)) != NULL;
    if (ok && wp_vocab_size(m->wp) != m->vocab) {
        err_set(err, "%s: %d tokens, config.json says %d", vpath, wp_vocab_size(m->wp), m->vocab);
        ok = 0;
    }
    mem_free(wpath);
    mem_free(vpath);
    if (!ok) {
        err_prefix(err, "model %s", dir);
        bert_destroy(&m->base);
        return NULL;
    }
    m->base.vt = &bert_vt;
    snprintf(m->base.name, sizeof(m->base.name), "minilm");
    /* Independent of the folder name: the weights, pooling and length decide the vectors. */
    tensor_precision ran = tensor_kernel_precision(m->kernel);
    snprintf(m->base.model_id, sizeof(m->base.model_id), "bert-%.12s-%s-%d%s", hex, m->pool_cls ? "cls" : "mean",
             m->max_seq, ran == TENSOR_FP32 ? "" : ran == TENSOR_BF16 ? "-bf16" : "-int8");
    snprintf(m->base.precision, sizeof(m->base.precision), "%s", tensor_precision_name(ran));
    snprintf(m->base.kernel, sizeof(m->base.kernel), "%s", tensor_kernel_name(m->kernel));
    m->base.dim = m->hidden;
    m->base.max_tokens = m->max_seq - 2;
    m->base.uncased = lowercase;
    return &m->base;
}
