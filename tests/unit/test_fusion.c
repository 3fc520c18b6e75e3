/* test_fusion.c - hybrid fusion arithmetic on fixed lists, and query words that never leak FTS5 syntax */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fusion.h"
#include "keyword_query.h"
#include "mem.h"
#include "test.h"

static int near(float a, float b) {
    return fabsf(a - b) < 1e-6f;
}

TEST(test_convex_fusion) {
    /* vector scores 0.9, 0.7, 0.5 -> 1, 0.5, 0; keyword 10, 4 -> 1, 0 */
    ranked_hit vec[] = {{1, 0, 0.9f}, {2, 0, 0.7f}, {3, 1, 0.5f}};
    ranked_hit kw[] = {{3, 1, 10.0f}, {4, 0, 4.0f}};
    fused_hit out[4];
    int n = fusion_fuse(FUSION_CONVEX, 0.5f, vec, 3, kw, 2, 4, out);
    CHECK_EQ_INT(n, 4);
    /* 1: 0.5*1 = 0.5; 2: 0.25; 3: 0.5*0 + 0.5*1 = 0.5; 4: 0. Ties keep the vector list's order. */
    CHECK(out[0].id == 1 && near(out[0].score, 0.5f) && out[0].found == FUSION_FOUND_VECTOR);
    CHECK(out[1].id == 3 && near(out[1].score, 0.5f) && out[1].found == (FUSION_FOUND_VECTOR | FUSION_FOUND_KEYWORD));
    CHECK(near(out[1].vector_score, 0.5f) && near(out[1].keyword_score, 10.0f) && out[1].shard == 1);
    CHECK(out[2].id == 2 && near(out[2].score, 0.25f));
    CHECK(out[3].id == 4 && near(out[3].score, 0.0f) && out[3].found == FUSION_FOUND_KEYWORD);
    /* alpha 0 is the keyword order (a list's last candidate normalises to 0,
     * like an absent one: the tie keeps the vector list's order), alpha 1
     * the vector order */
    n = fusion_fuse(FUSION_CONVEX, 0.0f, vec, 3, kw, 2, 2, out);
    CHECK(n == 2 && out[0].id == 3 && out[1].id == 1);
    n = fusion_fuse(FUSION_CONVEX, 1.0f, vec, 3, kw, 2, 3, out);
    CHECK(n == 3 && out[0].id == 1 && out[1].id == 2 && out[2].id == 3);
}

TEST(test_same_id_other_shard_is_another_chunk) {
    ranked_hit vec[] = {{7, 0, 0.9f}};
    ranked_hit kw[] = {{7, 1, 3.0f}};
    fused_hit out[2];
    CHECK_EQ_INT(fusion_fuse(FUSION_CONVEX, 0.5f, vec, 1, kw, 1, 2, out), 2);
}

TEST(test_rrf_fusion) {
    ranked_hit vec[] = {{1, 0, 0.9f}, {2, 0, 0.8f}};
    ranked_hit kw[] = {{2, 0, 5.0f}, {3, 0, 1.0f}};
    fused_hit out[3];
    int n = fusion_fuse(FUSION_RRF, 0.5f, vec, 2, kw, 2, 3, out);
    CHECK_EQ_INT(n, 3);
    CHECK(out[0].id == 2 && near(out[0].score, 1.0f / 62 + 1.0f / 61));
    CHECK(out[1].id == 1 && near(out[1].score, 1.0f / 61));
    CHECK(out[2].id == 3 && near(out[2].score, 1.0f / 62));
}

TEST(test_one_list_empty_or_flat) {
    ranked_hit kw[] = {{5, 0, 2.0f}, {6, 0, 2.0f}};
    fused_hit out[2];
    /* equal scores normalise to 1 (not a division by zero) */
    CHECK_EQ_INT(fusion_fuse(FUSION_CONVEX, 0.3f, NULL, 0, kw, 2, 2, out), 2);
    CHECK(near(out[0].score, 0.7f) && near(out[1].score, 0.7f) && out[0].id == 5);
    CHECK_EQ_INT(fusion_fuse(FUSION_CONVEX, 0.3f, NULL, 0, NULL, 0, 2, out), 0);
    enum fusion_method m;
    CHECK(fusion_parse("rrf", &m) == 0 && m == FUSION_RRF && fusion_parse("RRF", &m) == -1);
    int mode;
    CHECK(search_mode_parse("hybrid", 6, &mode) == 0 && mode == MODE_HYBRID && search_mode_parse("hybri", 5, &mode) < 0);
}

static int words(const char *text, const char *want) {
    char **w;
    int n = keyword_words(text, strlen(text), &w);
    char got[1024] = "";
    for (int i = 0; i < n; i++) {
        if (i) strcat(got, "|");
        strcat(got, w[i]);
    }
    keyword_words_free(w, n);
    if (strcmp(got, want) != 0) printf("    \"%s\" -> \"%s\", expected \"%s\"\n", text, got, want);
    return strcmp(got, want) == 0;
}

TEST(test_query_words_never_carry_syntax) {
    CHECK(words("How do I use asyncio.gather()?", "use|asyncio|gather"));
    CHECK(words("NEAR(\"x\" y)*", "NEAR|x|y"));
    CHECK(words("title:foo -bar ^baz \"unbalanced (((", "title|foo|bar|baz|unbalanced"));
    CHECK(words("zorblax_frobnicate v2.0", "zorblax|frobnicate|v2|0"));
    CHECK(words("The of and", ""));
    CHECK(words("?!... ---", ""));
    CHECK(words("caf\xc3\xa9 na\xc3\xafve \xe4\xb8\xad\xe6\x96\x87", "caf\xc3\xa9|na\xc3\xafve|\xe4\xb8\xad\xe6\x96\x87"));
    CHECK(words("bad \xff\xfe utf8", "bad|utf8"));
    /* long words are cut at a character boundary, at most 64 words */
    char big[400];
    memset(big, 0, sizeof(big));
    for (int i = 0; i < 100; i++) memcpy(big + 3 * i, "\xc3\xa9", 2), big[3 * i + 2] = 'x';
    char **w;
    int n = keyword_words(big, strlen(big), &w);
    CHECK(n == 1 && strlen(w[0]) <= KEYWORD_MAX_TERM_BYTES && strlen(w[0]) % 3 == 0);
    keyword_words_free(w, n);
    char many[2000] = "";
    for (int i = 0; i < 100; i++) sprintf(many + strlen(many), "w%d ", i);
    n = keyword_words(many, strlen(many), &w);
    CHECK_EQ_INT(n, KEYWORD_MAX_TERMS);
    keyword_words_free(w, n);
}

int main(void) {
    RUN(test_convex_fusion);
    RUN(test_same_id_other_shard_is_another_chunk);
    RUN(test_rrf_fusion);
    RUN(test_one_list_empty_or_flat);
    RUN(test_query_words_never_carry_syntax);
    return test_summary("fusion");
}
