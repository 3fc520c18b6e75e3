/* fusion.c - one ranked list from a vector list and a keyword list (hybrid search) */
#include "fusion.h"

#include <stdlib.h>
#include <string.h>

#include "mem.h"

typedef struct cand {
    fused_hit h;
    int order; /* first seen: vector list, then keyword list */
} cand;

static void min_max(const ranked_hit *l, int n, float *lo, float *hi) {
    *lo = *hi = n ? l[0].score : 0.0f;
    for (int i = 1; i < n; i++) {
        if (l[i].score < *lo) *lo = l[i].score;
        if (l[i].score > *hi) *hi = l[i].score;
    }
}

/* A list's score mapped to [0, 1]; a list of one score (or equal scores) maps to 1. */
static float norm(float s, float lo, float hi) {
    return hi > lo ? (s - lo) / (hi - lo) : 1.0f;
}

static int by_score(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->h.score != y->h.score) return x->h.score < y->h.score ? 1 : -1;
    return x->order - y->order;
}

int fusion_fuse(enum fusion_method m, float alpha, const ranked_hit *vec, int nv, const ranked_hit *kw, int nk,
                int k, fused_hit *out) {
    cand *c = mem_calloc((size_t)(nv + nk) + 1, sizeof(cand));
    int n = 0;
    float vlo, vhi, klo, khi;
    min_max(vec, nv, &vlo, &vhi);
    min_max(kw, nk, &klo, &khi);
    for (int i = 0; i < nv; i++, n++) {
        c[n].h = (fused_hit){.id = vec[i].id, .shard = vec[i].shard, .vector_score = vec[i].score,
                             .found = FUSION_FOUND_VECTOR};
        c[n].h.score = m == FUSION_RRF ? 1.0f / (float)(FUSION_RRF_K + i + 1) : alpha * norm(vec[i].score, vlo, vhi);
        c[n].order = n;
    }
    for (int i = 0; i < nk; i++) {
        float add = m == FUSION_RRF ? 1.0f / (float)(FUSION_RRF_K + i + 1) : (1.0f - alpha) * norm(kw[i].score, klo, khi);
        int j = 0;
        while (j < nv && !(c[j].h.id == kw[i].id && c[j].h.shard == kw[i].shard)) j++;
        if (j == nv) {
            j = n++;
            c[j].h = (fused_hit){.id = kw[i].id, .shard = kw[i].shard};
            c[j].order = j;
        }
        c[j].h.score += add;
        c[j].h.keyword_score = kw[i].score;
        c[j].h.found |= FUSION_FOUND_KEYWORD;
    }
    qsort(c, (size_t)n, sizeof(cand), by_score);
    if (n > k) n = k;
    for (int i = 0; i < n; i++) out[i] = c[i].h;
    mem_free(c);
    return n;
}

int fusion_parse(const char *name, enum fusion_method *m) {
    if (!strcmp(name, "convex")) *m = FUSION_CONVEX;
    else if (!strcmp(name, "rrf")) *m = FUSION_RRF;
    else return -1;
    return 0;
}

const char *fusion_name(enum fusion_method m) {
    return m == FUSION_RRF ? "rrf" : "convex";
}

int search_mode_parse(const char *name, size_t len, int *mode) {
    static const char *const names[] = {"vector", "keyword", "hybrid"};
    for (int i = 0; i < 3; i++)
        if (strlen(names[i]) == len && !memcmp(names[i], name, len)) return *mode = i, 0;
    return -1;
}

const char *search_mode_name(int mode) {
    return mode == MODE_KEYWORD ? "keyword" : mode == MODE_HYBRID ? "hybrid" : "vector";
}
