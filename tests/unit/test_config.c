/* test_config.c - config files, integers, durations and shares as the CLIs parse them */
#include "config.h"
#include "err.h"
#include "mem.h"
#include "test.h"

TEST(test_durations) {
    long long ms = -1;
    CHECK(config_duration_ms("7d", 0, 1LL << 40, &ms) == 0 && ms == 7LL * 86400000);
    CHECK(config_duration_ms("1.5h", 0, 1LL << 40, &ms) == 0 && ms == 5400000);
    CHECK(config_duration_ms("300ms", 0, 1LL << 40, &ms) == 0 && ms == 300);
    CHECK(config_duration_ms("45", 0, 1LL << 40, &ms) == 0 && ms == 45000); /* bare = seconds */
    CHECK(config_duration_ms("0s", 0, 1LL << 40, &ms) == 0 && ms == 0);
    const char *bad[] = {"", "d", "7x", "-1d", "7 d", "nan", "inf", "1e300s", "7dd", "3.5.1s"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) CHECK(config_duration_ms(bad[i], 0, 1LL << 40, &ms) != 0);
    CHECK(config_duration_ms(NULL, 0, 10, &ms) != 0);
    CHECK(config_duration_ms("2h", 0, 3600000, &ms) != 0); /* over the limit */
    CHECK(config_duration_ms("10ms", 100, 3600000, &ms) != 0); /* under it */
}

TEST(test_shares) {
    double f = -1;
    CHECK(config_share("10%", &f) == 0 && f > 0.0999 && f < 0.1001);
    CHECK(config_share("0.25", &f) == 0 && f == 0.25);
    CHECK(config_share("100%", &f) == 0 && f == 1.0);
    CHECK(config_share("0", &f) == 0 && f == 0);
    const char *bad[] = {"", "%", "150%", "-0.1", "1.5", "ten", "10%%", "nan"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) CHECK(config_share(bad[i], &f) != 0);
}

TEST(test_config_lines) {
    config_entry *e = NULL;
    int n = 0;
    char err[RAGD_ERR_LEN];
    CHECK(config_parse("# c\ninclude = /a/*\ninclude = /b/*\n\nmax-shrink = 5%\n", "t.conf", &e, &n, err) == 0);
    CHECK_EQ_INT(n, 3);
    CHECK(n == 3 && !strcmp(e[1].key, "include") && !strcmp(e[1].value, "/b/*") && e[2].line == 5);
    config_free(e, n);
    CHECK(config_parse("shards 3\n", "t.conf", &e, &n, err) != 0);
    CHECK_CONTAINS(err, "t.conf:1");
}

int main(void) {
    RUN(test_durations);
    RUN(test_shares);
    RUN(test_config_lines);
    return test_summary("config");
}
