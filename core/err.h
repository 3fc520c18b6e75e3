/* err.h - the error buffer convention shared by every module
 *
 * Functions that can fail return 0 on success and -1 on error (constructors
 * return NULL), and write the reason into a buffer the caller owns, the way
 * hiredis fills redisContext.errstr. Messages name the input that failed.
 *
 *     char err[RAGD_ERR_LEN];
 *     if (manifest_load(path, &m, err) != 0) {
 *         fprintf(stderr, "ragd-index: %s\n", err);
 *         return 1;
 *     }
 */
#ifndef RAGD_ERR_H
#define RAGD_ERR_H

#define RAGD_OK 0
#define RAGD_ERR -1
#define RAGD_ERR_LEN 1024

/* Format a message into err (which holds RAGD_ERR_LEN bytes; NULL is
 * allowed and ignored). Always returns RAGD_ERR so callers can write
 * `return err_set(err, "...")`. */
int err_set(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prefix an existing message: "ctx: old message". Returns RAGD_ERR. */
int err_prefix(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
