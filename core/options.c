/* options.c - a binary's options as one table: command line, config file and --help from the same rows */
#include "options.h"

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "err.h"

static int truthy(const char *v) {
    return !v || !strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "yes");
}

/* A number in [lo, hi]: 0, or -1. */
static int number(const char *v, double lo, double hi, double *out) {
    if (!v || !*v) return -1;
    char *end;
    double x = strtod(v, &end);
    if (*end || !(x >= lo && x <= hi)) return -1;
    *out = x;
    return 0;
}

int opt_apply(const opt *t, void *ctx, const char *name, const char *v, char *err) {
    for (; t->name; t++) {
        if (t->kind == OPT_GROUP) {
            int r = t->set(ctx, name, v, err);
            if (r != 0) return r < 0 ? -1 : 1;
            continue;
        }
        if (strcmp(t->name, name) != 0) continue;
        char *field = (char *)ctx + t->off;
        long long n;
        double x;
        switch (t->kind) {
        case OPT_FLAG: *(int *)field = truthy(v); return 1;
        case OPT_FLAG_OFF: *(int *)field = !truthy(v); return 1;
        default: break;
        }
        if (!v) return err_set(err, "--%s needs a value", name), -1;
        switch (t->kind) {
        case OPT_INT:
        case OPT_SIZE:
            if (config_int(v, (long long)t->lo, (long long)t->hi, &n) != 0)
                return err_set(err, "--%s: \"%s\" is not an integer in %lld..%lld", name, v, (long long)t->lo,
                               (long long)t->hi), -1;
            if (t->kind == OPT_INT) *(int *)field = (int)n;
            else *(size_t *)field = (size_t)n;
            return 1;
        case OPT_DOUBLE:
        case OPT_FLOAT:
            if (number(v, t->lo, t->hi, &x) != 0)
                return err_set(err, "--%s: \"%s\" is not a number in %.15g..%.15g", name, v, t->lo, t->hi), -1;
            if (t->kind == OPT_DOUBLE) *(double *)field = x;
            else *(float *)field = (float)x;
            return 1;
        case OPT_STRING:
            if (!*v) return err_set(err, "--%s needs a value", name), -1;
            *(const char **)field = v;
            return 1;
        case OPT_FUNC: return t->set(ctx, name, v, err) == 0 ? 1 : -1;
        default: return err_set(err, "--%s: bad option table", name), -1;
        }
    }
    return 0;
}

int opt_is_flag(const opt *t, const char *name) {
    for (; t->name; t++)
        if (t->kind != OPT_GROUP && !strcmp(t->name, name)) return t->kind == OPT_FLAG || t->kind == OPT_FLAG_OFF;
    return 0;
}

void opt_help(const opt *t, FILE *f) {
    for (; t->name; t++) {
        if (t->help) fputs(t->help, f);
        if (t->help_fn) fputs(t->help_fn(), f);
    }
}
