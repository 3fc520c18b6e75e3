/* log.h - leveled, timestamped log lines on stderr, as text or JSON
 *
 * One line per event, with a UTC timestamp and a level, safe to call from
 * any thread (each line is written with a single write(2)). Both binaries
 * use it; the service's JSON access log is separate (service/access_log).
 * As JSON (--log-format json; the default when stderr is not a terminal,
 * i.e. under systemd, cron or Kubernetes) a line is
 *
 *     {"ts":"2026-11-21T21:30:00.123Z","level":"info","msg":"loaded ..."}
 *
 * with "ts" in the access log's format, so one query covers both.
 *
 *     log_set_level(LOG_DEBUG);
 *     log_info("loaded version %s (%lld chunks)", id, (long long)n);
 *     log_warn("redis: %s; cache bypassed", err);
 *     log_error("shard-003.faiss: %s", err);
 */
#ifndef RAGD_LOG_H
#define RAGD_LOG_H

#include <stddef.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3, LOG_QUIET = 4 };

/* Lines below this level are dropped. Default LOG_INFO. */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* Parse "debug", "info", "warn", "error", "quiet"; returns -1 if unknown. */
int log_parse_level(const char *name);

enum log_format { LOG_FORMAT_TEXT = 0, LOG_FORMAT_JSON = 1 };

/* Default: JSON when stderr is not a terminal, text when it is. */
void log_set_format(enum log_format format);
enum log_format log_get_format(void);

/* Parse "text" or "json"; returns -1 if unknown. */
int log_parse_format(const char *name);

/* --log-level and --log-format as option-table setters (core/options.h,
 * kind OPT_FUNC; ctx unused): 0, or -1 and "--NAME: ..." in err. */
int log_level_option(void *ctx, const char *name, const char *value, char *err);
int log_format_option(void *ctx, const char *name, const char *value, char *err);

/* Append s (n bytes) to buf as the body of a JSON string: quotes,
 * backslashes and control bytes escaped, invalid UTF-8 replaced by
 * U+FFFD. Writes at most cap - 1 bytes, never splitting an escape, and a
 * NUL; returns the bytes written. */
size_t log_json_escape(char *buf, size_t cap, const char *s, size_t n);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

/* Current UTC time as "2026-11-21T21:30:00.123Z" into buf (>= 32 bytes). */
void log_timestamp(char *buf, int with_millis);

#endif
