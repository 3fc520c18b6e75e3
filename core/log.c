/* log.c - leveled, timestamped log lines on stderr, as text or JSON */
#include "log.h"

#include "err.h"
#include "utf8.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile int log_level = LOG_INFO;
static volatile int log_format = -1; /* -1: decide on first use (isatty) */

static const char *log_names[] = {"debug", "info", "warn", "error", "quiet"};

void log_set_level(enum log_level level) {
    log_level = level;
}

enum log_level log_get_level(void) {
    return (enum log_level)log_level;
}

int log_parse_level(const char *name) {
    for (int i = 0; i <= LOG_QUIET; i++)
        if (strcmp(name, log_names[i]) == 0) return i;
    return -1;
}

void log_set_format(enum log_format format) {
    log_format = format;
}

enum log_format log_get_format(void) {
    if (log_format < 0) log_format = isatty(STDERR_FILENO) ? LOG_FORMAT_TEXT : LOG_FORMAT_JSON;
    return (enum log_format)log_format;
}

int log_parse_format(const char *name) {
    if (strcmp(name, "text") == 0) return LOG_FORMAT_TEXT;
    if (strcmp(name, "json") == 0) return LOG_FORMAT_JSON;
    return -1;
}

size_t log_json_escape(char *buf, size_t cap, const char *s, size_t n) {
    size_t o = 0;
    if (cap == 0) return 0;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        char esc[8];
        const char *piece = esc;
        size_t len, step;
        unsigned char c = u[i];
        if (c == '"' || c == '\\') esc[0] = '\\', esc[1] = (char)c, len = 2, step = 1;
        else if (c == '\n') memcpy(esc, "\\n", 2), len = 2, step = 1;
        else if (c == '\t') memcpy(esc, "\\t", 2), len = 2, step = 1;
        else if (c < 0x20 || c == 0x7F) len = (size_t)snprintf(esc, sizeof(esc), "\\u%04x", c), step = 1;
        else if ((step = utf8_seq_len(u + i, n - i)) == 0) piece = "\xEF\xBF\xBD", len = 3, step = 1;
        else piece = s + i, len = step;
        if (o + len > cap - 1) break;
        memcpy(buf + o, piece, len);
        o += len;
        i += step;
    }
    buf[o] = '\0';
    return o;
}

void log_timestamp(char *buf, int with_millis) {
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    if (with_millis)
        snprintf(buf + n, 32 - n, ".%03ldZ", ts.tv_nsec / 1000000);
    else
        snprintf(buf + n, 32 - n, "Z");
}

void log_msg(enum log_level level, const char *fmt, ...) {
    if ((int)level < log_level || level >= LOG_QUIET) return;
    char msg[2048], line[4096], ts[32];
    log_timestamp(ts, 1);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    size_t mlen = m < 0 ? 0 : (size_t)m < sizeof(msg) ? (size_t)m : sizeof(msg) - 1;
    size_t len;
    if (log_get_format() == LOG_FORMAT_JSON) {
        len = (size_t)snprintf(line, sizeof(line), "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"", ts, log_names[level]);
        len += log_json_escape(line + len, sizeof(line) - len - 3, msg, mlen);
        memcpy(line + len, "\"}", 2);
        len += 2;
    } else {
        len = (size_t)snprintf(line, sizeof(line), "%s %-5s %.*s", ts, log_names[level], (int)mlen, msg);
        if (len > sizeof(line) - 2) len = sizeof(line) - 2;
    }
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}

int log_level_option(void *ctx, const char *name, const char *value, char *err) {
    (void)ctx;
    int l = log_parse_level(value);
    if (l < 0) return err_set(err, "--%s: unknown level \"%s\"", name, value);
    log_set_level((enum log_level)l);
    return 0;
}

int log_format_option(void *ctx, const char *name, const char *value, char *err) {
    (void)ctx;
    int f = log_parse_format(value);
    if (f < 0) return err_set(err, "--%s: \"%s\" is not text or json", name, value);
    log_set_format((enum log_format)f);
    return 0;
}
