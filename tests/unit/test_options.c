/* test_options.c - one option table: typed fields, limits, flags, functions, groups, help */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "err.h"
#include "options.h"
#include "test.h"

typedef struct conf {
    int port, verify, quiet;
    size_t bytes;
    double rate;
    float alpha;
    const char *name;
    int twice;
    int group_seen;
} conf;

static int set_twice(void *ctx, const char *k, const char *v, char *err) {
    (void)k;
    if (atoi(v) < 0) return err_set(err, "negative");
    ((conf *)ctx)->twice = 2 * atoi(v);
    return 0;
}

static int group(void *ctx, const char *k, const char *v, char *err) {
    if (strncmp(k, "ext-", 4) != 0) return 0;
    if (!v) return err_set(err, "--%s needs a value", k), -1;
    ((conf *)ctx)->group_seen++;
    return 1;
}

static const char *group_help(void) {
    return "  --ext-*    the group's own\n";
}

static const opt rows[] = {
    {"port", OPT_INT, offsetof(conf, port), 0, 65535, NULL, NULL, "  --port N\n"},
    {"no-verify", OPT_FLAG_OFF, offsetof(conf, verify), 0, 0, NULL, NULL, "  --no-verify\n"},
    {"quiet", OPT_FLAG, offsetof(conf, quiet), 0, 0, NULL, NULL, NULL},
    {"bytes", OPT_SIZE, offsetof(conf, bytes), 256, 1 << 20, NULL, NULL, NULL},
    {"rate", OPT_DOUBLE, offsetof(conf, rate), 0, 1e6, NULL, NULL, NULL},
    {"alpha", OPT_FLOAT, offsetof(conf, alpha), 0, 1, NULL, NULL, NULL},
    {"name", OPT_STRING, offsetof(conf, name), 0, 0, NULL, NULL, NULL},
    {"twice", OPT_FUNC, 0, 0, 0, set_twice, NULL, NULL},
    {"ext", OPT_GROUP, 0, 0, 0, group, group_help, "  --model\n"},
    {NULL},
};

TEST(test_apply) {
    conf c = {.verify = 1};
    char err[RAGD_ERR_LEN];
    CHECK(opt_apply(rows, &c, "port", "8081", err) == 1 && c.port == 8081);
    CHECK(opt_apply(rows, &c, "port", "65536", err) == -1);
    CHECK_CONTAINS(err, "--port: \"65536\" is not an integer in 0..65535");
    CHECK(opt_apply(rows, &c, "port", "12x", err) == -1 && opt_apply(rows, &c, "port", NULL, err) == -1);
    CHECK(opt_apply(rows, &c, "no-verify", NULL, err) == 1 && c.verify == 0);
    CHECK(opt_apply(rows, &c, "no-verify", "false", err) == 1 && c.verify == 1); /* config file: "no-verify = false" */
    CHECK(opt_apply(rows, &c, "quiet", "yes", err) == 1 && c.quiet == 1);
    CHECK(opt_apply(rows, &c, "bytes", "4096", err) == 1 && c.bytes == 4096);
    CHECK(opt_apply(rows, &c, "rate", "2.5", err) == 1 && c.rate == 2.5);
    CHECK(opt_apply(rows, &c, "rate", "2e6", err) == -1);
    CHECK_CONTAINS(err, "0..1000000");
    CHECK(opt_apply(rows, &c, "alpha", "0.25", err) == 1 && c.alpha == 0.25f);
    CHECK(opt_apply(rows, &c, "alpha", "nan", err) == -1);
    CHECK(opt_apply(rows, &c, "name", "docs", err) == 1 && !strcmp(c.name, "docs"));
    CHECK(opt_apply(rows, &c, "name", "", err) == -1);
    CHECK(opt_apply(rows, &c, "twice", "21", err) == 1 && c.twice == 42);
    CHECK(opt_apply(rows, &c, "twice", "-1", err) == -1);
    CHECK(opt_apply(rows, &c, "ext-url", "x", err) == 1 && c.group_seen == 1);
    CHECK(opt_apply(rows, &c, "ext-url", NULL, err) == -1);
    CHECK(opt_apply(rows, &c, "nosuch", "1", err) == 0);
}

TEST(test_flags_and_help) {
    CHECK(opt_is_flag(rows, "no-verify") && opt_is_flag(rows, "quiet"));
    CHECK(!opt_is_flag(rows, "port") && !opt_is_flag(rows, "ext-url") && !opt_is_flag(rows, "nosuch"));
    char buf[256] = "";
    FILE *f = fmemopen(buf, sizeof(buf) - 1, "w");
    opt_help(rows, f);
    fclose(f);
    CHECK(!strcmp(buf, "  --port N\n  --no-verify\n  --model\n  --ext-*    the group's own\n"));
}

int main(void) {
    RUN(test_apply);
    RUN(test_flags_and_help);
    return test_summary("options");
}
