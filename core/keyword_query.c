/* keyword_query.c - user text to the words a keyword search looks up, never FTS5 syntax */
#include "keyword_query.h"

#include <string.h>
#include <utf8proc.h>

#include "mem.h"
#include "stopwords.h"

static int word_char(utf8proc_int32_t c) {
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT: case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
        return 1;
    default:
        return 0;
    }
}

int keyword_split(const char *text, size_t len, int keep_stopwords, char ***words) {
    char **out = mem_calloc(KEYWORD_MAX_TERMS, sizeof(char *));
    size_t i = 0;
    int n = 0;
    while (i < len && n < KEYWORD_MAX_TERMS) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)text + i, (utf8proc_ssize_t)(len - i), &c);
        if (k <= 0) { /* invalid UTF-8: a separator */
            i++;
            continue;
        }
        if (!word_char(c)) {
            i += (size_t)k;
            continue;
        }
        size_t start = i, keep = 0; /* keep: bytes within KEYWORD_MAX_TERM_BYTES, whole characters */
        while (i < len) {
            k = utf8proc_iterate((const utf8proc_uint8_t *)text + i, (utf8proc_ssize_t)(len - i), &c);
            if (k <= 0 || !word_char(c)) break;
            if (i + (size_t)k - start <= KEYWORD_MAX_TERM_BYTES) keep = i + (size_t)k - start;
            i += (size_t)k;
        }
        if (keep_stopwords || !stopword_en(text + start, i - start)) out[n++] = mem_strndup(text + start, keep);
    }
    *words = out;
    return n;
}

int keyword_words(const char *text, size_t len, char ***words) {
    return keyword_split(text, len, 0, words);
}

void keyword_words_free(char **words, int n) {
    for (int i = 0; i < n; i++) mem_free(words[i]);
    mem_free(words);
}
