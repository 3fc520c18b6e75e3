/* index_writer.h - build a new index version in a temporary folder and publish it atomically
 *
 * Layout of an index directory:
 *
 *     INDEX_DIR/current -> versions/<id>     symlink, swapped with rename(2)
 *     INDEX_DIR/versions/<id>/manifest.json  + shard-NNN.faiss, shard-NNN.db
 *     INDEX_DIR/tmp/<id>/                    a version being written
 *     INDEX_DIR/lock                         flock(2)'ed by the one writer
 *
 * The writer holds the lock from begin to commit/abort (a second writer
 * fails at once; a killed writer's lock goes with its process). Shard files
 * are written into the temporary folder; commit hashes and fsyncs them,
 * writes the manifest, renames the folder into versions/, swaps `current`,
 * and prunes old versions. Killed at any point, `current` still names a
 * complete version: the old one until the swap, the new one after.
 *
 *     index_writer *w = index_writer_begin("var/index", err);
 *     char *p = index_writer_path(w, "shard-000.faiss");   // write it
 *     manifest m = {...};                                  // shards named
 *     if (index_writer_commit(w, &m, 3, err) != 0) ...;    // publishes
 *     index_writer_free(w);                                // or abort
 */
#ifndef RAGD_INDEX_WRITER_H
#define RAGD_INDEX_WRITER_H

#include "manifest.h"

typedef struct index_writer index_writer;

/* Create INDEX_DIR if needed, take its lock, clear stale temporary
 * folders and make a new version folder. NULL + message if the lock is
 * held ("locked by another build (pid N)") or on I/O errors. */
index_writer *index_writer_begin(const char *index_dir, char *err);

/* 1 if the last index_writer_begin failure was because of the lock. */
int index_writer_lock_busy(void);

/* The new version's id and its temporary folder (valid until free). */
const char *index_writer_version_id(const index_writer *w);
const char *index_writer_dir(const index_writer *w);

/* Path of a file inside the temporary folder (caller frees). */
char *index_writer_path(const index_writer *w, const char *name);

/* Publish: fills in every shard's sizes and checksums, the version id and
 * the creation time, writes manifest.json, fsyncs, renames into versions/,
 * swaps `current`, then keeps only the newest keep_versions versions
 * (never removing the live one; keep_versions < 1 keeps all). On error
 * nothing is published and the temporary folder is removed. */
int index_writer_commit(index_writer *w, manifest *m, int keep_versions, char *err);

/* Abandon (if not committed): remove the temporary folder, release the
 * lock, free. NULL is accepted. */
void index_writer_free(index_writer *w);

/* Versions that stopped being the newest less than `seconds` ago are not
 * pruned yet (default 0): a replica that has not moved to the new version
 * (still loading it, or retrying a failed load) keeps its files. */
void index_writer_set_prune_grace(index_writer *w, int seconds);

/* Remove versions beyond the newest `keep`, never the live one and never
 * one whose successor was published less than grace_s seconds ago. Needs
 * no lock of its own: callers hold the writer's. Returns count removed or -1. */
int index_writer_prune(const char *index_dir, int keep, int grace_s, char *err);

/* Test hook: called with a step name at each point where a crash matters
 * ("files_synced", "manifest_written", "renamed", "link_made", "swapped",
 * "pruned"). NULL in production. */
extern void (*index_writer_crash_hook)(const char *step);

#endif
