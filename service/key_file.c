/* key_file.c - the API key file, reloaded on SIGHUP and when it changes, without dropping a request */
#include "key_file.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "auth.h"
#include "err.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"

typedef struct file_id {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
} file_id;

struct key_file {
    char *path;
    pthread_rwlock_t lock; /* readers: checks; writer: the swap */
    pthread_mutex_t reload_mu;
    auth *keys;
    file_id id;
};

static int identify(const char *path, file_id *out) {
    struct stat st;
    if (stat(path, &st) != 0) return -1;
    *out = (file_id){.dev = st.st_dev, .ino = st.st_ino, .size = st.st_size, .mtime = st.st_mtim};
    return 0;
}

static int same_id(const file_id *a, const file_id *b) {
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec &&
           a->mtime.tv_nsec == b->mtime.tv_nsec;
}

key_file *key_file_open(const char *path, char *err) {
    file_id id = {0};
    identify(path, &id);
    auth *a = auth_load(path, err);
    if (!a) return NULL;
    key_file *kf = mem_calloc(1, sizeof(*kf));
    kf->path = mem_strdup(path);
    kf->keys = a;
    kf->id = id;
    pthread_rwlock_init(&kf->lock, NULL);
    pthread_mutex_init(&kf->reload_mu, NULL);
    metrics_api_keys(auth_count(a), -1);
    return kf;
}

int key_file_reload(key_file *kf, int force, char *err) {
    pthread_mutex_lock(&kf->reload_mu);
    file_id id = {0};
    int rc;
    if (identify(kf->path, &id) != 0) {
        rc = err_set(err, "%s: cannot stat (removed?)", kf->path);
    } else if (!force && same_id(&id, &kf->id)) {
        rc = 0;
    } else {
        auth *a = auth_load(kf->path, err);
        if (!a) {
            rc = RAGD_ERR;
            kf->id = id; /* do not retry the same broken file every poll */
        } else {
            pthread_rwlock_wrlock(&kf->lock);
            auth *old = kf->keys;
            kf->keys = a;
            pthread_rwlock_unlock(&kf->lock);
            auth_free(old);
            kf->id = id;
            log_info("API keys reloaded from %s: %d keys", kf->path, auth_count(a));
            rc = 1;
        }
    }
    if (rc < 0) log_error("API key reload rejected, the previous keys stay: %s", err);
    if (rc != 0) metrics_api_keys(key_file_count(kf), rc > 0);
    pthread_mutex_unlock(&kf->reload_mu);
    return rc;
}

int key_file_check(key_file *kf, const char *presented, size_t len, const char *index_name, key_grant *out) {
    pthread_rwlock_rdlock(&kf->lock);
    const api_key *k = auth_check(kf->keys, presented, len);
    if (k) {
        memset(out, 0, sizeof(*out));
        snprintf(out->id, sizeof(out->id), "%s", k->id);
        snprintf(out->tenant, sizeof(out->tenant), "%s", k->tenant);
        out->admin = k->admin;
        out->allowed = auth_allows_index(k, index_name);
        out->rate = k->rate;
        out->burst = k->burst;
        out->tpm = k->tpm;
    }
    pthread_rwlock_unlock(&kf->lock);
    return k != NULL;
}

int key_file_count(key_file *kf) {
    pthread_rwlock_rdlock(&kf->lock);
    int n = auth_count(kf->keys);
    pthread_rwlock_unlock(&kf->lock);
    return n;
}

void key_file_free(key_file *kf) {
    if (!kf) return;
    auth_free(kf->keys);
    pthread_rwlock_destroy(&kf->lock);
    pthread_mutex_destroy(&kf->reload_mu);
    mem_free(kf->path);
    mem_free(kf);
}
