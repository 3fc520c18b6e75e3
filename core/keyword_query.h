/* keyword_query.h - user text to the words a keyword search looks up, never FTS5 syntax
 *
 * A search box's text is not an FTS5 expression: quotes, NEAR, *, -, ^,
 * column filters ("title:") and parentheses would change the query or fail
 * to parse. The text is split into words (runs of Unicode letters, digits
 * and marks; everything else separates) and English stopwords are dropped
 * (stopwords.h); the keyword index then stems each word with the shard's
 * own tokenizer and ranks chunks by BM25 over all of them (OR semantics).
 * "How do I use asyncio.gather()?" becomes use, asyncio, gather.
 *
 *     char **w;
 *     int n = keyword_words("NEAR(\"x\" y)*", 13, &w);   // NEAR, x, y
 *     ... kwindex_search(ki, (const char *const *)w, n, 40, ids, scores);
 *     keyword_words_free(w, n);
 */
#ifndef RAGD_KEYWORD_QUERY_H
#define RAGD_KEYWORD_QUERY_H

#include <stddef.h>

#define KEYWORD_MAX_TERMS 64      /* words after the first 64 are ignored */
#define KEYWORD_MAX_TERM_BYTES 64 /* a longer word is cut (at a character boundary) */

/* The words of text[0..len) (*words: caller frees with keyword_words_free).
 * Returns how many; 0 when the text holds no word but stopwords (or only
 * punctuation and spaces). */
int keyword_words(const char *text, size_t len, char ***words);

/* The same, keeping stopwords when keep_stopwords (phrases: "Tuning the
 * scheduler" must keep "the" to match the words in order). */
int keyword_split(const char *text, size_t len, int keep_stopwords, char ***words);

void keyword_words_free(char **words, int n);

#endif
