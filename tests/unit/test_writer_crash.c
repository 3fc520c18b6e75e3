/* test_writer_crash.c - a writer killed at any point never leaves `current` broken */
#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fsio.h"
#include "index_fixture.h"
#include "index_version.h"
#include "log.h"
#include "test.h"

#define DIM 16

static const char *crash_step;

static void die_at_step(const char *step) {
    if (crash_step && strcmp(step, crash_step) == 0) raise(SIGKILL);
}

/* In a child: publish one version, killing ourselves at `step` (or at a
 * random moment chosen by the parent when step is NULL). */
static pid_t spawn_writer(const char *dir, const char *step, unsigned seed) {
    pid_t pid = fork();
    if (pid != 0) return pid;
    crash_step = step;
    index_writer_crash_hook = die_at_step;
    char err[RAGD_ERR_LEN];
    float *vecs = fixture_vectors(300, DIM, seed);
    int64_t ids[300];
    int rc = fixture_build(dir, "Flat", 2, 300, DIM, vecs, ids, 2, err);
    _exit(rc == 0 ? 0 : 1);
}

/* `current` must open with every checksum verified. Returns its id. */
static int current_is_complete(const char *dir, char *id, size_t cap) {
    char err[RAGD_ERR_LEN];
    index_version *v = index_version_open(dir, INDEX_VERIFY_CHECKSUMS, err);
    if (!v) {
        printf("    current broken: %s\n", err);
        return 0;
    }
    snprintf(id, cap, "%s", v->m.version_id);
    index_version_free(v);
    return 1;
}

TEST(test_killed_at_each_step) {
    static const char *steps[] = {"files_synced", "manifest_written", "renamed", "link_made", "swapped", "pruned"};
    /* Before the rename of `current` the old version stays live. */
    static const int new_live[] = {0, 0, 0, 0, 1, 1};
    char *dir = fixture_tmpdir();
    int status;
    pid_t pid = spawn_writer(dir, NULL, 1);
    CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        char before[128], after[128];
        CHECK(current_is_complete(dir, before, sizeof(before)));
        pid = spawn_writer(dir, steps[i], (unsigned)i + 2);
        CHECK(waitpid(pid, &status, 0) == pid);
        CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        CHECK(current_is_complete(dir, after, sizeof(after)));
        if (new_live[i]) CHECK(strcmp(before, after) != 0);
        else CHECK(strcmp(before, after) == 0);
    }
    /* The next writer is not blocked by the dead ones and cleans up. */
    pid = spawn_writer(dir, NULL, 99);
    CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char *tmp = fsio_join(dir, "tmp");
    DIR *d = opendir(tmp);
    struct dirent *de;
    int leftovers = 0;
    while ((de = readdir(d)) != NULL) leftovers += de->d_name[0] != '.';
    closedir(d);
    mem_free(tmp);
    CHECK_EQ_INT(leftovers, 0);
    d = opendir(dir);
    while ((de = readdir(d)) != NULL) leftovers += strncmp(de->d_name, "current.tmp", 11) == 0;
    closedir(d);
    CHECK_EQ_INT(leftovers, 0);
    fsio_remove_tree(dir, NULL);
    mem_free(dir);
}

TEST(test_killed_at_random_moments) {
    char *dir = fixture_tmpdir();
    int status;
    char id[128];
    pid_t pid = spawn_writer(dir, NULL, 1);
    CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    unsigned seed = 12345;
    for (int round = 0; round < 30; round++) {
        pid = spawn_writer(dir, NULL, (unsigned)round + 10);
        seed = seed * 1103515245u + 12345u;
        struct timespec ts = {0, (long)((seed >> 8) % 12000) * 1000L}; /* 0..12 ms */
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        CHECK(waitpid(pid, &status, 0) == pid);
        CHECK(current_is_complete(dir, id, sizeof(id)));
    }
    fsio_remove_tree(dir, NULL);
    mem_free(dir);
}

int main(void) {
    log_set_level(LOG_WARN); /* the "removing unfinished version" lines are expected */
    RUN(test_killed_at_each_step);
    RUN(test_killed_at_random_moments);
    return test_summary("writer_crash");
}
