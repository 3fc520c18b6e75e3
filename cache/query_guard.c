/* query_guard.c - checks a semantic-cache candidate: do the two queries really ask the same thing? */
#include "query_guard.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stopwords.h"

#define TOK_LEN 48

typedef struct tok {
    char s[TOK_LEN];
    unsigned char number, negation, entity;
} tok;

enum { PERSON_FIRST = 1, PERSON_SECOND = 2 };

typedef struct words {
    tok t[QGUARD_MAX_TOKENS];
    int n;
    int negations; /* how many negation words, so "does not mean not X" differs from "means not X" */
    int persons;   /* PERSON_* bits of the personal pronouns used */
} words;

static const char *const negations[] = {"not", "no", "never", "none", "nobody", "nothing", "neither", "nor",
                                        "without", "cannot", "nt", NULL};

static const char *const first_person[] = {"i", "me", "my", "mine", "myself", "we", "us", "our", "ours", "ourselves",
                                          NULL};
static const char *const second_person[] = {"you", "your", "yours", "yourself", "yourselves", NULL};

/* Number words and the digits they stand for: "six" and "6", "third" and
 * "3rd" are the same number. */
static const char *const number_words[][2] = {
    {"zero", "0"},          {"one", "1"},           {"two", "2"},       {"three", "3"},     {"four", "4"},
    {"five", "5"},          {"six", "6"},           {"seven", "7"},     {"eight", "8"},     {"nine", "9"},
    {"ten", "10"},          {"eleven", "11"},       {"twelve", "12"},   {"twenty", "20"},   {"thirty", "30"},
    {"first", "1"},         {"second", "2"},        {"third", "3"},     {"hundred", "hundred"},
    {"thousand", "thousand"}, {"million", "million"}, {"mn", "million"}, {"billion", "billion"},
    {"bn", "billion"},      {NULL, NULL}};

static const char *number_word(const char *w) {
    for (int i = 0; number_words[i][0]; i++)
        if (!strcmp(number_words[i][0], w)) return number_words[i][1];
    return NULL;
}

static int in_list(const char *const *list, const char *w) {
    for (int i = 0; list[i]; i++)
        if (!strcmp(list[i], w)) return 1;
    return 0;
}

/* Light suffix stripping, enough to match "runs"/"running"/"ran"-free
 * variants: -ing, -ed, -es, -s, -ly on words long enough to keep a stem. */
static void stem(char *w) {
    static const char *const suffixes[] = {"ing", "ed", "es", "s", "ly", NULL};
    size_t n = strlen(w);
    for (int i = 0; suffixes[i]; i++) {
        size_t sl = strlen(suffixes[i]);
        if (n > sl + 2 && !memcmp(w + n - sl, suffixes[i], sl)) {
            w[n - sl] = '\0';
            return;
        }
    }
}

static int is_apostrophe(const unsigned char *p, size_t left, size_t *width) {
    if (*p == '\'') return *width = 1, 1;
    if (left >= 3 && p[0] == 0xE2 && p[1] == 0x80 && p[2] == 0x99) return *width = 3, 1; /* U+2019 */
    return 0;
}

static int letter(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
}

static int digit(unsigned char c) {
    return c >= '0' && c <= '9';
}

/* Digits as one spelling: "1,000" -> "1000", "3.0" -> "3" (a fraction of
 * zeros only; "3.10" stays, it may be a version). */
static void canonical_digits(char *s) {
    size_t o = 0, n = strlen(s);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ',' && i + 3 < n && digit((unsigned char)s[i + 1]) && digit((unsigned char)s[i + 2]) &&
            digit((unsigned char)s[i + 3]) && (i + 4 == n || !digit((unsigned char)s[i + 4])))
            continue;
        s[o++] = s[i];
    }
    s[o] = '\0';
    char *dot = strrchr(s, '.');
    if (dot && dot[1]) {
        char *q = dot + 1;
        while (*q == '0') q++;
        if (!*q) *dot = '\0';
    }
}

/* capital: the word began with a capital; caps: it was all capitals
 * ("US" the country, not "us"). */
static void push(words *w, const char *s, size_t n, int capital, int caps, int sentence_start) {
    if (w->n >= QGUARD_MAX_TOKENS) return;
    tok *t = &w->t[w->n++];
    if (n >= TOK_LEN) n = TOK_LEN - 1;
    memcpy(t->s, s, n);
    t->s[n] = '\0';
    const char *value = number_word(t->s);
    t->number = (unsigned char)(digit((unsigned char)s[0]) || value);
    if (digit((unsigned char)s[0])) canonical_digits(t->s);
    else if (value) snprintf(t->s, sizeof(t->s), "%s", value);
    t->negation = (unsigned char)in_list(negations, t->s);
    int content = !t->number && !t->negation && !stopword_en(t->s, strlen(t->s));
    if (t->negation) w->negations++;
    if (!caps || n == 1) {
        if (in_list(first_person, t->s)) w->persons |= PERSON_FIRST;
        else if (in_list(second_person, t->s)) w->persons |= PERSON_SECOND;
    }
    if (content) stem(t->s);
    else if (!t->number) w->n--; /* stopwords and negations are not compared word by word */
    t->entity = (unsigned char)(content && capital && !sentence_start);
}

/* Split into lowercase words and numbers; "n't" becomes "not". Numbers
 * keep inner separators between digits ("3.11", "9/32", "4:00"). */
static void split(const char *text, size_t len, words *w) {
    const unsigned char *p = (const unsigned char *)text, *end = p + len;
    char buf[TOK_LEN];
    int sentence_start = 1, nwords = 0, capitals = 0;
    w->n = w->negations = w->persons = 0;
    while (p < end) {
        size_t aw;
        if (digit(*p)) {
            size_t n = 0;
            while (p < end && (digit(*p) || ((*p == '.' || *p == ',' || *p == ':' || *p == '/') && p + 1 < end &&
                                              digit(p[1]) && n > 0))) {
                if (n < TOK_LEN - 1) buf[n++] = (char)*p;
                p++;
            }
            push(w, buf, n, 0, 0, 0);
            /* "3rd", "21st": the suffix is part of the number */
            if (end - p >= 2 && ((tolower(p[0]) == 's' && tolower(p[1]) == 't') ||
                                 (tolower(p[0]) == 'n' && tolower(p[1]) == 'd') ||
                                 (tolower(p[0]) == 'r' && tolower(p[1]) == 'd') ||
                                 (tolower(p[0]) == 't' && tolower(p[1]) == 'h')) &&
                (end - p == 2 || !letter(p[2])))
                p += 2;
            sentence_start = 0;
        } else if (letter(*p) && !is_apostrophe(p, (size_t)(end - p), &aw)) {
            int capital = *p >= 'A' && *p <= 'Z', caps = 1;
            size_t n = 0;
            while (p < end && letter(*p) && !is_apostrophe(p, (size_t)(end - p), &aw)) {
                caps &= *p >= 'A' && *p <= 'Z';
                unsigned char c = *p >= 'A' && *p <= 'Z' ? (unsigned char)(*p + 32) : *p;
                if (n < TOK_LEN - 1) buf[n++] = (char)c;
                p++;
            }
            /* "doesn't" -> "does" + "not" */
            if (n > 1 && buf[n - 1] == 'n' && p < end && is_apostrophe(p, (size_t)(end - p), &aw) && p + aw < end &&
                (p[aw] == 't' || p[aw] == 'T') && (p + aw + 1 == end || !letter(p[aw + 1]))) {
                push(w, buf, n - 1, capital, caps, sentence_start);
                push(w, "not", 3, 0, 0, 0);
                p += aw + 1;
            } else {
                push(w, buf, n, capital, caps, sentence_start);
            }
            nwords++;
            capitals += capital;
            sentence_start = 0;
        } else {
            if (*p == '.' || *p == '?' || *p == '!' || *p == ':') sentence_start = 1;
            p++;
        }
    }
    /* Headline case ("Stocks Close Higher On Tuesday"): capitals say nothing. */
    if (capitals * 10 > nwords * 6)
        for (int i = 0; i < w->n; i++) w->t[i].entity = 0;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int same_numbers(const words *a, const words *b) {
    const char *na[QGUARD_MAX_TOKENS], *nb[QGUARD_MAX_TOKENS];
    int ca = 0, cb = 0;
    for (int i = 0; i < a->n; i++)
        if (a->t[i].number) na[ca++] = a->t[i].s;
    for (int i = 0; i < b->n; i++)
        if (b->t[i].number) nb[cb++] = b->t[i].s;
    if (ca != cb) return 0;
    qsort(na, (size_t)ca, sizeof(*na), cmp_str);
    qsort(nb, (size_t)cb, sizeof(*nb), cmp_str);
    for (int i = 0; i < ca; i++)
        if (strcmp(na[i], nb[i]) != 0) return 0;
    return 1;
}

static int has_word(const words *w, const char *s) {
    for (int i = 0; i < w->n; i++)
        if (!w->t[i].number && !strcmp(w->t[i].s, s)) return 1;
    return 0;
}

/* Distinct content words of a that b lacks; *entity set if one is an entity. */
static int missing(const words *a, const words *b, int *entity) {
    int n = 0;
    *entity = 0;
    for (int i = 0; i < a->n; i++) {
        const tok *t = &a->t[i];
        if (t->number || has_word(b, t->s)) continue;
        int dup = 0;
        for (int j = 0; j < i && !dup; j++) dup = !a->t[j].number && !strcmp(a->t[j].s, t->s);
        if (dup) continue;
        n++;
        if (t->entity) *entity = 1;
    }
    return n;
}

/* The text's closing mark ('?', '.', '!'; 0 for none), past trailing
 * spaces, quotes and brackets. */
static int closing_mark(const char *text, size_t len) {
    const unsigned char *p = (const unsigned char *)text;
    while (len > 0) {
        unsigned char c = p[len - 1];
        if (c == ' ' || c == '\t' || c == '\n' || c == '"' || c == '\'' || c == ')' || c == ']') len--;
        else if (len >= 3 && p[len - 3] == 0xE2 && p[len - 2] == 0x80 && (c == 0x99 || c == 0x9D)) len -= 3; /* ’ ” */
        else return c == '?' || c == '.' || c == '!' ? c : 0;
    }
    return 0;
}

/* One text asks ("...?") and the other states ("...." or "...!"): "Is it
 * legal to grow?" is not "Yes, it's legal to grow." Typed queries without
 * a closing mark never trip this. */
static int question_vs_statement(const char *a, size_t alen, const char *b, size_t blen) {
    int ma = closing_mark(a, alen), mb = closing_mark(b, blen);
    return (ma == '?' && (mb == '.' || mb == '!')) || (mb == '?' && (ma == '.' || ma == '!'));
}

int qguard_check(const char *a, size_t alen, const char *b, size_t blen, int max_words) {
    words *wa = malloc(sizeof(words)), *wb = malloc(sizeof(words));
    if (!wa || !wb) {
        free(wa), free(wb);
        return QG_WORDS; /* cannot check: do not serve */
    }
    split(a, alen, wa);
    split(b, blen, wb);
    int v = QG_ACCEPT, ea, eb;
    int ma = missing(wa, wb, &ea), mb = missing(wb, wa, &eb);
    if (!same_numbers(wa, wb)) v = QG_NUMBERS;
    else if (wa->negations != wb->negations) v = QG_NEGATION;
    else if (ea && eb) v = QG_ENTITY;
    else if (question_vs_statement(a, alen, b, blen)) v = QG_QUESTION;
    else if (wa->persons && wb->persons && wa->persons != wb->persons) v = QG_PERSON;
    else if (ma + mb > max_words) v = QG_WORDS;
    free(wa);
    free(wb);
    return v;
}

const char *qguard_reason(int verdict) {
    static const char *const names[QG_VERDICT_COUNT] = {"accept", "numbers", "negation", "entity",
                                                        "words",  "question", "person"};
    return verdict >= 0 && verdict < QG_VERDICT_COUNT ? names[verdict] : "words";
}
