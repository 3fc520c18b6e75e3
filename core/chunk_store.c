/* chunk_store.c - one shard's chunk rows in SQLite */
#include "chunk_store.h"
#include "clock.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "fsio.h"
#include "keyword_index.h"
#include "mem.h"

/* 2 added the crawl state of each document (validators, last successful
 * fetch, links) and each document's chunk list, for incremental crawls
 * and carry-over. 3 added the keyword index (chunks_fts). 4 added each
 * document's source, modified time and metadata (for filters). Older
 * versions are still served (1 and 2: vector search only; 3: no source,
 * modified or meta filters). */
#define CHUNK_STORE_SCHEMA_VERSION "4"

/* The keyword index: FTS5 over title, heading path and text, its content
 * read from the chunks table (stored once). unicode61 folds case and
 * removes diacritics; porter stems English (the default, chosen by
 * measurement on CISI, docs/search.md). */
#define FTS_UNICODE "unicode61 remove_diacritics 2"
#define FTS_PORTER "porter " FTS_UNICODE

struct chunk_store {
    sqlite3 *db;
    int dim;
    int writing, schema;
    sqlite3_stmt *put, *get, *getvec, *src, *doc, *dchunk, *meta;
    kwindex *kw; /* schema 3: BM25 over the FTS5 index, in memory */
    int no_stemming; /* keyword index without porter */
};

static const char *schema_sql =
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE chunks("
    " id INTEGER PRIMARY KEY, doc_url TEXT NOT NULL, title TEXT NOT NULL,"
    " headings TEXT NOT NULL, text TEXT NOT NULL,"
    " start_byte INTEGER NOT NULL, end_byte INTEGER NOT NULL,"
    " content_hash TEXT NOT NULL, doc_hash TEXT NOT NULL, vector BLOB);"
    "CREATE TABLE chunk_sources(chunk_id INTEGER NOT NULL, doc_url TEXT NOT NULL,"
    " title TEXT NOT NULL, headings TEXT NOT NULL, PRIMARY KEY(chunk_id, doc_url));"
    "CREATE TABLE documents(url TEXT PRIMARY KEY, doc_hash TEXT NOT NULL,"
    " title TEXT NOT NULL, chunks INTEGER NOT NULL, etag TEXT, last_modified TEXT,"
    " fetched_at INTEGER NOT NULL, links TEXT NOT NULL, source TEXT, modified INTEGER, meta TEXT);"
    "CREATE TABLE doc_chunks(doc_url TEXT NOT NULL, ordinal INTEGER NOT NULL,"
    " content_hash TEXT NOT NULL, headings TEXT NOT NULL, start_byte INTEGER NOT NULL,"
    " end_byte INTEGER NOT NULL, PRIMARY KEY(doc_url, ordinal)) WITHOUT ROWID;"
    "CREATE INDEX chunks_doc ON chunks(doc_url);"
    "CREATE INDEX chunks_hash ON chunks(content_hash);";


int64_t chunk_id_make(const char *doc_url, int ordinal, const char *text, size_t text_len) {
    sha256_ctx c;
    uint8_t d[SHA256_LEN];
    char ord[16];
    int n = snprintf(ord, sizeof(ord), "%d", ordinal);
    sha256_init(&c);
    sha256_update(&c, doc_url, strlen(doc_url) + 1);
    sha256_update(&c, ord, (size_t)n + 1);
    sha256_update(&c, text, text_len);
    sha256_final(&c, d);
    uint64_t id = 0;
    for (int i = 0; i < 8; i++) id = id << 8 | d[i];
    return (int64_t)(id & 0x7fffffffffffffffULL);
}

static int db_err(chunk_store *cs, char *err, const char *what) {
    return err_set(err, "%s: %s", what, sqlite3_errmsg(cs->db));
}

static void chunk_store_free(chunk_store *cs) {
    sqlite3_finalize(cs->put);
    sqlite3_finalize(cs->get);
    sqlite3_finalize(cs->getvec);
    sqlite3_finalize(cs->src);
    sqlite3_finalize(cs->doc);
    sqlite3_finalize(cs->dchunk);
    sqlite3_finalize(cs->meta);
    kwindex_free(cs->kw);
    sqlite3_close(cs->db);
    mem_free(cs);
}

static int prepare(chunk_store *cs, const char *sql, sqlite3_stmt **st, char *err) {
    if (sqlite3_prepare_v2(cs->db, sql, -1, st, NULL) != SQLITE_OK) return db_err(cs, err, "prepare");
    return RAGD_OK;
}

chunk_store *chunk_store_create(const char *path, int dim, char *err) {
    if (fsio_exists(path)) {
        err_set(err, "%s: already exists", path);
        return NULL;
    }
    chunk_store *cs = mem_calloc(1, sizeof(*cs));
    cs->dim = dim;
    cs->writing = 1;
    cs->schema = atoi(CHUNK_STORE_SCHEMA_VERSION);
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &cs->db, flags, NULL) != SQLITE_OK) goto fail;
    /* No journal: the store lives in a temporary version folder that is
     * thrown away whole if the build dies, and is fsync'ed before publish. */
    if (sqlite3_exec(cs->db, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;", NULL, NULL, NULL) ||
        sqlite3_exec(cs->db, schema_sql, NULL, NULL, NULL) ||
        sqlite3_exec(cs->db, "BEGIN", NULL, NULL, NULL))
        goto fail;
    if (prepare(cs, "INSERT INTO chunks VALUES(?,?,?,?,?,?,?,?,?,?)", &cs->put, err) ||
        prepare(cs, "INSERT OR IGNORE INTO chunk_sources VALUES(?,?,?,?)", &cs->src, err) ||
        prepare(cs, "INSERT OR REPLACE INTO documents VALUES(?,?,?,?,?,?,?,?,?,?,?)", &cs->doc, err) ||
        prepare(cs, "INSERT OR REPLACE INTO doc_chunks VALUES(?,?,?,?,?,?)", &cs->dchunk, err) ||
        prepare(cs, "INSERT OR REPLACE INTO meta VALUES(?,?)", &cs->meta, err))
        goto fail_msg;
    char dimstr[16];
    snprintf(dimstr, sizeof(dimstr), "%d", dim);
    if (chunk_store_put_meta(cs, "schema_version", CHUNK_STORE_SCHEMA_VERSION, err) ||
        chunk_store_put_meta(cs, "dim", dimstr, err))
        goto fail_msg;
    return cs;
fail:
    db_err(cs, err, path);
fail_msg:
    chunk_store_free(cs);
    return NULL;
}

int chunk_store_put_meta(chunk_store *cs, const char *key, const char *value, char *err) {
    sqlite3_reset(cs->meta);
    sqlite3_bind_text(cs->meta, 1, key, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(cs->meta, 2, value, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(cs->meta) != SQLITE_DONE) return db_err(cs, err, "meta");
    return RAGD_OK;
}

int chunk_store_put(chunk_store *cs, const chunk_row *r, const float *vec, char *err) {
    sqlite3_stmt *st = cs->put;
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, r->id);
    sqlite3_bind_text(st, 2, r->doc_url, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, r->title ? r->title : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, r->headings ? r->headings : "[]", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, r->text, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, r->start_byte);
    sqlite3_bind_int64(st, 7, r->end_byte);
    sqlite3_bind_text(st, 8, r->content_hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 9, r->doc_hash, -1, SQLITE_STATIC);
    if (vec) sqlite3_bind_blob(st, 10, vec, (int)(sizeof(float) * (size_t)cs->dim), SQLITE_STATIC);
    else sqlite3_bind_null(st, 10);
    int rc = sqlite3_step(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE) return db_err(cs, err, r->doc_url);
    return RAGD_OK;
}

int chunk_store_add_source(chunk_store *cs, int64_t chunk_id, const char *doc_url, const char *title,
                           const char *headings, char *err) {
    sqlite3_stmt *st = cs->src;
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, chunk_id);
    sqlite3_bind_text(st, 2, doc_url, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, title ? title : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, headings ? headings : "[]", -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) return db_err(cs, err, doc_url);
    return RAGD_OK;
}

static void bind_opt_text(sqlite3_stmt *st, int i, const char *v) {
    if (v && *v) sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else sqlite3_bind_null(st, i);
}

int chunk_store_put_document(chunk_store *cs, const chunk_doc *d, char *err) {
    sqlite3_stmt *st = cs->doc;
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, d->url, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, d->doc_hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, d->title ? d->title : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, d->chunks);
    bind_opt_text(st, 5, d->etag);
    bind_opt_text(st, 6, d->last_modified);
    sqlite3_bind_int64(st, 7, d->fetched_at);
    sqlite3_bind_text(st, 8, d->links ? d->links : "", -1, SQLITE_STATIC);
    bind_opt_text(st, 9, d->source);
    if (d->modified > 0) sqlite3_bind_int64(st, 10, d->modified);
    else sqlite3_bind_null(st, 10);
    bind_opt_text(st, 11, d->meta);
    int rc = sqlite3_step(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE) return db_err(cs, err, d->url);
    return RAGD_OK;
}

int chunk_store_put_doc_chunk(chunk_store *cs, const char *url, const doc_chunk *c, char *err) {
    sqlite3_stmt *st = cs->dchunk;
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, url, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, c->ordinal);
    sqlite3_bind_text(st, 3, c->content_hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, c->headings ? c->headings : "[]", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, c->start_byte);
    sqlite3_bind_int64(st, 6, c->end_byte);
    if (sqlite3_step(st) != SQLITE_DONE) return db_err(cs, err, url);
    return RAGD_OK;
}

int chunk_store_ids(chunk_store *cs, int64_t **ids, int64_t *n, char *err) {
    sqlite3_stmt *st = NULL;
    *ids = NULL;
    *n = 0;
    if (sqlite3_prepare_v2(cs->db, "SELECT id FROM chunks ORDER BY id", -1, &st, NULL) != SQLITE_OK)
        return db_err(cs, err, "ids");
    int64_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 1024;
            *ids = mem_realloc(*ids, sizeof(int64_t) * (size_t)cap);
        }
        (*ids)[(*n)++] = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        mem_free(*ids);
        *ids = NULL;
        return db_err(cs, err, "ids");
    }
    return RAGD_OK;
}

int chunk_store_schema(const chunk_store *cs) {
    return cs->schema;
}

static const char *col_str(sqlite3_stmt *st, int i) {
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? (const char *)t : "";
}

int chunk_store_each_document(chunk_store *cs, void (*fn)(void *ctx, const chunk_doc *d), void *ctx, char *err) {
    if (cs->schema < 2) return err_set(err, "chunk store schema %d keeps no crawl state", cs->schema);
    sqlite3_stmt *st = NULL;
    const char *sql = cs->schema >= 4 ? "SELECT url, doc_hash, title, chunks, etag, last_modified, fetched_at, links,"
                                        " source, modified, meta FROM documents ORDER BY url"
                                      : "SELECT url, doc_hash, title, chunks, etag, last_modified, fetched_at, links,"
                                        " NULL, NULL, NULL FROM documents ORDER BY url";
    if (sqlite3_prepare_v2(cs->db, sql, -1, &st, NULL) != SQLITE_OK)
        return db_err(cs, err, "documents");
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        chunk_doc d = {.url = col_str(st, 0), .doc_hash = col_str(st, 1), .title = col_str(st, 2),
                       .chunks = sqlite3_column_int64(st, 3), .etag = col_str(st, 4),
                       .last_modified = col_str(st, 5), .fetched_at = sqlite3_column_int64(st, 6),
                       .links = col_str(st, 7), .source = col_str(st, 8),
                       .modified = sqlite3_column_int64(st, 9), .meta = col_str(st, 10)};
        fn(ctx, &d);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return db_err(cs, err, "documents");
    return RAGD_OK;
}

int chunk_store_doc_chunks(chunk_store *cs, const char *url, void (*fn)(void *ctx, const doc_chunk *c), void *ctx,
                           char *err) {
    if (cs->schema < 2) return err_set(err, "chunk store schema %d keeps no chunk lists", cs->schema);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(cs->db, "SELECT ordinal, content_hash, headings, start_byte, end_byte FROM doc_chunks"
                                   " WHERE doc_url = ? ORDER BY ordinal", -1, &st, NULL) != SQLITE_OK)
        return db_err(cs, err, "doc_chunks");
    sqlite3_bind_text(st, 1, url, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        doc_chunk c = {.ordinal = sqlite3_column_int(st, 0), .headings = col_str(st, 2),
                       .start_byte = sqlite3_column_int64(st, 3), .end_byte = sqlite3_column_int64(st, 4)};
        snprintf(c.content_hash, sizeof(c.content_hash), "%s", col_str(st, 1));
        fn(ctx, &c);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return db_err(cs, err, url);
    return RAGD_OK;
}

void chunk_store_set_stemming(chunk_store *cs, int porter) {
    cs->no_stemming = !porter;
}

int chunk_store_finish(chunk_store *cs, chunk_store_stats *st, char *err) {
    int rc = RAGD_OK;
    /* The keyword index in one pass over the finished rows ('rebuild'
     * tokenizes the content table), merged into one segment ('optimize'). */
    double t = clock_ms();
    const char *tok = cs->no_stemming ? FTS_UNICODE : FTS_PORTER;
    char *sql = mem_printf("CREATE VIRTUAL TABLE chunks_fts USING fts5(title, headings, text, content='chunks',"
                           " content_rowid='id', tokenize='%s');"
                           "INSERT INTO chunks_fts(chunks_fts) VALUES('rebuild');"
                           "INSERT INTO chunks_fts(chunks_fts) VALUES('optimize');", tok);
    int frc = sqlite3_exec(cs->db, sql, NULL, NULL, NULL);
    mem_free(sql);
    if (frc != SQLITE_OK) return db_err(cs, err, "keyword index"), chunk_store_close(cs), RAGD_ERR;
    chunk_store_stats s = {.keyword_ms = clock_ms() - t};
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(cs->db, "SELECT coalesce(sum(length(block)), 0) FROM chunks_fts_data", -1, &q, NULL) ==
            SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
        s.keyword_bytes = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    if (st) *st = s;
    if (chunk_store_put_meta(cs, "keyword_tokenizer", tok, err) != RAGD_OK) return chunk_store_close(cs), RAGD_ERR;
    if (sqlite3_exec(cs->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) rc = db_err(cs, err, "commit");
    cs->writing = 0;
    chunk_store_free(cs);
    return rc;
}

/* "file:PATH?immutable=1" with PATH percent-encoded, so "#", "?" or "%41"
 * in a folder name stay bytes of the name (security review finding 11). */
static char *immutable_uri(const char *path) {
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(path);
    char *uri = mem_alloc(5 + 3 * n + 13), *w = uri;
    memcpy(w, "file:", 5), w += 5;
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("/-._~", *p)) {
            *w++ = (char)*p;
        } else {
            *w++ = '%', *w++ = hex[*p >> 4], *w++ = hex[*p & 15];
        }
    }
    memcpy(w, "?immutable=1", 13);
    return uri;
}

chunk_store *chunk_store_open(const char *path, char *err) {
    if (!fsio_exists(path)) {
        err_set(err, "%s: missing", path);
        return NULL;
    }
    chunk_store *cs = mem_calloc(1, sizeof(*cs));
    /* immutable=1: versions never change once published, so SQLite may skip
     * locking and never creates -wal/-shm files beside the shard. */
    char *uri = immutable_uri(path);
    int flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_FULLMUTEX;
    int rc = sqlite3_open_v2(uri, &cs->db, flags, NULL);
    mem_free(uri);
    if (rc != SQLITE_OK) goto fail;
    if (prepare(cs, "SELECT id, doc_url, title, headings, text, start_byte, end_byte,"
                    " content_hash, doc_hash, vector FROM chunks WHERE id = ?", &cs->get, err) ||
        prepare(cs, "SELECT vector FROM chunks WHERE id = ?", &cs->getvec, err))
        goto fail_msg;
    char *ver = chunk_store_get_meta(cs, "schema_version");
    char *dim = chunk_store_get_meta(cs, "dim");
    cs->schema = ver ? atoi(ver) : 0;
    int ok = cs->schema >= 1 && cs->schema <= 4 && dim && atoi(dim) > 0;
    if (dim) cs->dim = atoi(dim);
    mem_free(ver);
    mem_free(dim);
    if (!ok) {
        err_set(err, "%s: not a ragd chunk store (schema version 1 to %s)", path, CHUNK_STORE_SCHEMA_VERSION);
        goto fail_msg;
    }
    /* BM25 with the heading path and title weighted above the body text. */
    if (cs->schema >= 3 && !(cs->kw = kwindex_load(cs->db, KEYWORD_WEIGHTS, err))) {
        char e2[RAGD_ERR_LEN];
        snprintf(e2, sizeof(e2), "%s", err);
        err_set(err, "%s: %s", path, e2);
        goto fail_msg;
    }
    return cs;
fail:
    db_err(cs, err, path);
fail_msg:
    chunk_store_free(cs);
    return NULL;
}

static char *col_text(sqlite3_stmt *st, int i) {
    const unsigned char *t = sqlite3_column_text(st, i);
    return mem_strdup(t ? (const char *)t : "");
}

static void col_hash(sqlite3_stmt *st, int i, char out[SHA256_HEX_LEN + 1]) {
    const unsigned char *t = sqlite3_column_text(st, i);
    snprintf(out, SHA256_HEX_LEN + 1, "%s", t ? (const char *)t : "");
}

static void row_from(sqlite3_stmt *st, chunk_row *row) {
    row->id = sqlite3_column_int64(st, 0);
    row->doc_url = col_text(st, 1);
    row->title = col_text(st, 2);
    row->headings = col_text(st, 3);
    row->text = col_text(st, 4);
    row->start_byte = sqlite3_column_int64(st, 5);
    row->end_byte = sqlite3_column_int64(st, 6);
    col_hash(st, 7, row->content_hash);
    col_hash(st, 8, row->doc_hash);
}

int chunk_store_get(chunk_store *cs, int64_t id, chunk_row *row, float *vec, char *err) {
    memset(row, 0, sizeof(*row));
    /* One statement per handle: hold the connection's mutex across
     * reset/bind/step/read so concurrent callers do not interleave. */
    sqlite3_mutex *mu = sqlite3_db_mutex(cs->db);
    sqlite3_mutex_enter(mu);
    sqlite3_stmt *st = cs->get;
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st), out = 0;
    if (rc == SQLITE_ROW) {
        row_from(st, row);
        if (vec) {
            int n = sqlite3_column_bytes(st, 9);
            if (n != (int)(sizeof(float) * (size_t)cs->dim)) out = err_set(err, "chunk %lld: no vector of dim %d", (long long)id, cs->dim);
            else memcpy(vec, sqlite3_column_blob(st, 9), (size_t)n);
        }
    } else if (rc == SQLITE_DONE) {
        out = 1;
    } else {
        out = db_err(cs, err, "get");
    }
    sqlite3_reset(st);
    sqlite3_mutex_leave(mu);
    if (out < 0) chunk_row_clear(row);
    return out;
}

int chunk_store_get_vector(chunk_store *cs, int64_t id, float *vec, char *err) {
    sqlite3_mutex *mu = sqlite3_db_mutex(cs->db);
    sqlite3_mutex_enter(mu);
    sqlite3_stmt *st = cs->getvec;
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st), out = 0;
    if (rc == SQLITE_ROW) {
        int n = sqlite3_column_bytes(st, 0);
        if (n != (int)(sizeof(float) * (size_t)cs->dim)) out = err_set(err, "chunk %lld: no vector of dim %d", (long long)id, cs->dim);
        else memcpy(vec, sqlite3_column_blob(st, 0), (size_t)n);
    } else {
        out = rc == SQLITE_DONE ? 1 : db_err(cs, err, "get vector");
    }
    sqlite3_reset(st);
    sqlite3_mutex_leave(mu);
    return out;
}

int chunk_store_each_hash(chunk_store *cs, void (*fn)(void *ctx, const char *hash, int64_t id), void *ctx,
                          char *err) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(cs->db, "SELECT content_hash, id FROM chunks", -1, &st, NULL) != SQLITE_OK)
        return db_err(cs, err, "each_hash");
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        fn(ctx, (const char *)sqlite3_column_text(st, 0), sqlite3_column_int64(st, 1));
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return db_err(cs, err, "each_hash");
    return RAGD_OK;
}

int chunk_store_each(chunk_store *cs, void (*fn)(void *ctx, const chunk_row *row, const float *vec), void *ctx,
                     char *err) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(cs->db,
                           "SELECT id, doc_url, title, headings, text, start_byte, end_byte, content_hash,"
                           " doc_hash, vector FROM chunks ORDER BY id", -1, &st, NULL) != SQLITE_OK)
        return db_err(cs, err, "each");
    int rc;
    size_t vbytes = sizeof(float) * (size_t)cs->dim;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        chunk_row row;
        row_from(st, &row);
        const void *v = sqlite3_column_blob(st, 9);
        fn(ctx, &row, (size_t)sqlite3_column_bytes(st, 9) == vbytes ? v : NULL);
        chunk_row_clear(&row);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return db_err(cs, err, "each");
    return RAGD_OK;
}

int chunk_store_each_source(chunk_store *cs, void (*fn)(void *ctx, int64_t chunk_id, const char *url), void *ctx,
                            char *err) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(cs->db, "SELECT chunk_id, doc_url FROM chunk_sources ORDER BY chunk_id, doc_url", -1,
                           &st, NULL) != SQLITE_OK)
        return db_err(cs, err, "sources");
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        fn(ctx, sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1));
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return db_err(cs, err, "sources");
    return RAGD_OK;
}

char *chunk_store_get_meta(chunk_store *cs, const char *key) {
    sqlite3_stmt *st = NULL;
    char *out = NULL;
    if (sqlite3_prepare_v2(cs->db, "SELECT value FROM meta WHERE key = ?", -1, &st, NULL) != SQLITE_OK)
        return NULL;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) out = col_text(st, 0);
    sqlite3_finalize(st);
    return out;
}

int chunk_store_has_keywords(const chunk_store *cs) {
    return cs->kw != NULL;
}

int chunk_store_keyword_in(chunk_store *cs, const char *const *words, int n, const int64_t *allowed,
                           int64_t n_allowed, int limit, int64_t *ids, float *scores, char *err) {
    if (!cs->kw) return err_set(err, "this index has no keyword index (built before schema 3): rebuild it");
    if (allowed && n_allowed == 0) return 0;
    return kwindex_search(cs->kw, words, n, allowed, n_allowed, limit, ids, scores);
}

int chunk_store_keyword(chunk_store *cs, const char *const *words, int n, int limit, int64_t *ids, float *scores,
                        char *err) {
    return chunk_store_keyword_in(cs, words, n, NULL, 0, limit, ids, scores, err);
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int filter_usable(chunk_store *cs, const filter_plan *p, char *err) {
    if (p->match && !cs->kw) return err_set(err, "title and heading filters need the keyword index: rebuild the index");
    if (p->documents && cs->schema < 4)
        return err_set(err, "source, modified and meta filters need an index built by this version: rebuild it");
    return RAGD_OK;
}

/* Run sql with its values: first (NULL: none), the plan's row values,
 * then last (-1: none). Counts the rows, ids of the first max into ids. */
static int64_t filter_run(chunk_store *cs, const char *sql, const char *first, int64_t first_int,
                          const filter_plan *p, int64_t last, int64_t max, int64_t *ids, char *err) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(cs->db, sql, -1, &st, NULL) != SQLITE_OK) return db_err(cs, err, "filter");
    int i = 1;
    if (first) sqlite3_bind_text(st, i++, first, -1, SQLITE_STATIC);
    if (first_int >= 0) sqlite3_bind_int64(st, i++, first_int);
    for (int b = 0; b < p->n_binds; b++, i++) {
        if (p->binds[b].text) sqlite3_bind_text(st, i, p->binds[b].text, -1, SQLITE_STATIC);
        else sqlite3_bind_int64(st, i, p->binds[b].integer);
    }
    if (last >= 0) sqlite3_bind_int64(st, i, last);
    int64_t n = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (ids && n < max) ids[n] = sqlite3_column_int64(st, 0);
        n++;
    }
    if (rc != SQLITE_DONE) n = db_err(cs, err, "filter");
    sqlite3_finalize(st);
    return n;
}

int64_t chunk_store_filter_ids(chunk_store *cs, const filter_plan *p, int64_t max, int64_t *ids, char *err) {
    if (filter_usable(cs, p, err) != RAGD_OK) return RAGD_ERR;
    /* No ORDER BY: SQLite stops after max + 1 rows instead of sorting every
     * match. With words, FTS5 streams its matches and each is joined to its
     * row by primary key. */
    char *sql = p->match ? mem_printf("SELECT f.rowid FROM chunks_fts f JOIN chunks c ON c.id = f.rowid"
                                      " WHERE f.chunks_fts MATCH ?%s LIMIT ?", p->row_sql)
                         : mem_printf("SELECT c.id FROM chunks c WHERE 1%s LIMIT ?", p->row_sql);
    int64_t n = filter_run(cs, sql, p->match, -1, p, max + 1, max, ids, err);
    mem_free(sql);
    if (n > 0) qsort(ids, (size_t)(n < max ? n : max), sizeof(int64_t), cmp_i64);
    return n;
}

/* " IN (1,2,3)": ids are integers, so they are written into the SQL. */
static char *id_list(const int64_t *ids, int n) {
    size_t cap = (size_t)n * 21 + 8, o = 0;
    char *s = mem_alloc(cap);
    o += (size_t)snprintf(s, cap, " IN (");
    for (int i = 0; i < n; i++) o += (size_t)snprintf(s + o, cap - o, "%s%lld", i ? "," : "", (long long)ids[i]);
    snprintf(s + o, cap - o, ")");
    return s;
}

static int mark_passing(chunk_store *cs, const char *sql, const filter_plan *p, const char *first, const int64_t *ids,
                        int n, unsigned char *pass, char *err) {
    int64_t *got = mem_alloc(sizeof(int64_t) * (size_t)(n + 1));
    int64_t m = filter_run(cs, sql, first, -1, p, -1, n, got, err);
    if (m >= 0) {
        qsort(got, (size_t)(m < n ? m : n), sizeof(int64_t), cmp_i64);
        for (int i = 0; i < n; i++) {
            int64_t lo = 0, hi = (m < n ? m : n) - 1, found = 0;
            while (lo <= hi && !found) {
                int64_t mid = (lo + hi) / 2;
                if (got[mid] == ids[i]) found = 1;
                else if (got[mid] < ids[i]) lo = mid + 1;
                else hi = mid - 1;
            }
            pass[i] = pass[i] && found;
        }
    }
    mem_free(got);
    return m < 0 ? RAGD_ERR : RAGD_OK;
}

int chunk_store_filter_check_many(chunk_store *cs, const filter_plan *p, const int64_t *ids, int n,
                                  unsigned char *pass, char *err) {
    if (filter_usable(cs, p, err) != RAGD_OK) return RAGD_ERR;
    memset(pass, 1, (size_t)n);
    if (n == 0) return RAGD_OK;
    char *in = id_list(ids, n);
    int rc = RAGD_OK;
    if (p->row_sql[0]) {
        /* NOT INDEXED: look the ids up by rowid, never scan the doc_url index */
        char *sql = mem_printf("SELECT c.id FROM chunks c NOT INDEXED WHERE c.id%s%s", in, p->row_sql);
        rc = mark_passing(cs, sql, p, NULL, ids, n, pass, err);
        mem_free(sql);
    }
    if (rc == RAGD_OK && p->match) {
        filter_plan words = {.match = p->match};
        char *sql = mem_printf("SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ? AND rowid%s", in);
        rc = mark_passing(cs, sql, &words, p->match, ids, n, pass, err);
        mem_free(sql);
    }
    mem_free(in);
    return rc;
}


int64_t chunk_store_count(chunk_store *cs) {
    sqlite3_stmt *st = NULL;
    int64_t n = -1;
    if (sqlite3_prepare_v2(cs->db, "SELECT count(*) FROM chunks", -1, &st, NULL) != SQLITE_OK) return -1;
    if (sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

int chunk_store_dim(const chunk_store *cs) {
    return cs->dim;
}

void chunk_row_clear(chunk_row *row) {
    if (!row) return;
    mem_free(row->doc_url);
    mem_free(row->title);
    mem_free(row->headings);
    mem_free(row->text);
    memset(row, 0, sizeof(*row));
}

void chunk_store_close(chunk_store *cs) {
    if (!cs) return;
    if (cs->writing) sqlite3_exec(cs->db, "ROLLBACK", NULL, NULL, NULL);
    chunk_store_free(cs);
}
