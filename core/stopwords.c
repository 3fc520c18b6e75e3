/* stopwords.c - English words that carry no topic of their own */
#include "stopwords.h"

#include <stdlib.h>
#include <string.h>

/* Sorted (bsearch). Pronouns, articles, auxiliaries, prepositions,
 * conjunctions, and the politeness words of typed questions. */
static const char *const words[] = {
    "a", "about", "after", "again", "all", "also", "am", "an", "and", "any", "are", "as", "at", "be", "been",
    "before", "being", "between", "but", "by", "can", "could", "d", "did", "do", "does", "doing", "down", "during",
    "each", "for", "from", "further", "get", "had", "has", "have", "having", "he", "her", "here", "hers", "him", "his",
    "how", "i", "if", "in", "into", "is", "it", "its", "just", "let", "lets", "ll", "m", "may", "me", "might", "mine",
    "must", "my", "myself", "of", "off", "on", "once", "one", "only", "onto", "or", "other", "our", "ours", "out",
    "over", "own", "please", "re", "really", "s", "same", "shall", "she", "should", "so", "some", "such", "t", "tell",
    "than", "that", "the", "their", "theirs", "them", "then", "there", "these", "they", "this", "those", "through",
    "to", "too", "under", "up", "us", "ve", "very", "was", "we", "were", "what", "when", "where", "which", "who",
    "whom", "whose", "why", "will", "with", "would", "you", "your", "yours"};

static int cmp(const void *key, const void *elem) {
    return strcmp(key, *(const char *const *)elem);
}

int stopword_en(const char *word, size_t len) {
    char buf[16];
    if (len == 0 || len >= sizeof(buf)) return 0;
    for (size_t i = 0; i < len; i++) {
        char c = word[i];
        buf[i] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
    }
    buf[len] = '\0';
    return bsearch(buf, words, sizeof(words) / sizeof(words[0]), sizeof(words[0]), cmp) != NULL;
}
