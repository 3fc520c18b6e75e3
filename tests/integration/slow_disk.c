/* slow_disk.c - an LD_PRELOAD shim that makes one file slow to open
 *
 * A stand-in for an index on a slow network volume, so a test can watch
 * ragd-serve while it loads: any open of a path containing
 * $SLOW_DISK_MATCH waits while the file $SLOW_DISK_HOLD exists (the test
 * removes it to let the load go on). Everything else passes straight to
 * libc. Built by the test that uses it:
 *
 *     cc -shared -fPIC -o slow_disk.so slow_disk.c -ldl
 *     SLOW_DISK_MATCH=shard-001 SLOW_DISK_HOLD=/tmp/hold LD_PRELOAD=./slow_disk.so ragd-serve ...
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void hold(const char *path) {
    const char *match = getenv("SLOW_DISK_MATCH"), *flag = getenv("SLOW_DISK_HOLD");
    if (!path || !match || !flag || !strstr(path, match)) return;
    while (access(flag, F_OK) == 0) usleep(10 * 1000);
}

#define NEXT(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

int open(const char *path, int flags, ...) {
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, mode_t);
        va_end(ap);
    }
    hold(path);
    return NEXT(open)(path, flags, mode);
}

int open64(const char *path, int flags, ...) {
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, mode_t);
        va_end(ap);
    }
    hold(path);
    return NEXT(open64)(path, flags, mode);
}

FILE *fopen(const char *path, const char *mode) {
    hold(path);
    return NEXT(fopen)(path, mode);
}

FILE *fopen64(const char *path, const char *mode) {
    hold(path);
    return NEXT(fopen64)(path, mode);
}
