/* cache_codec.c - the byte formats of cache values in Redis: result lists, query vectors, semantic entries */
#include "cache_codec.h"

#include <ctype.h>
#include <math.h>
#include <string.h>

#include "mem.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "cache values are written in little-endian byte order"
#endif

char *codec_encode_results(const fused_hit *hits, int n, size_t *len) {
    *len = 8 + (size_t)n * CODEC_HIT_BYTES;
    char *b = mem_alloc(*len), *p = b + 8;
    uint32_t un = (uint32_t)n;
    memcpy(b, "RRS2", 4);
    memcpy(b + 4, &un, 4);
    for (int i = 0; i < n; i++, p += CODEC_HIT_BYTES) {
        uint16_t s = (uint16_t)hits[i].shard;
        memcpy(p, &s, 2);
        memcpy(p + 2, &hits[i].id, 8);
        memcpy(p + 10, &hits[i].score, 4);
        memcpy(p + 14, &hits[i].vector_score, 4);
        memcpy(p + 18, &hits[i].keyword_score, 4);
        p[22] = (char)hits[i].found;
    }
    return b;
}

int codec_decode_results(const char *b, size_t len, int max, fused_hit *hits, int *n) {
    uint32_t un;
    if (len < 8 || memcmp(b, "RRS2", 4) != 0) return -1;
    memcpy(&un, b + 4, 4);
    if (max < 0 || un > (uint32_t)max || len != 8 + (size_t)un * CODEC_HIT_BYTES) return -1;
    const char *p = b + 8;
    for (uint32_t i = 0; i < un; i++, p += CODEC_HIT_BYTES) {
        uint16_t s;
        memcpy(&s, p, 2);
        memcpy(&hits[i].id, p + 2, 8);
        memcpy(&hits[i].score, p + 10, 4);
        memcpy(&hits[i].vector_score, p + 14, 4);
        memcpy(&hits[i].keyword_score, p + 18, 4);
        hits[i].found = (unsigned char)p[22];
        hits[i].shard = s;
        if (hits[i].id < 0 || !isfinite(hits[i].score) || !isfinite(hits[i].vector_score) ||
            !isfinite(hits[i].keyword_score) || hits[i].found < 1 || hits[i].found > 3)
            return -1;
    }
    *n = (int)un;
    return 0;
}

char *codec_encode_vector(const float *v, int dim, size_t *len) {
    *len = 8 + sizeof(float) * (size_t)dim;
    char *b = mem_alloc(*len);
    uint32_t d = (uint32_t)dim;
    memcpy(b, "RQV1", 4);
    memcpy(b + 4, &d, 4);
    memcpy(b + 8, v, sizeof(float) * (size_t)dim);
    return b;
}

int codec_decode_vector(const char *b, size_t len, int dim, float *v) {
    uint32_t d;
    if (dim < 0 || len != 8 + sizeof(float) * (size_t)dim || memcmp(b, "RQV1", 4) != 0) return -1;
    memcpy(&d, b + 4, 4);
    if (d != (uint32_t)dim) return -1;
    memcpy(v, b + 8, sizeof(float) * (size_t)dim);
    for (int i = 0; i < dim; i++)
        if (!isfinite(v[i])) return -1;
    return 0;
}

char *codec_encode_entry(const char *key_model, const char *group64, int64_t expires, const float *kvec, int kdim,
                         const char *text, size_t text_len, const char *results, size_t results_len, size_t *len) {
    size_t vbytes = sizeof(float) * (size_t)kdim;
    *len = CODEC_ENTRY_HEAD + vbytes + 2 + text_len + results_len;
    char *b = mem_calloc(1, *len), *p = b + CODEC_ENTRY_HEAD;
    uint32_t d = (uint32_t)kdim;
    uint16_t tl = (uint16_t)text_len;
    size_t ml = strlen(key_model);
    memcpy(b, "RSE2", 4);
    memcpy(b + 4, group64, 64);
    memcpy(b + 68, &expires, 8);
    memcpy(b + 76, &d, 4);
    b[80] = (char)(unsigned char)(ml > 127 ? 127 : ml);
    memcpy(b + 81, key_model, ml > 127 ? 127 : ml);
    memcpy(p, kvec, vbytes);
    p += vbytes;
    memcpy(p, &tl, 2);
    memcpy(p + 2, text, text_len);
    memcpy(p + 2 + text_len, results, results_len);
    return b;
}

int codec_decode_tail(const char *b, size_t len, int max, const char **text, size_t *tlen, fused_hit *hits, int *n) {
    uint16_t tl;
    if (len < 2) return -1;
    memcpy(&tl, b, 2);
    if ((size_t)tl + 2 > len) return -1;
    *text = b + 2;
    *tlen = tl;
    return hits ? codec_decode_results(b + 2 + tl, len - 2 - tl, max, hits, n) : 0;
}

int codec_decode_entry(const char *b, size_t len, codec_entry *e) {
    if (len < 4) return CODEC_ENTRY_CORRUPT;
    if (memcmp(b, "RSE", 3) == 0 && memcmp(b, "RSE2", 4) != 0) return CODEC_ENTRY_FOREIGN;
    if (len < CODEC_ENTRY_HEAD || memcmp(b, "RSE2", 4) != 0) return CODEC_ENTRY_CORRUPT;
    uint32_t dim;
    memcpy(&e->expires, b + 68, 8);
    memcpy(&dim, b + 76, 4);
    memcpy(e->group, b + 4, 64);
    e->group[64] = '\0';
    for (int i = 0; i < 64; i++)
        if (!isxdigit((unsigned char)e->group[i])) return CODEC_ENTRY_CORRUPT;
    e->key_model_len = (unsigned char)b[80];
    if (dim == 0 || dim > CODEC_MAX_DIM || e->key_model_len > 127 || len < CODEC_ENTRY_HEAD + sizeof(float) * dim)
        return CODEC_ENTRY_CORRUPT;
    e->dim = (int)dim;
    e->key_model = b + 81;
    e->vec = b + CODEC_ENTRY_HEAD;
    for (uint32_t i = 0; i < dim; i++) { /* a NaN would make every cosine against it false, an inf every one true */
        float x;
        memcpy(&x, e->vec + sizeof(float) * i, sizeof(float));
        if (!isfinite(x)) return CODEC_ENTRY_CORRUPT;
    }
    size_t vbytes = sizeof(float) * dim;
    e->tail = b + CODEC_ENTRY_HEAD + vbytes;
    e->tail_len = len - CODEC_ENTRY_HEAD - vbytes;
    const char *text;
    size_t tlen;
    if (codec_decode_tail(e->tail, e->tail_len, 0, &text, &tlen, NULL, NULL) != 0) return CODEC_ENTRY_CORRUPT;
    /* after the text: a result list (a count and that many hits) or an answer */
    size_t off = CODEC_ENTRY_HEAD + vbytes + 2 + tlen;
    uint32_t un;
    const char *json;
    size_t jlen;
    if (len >= off + 4 && memcmp(b + off, "RAN1", 4) == 0)
        return codec_decode_answer(b + off, len - off, &json, &jlen) == 0 ? CODEC_ENTRY_OK : CODEC_ENTRY_CORRUPT;
    if (len < off + 8 || memcmp(b + off, "RRS2", 4) != 0) return CODEC_ENTRY_CORRUPT;
    memcpy(&un, b + off + 4, 4);
    if (un > CODEC_MAX_HITS || len != off + 8 + (size_t)un * CODEC_HIT_BYTES) return CODEC_ENTRY_CORRUPT;
    return CODEC_ENTRY_OK;
}

char *codec_encode_answer(const char *json, size_t jlen, size_t *len) {
    uint32_t n = (uint32_t)jlen;
    *len = 8 + jlen;
    char *b = mem_alloc(*len + 1);
    memcpy(b, "RAN1", 4);
    memcpy(b + 4, &n, 4);
    memcpy(b + 8, json, jlen);
    b[*len] = '\0';
    return b;
}

int codec_decode_answer(const char *b, size_t len, const char **json, size_t *jlen) {
    uint32_t n;
    if (len < 8 || memcmp(b, "RAN1", 4) != 0) return -1;
    memcpy(&n, b + 4, 4);
    if (n == 0 || n > CODEC_MAX_ANSWER || len != 8 + (size_t)n) return -1;
    *json = b + 8;
    *jlen = n;
    return 0;
}

int codec_decode_answer_tail(const char *b, size_t len, const char **text, size_t *tlen, const char **json,
                             size_t *jlen) {
    if (codec_decode_tail(b, len, 0, text, tlen, NULL, NULL) != 0) return -1;
    return codec_decode_answer(b + 2 + *tlen, len - 2 - *tlen, json, jlen);
}
