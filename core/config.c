/* config.c - read a config file of "key = value" lines */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "fsio.h"
#include "mem.h"

static char *trim(char *s) {
    while (isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = '\0';
    return s;
}

int config_parse(const char *text, const char *name, config_entry **out, int *n, char *err) {
    *out = NULL;
    *n = 0;
    char *copy = mem_strdup(text), *save = NULL;
    int lineno = 0, rc = RAGD_OK;
    for (char *line = copy; line && rc == RAGD_OK; line = save) {
        save = strchr(line, '\n');
        if (save) *save++ = '\0';
        lineno++;
        char *s = trim(line);
        if (*s == '\0' || *s == '#') continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            rc = err_set(err, "%s:%d: expected \"key = value\"", name, lineno);
            break;
        }
        *eq = '\0';
        char *key = trim(s), *value = trim(eq + 1);
        if (!*key) {
            rc = err_set(err, "%s:%d: empty key", name, lineno);
            break;
        }
        *out = mem_realloc(*out, sizeof(config_entry) * (size_t)(*n + 1));
        (*out)[*n] = (config_entry){mem_strdup(key), mem_strdup(value), lineno};
        (*n)++;
    }
    mem_free(copy);
    if (rc != RAGD_OK) {
        config_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

int config_load(const char *path, config_entry **out, int *n, char *err) {
    char *buf;
    if (fsio_read_file(path, CONFIG_MAX_BYTES, &buf, NULL, err) != 0) return RAGD_ERR;
    int rc = config_parse(buf, path, out, n, err);
    mem_free(buf);
    return rc;
}

void config_free(config_entry *e, int n) {
    for (int i = 0; e && i < n; i++) {
        mem_free(e[i].key);
        mem_free(e[i].value);
    }
    mem_free(e);
}

int config_int(const char *s, long long lo, long long hi, long long *out) {
    if (!s || !*s) return RAGD_ERR;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return RAGD_ERR;
    *out = v;
    return RAGD_OK;
}

int config_args(int argc, char **argv, config_apply_fn apply, int (*is_flag)(const char *key), void *ctx,
                config_entry **conf, int *nconf, char *err) {
    const char *path = NULL;
    *conf = NULL;
    *nconf = 0;
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--config")) {
            if (i + 1 >= argc) return err_set(err, "--config needs a file");
            path = argv[i + 1];
        }
    if (path) {
        if (config_load(path, conf, nconf, err) != 0) return RAGD_ERR;
        for (int i = 0; i < *nconf; i++)
            if (strcmp((*conf)[i].key, "config") && apply(ctx, (*conf)[i].key, (*conf)[i].value, 0, err) != 0)
                return err_prefix(err, "%s:%d", path, (*conf)[i].line);
    }
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "--", 2) != 0) return err_set(err, "unexpected argument \"%s\"", argv[i]);
        const char *key = argv[i] + 2;
        if (!strcmp(key, "config")) {
            i++;
            continue;
        }
        const char *v = is_flag(key) ? NULL : (i + 1 < argc ? argv[++i] : NULL);
        if (apply(ctx, key, v, 1, err) != 0) return RAGD_ERR;
    }
    return RAGD_OK;
}

int config_duration_ms(const char *s, long long lo_ms, long long hi_ms, long long *out_ms) {
    static const struct {
        const char *unit;
        double ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}, {"", 1000}};
    if (!s || !*s) return -1;
    char *end;
    double v = strtod(s, &end);
    if (end == s || !(v >= 0) || v > 1e12) return -1;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(end, units[i].unit) != 0) continue;
        double ms = v * units[i].ms;
        if (ms < (double)lo_ms || ms > (double)hi_ms) return -1;
        *out_ms = (long long)(ms + 0.5);
        return 0;
    }
    return -1;
}

int config_share(const char *s, double *out) {
    if (!s || !*s) return -1;
    char *end;
    double v = strtod(s, &end);
    if (end == s) return -1;
    if (strcmp(end, "%") == 0) v /= 100;
    else if (*end) return -1;
    if (!(v >= 0 && v <= 1)) return -1;
    *out = v;
    return 0;
}
