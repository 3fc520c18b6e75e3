/* index_writer.c - build a new index version and publish it atomically */

#include "index_writer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "fsio.h"
#include "log.h"
#include "mem.h"

void (*index_writer_crash_hook)(const char *step) = NULL;

static __thread int lock_busy;

struct index_writer {
    char *index_dir;
    char *tmp_dir; /* INDEX_DIR/tmp/<id> */
    char id[64];
    int lock_fd;
    int committed;
    int prune_grace_s; /* see index_writer_set_prune_grace */
};

static void crash_point(const char *step) {
    if (index_writer_crash_hook) index_writer_crash_hook(step);
}

int index_writer_lock_busy(void) {
    return lock_busy;
}

/* Version ids sort by creation time: 20261121T213000.123Z-1a2b3c. */
static void make_version_id(char *out, size_t cap) {
    struct timespec ts;
    struct tm tm;
    unsigned char rnd[3] = {0};
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
        unsigned x = (unsigned)ts.tv_nsec ^ (unsigned)getpid();
        memcpy(rnd, &x, sizeof(rnd));
    }
    char day[32];
    strftime(day, sizeof(day), "%Y%m%dT%H%M%S", &tm);
    snprintf(out, cap, "%s.%03ldZ-%02x%02x%02x", day, ts.tv_nsec / 1000000, rnd[0], rnd[1], rnd[2]);
}

/* The pid holding an flock(2) on fd's file, from /proc/locks (which the
 * kernel keeps exact), or -1. The pid written into the lock file is only
 * a hint for people: it can name a build that has finished, or be read in
 * the moment before a new holder rewrites it. */
static long lock_holder(int fd) {
    struct stat st;
    if (fstat(fd, &st) != 0) return -1;
    FILE *f = fopen("/proc/locks", "r");
    if (!f) return -1;
    char line[512], want[96];
    snprintf(want, sizeof(want), "%02x:%02x:%llu ", major(st.st_dev), minor(st.st_dev),
             (unsigned long long)st.st_ino);
    long pid = -1;
    while (pid < 0 && fgets(line, sizeof(line), f)) {
        long p;
        char kind[16], dev[96];
        if (strstr(line, "->")) continue; /* a waiter, not the holder */
        if (sscanf(line, "%*s %15s %*s %*s %ld %95s", kind, &p, dev) != 3 || strcmp(kind, "FLOCK") != 0) continue;
        strcat(dev, " ");
        if (strcmp(dev, want) == 0) pid = p;
    }
    fclose(f);
    return pid;
}

static int take_lock(const char *index_dir, int *fd_out, char *err) {
    char *path = fsio_join(index_dir, "lock");
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        err_set(err, "%s: %s", path, strerror(errno));
        mem_free(path);
        return RAGD_ERR;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        long holder = lock_holder(fd);
        lock_busy = 1;
        if (holder > 0) err_set(err, "%s: locked by another build (pid %ld)", path, holder);
        else err_set(err, "%s: locked by another build", path);
        close(fd);
        mem_free(path);
        return RAGD_ERR;
    }
    char pid[32];
    int n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n)
        log_warn("%s: cannot record pid: %s", path, strerror(errno));
    mem_free(path);
    *fd_out = fd;
    return RAGD_OK;
}

/* Remove symlinks a writer killed before its swap left behind. */
static void clear_stale_links(const char *index_dir) {
    DIR *d = opendir(index_dir);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, "current.tmp.", 12) != 0) continue;
        char *p = fsio_join(index_dir, de->d_name);
        unlink(p);
        mem_free(p);
    }
    if (d) closedir(d);
}

/* Remove leftovers of killed builds; safe because we hold the lock. */
static int clear_tmp(const char *tmp_root, char *err) {
    DIR *d = opendir(tmp_root);
    if (!d) return err_set(err, "%s: %s", tmp_root, strerror(errno));
    int rc = RAGD_OK;
    struct dirent *de;
    while (rc == RAGD_OK && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue;
        char *p = fsio_join(tmp_root, de->d_name);
        log_info("removing unfinished version %s", p);
        rc = fsio_remove_tree(p, err);
        mem_free(p);
    }
    closedir(d);
    return rc;
}

index_writer *index_writer_begin(const char *index_dir, char *err) {
    lock_busy = 0;
    char *versions = fsio_join(index_dir, "versions");
    char *tmp_root = fsio_join(index_dir, "tmp");
    index_writer *w = mem_calloc(1, sizeof(*w));
    w->lock_fd = -1;
    w->index_dir = mem_strdup(index_dir);
    if (fsio_mkdirs(versions, err) || fsio_mkdirs(tmp_root, err) || take_lock(index_dir, &w->lock_fd, err) ||
        clear_tmp(tmp_root, err))
        goto fail;
    clear_stale_links(index_dir);
    make_version_id(w->id, sizeof(w->id));
    w->tmp_dir = fsio_join(tmp_root, w->id);
    if (mkdir(w->tmp_dir, 0755) != 0) {
        err_set(err, "%s: mkdir: %s", w->tmp_dir, strerror(errno));
        goto fail;
    }
    mem_free(versions);
    mem_free(tmp_root);
    return w;
fail:
    mem_free(versions);
    mem_free(tmp_root);
    w->committed = 1; /* nothing of ours to remove */
    index_writer_free(w);
    return NULL;
}

const char *index_writer_version_id(const index_writer *w) {
    return w->id;
}

const char *index_writer_dir(const index_writer *w) {
    return w->tmp_dir;
}

char *index_writer_path(const index_writer *w, const char *name) {
    return fsio_join(w->tmp_dir, name);
}

/* Size, checksum and fsync one shard file named by the manifest. */
static int seal_file(const index_writer *w, const char *name, int64_t *bytes, char *sha, char *err) {
    char *p = index_writer_path(w, name);
    int rc = fsio_fsync_path(p, err);
    if (rc == RAGD_OK) rc = sha256_file(p, sha, bytes, err);
    mem_free(p);
    return rc;
}

static int swap_current(const index_writer *w, char *err) {
    char *target = mem_printf("versions/%s", w->id);
    char *tmp_link = mem_printf("%s/current.tmp.%d", w->index_dir, (int)getpid());
    char *link = fsio_join(w->index_dir, "current");
    int rc = RAGD_OK;
    unlink(tmp_link);
    if (symlink(target, tmp_link) != 0) rc = err_set(err, "%s: symlink: %s", tmp_link, strerror(errno));
    if (rc == RAGD_OK) crash_point("link_made");
    if (rc == RAGD_OK && rename(tmp_link, link) != 0) {
        rc = err_set(err, "%s: rename: %s", link, strerror(errno));
        unlink(tmp_link);
    }
    if (rc == RAGD_OK) rc = fsio_fsync_path(w->index_dir, err);
    mem_free(target);
    mem_free(tmp_link);
    mem_free(link);
    return rc;
}

static int publish_folder(index_writer *w, char *err) {
    char *versions = fsio_join(w->index_dir, "versions");
    char *final = fsio_join(versions, w->id);
    char *tmp_root = fsio_join(w->index_dir, "tmp");
    int rc = RAGD_OK;
    if (rename(w->tmp_dir, final) != 0) rc = err_set(err, "%s: rename: %s", final, strerror(errno));
    if (rc == RAGD_OK) w->committed = 1;
    if (rc == RAGD_OK) rc = fsio_fsync_path(versions, err);
    if (rc == RAGD_OK) rc = fsio_fsync_path(tmp_root, err);
    mem_free(versions);
    mem_free(final);
    mem_free(tmp_root);
    return rc;
}

int index_writer_commit(index_writer *w, manifest *m, int keep_versions, char *err) {
    snprintf(m->version_id, sizeof(m->version_id), "%s", w->id);
    if (!m->created_at[0]) log_timestamp(m->created_at, 0);
    m->format_version = MANIFEST_FORMAT_VERSION;
    for (int i = 0; i < m->n_shards; i++) {
        manifest_shard *s = &m->shards[i];
        if (seal_file(w, s->index_file, &s->index_bytes, s->index_sha256, err) ||
            seal_file(w, s->store_file, &s->store_bytes, s->store_sha256, err))
            return RAGD_ERR;
    }
    crash_point("files_synced");
    char *mpath = index_writer_path(w, MANIFEST_FILE);
    int rc = manifest_save(mpath, m, err);
    mem_free(mpath);
    if (rc == RAGD_OK) rc = fsio_fsync_path(w->tmp_dir, err);
    if (rc != RAGD_OK) return RAGD_ERR;
    crash_point("manifest_written");
    if (publish_folder(w, err) != 0) return RAGD_ERR;
    crash_point("renamed");
    if (swap_current(w, err) != 0) return RAGD_ERR;
    crash_point("swapped");
    if (keep_versions > 0 && index_writer_prune(w->index_dir, keep_versions, w->prune_grace_s, err) < 0)
        log_warn("published %s, but pruning old versions failed: %s", w->id, err);
    crash_point("pruned");
    return RAGD_OK;
}

static int cmp_str_desc(const void *a, const void *b) {
    return -strcmp(*(char *const *)a, *(char *const *)b);
}

void index_writer_set_prune_grace(index_writer *w, int seconds) {
    w->prune_grace_s = seconds > 0 ? seconds : 0;
}

/* Seconds since versions/ID was published (its manifest's mtime: written
 * just before the rename), or a large number if unknown. */
static double published_ago(const char *versions, const char *id) {
    char *p = mem_printf("%s/%s/%s", versions, id, MANIFEST_FILE);
    struct stat st;
    int ok = stat(p, &st) == 0;
    mem_free(p);
    return ok ? difftime(time(NULL), st.st_mtime) : 1e18;
}

int index_writer_prune(const char *index_dir, int keep, int grace_s, char *err) {
    char *versions = fsio_join(index_dir, "versions");
    char *link = fsio_join(index_dir, "current");
    char live[512] = "";
    ssize_t n = readlink(link, live, sizeof(live) - 1);
    live[n > 0 ? n : 0] = '\0';
    const char *live_id = strrchr(live, '/') ? strrchr(live, '/') + 1 : live;
    DIR *d = opendir(versions);
    if (!d) {
        err_set(err, "%s: %s", versions, strerror(errno));
        mem_free(versions);
        mem_free(link);
        return -1;
    }
    char **ids = NULL;
    size_t nids = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue;
        ids = mem_realloc(ids, sizeof(char *) * (nids + 1));
        ids[nids++] = mem_strdup(de->d_name);
    }
    closedir(d);
    if (nids > 1) qsort(ids, nids, sizeof(char *), cmp_str_desc);
    int removed = 0;
    for (size_t i = 0; i < nids; i++) {
        /* ids[i - 1] replaced ids[i] as the newest version when it was published */
        int in_grace = grace_s > 0 && i > 0 && published_ago(versions, ids[i - 1]) < grace_s;
        if ((int)i >= keep && strcmp(ids[i], live_id) != 0 && !in_grace && removed >= 0) {
            /* Move it out of versions/ first, so it disappears atomically. */
            char *src = fsio_join(versions, ids[i]);
            char *dst = mem_printf("%s/tmp/.old-%s", index_dir, ids[i]);
            if (rename(src, dst) != 0) {
                err_set(err, "%s: rename: %s", src, strerror(errno));
                removed = -1;
            } else if (fsio_remove_tree(dst, err) != 0) {
                removed = -1;
            } else {
                removed++;
            }
            mem_free(src);
            mem_free(dst);
        }
    }
    for (size_t i = 0; i < nids; i++) mem_free(ids[i]);
    mem_free(ids);
    mem_free(versions);
    mem_free(link);
    return removed;
}

void index_writer_free(index_writer *w) {
    if (!w) return;
    if (!w->committed && w->tmp_dir) {
        char err[RAGD_ERR_LEN];
        if (fsio_remove_tree(w->tmp_dir, err) != 0) log_warn("%s", err);
    }
    if (w->lock_fd >= 0) close(w->lock_fd);
    mem_free(w->index_dir);
    mem_free(w->tmp_dir);
    mem_free(w);
}
