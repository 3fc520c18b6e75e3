/* options.h - a binary's options as one table: command line, config file and --help from the same rows
 *
 * After Redis's static_configs[]: each row names an option, the field it
 * sets (an offset into the binary's options struct), its limits and its
 * help lines. opt_apply takes "--name value" from argv or a "name = value"
 * config line (core/config.h), opt_is_flag says which names take no
 * value, opt_help prints the rows in order. What does not fit a type (an
 * enum, a URL, two fields at once) is a row of kind OPT_FUNC; a group of
 * options owned by another module (the embedders') is an OPT_GROUP row.
 *
 *     static const opt rows[] = {
 *         {"port", OPT_INT, offsetof(cli, port), 0, 65535, NULL, NULL, "  --port N   TCP port (8080)\n"},
 *         {NULL},
 *     };
 *     int r = opt_apply(rows, &c, "port", "8081", err);   // 1 applied, 0 no such option, -1 bad value
 */
#ifndef RAGD_OPTIONS_H
#define RAGD_OPTIONS_H

#include <stddef.h>
#include <stdio.h>

enum opt_kind {
    OPT_FLAG,     /* int = 1 (or the value: true/1/yes = 1, else 0) */
    OPT_FLAG_OFF, /* int = 0 when given: --no-verify sets verify = 0 */
    OPT_INT,      /* int within [lo, hi] */
    OPT_SIZE,     /* size_t within [lo, hi] */
    OPT_DOUBLE,   /* double within [lo, hi] */
    OPT_FLOAT,    /* float within [lo, hi] */
    OPT_STRING,   /* const char * (the value must outlive the options) */
    OPT_FUNC,     /* set(ctx, name, value, err): 0 or -1 */
    OPT_GROUP     /* set(ctx, name, value, err): 1 taken, 0 not ours, -1 bad (another module's options) */
};

typedef struct opt {
    const char *name; /* NULL ends the table; an OPT_GROUP row's name is only a label */
    enum opt_kind kind;
    size_t off;
    double lo, hi;
    int (*set)(void *ctx, const char *name, const char *value, char *err); /* OPT_FUNC, OPT_GROUP */
    const char *(*help_fn)(void); /* more help, made at run time (after `help`), or NULL */
    const char *help;                                                      /* printed as is */
} opt;

/* Apply one option: 1 applied, 0 not in the table, -1 and err for a bad
 * or missing value ("--name: ..."). */
int opt_apply(const opt *table, void *ctx, const char *name, const char *value, char *err);

/* 1 if the option takes no value. */
int opt_is_flag(const opt *table, const char *name);

/* Every row's help, in table order. */
void opt_help(const opt *table, FILE *f);

#endif
