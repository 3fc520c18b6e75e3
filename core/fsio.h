/* fsio.h - small, careful file system helpers: read with a limit, write durably
 *
 * The index writer's crash safety rests on three things done in the right
 * order: fsync of every file, rename(2) of the finished folder, fsync of the
 * parent folder. These helpers do each one and report errors with the path.
 *
 *     char *buf; size_t len;
 *     if (fsio_read_file(path, 1 << 20, &buf, &len, err) != 0) return -1;
 *     fsio_write_file_durable(tmp, buf, len, err);
 *     fsio_fsync_path(dir, err);
 *     mem_free(buf);
 */
#ifndef RAGD_FSIO_H
#define RAGD_FSIO_H

#include <stddef.h>
#include <stdint.h>

/* Read a whole file into a new NUL-terminated buffer (caller frees). Fails
 * if the file is larger than max_bytes. */
int fsio_read_file(const char *path, size_t max_bytes, char **out, size_t *len, char *err);

/* Create or truncate path, write len bytes, fsync it. */
int fsio_write_file_durable(const char *path, const void *data, size_t len, char *err);

/* Write a string and a final newline durably (JSON files). */
int fsio_write_line_durable(const char *path, const char *s, char *err);

/* fsync a file or a folder by path. */
int fsio_fsync_path(const char *path, char *err);

/* mkdir -p with mode 0755; existing folders are fine. */
int fsio_mkdirs(const char *path, char *err);

/* Remove a file or a folder tree (no symlink is followed). Missing is fine. */
int fsio_remove_tree(const char *path, char *err);

/* Size of a file in bytes, or -1 with a message. */
int64_t fsio_file_size(const char *path, char *err);

/* 1 if path exists (lstat), else 0. */
int fsio_exists(const char *path);

/* Make to a hard link of from (immutable files only: both names share the
 * bytes), or a durable copy where links are not possible. */
int fsio_link_or_copy(const char *from, const char *to, char *err);

/* Join a folder and a name into a new string (caller frees). */
char *fsio_join(const char *dir, const char *name);

/* 1 if name is a plain file name: non-empty, no '/', not "." or "..",
 * no control characters. Used to validate names read from manifests. */
int fsio_is_plain_name(const char *name);

#endif
