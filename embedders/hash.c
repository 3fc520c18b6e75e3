/* hash.c - the dependency-free hashing embedder: signed feature hashing of words and bigrams
 *
 * Words are maximal runs of Unicode letters, digits and '_' (utf8proc
 * categories), lowercased. Every unigram and adjacent bigram is hashed
 * (FNV-1a 64); the low bits pick a dimension and the top bit a sign, and a
 * term seen tf times adds 1 + ln(tf) (sublinear tf). The vector is then
 * L2-normalised. Deterministic across runs and machines; used by tests and
 * as a fallback when no model is installed.
 */
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "embedder_impl.h"
#include "err.h"
#include "mem.h"

#define HASH_MAX_DIM 16384
#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

static int is_word_char(utf8proc_int32_t cp) {
    if (cp == '_') return 1;
    switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
        return 1;
    default:
        return 0;
    }
}

static uint64_t fnv_byte(uint64_t h, uint8_t b) {
    return (h ^ b) * FNV_PRIME;
}

/* Calls fn(word_hash, ctx) for each lowercased word of text; returns the
 * number of words. Invalid UTF-8 bytes separate words. */
static int each_word(const char *text, size_t len, void (*fn)(uint64_t, void *), void *ctx) {
    const uint8_t *p = (const uint8_t *)text;
    size_t i = 0;
    int words = 0, in_word = 0;
    uint64_t h = FNV_OFFSET;
    while (i < len) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate(p + i, (utf8proc_ssize_t)(len - i), &cp);
        if (n <= 0) cp = -1, n = 1;
        if (cp >= 0 && is_word_char(cp)) {
            uint8_t buf[4];
            utf8proc_ssize_t m = utf8proc_encode_char(utf8proc_tolower(cp), buf);
            for (utf8proc_ssize_t j = 0; j < m; j++) h = fnv_byte(h, buf[j]);
            in_word = 1;
        } else if (in_word) {
            if (fn) fn(h, ctx);
            words++;
            h = FNV_OFFSET;
            in_word = 0;
        }
        i += (size_t)n;
    }
    if (in_word) {
        if (fn) fn(h, ctx);
        words++;
    }
    return words;
}

typedef struct terms {
    uint64_t *h;
    size_t n, cap;
    uint64_t prev;
    int have_prev;
} terms;

static void terms_push(terms *t, uint64_t h) {
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 256;
        t->h = mem_realloc(t->h, sizeof(uint64_t) * t->cap);
    }
    t->h[t->n++] = h;
}

static void add_word(uint64_t h, void *ctx) {
    terms *t = ctx;
    terms_push(t, h);
    if (t->have_prev) {
        /* Bigram: mix both word hashes so "a b" differs from "b a". */
        uint64_t b = FNV_OFFSET;
        for (int i = 0; i < 8; i++) b = fnv_byte(b, (uint8_t)(t->prev >> (8 * i)));
        b = fnv_byte(b, ' ');
        for (int i = 0; i < 8; i++) b = fnv_byte(b, (uint8_t)(h >> (8 * i)));
        terms_push(t, b);
    }
    t->prev = h;
    t->have_prev = 1;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void hash_one(int dim, const char *text, float *out) {
    terms t = {0};
    each_word(text, strlen(text), add_word, &t);
    memset(out, 0, sizeof(float) * (size_t)dim);
    if (t.n > 1) qsort(t.h, t.n, sizeof(uint64_t), cmp_u64);
    for (size_t i = 0; i < t.n;) {
        size_t j = i;
        while (j < t.n && t.h[j] == t.h[i]) j++;
        float w = 1.0f + logf((float)(j - i));
        uint64_t h = t.h[i];
        out[(h & 0x7fffffffffffffffULL) % (uint64_t)dim] += (h >> 63) ? -w : w;
        i = j;
    }
    mem_free(t.h);
    double norm = 0;
    for (int d = 0; d < dim; d++) norm += (double)out[d] * out[d];
    if (norm > 0) {
        float inv = (float)(1.0 / sqrt(norm));
        for (int d = 0; d < dim; d++) out[d] *= inv;
    }
}

static int hash_embed(embedder *e, const char *const *texts, int n, float *out, char *err) {
    (void)err;
    for (int i = 0; i < n; i++) hash_one(e->dim, texts[i], out + (size_t)i * (size_t)e->dim);
    return RAGD_OK;
}

static int hash_count_tokens(embedder *e, const char *text, size_t len) {
    (void)e;
    return each_word(text, len, NULL, NULL);
}

static void hash_destroy(embedder *e) {
    mem_free(e);
}

static const struct embedder_vtable hash_vt = {hash_embed, hash_count_tokens, hash_destroy};

embedder *emb_hash_create(const embedder_opts *opts, char *err) {
    if (opts->dim < 8 || opts->dim > HASH_MAX_DIM) {
        err_set(err, "hash embedder: dim %d out of range 8..%d", opts->dim, HASH_MAX_DIM);
        return NULL;
    }
    embedder *e = mem_calloc(1, sizeof(*e));
    e->vt = &hash_vt;
    snprintf(e->name, sizeof(e->name), "hash");
    snprintf(e->model_id, sizeof(e->model_id), "hash-v1-d%d", opts->dim);
    e->dim = opts->dim;
    e->max_tokens = 1 << 20;
    e->uncased = 1;
    return e;
}
