/* log.c - leveled, timestamped log lines on stderr */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile int log_level = LOG_INFO;

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
    char line[2048], ts[32];
    log_timestamp(ts, 1);
    int n = snprintf(line, sizeof(line), "%s %-5s ", ts, log_names[level]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 2) len = sizeof(line) - 2;
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}
