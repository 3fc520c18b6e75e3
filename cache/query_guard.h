/* query_guard.h - checks a semantic-cache candidate: do the two queries really ask the same thing?
 *
 * A cosine threshold alone joins sentences that differ in exactly the
 * words that matter: "reset my password" / "not reset my password",
 * "install python 3.11" / "install python 3.12", "... on Windows" /
 * "... on Mac". Before the semantic tier serves an earlier query's
 * results, the guard compares the two texts word by word and rejects the
 * candidate when
 *   - the numbers differ (digits or number words, as a multiset),
 *   - the texts hold different numbers of negations (not, no, never, n't,
 *     ...): "reset it" / "do not reset it", "does not mean not X" / "means
 *     not X",
 *   - a named entity of one (a capitalised word inside a sentence that is
 *     not in headline case) is swapped for another entity,
 *   - one text is a question ("...?") and the other a statement ("...."),
 *   - both use personal pronouns, of different persons ("I'm ..." /
 *     "You're ..."),
 *   - more than max_words content words (stopwords removed, light suffix
 *     stemming) appear on one side only.
 * Tuned on STS-benchmark pairs (bench/sts_curve.py; docs/cache.md): at
 * cosine 0.94 it removes most wrong hits the threshold alone makes while
 * keeping most true paraphrases. Pure function of the two texts, no state.
 *
 *     int v = qguard_check("How do I reset my password?", "How can I reset my password", 3);
 *     if (v != QG_ACCEPT) reject(qguard_reason(v));
 */
#ifndef RAGD_QUERY_GUARD_H
#define RAGD_QUERY_GUARD_H

#include <stddef.h>

enum qguard_verdict { QG_ACCEPT = 0, QG_NUMBERS, QG_NEGATION, QG_ENTITY, QG_WORDS, QG_QUESTION, QG_PERSON,
                      QG_VERDICT_COUNT };

#define QGUARD_MAX_WORDS_DEFAULT 3
#define QGUARD_MAX_TOKENS 256 /* words per text the guard reads; the rest is ignored */

/* QG_ACCEPT or the first reason to reject. Texts are UTF-8 as the user
 * typed them (case is read for entities). */
int qguard_check(const char *a, size_t alen, const char *b, size_t blen, int max_words);

/* "numbers", "negation", "entity", "words", "question", "person" ("accept"
 * for QG_ACCEPT). */
const char *qguard_reason(int verdict);

#endif
