/* embed_cache.c - the indexer's chunk-embedding cache in SQLite */
#include "embed_cache.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "mem.h"

struct ecache {
    sqlite3 *db;
    sqlite3_stmt *get, *put, *touch;
    int in_tx;
    long long now;
};

static int begin(ecache *c) {
    if (c->in_tx) return RAGD_OK;
    if (sqlite3_exec(c->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) return RAGD_ERR;
    c->in_tx = 1;
    return RAGD_OK;
}

ecache *ecache_open(const char *path, char *err) {
    ecache *c = mem_calloc(1, sizeof(*c));
    c->now = (long long)time(NULL);
    if (sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL) !=
            SQLITE_OK ||
        sqlite3_exec(c->db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                     "CREATE TABLE IF NOT EXISTS vectors(model_id TEXT NOT NULL, hash TEXT NOT NULL,"
                     " vec BLOB NOT NULL, used INTEGER NOT NULL, PRIMARY KEY(model_id, hash)) WITHOUT ROWID;",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(c->db, "SELECT vec FROM vectors WHERE model_id = ? AND hash = ?", -1, &c->get, NULL) ||
        sqlite3_prepare_v2(c->db, "INSERT OR REPLACE INTO vectors VALUES(?, ?, ?, ?)", -1, &c->put, NULL) ||
        sqlite3_prepare_v2(c->db, "UPDATE vectors SET used = ? WHERE model_id = ? AND hash = ?", -1, &c->touch, NULL)) {
        err_set(err, "%s: %s", path, c->db ? sqlite3_errmsg(c->db) : "cannot open");
        ecache_close(c);
        return NULL;
    }
    sqlite3_busy_timeout(c->db, 5000);
    return c;
}

int ecache_get(ecache *c, const char *model_id, const char *hash, int dim, float *out) {
    sqlite3_reset(c->get);
    sqlite3_bind_text(c->get, 1, model_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(c->get, 2, hash, -1, SQLITE_STATIC);
    int rc = sqlite3_step(c->get), found = 0;
    if (rc == SQLITE_ROW && sqlite3_column_bytes(c->get, 0) == (int)(sizeof(float) * (size_t)dim)) {
        memcpy(out, sqlite3_column_blob(c->get, 0), sizeof(float) * (size_t)dim);
        found = 1;
    } else if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        found = -1;
    }
    sqlite3_reset(c->get);
    if (found == 1 && begin(c) == RAGD_OK) {
        sqlite3_reset(c->touch);
        sqlite3_bind_int64(c->touch, 1, c->now);
        sqlite3_bind_text(c->touch, 2, model_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(c->touch, 3, hash, -1, SQLITE_STATIC);
        sqlite3_step(c->touch);
    }
    return found;
}

int ecache_put(ecache *c, const char *model_id, const char *hash, const float *vec, int dim) {
    if (begin(c) != RAGD_OK) return RAGD_ERR;
    sqlite3_reset(c->put);
    sqlite3_bind_text(c->put, 1, model_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(c->put, 2, hash, -1, SQLITE_STATIC);
    sqlite3_bind_blob(c->put, 3, vec, (int)(sizeof(float) * (size_t)dim), SQLITE_STATIC);
    sqlite3_bind_int64(c->put, 4, c->now);
    int rc = sqlite3_step(c->put);
    sqlite3_reset(c->put);
    return rc == SQLITE_DONE ? RAGD_OK : RAGD_ERR;
}

int ecache_commit(ecache *c, char *err) {
    char sql[128];
    snprintf(sql, sizeof(sql), "DELETE FROM vectors WHERE used < %lld", c->now - ECACHE_MAX_AGE_DAYS * 86400LL);
    if (begin(c) != RAGD_OK || sqlite3_exec(c->db, sql, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        return err_set(err, "embedding cache: %s", sqlite3_errmsg(c->db));
    c->in_tx = 0;
    return RAGD_OK;
}

void ecache_close(ecache *c) {
    if (!c) return;
    if (c->in_tx) sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_finalize(c->get);
    sqlite3_finalize(c->put);
    sqlite3_finalize(c->touch);
    sqlite3_close(c->db);
    mem_free(c);
}
