/* wordpiece.h - the BERT uncased tokenizer, token for token as Hugging Face's
 *
 * Normalisation as the `tokenizers` BertNormalizer does it: drop NUL,
 * U+FFFD and control characters (category C*, except tab, newline and
 * carriage return), turn whitespace into spaces, put spaces around CJK
 * ideographs, strip accents (NFD, drop Mn), lowercase. Pre-tokenisation
 * splits on whitespace and isolates punctuation (ASCII 33-47, 58-64, 91-96,
 * 123-126 and every Unicode P*). WordPiece then takes the longest vocabulary
 * match, continuing with "##" pieces; a word over 100 characters or with no
 * full match becomes [UNK]. Unicode data comes from libutf8proc.
 *
 *     wordpiece *wp = wp_load("models/all-MiniLM-L6-v2/vocab.txt", 1, err);
 *     int32_t ids[256];
 *     int n = wp_encode(wp, text, strlen(text), ids, 256);  // [CLS] ... [SEP]
 *     int tokens = wp_count(wp, text, strlen(text));         // no specials, no limit
 *     wp_free(wp);
 */
#ifndef RAGD_WORDPIECE_H
#define RAGD_WORDPIECE_H

#include <stddef.h>
#include <stdint.h>

#define WP_MAX_WORD_CHARS 100

typedef struct wordpiece wordpiece;

/* Load a vocab.txt (one token per line, id = line number). */
wordpiece *wp_load(const char *vocab_path, int lowercase, char *err);

/* [CLS] + tokens + [SEP], truncated so the total is at most max_len
 * (>= 2). Returns the number of ids written. */
int wp_encode(const wordpiece *wp, const char *text, size_t len, int32_t *ids, int max_len);

/* Number of WordPiece tokens, without special tokens or truncation. */
int wp_count(const wordpiece *wp, const char *text, size_t len);

int wp_vocab_size(const wordpiece *wp);

/* Id of a token string, or -1. */
int wp_token_id(const wordpiece *wp, const char *token);

void wp_free(wordpiece *wp);

#endif
