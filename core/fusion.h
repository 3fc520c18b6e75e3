/* fusion.h - one ranked list from a vector list and a keyword list (hybrid search)
 *
 * Convex fusion (default): each list's scores are min-max normalised over
 * the candidates it returned (its best 1, its last 0), a chunk missing
 * from a list scores 0 there, and fused = alpha * vector + (1 - alpha) *
 * keyword. (Normalising by the theoretical minimum instead, Bruch et al.'s
 * TM2C2, scored lower on CISI: docs/search.md.) Bruch et al., "An
 * Analysis of Fusion Functions for Hybrid Retrieval" (TOIS 2023), found
 * this convex combination beats reciprocal rank fusion (RRF), which is
 * offered too: fused = 1/(60 + vector rank) + 1/(60 + keyword rank), ranks
 * from 1, absent lists add nothing. Ties keep the vector list's order.
 *
 *     fused_hit out[10];
 *     int n = fusion_fuse(FUSION_CONVEX, 0.5f, vec, nv, kw, nk, 10, out);
 */
#ifndef RAGD_FUSION_H
#define RAGD_FUSION_H

#include <stddef.h>
#include <stdint.h>

/* vector: nearest chunks by embedding; keyword: BM25 over the shards'
 * FTS5 indexes; hybrid: both lists fused. */
enum search_mode { MODE_VECTOR = 0, MODE_KEYWORD, MODE_HYBRID };

/* Candidates each list contributes to a hybrid fusion for k results. */
#define HYBRID_DEPTH(k) ((k) * 4 < 40 ? 40 : (k) * 4)

enum fusion_method { FUSION_CONVEX = 0, FUSION_RRF };

#define FUSION_RRF_K 60
#define FUSION_FOUND_VECTOR 1
#define FUSION_FOUND_KEYWORD 2

typedef struct ranked_hit {
    int64_t id;
    int shard;
    float score;
} ranked_hit;

typedef struct fused_hit {
    int64_t id;
    int shard;
    float score;                /* the fused score, higher is better */
    float vector_score, keyword_score; /* each list's own score (0 when absent) */
    int found;                  /* FUSION_FOUND_VECTOR | FUSION_FOUND_KEYWORD */
} fused_hit;

/* Fuse two lists (each best first, no duplicate ids within a list) into
 * the best k, written to out (k entries). Returns how many. */
int fusion_fuse(enum fusion_method m, float alpha, const ranked_hit *vec, int nv, const ranked_hit *kw, int nk,
                int k, fused_hit *out);

/* "convex" or "rrf" to a method: 0, or -1 for another name. */
int fusion_parse(const char *name, enum fusion_method *m);
const char *fusion_name(enum fusion_method m);

/* "vector", "keyword", "hybrid" to a mode: 0, or -1 for another name. */
int search_mode_parse(const char *name, size_t len, int *mode);
const char *search_mode_name(int mode);

#endif
