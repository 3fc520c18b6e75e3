/* fuzz_cache_codec.c - cache values read back from a shared Redis (cache/cache_codec.c)
 *
 * The same bytes go to every decoder: result list, query vector (at the
 * dim the first bytes suggest), semantic entry and its tail, answer and
 * answer tail. Checked:
 * what decodes is within its limits and finite, and re-encoding a decoded
 * result list or vector gives back exactly the bytes read.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "cache_codec.h"
#include "mem.h"

#define MAX_HITS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *b = (const char *)data;
    fused_hit hits[MAX_HITS];
    int n = -1;
    if (codec_decode_results(b, size, MAX_HITS, hits, &n) == 0) {
        if (n < 0 || n > MAX_HITS) __builtin_trap();
        size_t len;
        char *again = codec_encode_results(hits, n, &len);
        if (len != size || memcmp(again, b, len) != 0) __builtin_trap();
        mem_free(again);
    }
    int dim = size >= 8 ? (int)((size - 8) / sizeof(float)) : 0;
    if (dim <= CODEC_MAX_DIM) {
        float *v = mem_alloc(sizeof(float) * (size_t)(dim > 0 ? dim : 1));
        if (codec_decode_vector(b, size, dim, v) == 0) {
            for (int i = 0; i < dim; i++)
                if (!isfinite(v[i])) __builtin_trap();
            size_t len;
            char *again = codec_encode_vector(v, dim, &len);
            if (len != size || memcmp(again, b, len) != 0) __builtin_trap();
            mem_free(again);
        }
        mem_free(v);
    }
    codec_entry e;
    if (codec_decode_entry(b, size, &e) == CODEC_ENTRY_OK) {
        if (e.dim < 1 || e.dim > CODEC_MAX_DIM || e.key_model_len > 127 || strlen(e.group) != 64) __builtin_trap();
        if (e.tail < b || e.tail + e.tail_len != b + size) __builtin_trap();
        for (int i = 0; i < e.dim; i++) {
            float x;
            memcpy(&x, e.vec + sizeof(float) * (size_t)i, sizeof(x));
            if (!isfinite(x)) __builtin_trap();
        }
        const char *text;
        size_t tlen;
        if (codec_decode_tail(e.tail, e.tail_len, MAX_HITS, &text, &tlen, hits, &n) == 0 &&
            (text + tlen > b + size || n > MAX_HITS))
            __builtin_trap();
    }
    const char *text, *json;
    size_t tlen, jlen;
    if (codec_decode_tail(b, size, MAX_HITS, &text, &tlen, hits, &n) == 0 && text + tlen > b + size) __builtin_trap();
    if (codec_decode_answer(b, size, &json, &jlen) == 0) {
        if (jlen < 1 || jlen > CODEC_MAX_ANSWER || json + jlen != b + size) __builtin_trap();
        size_t len;
        char *again = codec_encode_answer(json, jlen, &len);
        if (len != size || memcmp(again, b, len) != 0) __builtin_trap();
        mem_free(again);
    }
    if (codec_decode_answer_tail(b, size, &text, &tlen, &json, &jlen) == 0 &&
        (text + tlen > json || json + jlen != b + size))
        __builtin_trap();
    return 0;
}
