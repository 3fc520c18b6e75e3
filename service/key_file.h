/* key_file.h - the API key file, reloaded on SIGHUP and when it changes, without dropping a request
 *
 * Kubernetes updates a mounted secret by swapping a symlink, so "changed"
 * means the file's identity (device, inode, size, mtime) differs from the
 * one last loaded. A reload parses the new file completely before it
 * swaps it in under a write lock; checks hold a read lock for the few
 * microseconds they take and copy what the request needs, so a request
 * sees the old keys or the new ones, never a mix. A file that is missing
 * or malformed is rejected with a log line and the old keys stay.
 *
 *     key_file *kf = key_file_open("/etc/ragd/keys", err);  // NULL + err
 *     key_grant g;
 *     if (key_file_check(kf, presented, len, "docs", &g)) ... g.id, g.allowed ...
 *     key_file_reload(kf, 0, err);   // 1 reloaded, 0 unchanged, -1 rejected
 */
#ifndef RAGD_KEY_FILE_H
#define RAGD_KEY_FILE_H

#include <stddef.h>

/* What a request learns about the key it presented. */
typedef struct key_grant {
    char id[64];
    char tenant[64];
    int admin;
    int allowed; /* may query the index named in the check */
    double rate, burst;
    double tpm; /* LLM tokens per minute; 0: the service default */
} key_grant;

typedef struct key_file key_file;

key_file *key_file_open(const char *path, char *err);

/* Reload if the file changed (or always, with force). 1 reloaded, 0
 * unchanged, -1 rejected (err says why; the old keys stay). */
int key_file_reload(key_file *kf, int force, char *err);

/* 1 and *out filled if the presented secret is a known key, else 0. */
int key_file_check(key_file *kf, const char *presented, size_t len, const char *index_name, key_grant *out);

int key_file_count(key_file *kf);

void key_file_free(key_file *kf);

#endif
