/* guard_eval.c - the semantic cache's guard (cache/query_guard.c) on text pairs, for bench/sts_curve.py
 *
 * Reads "text_a<TAB>text_b" lines on stdin, writes one verdict per line
 * ("accept", "numbers", "negation", "entity", "words", "question",
 * "person") on stdout.
 *
 *     printf 'How do I reset it?\tHow do I not reset it?\n' | build/bench/guard_eval 3   ->  negation
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query_guard.h"

int main(int argc, char **argv) {
    int max_words = argc > 1 ? atoi(argv[1]) : QGUARD_MAX_WORDS_DEFAULT;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) > 0) {
        if (line[n - 1] == '\n') line[--n] = '\0';
        char *tab = memchr(line, '\t', (size_t)n);
        if (!tab) {
            fprintf(stderr, "guard_eval: a line without a tab\n");
            return 2;
        }
        size_t alen = (size_t)(tab - line);
        puts(qguard_reason(qguard_check(line, alen, tab + 1, (size_t)n - alen - 1, max_words)));
    }
    free(line);
    return 0;
}
