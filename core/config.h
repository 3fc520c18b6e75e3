/* config.h - read a config file of "key = value" lines
 *
 * Both binaries accept --config FILE. Each non-blank line that is not a
 * comment ('#') is "key = value", where key is a long option name without
 * the dashes ("max-pages = 500"); a key may repeat ("source = ..."). The
 * caller applies the pairs before the command-line flags, so flags win.
 *
 *     config_entry *e; int n;
 *     if (config_load("ragd.conf", &e, &n, err) != 0) die(err);
 *     for (int i = 0; i < n; i++) apply(e[i].key, e[i].value, e[i].line);
 *     config_free(e, n);
 */
#ifndef RAGD_CONFIG_H
#define RAGD_CONFIG_H

#define CONFIG_MAX_BYTES (1u << 20)

typedef struct config_entry {
    char *key, *value;
    int line;
} config_entry;

/* Parse a file; -1 + "FILE:LINE: message" for a malformed line. */
int config_load(const char *path, config_entry **out, int *n, char *err);

/* Parse text already in memory (name is used in messages). */
int config_parse(const char *text, const char *name, config_entry **out, int *n, char *err);

void config_free(config_entry *e, int n);

/* One option from the config file (from_flags = 0) or the command line
 * (from_flags = 1); value is NULL for a flag without a value. */
typedef int (*config_apply_fn)(void *ctx, const char *key, const char *value, int from_flags, char *err);

/* The command-line convention both binaries share: --config FILE is read
 * first, then every "--key [value]" argument is applied in order, so flags
 * win. is_flag(key) says which keys take no value. The config entries
 * are returned (their strings are referenced by the options) and must be
 * freed with config_free after use. */
int config_args(int argc, char **argv, config_apply_fn apply, int (*is_flag)(const char *key), void *ctx,
                config_entry **conf, int *nconf, char *err);

/* Parse a whole decimal integer in [lo, hi]; 0 or -1. */
int config_int(const char *s, long long lo, long long hi, long long *out);

/* Parse a duration: a number with a unit, ms, s, m, h or d ("7d",
 * "1.5h", "500ms"); a bare number is seconds. The result, in
 * milliseconds, must lie in [lo_ms, hi_ms]; 0 or -1. */
int config_duration_ms(const char *s, long long lo_ms, long long hi_ms, long long *out_ms);

/* Parse a share: "10%" or a fraction "0.1", in [0, 1]; 0 or -1. */
int config_share(const char *s, double *out);

#endif
