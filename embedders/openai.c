/* openai.c - an OpenAI-compatible HTTP embedder (OpenAI, Azure OpenAI, Ollama, TEI, vLLM) on libcurl
 *
 * POSTs {"model", "input": [texts]} to BASE/embeddings (Azure: BASE/openai/
 * deployments/MODEL/embeddings?api-version=V with an "api-key" header;
 * otherwise "Authorization: Bearer KEY"). The key is read from a file or an
 * environment variable and never logged. Texts go in batches of at most
 * openai_batch; each is cut to about openai_max_tokens tokens (4 bytes per
 * token: the model's own tokenizer is not available here). 429, 5xx,
 * timeouts and connection errors are retried up to openai_retries times
 * with exponential backoff and jitter, or after the server's Retry-After /
 * retry-after-ms; other 4xx (and 429 insufficient_quota) fail at once with
 * the server's message. Several base URLs fail over in order. A circuit
 * breaker stops calling for a cool-down after repeated failures, so callers
 * fail fast while the upstream is down. The calling thread's deadline
 * (core/clock.h: a request's, set by the service) bounds every attempt's
 * timeout and ends the retries early. Responses are validated (count,
 * indexes, dimension) and the vectors L2-normalised.
 */
#include <ctype.h>
#include <curl/curl.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "embedder_impl.h"
#include "clock.h"
#include "openai_response.h"
#include "err.h"
#include "fsio.h"
#include "log.h"
#include "mem.h"

#define OAI_MAX_URLS 8
#define OAI_MAX_RESPONSE (256u << 20)
#define OAI_BREAKER_FAILURES 5
#define OAI_BREAKER_COOLDOWN_MS 30000
#define OAI_MAX_BACKOFF_MS 20000

typedef struct openai {
    embedder base; /* must be first */
    char *urls[OAI_MAX_URLS];
    int n_urls;
    char *model, *api_version;
    char *key; /* never logged */
    int batch, max_bytes, timeout_ms, retries, backoff_ms;
    pthread_mutex_t mu; /* guards the breaker and the learned dim */
    int failures;
    double open_until;
    unsigned rng;
} openai;


typedef struct body {
    char *s;
    size_t len;
    char retry_after[32], retry_after_ms[32];
} body;

static size_t on_data(char *p, size_t size, size_t n, void *ud) {
    body *b = ud;
    size_t k = size * n;
    if (b->len + k > OAI_MAX_RESPONSE) return 0;
    b->s = mem_realloc(b->s, b->len + k + 1);
    memcpy(b->s + b->len, p, k);
    b->len += k;
    b->s[b->len] = '\0';
    return k;
}

static void header_value(const char *line, size_t n, const char *name, char *out, size_t cap) {
    size_t nl = strlen(name);
    if (n <= nl || strncasecmp(line, name, nl) != 0) return;
    const char *v = line + nl;
    size_t vn = n - nl;
    while (vn && isspace((unsigned char)*v)) v++, vn--;
    while (vn && isspace((unsigned char)v[vn - 1])) vn--;
    if (vn >= cap) vn = cap - 1;
    memcpy(out, v, vn);
    out[vn] = '\0';
}

static size_t on_header(char *p, size_t size, size_t n, void *ud) {
    body *b = ud;
    header_value(p, size * n, "retry-after:", b->retry_after, sizeof(b->retry_after));
    header_value(p, size * n, "retry-after-ms:", b->retry_after_ms, sizeof(b->retry_after_ms));
    return size * n;
}

/* Outcome of one HTTP attempt. */
enum attempt { ATTEMPT_OK, ATTEMPT_RETRY, ATTEMPT_FATAL };

static char *endpoint(const openai *o, int u) {
    if (o->api_version)
        return mem_printf("%s/openai/deployments/%s/embeddings?api-version=%s", o->urls[u], o->model, o->api_version);
    return mem_printf("%s/embeddings", o->urls[u]);
}

void openai_error_message(const char *s, size_t len, char *out, size_t cap, int *quota) {
    json_t *j = s ? json_loadb(s, len, 0, NULL) : NULL;
    json_t *e = json_object_get(j, "error");
    const char *msg = json_string_value(json_object_get(e, "message"));
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *type = json_string_value(json_object_get(e, "type"));
    if (!msg && json_is_string(e)) msg = json_string_value(e);
    *quota = (code && !strcmp(code, "insufficient_quota")) || (type && !strcmp(type, "insufficient_quota"));
    if (msg) snprintf(out, cap, "%.200s", msg);
    else snprintf(out, cap, "%.*s", s ? (int)(len < 200 ? len : 200) : 0, s ? s : ""); /* s need not end in NUL */
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20) *p = ' ';
    json_decref(j);
}

int openai_parse_embeddings(const char *s, size_t len, int n, int dim, float *out, char *err) {
    json_error_t je;
    json_t *j = json_loadb(s ? s : "", len, 0, &je);
    json_t *data = json_object_get(j, "data");
    int rc = RAGD_OK;
    if (!json_is_array(data)) rc = err_set(err, "malformed response: no \"data\" array (%s)", j ? "" : je.text);
    else if ((int)json_array_size(data) != n)
        rc = err_set(err, "response has %zu embeddings for %d inputs", json_array_size(data), n);
    char *seen = mem_calloc((size_t)(n > 0 ? n : 1), 1);
    for (int i = 0; rc == RAGD_OK && i < n; i++) {
        json_t *item = json_array_get(data, (size_t)i), *emb = json_object_get(item, "embedding");
        json_t *ix = json_object_get(item, "index");
        int at = json_is_integer(ix) ? (int)json_integer_value(ix) : i;
        if (at < 0 || at >= n || seen[at]) {
            rc = err_set(err, "response has a bad or repeated index %d", at);
            break;
        }
        seen[at] = 1;
        if (!json_is_array(emb) || (int)json_array_size(emb) != dim) {
            rc = err_set(err, "embedding %d has %zu dimensions, expected %d (check --dim)", at,
                         json_is_array(emb) ? json_array_size(emb) : 0, dim);
            break;
        }
        float *v = out + (size_t)at * dim;
        double norm = 0;
        for (int d = 0; d < dim; d++) {
            json_t *x = json_array_get(emb, (size_t)d);
            if (!json_is_number(x)) {
                rc = err_set(err, "embedding %d has a non-number at %d", at, d);
                break;
            }
            v[d] = (float)json_number_value(x);
            if (!isfinite(v[d])) { /* 1e300 is valid JSON and an infinite float */
                rc = err_set(err, "embedding %d has a value out of range at %d", at, d);
                break;
            }
            norm += (double)v[d] * v[d];
        }
        for (int d = 0; rc == RAGD_OK && norm > 0 && d < dim; d++) v[d] = (float)(v[d] / sqrt(norm));
    }
    mem_free(seen);
    json_decref(j);
    return rc;
}

static char *request_json(const openai *o, const char *const *texts, int n) {
    json_t *in = json_array();
    for (int i = 0; i < n; i++) {
        size_t len = strlen(texts[i]);
        if (len > (size_t)o->max_bytes) {
            len = (size_t)o->max_bytes;
            while (len > 0 && ((unsigned char)texts[i][len] & 0xc0) == 0x80) len--; /* whole UTF-8 chars */
        }
        json_array_append_new(in, json_stringn(texts[i], len));
    }
    json_t *req = json_pack("{s:s, s:o}", "model", o->model, "input", in);
    char *s = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    return s;
}

static enum attempt attempt_once(openai *o, int u, const char *payload, int n, float *out, double *wait_ms,
                                 char *err) {
    char *url = endpoint(o, u);
    body b = {0};
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    char auth[1024] = "";
    if (o->key && o->api_version) snprintf(auth, sizeof(auth), "api-key: %s", o->key);
    else if (o->key) snprintf(auth, sizeof(auth), "Authorization: Bearer %s", o->key);
    if (auth[0]) h = curl_slist_append(h, auth);
    memset(auth, 0, sizeof(auth));
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &b);
    /* The caller's deadline (a request's, set by the service) bounds
     * each attempt as much as --openai-timeout-ms does. */
    double left = deadline_left_ms();
    int capped = left < (double)o->timeout_ms;
    long timeout = capped ? (long)left : (long)o->timeout_ms;
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout > 1 ? timeout : 1L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "ragd/0.1");
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    enum attempt res;
    int quota = 0;
    char msg[256];
    *wait_ms = -1;
    if (rc != CURLE_OK) {
        if (rc == CURLE_OPERATION_TIMEDOUT && capped) deadline_note_hit();
        err_set(err, "%s: %s", url, curl_easy_strerror(rc));
        res = ATTEMPT_RETRY;
    } else if (status == 200) {
        res = openai_parse_embeddings(b.s, b.len, n, o->base.dim, out, err) == 0 ? ATTEMPT_OK : ATTEMPT_FATAL;
        if (res != ATTEMPT_OK) err_prefix(err, "%s", url);
    } else {
        openai_error_message(b.s, b.len, msg, sizeof(msg), &quota);
        err_set(err, "%s: HTTP %ld: %s", url, status, msg);
        int retryable = (status == 429 && !quota) || status >= 500 || status == 408 || status == 409;
        res = retryable ? ATTEMPT_RETRY : ATTEMPT_FATAL;
        if (b.retry_after_ms[0]) *wait_ms = atof(b.retry_after_ms);
        else if (b.retry_after[0]) {
            char *end;
            double s = strtod(b.retry_after, &end);
            if (*end == '\0') *wait_ms = s * 1000.0;
            else {
                time_t when = curl_getdate(b.retry_after, NULL);
                if (when > 0) *wait_ms = ((double)when - (double)time(NULL)) * 1000.0;
            }
        }
    }
    mem_free(b.s);
    mem_free(url);
    return res;
}

static int breaker_open(openai *o, char *err) {
    pthread_mutex_lock(&o->mu);
    double left = o->open_until - clock_ms();
    pthread_mutex_unlock(&o->mu);
    if (left > 0) return err_set(err, "embeddings API unavailable (circuit open for %.0f ms more after repeated failures)", left), 1;
    return 0;
}

static void breaker_record(openai *o, int ok) {
    pthread_mutex_lock(&o->mu);
    if (ok) o->failures = 0;
    else if (++o->failures >= OAI_BREAKER_FAILURES) {
        o->open_until = clock_ms() + OAI_BREAKER_COOLDOWN_MS;
        o->failures = 0;
        log_warn("openai embedder: %d failures in a row, pausing calls for %d s", OAI_BREAKER_FAILURES,
                 OAI_BREAKER_COOLDOWN_MS / 1000);
    }
    pthread_mutex_unlock(&o->mu);
}

/* One batch: every URL in order per round; rounds separated by backoff. */
static int embed_batch(openai *o, const char *const *texts, int n, float *out, char *err) {
    if (breaker_open(o, err)) return RAGD_ERR;
    char *payload = request_json(o, texts, n);
    int rc = RAGD_ERR;
    for (int tryno = 0; tryno <= o->retries; tryno++) {
        double wait = -1;
        enum attempt a = ATTEMPT_RETRY;
        for (int u = 0; u < o->n_urls; u++) {
            a = attempt_once(o, u, payload, n, out, &wait, err);
            if (a != ATTEMPT_RETRY) break;
        }
        if (a == ATTEMPT_OK) rc = RAGD_OK;
        if (a != ATTEMPT_RETRY || tryno == o->retries) break;
        if (deadline_expired()) {
            deadline_note_hit();
            err_prefix(err, "deadline reached after %d attempts", tryno + 1);
            break;
        }
        if (wait < 0) {
            pthread_mutex_lock(&o->mu);
            double base = (double)o->backoff_ms * (double)(1 << tryno);
            wait = base + (double)(rand_r(&o->rng) % (unsigned)(base / 2 + 1));
            pthread_mutex_unlock(&o->mu);
        }
        if (wait > OAI_MAX_BACKOFF_MS) {
            err_prefix(err, "server asks to wait %.0f ms, more than %d", wait, OAI_MAX_BACKOFF_MS);
            break;
        }
        if (wait >= deadline_left_ms()) {
            deadline_note_hit();
            err_prefix(err, "the deadline comes before the next attempt (in %.0f ms)", wait);
            break;
        }
        usleep((useconds_t)(wait * 1000));
    }
    free(payload);
    breaker_record(o, rc == RAGD_OK);
    return rc;
}

static int oai_embed(embedder *e, const char *const *texts, int n, float *out, char *err) {
    openai *o = (openai *)e;
    for (int i = 0; i < n; i += o->batch) {
        int m = n - i < o->batch ? n - i : o->batch;
        if (embed_batch(o, texts + i, m, out + (size_t)i * o->base.dim, err) != 0) return RAGD_ERR;
    }
    return RAGD_OK;
}

/* No tokenizer for remote models: about 4 bytes per token, as OpenAI
 * documents for English. Chunk sizes are therefore approximate. */
static int oai_count_tokens(embedder *e, const char *text, size_t len) {
    (void)e;
    (void)text;
    return (int)((len + 3) / 4);
}

static void oai_destroy(embedder *e) {
    openai *o = (openai *)e;
    for (int i = 0; i < o->n_urls; i++) mem_free(o->urls[i]);
    mem_free(o->model);
    mem_free(o->api_version);
    if (o->key) {
        memset(o->key, 0, strlen(o->key));
        mem_free(o->key);
    }
    pthread_mutex_destroy(&o->mu);
    mem_free(o);
}

static const struct embedder_vtable oai_vt = {oai_embed, oai_count_tokens, oai_destroy};

static int read_key(openai *o, const embedder_opts *opts, char *err) {
    if (opts->openai_key_file) {
        char *buf;
        if (fsio_read_file(opts->openai_key_file, 64 * 1024, &buf, NULL, err) != 0) return RAGD_ERR;
        buf[strcspn(buf, "\r\n")] = '\0';
        o->key = buf;
    } else if (opts->openai_key_env && getenv(opts->openai_key_env) && *getenv(opts->openai_key_env)) {
        o->key = mem_strdup(getenv(opts->openai_key_env));
    }
    if (o->key && strpbrk(o->key, "\r\n")) return err_set(err, "API key contains a line break");
    return RAGD_OK;
}

static int parse_urls(openai *o, const char *list, char *err) {
    char *copy = mem_strdup(list), *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ') t++;
        size_t n = strlen(t);
        while (n && (t[n - 1] == '/' || t[n - 1] == ' ')) t[--n] = '\0';
        if (strncmp(t, "http://", 7) && strncmp(t, "https://", 8)) {
            err_set(err, "--openai-url: \"%s\" is not an http(s) URL", t);
            mem_free(copy);
            return RAGD_ERR;
        }
        if (o->n_urls < OAI_MAX_URLS) o->urls[o->n_urls++] = mem_strdup(t);
    }
    mem_free(copy);
    return o->n_urls ? RAGD_OK : err_set(err, "--openai-url is required for the openai embedder");
}

embedder *emb_openai_create(const embedder_opts *opts, char *err) {
    openai *o = mem_calloc(1, sizeof(*o));
    pthread_mutex_init(&o->mu, NULL);
    o->base.vt = &oai_vt;
    o->rng = (unsigned)time(NULL) ^ (unsigned)getpid();
    if (!opts->openai_model || !*opts->openai_model) {
        err_set(err, "--openai-model is required for the openai embedder");
        goto fail;
    }
    if (parse_urls(o, opts->openai_urls ? opts->openai_urls : "", err) != 0 || read_key(o, opts, err) != 0) goto fail;
    o->model = mem_strdup(opts->openai_model);
    o->api_version = opts->openai_api_version ? mem_strdup(opts->openai_api_version) : NULL;
    o->batch = opts->openai_batch > 0 ? opts->openai_batch : 64;
    o->max_bytes = (opts->openai_max_tokens > 0 ? opts->openai_max_tokens : 8191) * 4;
    o->timeout_ms = opts->openai_timeout_ms > 0 ? opts->openai_timeout_ms : 30000;
    o->retries = opts->openai_retries >= 0 ? opts->openai_retries : 4;
    o->backoff_ms = opts->openai_backoff_ms > 0 ? opts->openai_backoff_ms : 500;
    snprintf(o->base.name, sizeof(o->base.name), "openai");
    o->base.remote = 1;
    o->base.max_tokens = opts->openai_max_tokens > 0 ? opts->openai_max_tokens : 8191;
    o->base.uncased = 0;
    /* --dim is the model's dimension; every response is checked against it. */
    if (opts->dim < 1 || opts->dim > 16384) {
        err_set(err, "--dim %d: the openai embedder needs the model's embedding size", opts->dim);
        goto fail;
    }
    o->base.dim = opts->dim;
    snprintf(o->base.model_id, sizeof(o->base.model_id), "openai-%.100s-d%d", o->model, o->base.dim);
    return &o->base;
fail:
    oai_destroy(&o->base);
    return NULL;
}
