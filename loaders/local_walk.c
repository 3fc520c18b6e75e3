/* local_walk.c - load documents from a local folder */
#include "local_walk.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "err.h"
#include "fsio.h"
#include "html_extract.h"
#include "mem.h"
#include "utf8.h"
#include "strmap.h"
#include "text_extract.h"

typedef struct walk_state {
    const local_opts *o;
    const loader_sink *sink;
    char *root; /* realpath of the root */
    strmap *seen_dirs;
    int loaded;
} walk_state;

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "file://" + path, with '%', control bytes and bytes that are not UTF-8
 * percent-encoded, so a URL is always valid UTF-8 (a JSON string, an FTS
 * and filter value) and says which file it is (security review finding
 * 6: such hits used to vanish from search results). */
static char *file_url(const char *path) {
    size_t n = strlen(path);
    char *url = mem_alloc(7 + 3 * n + 1), *w = url;
    memcpy(w, "file://", 7), w += 7;
    const unsigned char *p = (const unsigned char *)path;
    for (size_t i = 0; i < n;) {
        size_t clen = p[i] >= 0x20 && p[i] != 0x7f && p[i] != '%' ? utf8_seq_len(p + i, n - i) : 0;
        if (clen) {
            memcpy(w, p + i, clen), w += clen, i += clen;
        } else {
            w += sprintf(w, "%%%02X", p[i]), i++;
        }
    }
    *w = '\0';
    return url;
}

static const char *ext_of(const char *name) {
    const char *dot = strrchr(name, '.');
    return dot ? dot + 1 : "";
}

static int inside_root(const walk_state *w, const char *real) {
    size_t n = strlen(w->root);
    return strncmp(real, w->root, n) == 0 && (real[n] == '/' || real[n] == '\0' || strcmp(w->root, "/") == 0);
}

static void load_file(walk_state *w, const char *path, const char *real, const char *name, int64_t mtime) {
    char *url = file_url(real);
    const char *ext = ext_of(name);
    int html = !strcasecmp(ext, "html") || !strcasecmp(ext, "htm");
    int md = !strcasecmp(ext, "md") || !strcasecmp(ext, "markdown");
    int txt = !strcasecmp(ext, "txt");
    char err[RAGD_ERR_LEN];
    if (!html && !md && !txt) {
        loader_emit_event(w->sink, url, LOAD_SKIPPED, "unsupported_type", ext);
    } else if (w->o->max_files > 0 && w->loaded >= w->o->max_files) {
        loader_emit_event(w->sink, url, LOAD_SKIPPED, "page_limit", "");
    } else {
        char *buf = NULL;
        size_t len = 0;
        int64_t size = fsio_file_size(path, err);
        if (size >= 0 && (size_t)size > w->o->max_file_bytes) {
            loader_emit_event(w->sink, url, LOAD_FAILED, "too_large", "file larger than max-page-bytes");
        } else if (fsio_read_file(path, w->o->max_file_bytes, &buf, &len, err) != 0) {
            loader_emit_event(w->sink, url, LOAD_FAILED, "read_error", err);
        } else {
            document d;
            int ok = 1;
            if (html) ok = html_extract(buf, len, url, NULL, &d, err) == 0;
            else text_extract(buf, len, url, md ? TEXT_MARKDOWN : TEXT_PLAIN, &d);
            if (ok) {
                d.modified = mtime;
                w->loaded++;
                loader_emit_event(w->sink, url, LOAD_FETCHED, "ok", "");
                loader_emit_document(w->sink, &d);
                doc_clear(&d);
            } else {
                loader_emit_event(w->sink, url, LOAD_FAILED, "parse_error", err);
            }
        }
        mem_free(buf);
    }
    mem_free(url);
}

static void walk_dir(walk_state *w, const char *dir, int depth);

static void visit(walk_state *w, const char *dir, const char *name, int depth) {
    char *path = fsio_join(dir, name);
    struct stat lst, st;
    char real[PATH_MAX];
    if (lstat(path, &lst) != 0 || stat(path, &st) != 0 || !realpath(path, real)) {
        char *url = file_url(path);
        loader_emit_event(w->sink, url, LOAD_FAILED, "read_error", strerror(errno));
        mem_free(url);
    } else if (S_ISLNK(lst.st_mode) && !inside_root(w, real)) {
        char *url = file_url(path);
        loader_emit_event(w->sink, url, LOAD_SKIPPED, "symlink_out_of_root", real);
        mem_free(url);
    } else if (S_ISDIR(st.st_mode)) {
        if (depth < w->o->max_depth) walk_dir(w, path, depth + 1);
    } else if (S_ISREG(st.st_mode)) {
        load_file(w, path, real, name, (int64_t)st.st_mtime);
    }
    mem_free(path);
}

static void walk_dir(walk_state *w, const char *dir, int depth) {
    char real[PATH_MAX];
    if (!realpath(dir, real) || !strmap_put(w->seen_dirs, real, NULL)) return; /* visited */
    DIR *d = opendir(dir);
    if (!d) return;
    char **names = NULL;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue; /* hidden files and . / .. */
        names = mem_realloc(names, sizeof(char *) * (n + 1));
        names[n++] = mem_strdup(de->d_name);
    }
    closedir(d);
    if (n > 1) qsort(names, n, sizeof(char *), cmp_names);
    for (size_t i = 0; i < n; i++) {
        if (!loader_stopped(w->sink)) visit(w, dir, names[i], depth);
        loader_tick(w->sink);
        mem_free(names[i]);
    }
    mem_free(names);
}

int local_walk(const char *root, const local_opts *o, const loader_sink *sink, char *err) {
    char real[PATH_MAX];
    struct stat st;
    if (!realpath(root, real) || stat(real, &st) != 0) return err_set(err, "%s: %s", root, strerror(errno));
    walk_state w = {.o = o, .sink = sink, .root = real, .seen_dirs = strmap_new()};
    if (S_ISDIR(st.st_mode)) {
        walk_dir(&w, real, 0);
    } else {
        /* A single file: its folder is the root. */
        char *slash = strrchr(real, '/');
        char *name = mem_strdup(slash + 1);
        load_file(&w, real, real, name, (int64_t)st.st_mtime);
        mem_free(name);
    }
    strmap_free(w.seen_dirs, NULL);
    return RAGD_OK;
}
