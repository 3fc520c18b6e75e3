/* err.c - fill caller-owned error buffers */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int err_set(char *err, const char *fmt, ...) {
    if (!err) return RAGD_ERR;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, RAGD_ERR_LEN, fmt, ap);
    va_end(ap);
    return RAGD_ERR;
}

int err_prefix(char *err, const char *fmt, ...) {
    if (!err) return RAGD_ERR;
    char old[RAGD_ERR_LEN], pre[RAGD_ERR_LEN];
    memcpy(old, err, RAGD_ERR_LEN);
    old[RAGD_ERR_LEN - 1] = '\0';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof(pre), fmt, ap);
    va_end(ap);
    char both[2 * RAGD_ERR_LEN + 2];
    snprintf(both, sizeof(both), "%s: %s", pre, old);
    memcpy(err, both, RAGD_ERR_LEN - 1);
    err[RAGD_ERR_LEN - 1] = '\0';
    return RAGD_ERR;
}
