/* cache_codec.h - the byte formats of cache values in Redis: result lists, query vectors, semantic entries
 *
 * Values are read back from a Redis that other replicas (other versions,
 * other key embedders) share, so every decoder treats its input as
 * untrusted: exact lengths, counts within limits, finite floats, known
 * magic; anything else is refused, never half-read. No I/O here, so each
 * decoder has a fuzz harness (tests/fuzz/fuzz_cache_codec.c).
 *
 *   result list  "RRS2", u32 n, n x (u16 shard, i64 id, f32 score,
 *                f32 vector score, f32 keyword score, u8 found)
 *   query vector "RQV1", u32 dim, dim x f32
 *   semantic     "RSE2", group[64] (hex), i64 expires (wall ms), u32 dim,
 *   entry        u8 key-model length + key model id (127 bytes, zero
 *                padded), dim x f32 (the key vector), then the "tail":
 *                u16 text length + the query text, a result list (or
 *                an answer)
 *   answer       "RAN1", u32 n, n bytes of JSON (POST /v1/answer's cached
 *                answer: its text, citations, usage; the caller checks them)
 *
 * Little-endian throughout.
 */
#ifndef RAGD_CACHE_CODEC_H
#define RAGD_CACHE_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "fusion.h"

#define CODEC_HIT_BYTES 23
#define CODEC_MAX_DIM 16384
#define CODEC_MAX_HITS 10000
#define CODEC_ENTRY_HEAD (4 + 64 + 8 + 4 + 1 + 127)
#define CODEC_MAX_ANSWER (2u << 20)

char *codec_encode_results(const fused_hit *hits, int n, size_t *len);
/* 0 and hits[0..*n) if b is a valid result list of at most max hits. */
int codec_decode_results(const char *b, size_t len, int max, fused_hit *hits, int *n);

char *codec_encode_vector(const float *v, int dim, size_t *len);
/* 0 and v[0..dim) if b is a vector of exactly dim finite floats. */
int codec_decode_vector(const char *b, size_t len, int dim, float *v);

char *codec_encode_entry(const char *key_model, const char *group64, int64_t expires, const float *kvec, int kdim,
                         const char *text, size_t text_len, const char *results, size_t results_len, size_t *len);

/* A semantic entry's fields, pointing into the decoded bytes. */
typedef struct codec_entry {
    char group[65];
    int64_t expires;
    int dim;
    const char *key_model; /* key_model_len bytes */
    size_t key_model_len;
    const char *vec; /* dim floats, unaligned: copy them out */
    const char *tail; /* text and result list, as the mirror keeps it */
    size_t tail_len;
} codec_entry;

enum codec_entry_status { CODEC_ENTRY_OK = 0, CODEC_ENTRY_CORRUPT = -1, CODEC_ENTRY_FOREIGN = -2 };

/* CODEC_ENTRY_OK and *e for a valid entry (finite vector, hex group,
 * well-formed tail and result list); FOREIGN for another format version
 * ("RSE" + another digit); CORRUPT for anything else. */
int codec_decode_entry(const char *b, size_t len, codec_entry *e);

/* A tail: 0 and the text (and, if hits, the result list of at most max). */
int codec_decode_tail(const char *b, size_t len, int max, const char **text, size_t *tlen, fused_hit *hits, int *n);

/* An answer: "RAN1" + length + the JSON bytes (caller frees). */
char *codec_encode_answer(const char *json, size_t jlen, size_t *len);

/* 0 and the JSON bytes (not NUL-terminated, pointing into b) of a valid
 * answer of 1 to CODEC_MAX_ANSWER bytes; -1 otherwise. */
int codec_decode_answer(const char *b, size_t len, const char **json, size_t *jlen);

/* A semantic entry's tail holding an answer: 0, the query text and the JSON. */
int codec_decode_answer_tail(const char *b, size_t len, const char **text, size_t *tlen, const char **json,
                             size_t *jlen);

#endif
