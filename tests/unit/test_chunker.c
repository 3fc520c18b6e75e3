/* test_chunker.c - structure-aware, token-bounded chunks with overlap */
#include <stdlib.h>

#include "chunker.h"
#include "embedder.h"
#include "err.h"
#include "mem.h"
#include "test.h"
#include "text_extract.h"

static embedder *emb(void) {
    char err[RAGD_ERR_LEN];
    embedder_opts o = embedder_opts_default();
    return embedder_create("hash", &o, err);
}

/* Markdown with n paragraphs of about 40 words under nested headings. */
static char *long_markdown(int n) {
    size_t cap = (size_t)n * 400 + 200, at = 0;
    char *s = mem_alloc(cap);
    at += (size_t)snprintf(s + at, cap - at, "# Guide\n\n## Install\n\n");
    for (int p = 0; p < n; p++) {
        for (int w = 0; w < 40; w++)
            at += (size_t)snprintf(s + at, cap - at, "w%dx%d%s", p, w, w % 10 == 9 ? ". " : " ");
        at += (size_t)snprintf(s + at, cap - at, "\n\n");
    }
    return s;
}

TEST(test_bounded_and_complete) {
    embedder *e = emb();
    char err[RAGD_ERR_LEN];
    char *md = long_markdown(30);
    document d;
    text_extract(md, strlen(md), "file:///g.md", TEXT_MARKDOWN, &d);
    chunker_opts o = {.max_tokens = 64, .overlap = 10};
    chunk_span *c;
    int n;
    CHECK(chunker_split(&d, e, &o, &c, &n, err) == 0);
    CHECK(n > 15);
    for (int i = 0; i < n; i++) {
        CHECK(c[i].end > c[i].start && c[i].end <= d.text_len);
        CHECK(embedder_count_tokens(e, d.text + c[i].start, c[i].end - c[i].start) <= 64);
        CHECK(strcmp(c[i].headings, "[\"Guide\",\"Install\"]") == 0);
    }
    /* Every word of the text is in some chunk. */
    for (int p = 0; p < 30; p++) {
        char word[32];
        snprintf(word, sizeof(word), "w%dx39", p);
        size_t at = (size_t)(strstr(d.text, word) - d.text);
        int covered = 0;
        for (int i = 0; i < n; i++) covered |= at >= c[i].start && at < c[i].end;
        CHECK(covered);
    }
    /* Consecutive chunks overlap by at most 10 tokens, at least once. */
    int overlapped = 0;
    for (int i = 1; i < n; i++) {
        if (c[i].start < c[i - 1].end) {
            overlapped++;
            CHECK(embedder_count_tokens(e, d.text + c[i].start, c[i - 1].end - c[i].start) <= 10);
        }
    }
    CHECK(overlapped > 0);
    chunker_free(c, n);
    doc_clear(&d);
    mem_free(md);
    embedder_free(e);
}

TEST(test_small_doc_one_chunk_with_path) {
    embedder *e = emb();
    char err[RAGD_ERR_LEN];
    const char *md = "Preamble text here.\n\n# A\n\n## B\n\nUnder B.\n\n## C\n\nUnder C.\n\n# D\n\n## E\n";
    document d;
    text_extract(md, strlen(md), "file:///x.md", TEXT_MARKDOWN, &d);
    chunker_opts o = {.max_tokens = 100, .overlap = 0};
    chunk_span *c;
    int n;
    CHECK(chunker_split(&d, e, &o, &c, &n, err) == 0);
    CHECK_EQ_INT(n, 3); /* preamble, A>B (A has no text of its own), A>C; D>E is empty */
    CHECK(strcmp(c[0].headings, "[]") == 0);
    CHECK(strcmp(c[1].headings, "[\"A\",\"B\"]") == 0);
    CHECK(strncmp(d.text + c[1].start, "A\n\nB\n\nUnder B.", c[1].end - c[1].start) == 0);
    CHECK(strcmp(c[2].headings, "[\"A\",\"C\"]") == 0);
    chunker_free(c, n);
    doc_clear(&d);
    embedder_free(e);
}

TEST(test_long_sentence_and_empty_doc) {
    embedder *e = emb();
    char err[RAGD_ERR_LEN];
    char *s = mem_alloc(20000);
    size_t at = 0;
    for (int w = 0; w < 2000; w++) at += (size_t)sprintf(s + at, "word%d ", w);
    document d;
    text_extract(s, at, "file:///s.txt", TEXT_PLAIN, &d);
    chunker_opts o = {.max_tokens = 50, .overlap = 0};
    chunk_span *c;
    int n;
    CHECK(chunker_split(&d, e, &o, &c, &n, err) == 0);
    CHECK_EQ_INT(n, 40);
    for (int i = 0; i < n; i++) CHECK_EQ_INT(c[i].tokens, 50);
    chunker_free(c, n);
    doc_clear(&d);
    mem_free(s);
    text_extract("  \n\n \n", 6, "file:///e.txt", TEXT_PLAIN, &d);
    CHECK(chunker_split(&d, e, &o, &c, &n, err) == 0);
    CHECK_EQ_INT(n, 0);
    chunker_free(c, n);
    doc_clear(&d);
    embedder_free(e);
}

TEST(test_bad_options) {
    embedder *e = emb();
    char err[RAGD_ERR_LEN];
    chunker_opts o = {.max_tokens = 4, .overlap = 0};
    CHECK(chunker_check_opts(&o, e, err) == -1);
    o = (chunker_opts){.max_tokens = 100, .overlap = 60};
    CHECK(chunker_check_opts(&o, e, err) == -1);
    CHECK_CONTAINS(err, "overlap");
    o = (chunker_opts){.max_tokens = 100, .overlap = -1};
    CHECK(chunker_check_opts(&o, e, err) == -1);
    embedder_free(e);
}

int main(void) {
    RUN(test_bounded_and_complete);
    RUN(test_small_doc_one_chunk_with_path);
    RUN(test_long_sentence_and_empty_doc);
    RUN(test_bad_options);
    return test_summary("chunker");
}
