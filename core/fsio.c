/* fsio.c - small, careful file system helpers */

#include "fsio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "mem.h"

int fsio_read_file(const char *path, size_t max_bytes, char **out, size_t *len, char *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return err_set(err, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return err_set(err, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > max_bytes) {
        close(fd);
        return err_set(err, "%s: %lld bytes, limit is %zu", path, (long long)st.st_size, max_bytes);
    }
    size_t cap = (size_t)st.st_size, n = 0;
    char *buf = mem_alloc(cap + 1);
    while (n < cap) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        n += (size_t)r;
    }
    close(fd);
    if (n != cap) {
        mem_free(buf);
        return err_set(err, "%s: short read (%zu of %zu bytes)", path, n, cap);
    }
    buf[n] = '\0';
    *out = buf;
    if (len) *len = n;
    return RAGD_OK;
}

int fsio_write_file_durable(const char *path, const void *data, size_t len, char *err) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return err_set(err, "%s: %s", path, strerror(errno));
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) {
            int e = errno;
            close(fd);
            return err_set(err, "%s: write: %s", path, strerror(e));
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0) {
        int e = errno;
        close(fd);
        return err_set(err, "%s: fsync: %s", path, strerror(e));
    }
    if (close(fd) != 0) return err_set(err, "%s: close: %s", path, strerror(errno));
    return RAGD_OK;
}

int fsio_write_line_durable(const char *path, const char *s, char *err) {
    size_t n = strlen(s);
    char *buf = mem_alloc(n + 1);
    memcpy(buf, s, n);
    buf[n] = '\n';
    int rc = fsio_write_file_durable(path, buf, n + 1, err);
    mem_free(buf);
    return rc;
}

int fsio_fsync_path(const char *path, char *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return err_set(err, "%s: %s", path, strerror(errno));
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    if (rc != 0) return err_set(err, "%s: fsync: %s", path, strerror(e));
    return RAGD_OK;
}

int fsio_mkdirs(const char *path, char *err) {
    char *p = mem_strdup(path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            int e = errno;
            err_set(err, "%s: mkdir: %s", p, strerror(e));
            mem_free(p);
            return RAGD_ERR;
        }
        *s = '/';
    }
    int rc = RAGD_OK;
    if (mkdir(p, 0755) != 0 && errno != EEXIST)
        rc = err_set(err, "%s: mkdir: %s", p, strerror(errno));
    mem_free(p);
    return rc;
}

int fsio_remove_tree(const char *path, char *err) {
    struct stat st;
    if (lstat(path, &st) != 0) return errno == ENOENT ? RAGD_OK : err_set(err, "%s: %s", path, strerror(errno));
    if (!S_ISDIR(st.st_mode)) {
        if (unlink(path) != 0 && errno != ENOENT) return err_set(err, "%s: unlink: %s", path, strerror(errno));
        return RAGD_OK;
    }
    DIR *d = opendir(path);
    if (!d) return err_set(err, "%s: opendir: %s", path, strerror(errno));
    int rc = RAGD_OK;
    struct dirent *de;
    while (rc == RAGD_OK && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
        char *child = fsio_join(path, de->d_name);
        rc = fsio_remove_tree(child, err);
        mem_free(child);
    }
    closedir(d);
    if (rc == RAGD_OK && rmdir(path) != 0 && errno != ENOENT)
        rc = err_set(err, "%s: rmdir: %s", path, strerror(errno));
    return rc;
}

int64_t fsio_file_size(const char *path, char *err) {
    struct stat st;
    if (stat(path, &st) != 0) {
        err_set(err, "%s: %s", path, strerror(errno));
        return -1;
    }
    return (int64_t)st.st_size;
}

int fsio_exists(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0;
}

char *fsio_join(const char *dir, const char *name) {
    size_t n = strlen(dir);
    if (n > 0 && dir[n - 1] == '/') return mem_printf("%s%s", dir, name);
    return mem_printf("%s/%s", dir, name);
}

int fsio_is_plain_name(const char *name) {
    if (!name || !*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) return 0;
    /* What ragd writes (shard-000.db, 20261123T014246.167Z-96b8d9): nothing
     * a path, a shell or an SQLite URI would read as syntax ("?", "#", "%"). */
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '.' ||
              *p == '_' || *p == '-'))
            return 0;
    return 1;
}

int fsio_link_or_copy(const char *from, const char *to, char *err) {
    if (link(from, to) == 0) return RAGD_OK;
    char *buf = NULL;
    size_t len = 0;
    int64_t size = fsio_file_size(from, err);
    if (size < 0 || fsio_read_file(from, (size_t)size + 1, &buf, &len, err) != 0) return RAGD_ERR;
    int rc = fsio_write_file_durable(to, buf, len, err);
    mem_free(buf);
    return rc;
}
