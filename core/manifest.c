/* manifest.c - read, write and validate manifest.json with jansson */
#include "manifest.h"

#include <jansson.h>
#include <string.h>

#include "err.h"
#include "fsio.h"
#include "mem.h"

static const char *metric_names[] = {"inner_product", "l2"};

const char *manifest_metric_name(enum manifest_metric metric) {
    return metric == MANIFEST_METRIC_L2 ? metric_names[1] : metric_names[0];
}

void manifest_clear(manifest *m) {
    if (!m) return;
    for (int i = 0; i < m->n_sources; i++) mem_free(m->sources[i]);
    mem_free(m->sources);
    mem_free(m->shards);
    memset(m, 0, sizeof(*m));
}

void manifest_add_source(manifest *m, const char *src) {
    m->sources = mem_realloc(m->sources, sizeof(char *) * (size_t)(m->n_sources + 1));
    m->sources[m->n_sources++] = mem_strdup(src);
}

manifest_shard *manifest_add_shard(manifest *m) {
    m->shards = mem_realloc(m->shards, sizeof(manifest_shard) * (size_t)(m->n_shards + 1));
    manifest_shard *s = &m->shards[m->n_shards++];
    memset(s, 0, sizeof(*s));
    return s;
}

static int is_hex64(const char *s) {
    if (strlen(s) != SHA256_HEX_LEN) return 0;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f'))) return 0;
    return 1;
}

int manifest_validate(const manifest *m, char *err) {
    if (m->format_version != MANIFEST_FORMAT_VERSION)
        return err_set(err, "format_version %d, this build reads %d", m->format_version,
                       MANIFEST_FORMAT_VERSION);
    if (!fsio_is_plain_name(m->version_id)) return err_set(err, "bad version_id \"%s\"", m->version_id);
    if (m->dim < 1 || m->dim > MANIFEST_MAX_DIM)
        return err_set(err, "dimension %d out of range 1..%d", m->dim, MANIFEST_MAX_DIM);
    if (!m->embedder[0] || !m->model_id[0]) return err_set(err, "embedder name and model_id are required");
    if (!m->index_spec[0]) return err_set(err, "index_spec is required");
    if (m->n_shards < 1 || m->n_shards > MANIFEST_MAX_SHARDS)
        return err_set(err, "%d shards, must be 1..%d", m->n_shards, MANIFEST_MAX_SHARDS);
    int64_t chunks = 0, docs = 0;
    for (int i = 0; i < m->n_shards; i++) {
        const manifest_shard *s = &m->shards[i];
        if (!fsio_is_plain_name(s->index_file) || !fsio_is_plain_name(s->store_file))
            return err_set(err, "shard %d: file names must be plain names", i);
        if (s->chunks < 0 || s->documents < 0 || s->index_bytes < 0 || s->store_bytes < 0)
            return err_set(err, "shard %d: negative count", i);
        if (!is_hex64(s->index_sha256) || !is_hex64(s->store_sha256))
            return err_set(err, "shard %d: checksums must be 64 lowercase hex digits", i);
        chunks += s->chunks;
        docs += s->documents;
    }
    if (chunks != m->total_chunks)
        return err_set(err, "totals.chunks is %lld, shards add up to %lld", (long long)m->total_chunks,
                       (long long)chunks);
    if (docs != m->total_documents)
        return err_set(err, "totals.documents is %lld, shards add up to %lld",
                       (long long)m->total_documents, (long long)docs);
    return RAGD_OK;
}

char *manifest_to_json(const manifest *m, char *err) {
    if (manifest_validate(m, err) != 0) return NULL;
    json_t *src = json_array();
    for (int i = 0; i < m->n_sources; i++) json_array_append_new(src, json_string(m->sources[i]));
    json_t *shards = json_array();
    for (int i = 0; i < m->n_shards; i++) {
        const manifest_shard *s = &m->shards[i];
        json_array_append_new(shards, json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:s, s:s}",
            "index_file", s->index_file, "store_file", s->store_file,
            "chunks", (json_int_t)s->chunks, "documents", (json_int_t)s->documents,
            "index_bytes", (json_int_t)s->index_bytes, "store_bytes", (json_int_t)s->store_bytes,
            "index_sha256", s->index_sha256, "store_sha256", s->store_sha256));
    }
    json_t *root = json_pack("{s:s, s:i, s:s, s:s, s:{s:s, s:s, s:i, s:s, s:b}, s:s,"
                             " s:{s:i, s:i}, s:o, s:o, s:{s:i, s:I, s:I}}",
        "format", MANIFEST_FORMAT, "format_version", m->format_version,
        "version_id", m->version_id, "created_at", m->created_at,
        "embedder", "name", m->embedder, "model_id", m->model_id, "dim", m->dim,
        "metric", manifest_metric_name(m->metric), "normalized", m->normalized,
        "index_spec", m->index_spec,
        "chunking", "chunk_tokens", m->chunk_tokens, "chunk_overlap", m->chunk_overlap,
        "sources", src, "shards", shards,
        "totals", "shards", m->n_shards, "chunks", (json_int_t)m->total_chunks,
        "documents", (json_int_t)m->total_documents);
    if (!root) {
        err_set(err, "manifest: cannot encode (invalid UTF-8 in a string?)");
        return NULL;
    }
    if (m->precision[0]) json_object_set_new(json_object_get(root, "embedder"), "precision", json_string(m->precision));
    char *out = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!out) {
        err_set(err, "manifest: cannot encode JSON");
        return NULL;
    }
    char *copy = mem_strdup(out);
    free(out);
    return copy;
}

/* Copy a JSON string field into a fixed buffer, rejecting overlong values. */
static int get_str(json_t *obj, const char *key, char *dst, size_t cap, char *err) {
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v)) return err_set(err, "\"%s\" must be a string", key);
    if (json_string_length(v) >= cap) return err_set(err, "\"%s\" is longer than %zu bytes", key, cap - 1);
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return RAGD_OK;
}

static int get_int(json_t *obj, const char *key, int64_t lo, int64_t hi, int64_t *out, char *err) {
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v)) return err_set(err, "\"%s\" must be an integer", key);
    json_int_t x = json_integer_value(v);
    if (x < lo || x > hi) return err_set(err, "\"%s\" is %lld, must be %lld..%lld", key, (long long)x,
                                         (long long)lo, (long long)hi);
    *out = x;
    return RAGD_OK;
}

static int parse_shard(json_t *js, manifest_shard *s, char *err) {
    int64_t v;
    if (!json_is_object(js)) return err_set(err, "shard entry must be an object");
    if (get_str(js, "index_file", s->index_file, sizeof(s->index_file), err) ||
        get_str(js, "store_file", s->store_file, sizeof(s->store_file), err) ||
        get_str(js, "index_sha256", s->index_sha256, sizeof(s->index_sha256), err) ||
        get_str(js, "store_sha256", s->store_sha256, sizeof(s->store_sha256), err))
        return RAGD_ERR;
    if (get_int(js, "chunks", 0, INT64_MAX, &v, err)) return RAGD_ERR;
    s->chunks = v;
    if (get_int(js, "documents", 0, INT64_MAX, &v, err)) return RAGD_ERR;
    s->documents = v;
    if (get_int(js, "index_bytes", 0, INT64_MAX, &v, err)) return RAGD_ERR;
    s->index_bytes = v;
    if (get_int(js, "store_bytes", 0, INT64_MAX, &v, err)) return RAGD_ERR;
    s->store_bytes = v;
    return RAGD_OK;
}

static int parse_embedder(json_t *e, manifest *m, char *err) {
    int64_t v;
    char metric[32];
    if (!json_is_object(e)) return err_set(err, "\"embedder\" must be an object");
    if (get_str(e, "name", m->embedder, sizeof(m->embedder), err) ||
        get_str(e, "model_id", m->model_id, sizeof(m->model_id), err) ||
        get_str(e, "metric", metric, sizeof(metric), err))
        return RAGD_ERR;
    if (get_int(e, "dim", 1, MANIFEST_MAX_DIM, &v, err)) return RAGD_ERR;
    m->dim = (int)v;
    if (strcmp(metric, "inner_product") == 0) m->metric = MANIFEST_METRIC_IP;
    else if (strcmp(metric, "l2") == 0) m->metric = MANIFEST_METRIC_L2;
    else return err_set(err, "unknown metric \"%s\"", metric);
    json_t *prec = json_object_get(e, "precision");
    if (prec && (!json_is_string(prec) || (strcmp(json_string_value(prec), "fp32") && strcmp(json_string_value(prec), "bf16") &&
                                           strcmp(json_string_value(prec), "int8"))))
        return err_set(err, "\"precision\" must be \"fp32\", \"bf16\" or \"int8\"");
    snprintf(m->precision, sizeof(m->precision), "%s", prec ? json_string_value(prec) : "");
    json_t *norm = json_object_get(e, "normalized");
    if (!json_is_boolean(norm)) return err_set(err, "\"normalized\" must be a boolean");
    m->normalized = json_is_true(norm);
    return RAGD_OK;
}

static int parse_root(json_t *root, manifest *m, char *err) {
    int64_t v;
    char format[32];
    if (!json_is_object(root)) return err_set(err, "top level must be an object");
    if (get_str(root, "format", format, sizeof(format), err)) return RAGD_ERR;
    if (strcmp(format, MANIFEST_FORMAT) != 0) return err_set(err, "format is \"%s\", not \"%s\"", format, MANIFEST_FORMAT);
    if (get_int(root, "format_version", 1, 1000, &v, err)) return RAGD_ERR;
    m->format_version = (int)v;
    if (get_str(root, "version_id", m->version_id, sizeof(m->version_id), err) ||
        get_str(root, "created_at", m->created_at, sizeof(m->created_at), err) ||
        get_str(root, "index_spec", m->index_spec, sizeof(m->index_spec), err))
        return RAGD_ERR;
    if (parse_embedder(json_object_get(root, "embedder"), m, err)) return RAGD_ERR;
    json_t *ch = json_object_get(root, "chunking");
    if (!json_is_object(ch)) return err_set(err, "\"chunking\" must be an object");
    if (get_int(ch, "chunk_tokens", 0, 1 << 20, &v, err)) return RAGD_ERR;
    m->chunk_tokens = (int)v;
    if (get_int(ch, "chunk_overlap", 0, 1 << 20, &v, err)) return RAGD_ERR;
    m->chunk_overlap = (int)v;
    json_t *src = json_object_get(root, "sources"), *it;
    size_t i;
    if (!json_is_array(src)) return err_set(err, "\"sources\" must be an array");
    json_array_foreach(src, i, it) {
        if (!json_is_string(it)) return err_set(err, "\"sources\" must hold strings");
        manifest_add_source(m, json_string_value(it));
    }
    json_t *shards = json_object_get(root, "shards");
    if (!json_is_array(shards) || json_array_size(shards) > MANIFEST_MAX_SHARDS)
        return err_set(err, "\"shards\" must be an array of at most %d entries", MANIFEST_MAX_SHARDS);
    json_array_foreach(shards, i, it) {
        if (parse_shard(it, manifest_add_shard(m), err)) return err_prefix(err, "shard %zu", i);
    }
    json_t *tot = json_object_get(root, "totals");
    if (!json_is_object(tot)) return err_set(err, "\"totals\" must be an object");
    if (get_int(tot, "chunks", 0, INT64_MAX, &v, err)) return RAGD_ERR;
    m->total_chunks = v;
    if (get_int(tot, "documents", 0, INT64_MAX, &v, err)) return RAGD_ERR;
    m->total_documents = v;
    if (get_int(tot, "shards", 0, MANIFEST_MAX_SHARDS, &v, err)) return RAGD_ERR;
    if (v != m->n_shards) return err_set(err, "totals.shards is %lld, %d shards listed", (long long)v, m->n_shards);
    return manifest_validate(m, err);
}

int manifest_parse(const char *json, size_t len, manifest *m, char *err) {
    memset(m, 0, sizeof(*m));
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) return err_set(err, "invalid JSON at line %d: %s", jerr.line, jerr.text);
    int rc = parse_root(root, m, err);
    json_decref(root);
    if (rc != RAGD_OK) manifest_clear(m);
    return rc;
}

int manifest_load(const char *path, manifest *m, char *err) {
    char *buf;
    size_t len;
    memset(m, 0, sizeof(*m));
    if (fsio_read_file(path, MANIFEST_MAX_BYTES, &buf, &len, err) != 0) return RAGD_ERR;
    int rc = manifest_parse(buf, len, m, err);
    mem_free(buf);
    if (rc != RAGD_OK) err_prefix(err, "%s", path);
    return rc;
}

int manifest_save(const char *path, const manifest *m, char *err) {
    char *json = manifest_to_json(m, err);
    if (!json) return err_prefix(err, "%s", path);
    int rc = fsio_write_line_durable(path, json, err);
    mem_free(json);
    return rc;
}
