/* stopwords.h - English words that carry no topic of their own
 *
 * Used where a word's presence should not count: the keyword query drops
 * them (BM25 gives them almost no weight anyway, and their posting lists
 * are the longest, so they cost the most), and the semantic cache's guard
 * ignores them when it compares two queries. Other languages keep all
 * their words.
 *
 *     if (!stopword_en("The", 3)) ...;   // ASCII case-insensitive
 */
#ifndef RAGD_STOPWORDS_H
#define RAGD_STOPWORDS_H

#include <stddef.h>

/* 1 if word[0..len) is an English stopword (ASCII case folded). */
int stopword_en(const char *word, size_t len);

#endif
