/* test_query_guard.c - the semantic cache's guard: what it rejects, what it lets through, odd input */
#include <stdlib.h>
#include <string.h>

#include "query_guard.h"
#include "test.h"

static int check(const char *a, const char *b) {
    return qguard_check(a, strlen(a), b, strlen(b), QGUARD_MAX_WORDS_DEFAULT);
}

TEST(test_paraphrases_pass) {
    CHECK_EQ_INT(check("How do I reset my password?", "How can I reset my password"), QG_ACCEPT);
    CHECK_EQ_INT(check("How to reset the password of my account", "how can I reset the password for my account"),
                 QG_ACCEPT);
    CHECK_EQ_INT(check("A man is playing a guitar.", "The man plays the guitar"), QG_ACCEPT); /* stemming */
    CHECK_EQ_INT(check("Tell me what a file descriptor is", "What is a file descriptor?"), QG_ACCEPT);
    CHECK_EQ_INT(check("", ""), QG_ACCEPT);
}

TEST(test_numbers) {
    CHECK_EQ_INT(check("Install Python 3.11 on Ubuntu", "Install Python 3.12 on Ubuntu"), QG_NUMBERS);
    CHECK_EQ_INT(check("Upgrade from version 2 to 3", "Upgrade from version 3 to 2"), QG_ACCEPT); /* same multiset */
    CHECK_EQ_INT(check("limits for two users", "limits for three users"), QG_NUMBERS);
    CHECK_EQ_INT(check("Top news at 4:00 GMT", "Top news at 8:39 GMT"), QG_NUMBERS);
    CHECK_EQ_INT(check("rockets fired 8", "rockets fired"), QG_NUMBERS);
    /* one number, several spellings */
    CHECK_EQ_INT(check("Fire in Beijing kills 10", "Fire in Beijing kills ten"), QG_ACCEPT);
    CHECK_EQ_INT(check("Mandela spends third day in hospital", "Mandela in hospital for 3rd day"), QG_ACCEPT);
    CHECK_EQ_INT(check("sells 800 patents for $1.0 bn", "sells 800 patents for $1 billion"), QG_ACCEPT);
    CHECK_EQ_INT(check("limits for 1,000 users", "limits for 1000 users"), QG_ACCEPT);
    CHECK_EQ_INT(check("Fire kills 10", "Fire kills eleven"), QG_NUMBERS);
    CHECK_EQ_INT(check("Install Python 3.10", "Install Python 3.1"), QG_NUMBERS); /* a version, not 3.1 */
    CHECK_EQ_INT(check("cost of 2,500", "cost of 2.500"), QG_NUMBERS);
    CHECK_EQ_INT(check("the 21st floor", "the 21 floor"), QG_ACCEPT);
}

TEST(test_negation) {
    CHECK_EQ_INT(check("How do I reset my password?", "How do I not reset my password?"), QG_NEGATION);
    CHECK_EQ_INT(check("Why is my build failing?", "Why isn't my build failing?"), QG_NEGATION);
    CHECK_EQ_INT(check("Why is my build failing?", "Why isn\xe2\x80\x99t my build failing?"), QG_NEGATION); /* U+2019 */
    CHECK_EQ_INT(check("login without a password", "login with a password"), QG_NEGATION);
    CHECK_EQ_INT(check("I don't like it", "I do not like it"), QG_ACCEPT); /* both negated */
    /* negations are counted, not just noticed */
    CHECK_EQ_INT(check("Being against nukes does not mean not wanting to use nukes",
                       "Being against nukes means not wanting to use nukes"),
                 QG_NEGATION);
}

TEST(test_entities) {
    CHECK_EQ_INT(check("How do I reset my password on Windows?", "How do I reset my password on Mac?"), QG_ENTITY);
    CHECK_EQ_INT(check("vendor from Berlin confirmed the delivery", "vendor from Munich confirmed the delivery"),
                 QG_ENTITY);
    /* headline case says nothing about entities; the words rule still applies */
    CHECK_EQ_INT(check("Stocks Close Higher In Tokyo", "Stocks Close Higher In Osaka"), QG_ACCEPT);
    /* a capital at the start of a sentence is not an entity */
    CHECK_EQ_INT(check("Bread is baked. Butter is churned", "Bread is baked. Cheese is churned"), QG_ACCEPT);
}

TEST(test_content_words) {
    CHECK_EQ_INT(check("reset password", "reset password email phone laptop tablet"), QG_WORDS);
    CHECK_EQ_INT(qguard_check("reset password", 14, "reset password email", 20, 0), QG_WORDS);
    CHECK_EQ_INT(qguard_check("reset password", 14, "reset password email", 20, 1), QG_ACCEPT);
    /* repeated words count once */
    CHECK_EQ_INT(check("cats cats cats cats", "cat"), QG_ACCEPT);
}

TEST(test_question_vs_statement) {
    CHECK_EQ_INT(check("Is it legal to grow?", "Yes, it's legal to grow."), QG_QUESTION);
    CHECK_EQ_INT(check("\"Is it legal to grow?\"", "It is legal to grow!"), QG_QUESTION); /* past quotes */
    CHECK_EQ_INT(check("Is it legal to grow?\xe2\x80\x9d ", "it is legal to grow."), QG_QUESTION); /* U+201D */
    /* typed queries without a closing mark never trip it */
    CHECK_EQ_INT(check("how do I reset my password?", "how do I reset my password"), QG_ACCEPT);
    CHECK_EQ_INT(check("How do I reset my password?", "How can I reset my password."), QG_QUESTION);
    CHECK_EQ_INT(check("reset password.", "reset password!"), QG_ACCEPT);
}

TEST(test_person) {
    CHECK_EQ_INT(check("You're \"a bunch of cells.\"", "I'm \"a bunch of cells.\""), QG_PERSON);
    CHECK_EQ_INT(check("Can I change my plan", "Can you change your plan"), QG_PERSON);
    /* the same person in other words, or a pronoun on one side only: no verdict */
    CHECK_EQ_INT(check("How do I reset my password", "How do we reset our password"), QG_ACCEPT);
    CHECK_EQ_INT(check("How do I reset my password", "How to reset the password"), QG_ACCEPT);
    /* "US" the country is not "us" */
    CHECK_EQ_INT(check("US sanctions on you", "sanctions on you"), QG_ACCEPT);
    CHECK_EQ_INT(check("Can you tell us", "Can you tell US"), QG_PERSON);
}

TEST(test_odd_input) {
    /* long words, many tokens, control bytes, invalid UTF-8, embedded NUL: no crash, a verdict */
    size_t n = 100000;
    char *big = malloc(n + 1);
    for (size_t i = 0; i < n; i++) big[i] = (char)("ab 1\x80\xff.\x01"[i % 9]);
    big[n] = '\0';
    int v = qguard_check(big, n, big, n, 3);
    CHECK(v >= QG_ACCEPT && v < QG_VERDICT_COUNT);
    memset(big, 'x', n);
    CHECK_EQ_INT(qguard_check(big, n, big, n, 3), QG_ACCEPT);
    CHECK_EQ_INT(qguard_check("a\0b", 3, "a\0b", 3, 3), QG_ACCEPT);
    CHECK_EQ_INT(qguard_check("n't", 3, "n\xe2\x80\x99", 4, 3), QG_ACCEPT);
    free(big);
    CHECK(strcmp(qguard_reason(QG_NUMBERS), "numbers") == 0 && strcmp(qguard_reason(99), "words") == 0);
    CHECK(strcmp(qguard_reason(QG_QUESTION), "question") == 0 && strcmp(qguard_reason(QG_PERSON), "person") == 0);
}

int main(void) {
    RUN(test_paraphrases_pass);
    RUN(test_numbers);
    RUN(test_negation);
    RUN(test_entities);
    RUN(test_content_words);
    RUN(test_question_vs_statement);
    RUN(test_person);
    RUN(test_odd_input);
    return test_summary("query_guard");
}
