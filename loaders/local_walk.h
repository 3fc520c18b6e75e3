/* local_walk.h - load a local folder: .html/.htm, .md/.markdown, .txt files
 *
 * Walks the folder in sorted order, so runs are reproducible. Files of
 * other types are reported as skipped ("unsupported_type"); files larger
 * than max_file_bytes as failed ("too_large"); symlinks are followed only
 * when they resolve inside the root ("symlink_out_of_root" otherwise), and
 * each folder is visited once. Document URLs are file:// URLs.
 *
 *     local_opts o = {.max_file_bytes = 5 << 20, .max_files = 100000};
 *     local_walk("docs/", &o, &sink, err);
 */
#ifndef RAGD_LOCAL_WALK_H
#define RAGD_LOCAL_WALK_H

#include <stddef.h>

#include "loader.h"

typedef struct local_opts {
    size_t max_file_bytes;
    int max_files; /* documents loaded at most; the rest "page_limit" */
    int max_depth; /* folder depth below the root */
} local_opts;

/* -1 + message only if root cannot be opened; per-file problems are events. */
int local_walk(const char *root, const local_opts *o, const loader_sink *sink, char *err);

#endif
