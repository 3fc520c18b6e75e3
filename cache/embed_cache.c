/* embed_cache.c - the indexer's chunk-embedding cache in SQLite */
#include "embed_cache.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "mem.h"
#include "redis_pool.h"

#define ECACHE_REDIS_PREFIX "ragd:v1:emb:"

struct ecache {
    redisContext *redis; /* Redis mode when set; else SQLite */
    int pending;         /* pipelined SETs not yet read back */
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

ecache *ecache_open_redis(const char *url, char *err) {
    rpool_opts o = rpool_opts_default();
    o.command_timeout_ms = 2000;
    o.connect_timeout_ms = 2000;
    if (rpool_parse_url(url, &o, err) != 0) return NULL;
    rpool *p = rpool_new(&o, 1);
    redisContext *r = rpool_connect(p, o.command_timeout_ms);
    rpool_free(p);
    if (!r) {
        err_set(err, "redis %s:%d: cannot connect", o.host, o.port);
        return NULL;
    }
    ecache *c = mem_calloc(1, sizeof(*c));
    c->redis = r;
    return c;
}

/* Read back pipelined SET replies; -1 if any failed. */
static int drain(ecache *c) {
    int ok = 1;
    for (; c->pending > 0; c->pending--) {
        redisReply *r = NULL;
        if (redisGetReply(c->redis, (void **)&r) != REDIS_OK || !r || r->type == REDIS_REPLY_ERROR) ok = 0;
        if (r) freeReplyObject(r);
        if (c->redis->err) {
            c->pending = 0;
            return RAGD_ERR;
        }
    }
    return ok ? RAGD_OK : RAGD_ERR;
}

static int redis_get(ecache *c, const char *model_id, const char *hash, int dim, float *out) {
    if (drain(c) != RAGD_OK) return -1;
    redisReply *r = redisCommand(c->redis, "GET " ECACHE_REDIS_PREFIX "%s:%s", model_id, hash);
    int found = !r ? -1 : r->type == REDIS_REPLY_STRING && r->len == sizeof(float) * (size_t)dim;
    if (found == 1) memcpy(out, r->str, r->len);
    if (r) freeReplyObject(r);
    return found;
}

int ecache_get(ecache *c, const char *model_id, const char *hash, int dim, float *out) {
    if (c->redis) return redis_get(c, model_id, hash, dim, out);
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
    if (c->redis) {
        char key[256], ttl[32];
        snprintf(key, sizeof(key), ECACHE_REDIS_PREFIX "%s:%s", model_id, hash);
        snprintf(ttl, sizeof(ttl), "%lld", ECACHE_MAX_AGE_DAYS * 86400LL * 1000);
        const char *argv[] = {"SET", key, (const char *)vec, "PX", ttl};
        size_t lens[] = {3, strlen(key), sizeof(float) * (size_t)dim, 2, strlen(ttl)};
        redisAppendCommandArgv(c->redis, 5, argv, lens);
        if (++c->pending >= 256) return drain(c);
        return RAGD_OK;
    }
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
    if (c->redis) return drain(c) == RAGD_OK ? RAGD_OK : err_set(err, "embedding cache: redis write failed");
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
    if (c->redis) {
        drain(c);
        redisFree(c->redis);
        mem_free(c);
        return;
    }
    if (c->in_tx) sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_finalize(c->get);
    sqlite3_finalize(c->put);
    sqlite3_finalize(c->touch);
    sqlite3_close(c->db);
    mem_free(c);
}
