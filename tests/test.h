/* test.h - a minimal unit test harness: named cases, checks, a summary line
 *
 * Each test binary runs its cases in order; a failed CHECK ends that case
 * and is reported with file, line and expression. The binary's last line
 * is "# name: N passed, N failed" and tests/run.sh adds these up into the
 * suite's closing "N passed, N failed".
 *
 *     TEST(test_roundtrip) { CHECK(parse(x) == 0); CHECK_EQ_INT(n, 3); }
 *     int main(void) { RUN(test_roundtrip); return test_summary("manifest"); }
 */
#ifndef RAGD_TEST_H
#define RAGD_TEST_H

#include <stdio.h>
#include <string.h>

static int test_passed, test_failed, test_case_failed;

#define TEST(name) static void name(void)

#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            printf("    %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);        \
            test_case_failed = 1;                                                      \
            return;                                                                    \
        }                                                                              \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                             \
    do {                                                                               \
        long long a_ = (long long)(a), b_ = (long long)(b);                            \
        if (a_ != b_) {                                                                \
            printf("    %s:%d: %s == %lld, expected %lld\n", __FILE__, __LINE__, #a,    \
                   a_, b_);                                                            \
            test_case_failed = 1;                                                      \
            return;                                                                    \
        }                                                                              \
    } while (0)

#define CHECK_EQ_STR(a, b)                                                             \
    do {                                                                               \
        const char *a_ = (a), *b_ = (b);                                               \
        if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                       \
            printf("    %s:%d: %s == \"%s\", expected \"%s\"\n", __FILE__, __LINE__, #a, \
                   a_ ? a_ : "(null)", b_ ? b_ : "(null)");                            \
            test_case_failed = 1;                                                      \
            return;                                                                    \
        }                                                                              \
    } while (0)

#define CHECK_CONTAINS(haystack, needle)                                               \
    do {                                                                               \
        const char *h_ = (haystack);                                                   \
        if (!h_ || !strstr(h_, (needle))) {                                            \
            printf("    %s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, __LINE__,  \
                   h_ ? h_ : "(null)", (needle));                                      \
            test_case_failed = 1;                                                      \
            return;                                                                    \
        }                                                                              \
    } while (0)

#define RUN(fn)                                                                        \
    do {                                                                               \
        test_case_failed = 0;                                                          \
        fn();                                                                          \
        if (test_case_failed) test_failed++;                                           \
        else test_passed++;                                                            \
        printf("%s %s\n", test_case_failed ? "FAIL" : "ok  ", #fn);                    \
        fflush(stdout);                                                                \
    } while (0)

static inline int test_summary(const char *name) {
    printf("# %s: %d passed, %d failed\n", name, test_passed, test_failed);
    return test_failed ? 1 : 0;
}

#endif
