/* http_crawl.c - crawl a website with libcurl's multi interface */
#include "http_crawl.h"
#include "clock.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <fnmatch.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "err.h"
#include "html_extract.h"
#include "log.h"
#include "mem.h"
#include "net_guard.h"
#include "robots.h"
#include "sitemap.h"
#include "strmap.h"
#include "url.h"

#define CRAWL_MAX_REDIRECTS 5
#define CRAWL_MAX_SITEMAPS 10

typedef struct item {
    char *url;
    int depth, redirects, attempt;
    int fetch_only; /* the seed outside --include/--exclude: read for links only */
    int64_t not_before_ms;
    char *chain; /* previous URLs of a redirect chain, '\n'-separated */
    struct item *next;
} item;

typedef struct transfer {
    CURL *easy;
    item *it;
    char *buf;
    size_t len, cap, max;
    int too_large;
    char retry_after[64];
    char etag[256], last_modified[128];
    struct curl_slist *headers; /* conditional GET */
    struct transfer *prev, *next; /* in crawler.active */
} transfer;

/* What connections may reach (net_guard.h), checked on every socket the
 * crawl opens, redirects and robots.txt included. */
typedef struct net_policy {
    int check, private_ok;
    char last_refused[INET6_ADDRSTRLEN + 32];
} net_policy;

typedef struct crawler {
    const crawl_opts *o;
    net_policy *net;
    const loader_sink *sink;
    url_scope scope;
    robots *robots;
    int robots_unreachable; /* robots.txt 5xx or unreachable: every page waits for the next run */
    int delay_ms;           /* max(--delay-ms, robots Crawl-delay capped by --max-crawl-delay) */
    strmap *seen;
    item *head, *tail;
    CURLM *multi;
    transfer *active;
    int running, pages;
    int queued_new;           /* queued pages not yet started: with pages, bounded by max_pages */
    long long frontier_full;  /* links not queued because max_pages pages are fetched or queued */
    int64_t last_start_ms;
    char token[64];
    unsigned rng;
} crawler;

crawl_opts crawl_opts_default(void) {
    crawl_opts o = {.max_pages = 10000, .max_depth = 20, .concurrency = 4, .delay_ms = 0,
                    .timeout_ms = 10000, .max_page_bytes = 5u << 20, .user_agent = "ragd/0.1",
                    .max_retries = 3, .max_retry_wait_ms = 30000, .backoff_ms = 250,
                    .max_crawl_delay_ms = 10000};
    return o;
}

static int64_t now_ms(void) {
    return (int64_t)clock_ms();
}

static void item_free(item *it) {
    if (!it) return;
    mem_free(it->url);
    mem_free(it->chain);
    mem_free(it);
}

static void push(crawler *c, item *it) {
    it->next = NULL;
    if (c->tail) c->tail->next = it;
    else c->head = it;
    c->tail = it;
}

/* Remove and return the first item that may start now, or NULL. */
static item *pop_ready(crawler *c, int64_t now, int64_t *next_ready) {
    item *prev = NULL;
    for (item *it = c->head; it; prev = it, it = it->next) {
        if (it->not_before_ms > now) {
            if (*next_ready == 0 || it->not_before_ms < *next_ready) *next_ready = it->not_before_ms;
            continue;
        }
        /* A new page (not a retry) needs room under max_pages. */
        if (it->attempt == 0 && it->redirects == 0 && c->pages >= c->o->max_pages) continue;
        if (it->attempt == 0 && it->redirects == 0) c->queued_new--;
        if (prev) prev->next = it->next;
        else c->head = it->next;
        if (c->tail == it) c->tail = prev;
        return it;
    }
    return NULL;
}

/* --include / --exclude: globs on the URL path (fnmatch without
 * FNM_PATHNAME, so "*" also matches "/"). Returns the first exclude
 * pattern that matches, "" if no include pattern matches, or NULL. */
static const char *filtered_by(const crawl_opts *o, const char *url) {
    char *pq = url_path_query(url);
    size_t plen = strcspn(pq, "?");
    pq[plen] = '\0';
    const char *why = NULL;
    for (int i = 0; i < o->n_exclude && !why; i++)
        if (fnmatch(o->exclude[i], pq, 0) == 0) why = o->exclude[i];
    int inc = o->n_include == 0;
    for (int i = 0; i < o->n_include && !inc; i++) inc = fnmatch(o->include[i], pq, 0) == 0;
    if (!why && !inc) why = "";
    mem_free(pq);
    return why;
}

/* Queue a URL found at depth (already normalised), once. The seed
 * (depth 0, no redirect) is read for links even where the filters
 * exclude it, so "--include '*.html'" works on a folder URL. */
static void enqueue(crawler *c, const char *url, int depth, int redirects, const char *chain) {
    /* A page beyond max_pages would never be fetched: do not queue it, nor
     * remember it (a hostile site could offer 10^8 links; security review
     * finding 10). Counted, and logged once at the end. */
    if (depth > 0 && redirects == 0 && c->pages + c->queued_new >= c->o->max_pages) {
        if (!strmap_has(c->seen, url)) c->frontier_full++;
        return;
    }
    if (!strmap_put(c->seen, url, NULL)) return;
    if (!url_in_scope(&c->scope, url)) {
        loader_emit_event(c->sink, url, LOAD_SKIPPED, "out_of_scope", c->scope.prefix);
        return;
    }
    const char *why = filtered_by(c->o, url);
    int seed = depth == 0 && redirects == 0;
    if (why && !seed) {
        loader_emit_event(c->sink, url, LOAD_SKIPPED, "excluded", *why ? why : "matches no --include");
        return;
    }
    if (depth > c->o->max_depth) {
        loader_emit_event(c->sink, url, LOAD_SKIPPED, "depth_limit", "");
        return;
    }
    char *pq = url_path_query(url);
    int allowed = robots_allowed(c->robots, pq);
    mem_free(pq);
    if (!allowed) {
        /* Unreachable robots.txt disallows all for now (RFC 9309 2.3.1.4),
         * which says nothing about the page: its reason tells carry-over. */
        loader_emit_event(c->sink, url, LOAD_SKIPPED, c->robots_unreachable ? "robots_unavailable" : "robots_disallowed",
                          "");
        return;
    }
    item *it = mem_calloc(1, sizeof(*it));
    it->url = mem_strdup(url);
    it->fetch_only = why != NULL;
    it->depth = depth;
    it->redirects = redirects;
    it->chain = chain ? mem_strdup(chain) : NULL;
    if (redirects == 0) c->queued_new++;
    push(c, it);
}

static size_t on_body(char *data, size_t size, size_t n, void *ud) {
    transfer *t = ud;
    size_t bytes = size * n;
    if (t->len + bytes > t->max) {
        t->too_large = 1;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    if (t->len + bytes + 1 > t->cap) {
        t->cap = (t->len + bytes + 1) * 2;
        if (t->cap > t->max + 1) t->cap = t->max + 1;
        t->buf = mem_realloc(t->buf, t->cap);
    }
    memcpy(t->buf + t->len, data, bytes);
    t->len += bytes;
    t->buf[t->len] = '\0';
    return bytes;
}

/* If the header line is "name value", copy the trimmed value to out. A
 * value longer than out is dropped, not cut: a cut validator would never
 * match again. */
static void header_value(const char *data, size_t bytes, const char *name, char *out, size_t cap) {
    size_t nl = strlen(name);
    if (bytes <= nl || strncasecmp(data, name, nl) != 0) return;
    size_t v = nl;
    while (v < bytes && isspace((unsigned char)data[v])) v++;
    size_t e = bytes;
    while (e > v && isspace((unsigned char)data[e - 1])) e--;
    if (e - v >= cap) return;
    memcpy(out, data + v, e - v);
    out[e - v] = '\0';
}

static size_t on_header(char *data, size_t size, size_t n, void *ud) {
    transfer *t = ud;
    size_t bytes = size * n;
    header_value(data, bytes, "Retry-After:", t->retry_after, sizeof(t->retry_after));
    header_value(data, bytes, "ETag:", t->etag, sizeof(t->etag));
    header_value(data, bytes, "Last-Modified:", t->last_modified, sizeof(t->last_modified));
    return bytes;
}

/* Validators a header may carry: printable ASCII, no CR/LF. */
static int header_safe(const char *v) {
    for (; *v; v++)
        if ((unsigned char)*v < 0x20 || (unsigned char)*v > 0x7e) return 0;
    return 1;
}

/* Ask only for a changed page when the live index has this one. */
static void add_conditional(transfer *t, const loader_prior *p) {
    if (!p) return;
    char line[512];
    if (p->etag && *p->etag && strlen(p->etag) < 400 && header_safe(p->etag)) {
        snprintf(line, sizeof(line), "If-None-Match: %s", p->etag);
        t->headers = curl_slist_append(t->headers, line);
    }
    if (p->last_modified && *p->last_modified && strlen(p->last_modified) < 400 && header_safe(p->last_modified)) {
        snprintf(line, sizeof(line), "If-Modified-Since: %s", p->last_modified);
        t->headers = curl_slist_append(t->headers, line);
    }
    if (t->headers) curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, t->headers);
}

static curl_socket_t open_checked(void *arg, curlsocktype purpose, struct curl_sockaddr *a) {
    net_policy *np = arg;
    (void)purpose;
    int cls = net_classify(&a->addr);
    if (!net_allowed(cls, np->private_ok)) {
        char ip[INET6_ADDRSTRLEN] = "?", line[sizeof(np->last_refused)];
        const void *bytes = a->family == AF_INET6 ? (const void *)&((struct sockaddr_in6 *)&a->addr)->sin6_addr
                                                  : (const void *)&((struct sockaddr_in *)&a->addr)->sin_addr;
        inet_ntop(a->family, bytes, ip, sizeof(ip));
        snprintf(line, sizeof(line), "%s (%s)", ip, net_class_name(cls));
        if (strcmp(line, np->last_refused) != 0) { /* once per address in a row, not per request */
            memcpy(np->last_refused, line, sizeof(line));
            log_warn("crawl: refused to connect to %s; --crawl-targets any allows it", line);
        }
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype, a->protocol);
}

static CURL *make_easy(const crawler *c, const char *url, transfer *t) {
    CURL *e = curl_easy_init();
    if (c->net->check) {
        curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_checked);
        curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, c->net);
    }
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(e, CURLOPT_PRIVATE, t);
    curl_easy_setopt(e, CURLOPT_USERAGENT, c->o->user_agent);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)c->o->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)c->o->timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->o->max_page_bytes);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    t->max = c->o->max_page_bytes;
    t->easy = e;
    return e;
}

/* Split "text/html; charset=latin1" into a lowercased mime type and the
 * charset (if any). */
static void parse_content_type(const char *ct, char *mime, size_t mcap, char *charset, size_t ccap) {
    mime[0] = charset[0] = '\0';
    if (!ct) return;
    size_t i = 0;
    while (ct[i] && ct[i] != ';' && !isspace((unsigned char)ct[i]) && i + 1 < mcap) {
        mime[i] = (char)tolower((unsigned char)ct[i]);
        i++;
    }
    mime[i] = '\0';
    const char *cs = strcasestr(ct, "charset=");
    if (!cs) return;
    cs += 8;
    if (*cs == '"') cs++;
    size_t j = 0;
    while (cs[j] && cs[j] != '"' && cs[j] != ';' && !isspace((unsigned char)cs[j]) && j + 1 < ccap) {
        charset[j] = cs[j];
        j++;
    }
    charset[j] = '\0';
}

/* Milliseconds a Retry-After value asks for (seconds or HTTP-date). */
static int64_t retry_after_ms(const char *v) {
    if (!*v) return -1;
    char *end;
    long secs = strtol(v, &end, 10);
    if (*end == '\0' && secs >= 0) return (int64_t)secs * 1000;
    time_t when = curl_getdate(v, NULL);
    if (when < 0) return -1;
    int64_t d = ((int64_t)when - (int64_t)time(NULL)) * 1000;
    return d < 0 ? 0 : d;
}

/* Schedule another try; returns 0 if retries are used up. */
static int retry(crawler *c, item *it, const char *retry_after, const char *reason) {
    if (it->attempt >= c->o->max_retries) return 0;
    int64_t wait = retry_after_ms(retry_after);
    if (wait > c->o->max_retry_wait_ms) {
        char detail[128];
        snprintf(detail, sizeof(detail), "Retry-After %s exceeds the %d ms limit", retry_after,
                 c->o->max_retry_wait_ms);
        loader_emit_event(c->sink, it->url, LOAD_FAILED, reason, detail);
        item_free(it);
        return 1;
    }
    if (wait < 0) {
        int64_t base = (int64_t)c->o->backoff_ms << it->attempt;
        wait = base + (int64_t)(rand_r(&c->rng) % (unsigned)(base / 2 + 1));
    }
    it->attempt++;
    it->not_before_ms = now_ms() + wait;
    push(c, it);
    return 1;
}

#define CRAWL_MAX_LINKS 10000

/* Replace the page's hrefs by absolute, normalised http(s) URLs (once
 * each, at most CRAWL_MAX_LINKS): what the index keeps for the next run. */
static void resolve_links(const item *it, document *d) {
    char *base = d->base_href ? url_resolve(it->url, d->base_href) : NULL;
    strmap *once = strmap_new();
    int n = 0;
    for (int i = 0; i < d->n_links; i++) {
        char *u = url_resolve(base ? base : it->url, d->links[i]);
        mem_free(d->links[i]);
        if (u && n < CRAWL_MAX_LINKS && strmap_put(once, u, NULL)) d->links[n++] = u;
        else mem_free(u);
    }
    d->n_links = n;
    strmap_free(once, NULL);
    mem_free(base);
}

static void follow(crawler *c, const item *it, char *const *links, int n) {
    for (int i = 0; i < n; i++) enqueue(c, links[i], it->depth + 1, 0, NULL);
}

static void handle_page(crawler *c, transfer *t, item *it) {
    char *ct = NULL, mime[128], charset[64], err[RAGD_ERR_LEN];
    curl_easy_getinfo(t->easy, CURLINFO_CONTENT_TYPE, &ct);
    parse_content_type(ct, mime, sizeof(mime), charset, sizeof(charset));
    if (strcmp(mime, "text/html") != 0 && strcmp(mime, "application/xhtml+xml") != 0) {
        loader_emit_event(c->sink, it->url, LOAD_SKIPPED, "not_html", mime[0] ? mime : "no content type");
        return;
    }
    document d;
    if (html_extract(t->buf ? t->buf : "", t->len, it->url, charset[0] ? charset : NULL, &d, err) != 0) {
        loader_emit_event(c->sink, it->url, LOAD_FAILED, "parse_error", err);
        return;
    }
    resolve_links(it, &d);
    follow(c, it, d.links, d.n_links);
    if (it->fetch_only) {
        loader_emit_event(c->sink, it->url, LOAD_SKIPPED, "excluded", "seed read for links only");
    } else {
        loader_emit_event(c->sink, it->url, LOAD_FETCHED, "ok", "");
        if (t->etag[0]) d.etag = mem_strdup(t->etag);
        if (t->last_modified[0]) {
            d.last_modified = mem_strdup(t->last_modified);
            time_t lm = curl_getdate(t->last_modified, NULL); /* RFC 7231 dates, -1 if not one */
            if (lm > 0) d.modified = (int64_t)lm;
        }
        loader_emit_document(c->sink, &d);
    }
    doc_clear(&d);
}

/* 304: the live copy stands; its links lead on. A 304 we did not ask for
 * (no prior copy) is a server fault. */
static void handle_not_modified(crawler *c, item *it) {
    const loader_prior *p = loader_prior_of(c->sink, it->url);
    if (!p || !c->sink->not_modified) {
        loader_emit_event(c->sink, it->url, LOAD_FAILED, "http_304", "304 Not Modified without a conditional request");
        return;
    }
    c->sink->not_modified(c->sink->ctx, it->url);
    follow(c, it, p->links, p->n_links);
}

static void handle_redirect(crawler *c, transfer *t, item *it) {
    char *loc = NULL;
    curl_easy_getinfo(t->easy, CURLINFO_REDIRECT_URL, &loc);
    char *target = loc ? url_normalize(loc) : NULL;
    if (!target) {
        loader_emit_event(c->sink, it->url, LOAD_FAILED, "bad_redirect", loc ? loc : "no Location");
    } else if (!url_in_scope(&c->scope, target)) {
        loader_emit_event(c->sink, it->url, LOAD_SKIPPED, "redirect_out_of_scope", target);
    } else if (strcmp(target, it->url) == 0 || (it->chain && strstr(it->chain, target))) {
        loader_emit_event(c->sink, it->url, LOAD_FAILED, "redirect_loop", target);
    } else if (it->redirects >= CRAWL_MAX_REDIRECTS) {
        loader_emit_event(c->sink, it->url, LOAD_FAILED, "too_many_redirects", target);
    } else if (strmap_has(c->seen, target)) {
        loader_emit_event(c->sink, it->url, LOAD_SKIPPED, "redirect_duplicate", target);
    } else {
        loader_emit_event(c->sink, it->url, LOAD_SKIPPED, "redirected", target);
        char *chain = mem_printf("%s%s\n", it->chain ? it->chain : "", it->url);
        enqueue(c, target, it->depth, it->redirects + 1, chain);
        mem_free(chain);
    }
    mem_free(target);
}

/* One finished transfer: decide fetched / skipped / failed / retry. */
static void finish(crawler *c, transfer *t, CURLcode rc) {
    item *it = t->it;
    t->it = NULL;
    long status = 0;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    char reason[32], detail[CURL_ERROR_SIZE + 32];
    if (t->too_large || rc == CURLE_FILESIZE_EXCEEDED) {
        loader_emit_event(c->sink, it->url, LOAD_FAILED, "too_large", "body over max-page-bytes");
    } else if (rc == CURLE_OPERATION_TIMEDOUT) {
        loader_emit_event(c->sink, it->url, LOAD_FAILED, "timeout", curl_easy_strerror(rc));
    } else if (rc != CURLE_OK) {
        if (retry(c, it, "", "network_error")) it = NULL;
        else loader_emit_event(c->sink, it->url, LOAD_FAILED, "network_error", curl_easy_strerror(rc));
    } else if (status >= 200 && status < 300) {
        handle_page(c, t, it);
    } else if (status == 304) {
        handle_not_modified(c, it);
    } else if (status >= 300 && status < 400) {
        handle_redirect(c, t, it);
    } else if (status == 429 || status >= 500) {
        snprintf(reason, sizeof(reason), "http_%ld", status);
        if (retry(c, it, t->retry_after, reason)) it = NULL;
        else {
            snprintf(detail, sizeof(detail), "HTTP %ld after %d tries", status, it->attempt + 1);
            loader_emit_event(c->sink, it->url, LOAD_FAILED, reason, detail);
        }
    } else {
        snprintf(reason, sizeof(reason), "http_%ld", status);
        snprintf(detail, sizeof(detail), "HTTP %ld", status);
        loader_emit_event(c->sink, it->url, LOAD_FAILED, reason, detail);
    }
    item_free(it);
}

static void start(crawler *c, item *it) {
    transfer *t = mem_calloc(1, sizeof(*t));
    t->it = it;
    make_easy(c, it->url, t);
    if (!it->fetch_only) add_conditional(t, loader_prior_of(c->sink, it->url));
    curl_multi_add_handle(c->multi, t->easy);
    t->next = c->active;
    if (c->active) c->active->prev = t;
    c->active = t;
    c->running++;
    if (it->attempt == 0 && it->redirects == 0) c->pages++;
    c->last_start_ms = now_ms();
}

static void reap(crawler *c) {
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(c->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE) continue;
        transfer *t = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        CURLcode rc = m->data.result;
        curl_multi_remove_handle(c->multi, m->easy_handle);
        c->running--;
        if (t->prev) t->prev->next = t->next;
        else c->active = t->next;
        if (t->next) t->next->prev = t->prev;
        finish(c, t, rc);
        curl_easy_cleanup(t->easy);
        curl_slist_free_all(t->headers);
        mem_free(t->buf);
        mem_free(t);
    }
}

/* Fetch one URL outside the crawl loop (robots.txt, sitemaps). Returns
 * the HTTP status, or -1 for a network error or timeout. */
static long fetch_blocking(const crawler *c, const char *url, char **body, size_t *len) {
    transfer t = {0};
    CURL *e = make_easy(c, url, &t);
    CURLcode rc = curl_easy_perform(e);
    long status = -1;
    if (rc == CURLE_OK) curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(e);
    *body = t.buf;
    *len = t.len;
    return status;
}

/* robots.txt per RFC 9309 2.3.1: redirects are followed (five hops, across
 * hosts too); more than five, or a 4xx, is "unavailable" and allows all;
 * a 5xx or no answer is "unreachable" and disallows all for this run. */
static void load_robots(crawler *c) {
    char *url = mem_printf("%s/robots.txt", c->scope.origin), *body = NULL, detail[96];
    size_t len = 0;
    transfer t = {0};
    CURL *e = make_easy(c, url, &t);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, (long)CRAWL_MAX_REDIRECTS);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    CURLcode rc = curl_easy_perform(e);
    long status = -1;
    if (rc == CURLE_OK) curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(e);
    body = t.buf;
    len = t.len;
    if (rc == CURLE_TOO_MANY_REDIRECTS) {
        loader_emit_event(c->sink, url, LOAD_SKIPPED, "robots_redirects", "more than 5 redirects: allowing all");
        c->robots = robots_allow_all();
    } else if (status >= 200 && status < 300) {
        c->robots = robots_parse(body ? body : "", len, c->token);
    } else if ((status >= 400 && status < 500) || (status >= 300 && status < 400)) {
        c->robots = robots_allow_all();
    } else {
        snprintf(detail, sizeof(detail), status < 0 ? "unreachable: disallowing all" : "HTTP %ld: disallowing all",
                 status);
        loader_emit_event(c->sink, url, LOAD_FAILED, "robots_unavailable", detail);
        c->robots = robots_disallow_all();
        c->robots_unreachable = 1;
    }
    mem_free(body);
    mem_free(url);
    long cd = robots_crawl_delay_ms(c->robots);
    c->delay_ms = c->o->delay_ms;
    if (cd > c->o->max_crawl_delay_ms) {
        log_warn("%s/robots.txt asks for Crawl-delay %.1f s; using --max-crawl-delay %.1f s", c->scope.origin,
                 (double)cd / 1000, (double)c->o->max_crawl_delay_ms / 1000);
        cd = c->o->max_crawl_delay_ms;
    }
    if (cd > c->delay_ms) c->delay_ms = (int)cd;
}

/* Fetch and parse one sitemap; 0 and *sm, or -1. */
static int fetch_sitemap(crawler *c, const char *u, sitemap *sm) {
    char *body;
    size_t len;
    int rc = fetch_blocking(c, u, &body, &len) == 200 && body ? sitemap_parse(body, len, u, sm) : -1;
    mem_free(body);
    return rc;
}

/* The pages a sitemap lists go to the frontier; the sitemaps an index
 * lists are fetched (one level, within the budget) only on the site's own
 * origin and where robots.txt allows (security review finding 2). */
static void follow_sitemap(crawler *c, const sitemap *sm, int *budget) {
    for (int i = 0; i < sm->n; i++) {
        const char *u = sm->locs[i];
        if (!sm->is_index) {
            enqueue(c, u, 1, 0, NULL);
            continue;
        }
        char *pq = url_path_query(u);
        int fetchable = url_same_origin(&c->scope, u) && robots_allowed(c->robots, pq);
        mem_free(pq);
        if (!fetchable) {
            loader_emit_event(c->sink, u, LOAD_SKIPPED, "sitemap_out_of_origin", "");
            continue;
        }
        sitemap nested;
        if ((*budget)-- > 0 && fetch_sitemap(c, u, &nested) == 0) {
            for (int j = 0; j < nested.n; j++) enqueue(c, nested.locs[j], 1, 0, NULL);
            sitemap_clear(&nested);
        }
    }
}

/* sitemap.xml at the scope folder and the origin, plus robots.txt's. */
static void load_sitemaps(crawler *c) {
    char *cands[2 + CRAWL_MAX_SITEMAPS];
    int n = 0, budget = CRAWL_MAX_SITEMAPS;
    cands[n++] = mem_printf("%ssitemap.xml", c->scope.prefix);
    cands[n++] = mem_printf("%s/sitemap.xml", c->scope.origin);
    for (int i = 0; i < robots_sitemap_count(c->robots) && n < 2 + CRAWL_MAX_SITEMAPS; i++)
        cands[n++] = mem_strdup(robots_sitemap(c->robots, i));
    strmap *done = strmap_new();
    for (int i = 0; i < n; i++) {
        char *u = url_normalize(cands[i]);
        sitemap sm;
        if (u && url_same_origin(&c->scope, u) && strmap_put(done, u, NULL) && fetch_sitemap(c, u, &sm) == 0) {
            follow_sitemap(c, &sm, &budget);
            sitemap_clear(&sm);
        }
        mem_free(u);
        mem_free(cands[i]);
    }
    strmap_free(done, NULL);
}

static int check_opts(const crawl_opts *o, char *err) {
    if (o->max_pages < 1) return err_set(err, "max-pages must be at least 1");
    if (o->max_depth < 0) return err_set(err, "max-depth must be 0 or more");
    if (o->concurrency < 1 || o->concurrency > 64) return err_set(err, "concurrency must be 1..64");
    if (o->delay_ms < 0 || o->timeout_ms < 1) return err_set(err, "delay-ms must be >= 0, timeout-ms >= 1");
    if (o->max_page_bytes < 1024) return err_set(err, "max-page-bytes must be at least 1024");
    if (o->max_retries < 0 || o->max_retries > 10) return err_set(err, "retries must be 0..10");
    if (o->max_crawl_delay_ms < 0) return err_set(err, "max-crawl-delay must be 0 or more");
    return RAGD_OK;
}

static void crawl_loop(crawler *c) {
    while ((c->head || c->running > 0) && !loader_stopped(c->sink)) {
        int64_t now = now_ms(), next_ready = 0;
        while (c->running < c->o->concurrency && now - c->last_start_ms >= c->delay_ms) {
            item *it = pop_ready(c, now, &next_ready);
            if (!it) break;
            start(c, it);
        }
        if (c->running == 0 && c->pages >= c->o->max_pages) {
            /* Only retries and redirects of started pages may still run. */
            int pending = 0;
            for (item *it = c->head; it; it = it->next) pending |= it->attempt > 0 || it->redirects > 0;
            if (!pending) break;
        }
        int still = 0;
        curl_multi_perform(c->multi, &still);
        reap(c);
        loader_tick(c->sink);
        int wait = 50;
        if (next_ready > 0 && next_ready - now < wait) wait = (int)(next_ready - now);
        if (c->head && c->delay_ms > 0 && c->last_start_ms + c->delay_ms - now < wait)
            wait = (int)(c->last_start_ms + c->delay_ms - now);
        if (wait < 1) wait = 1;
        curl_multi_poll(c->multi, NULL, 0, wait, NULL);
    }
}

/* A page the live index holds that links no longer reached: fetch it
 * (conditionally) so it is kept, updated or removed for a reason. URLs of
 * other sources are not ours to judge and are passed over silently. */
static void revisit(void *arg, const char *url) {
    crawler *c = arg;
    if (url_in_scope(&c->scope, url) && !strmap_has(c->seen, url)) enqueue(c, url, 1, 0, NULL);
}

int crawl_run(const char *seed, const crawl_opts *o, const loader_sink *sink, char *err) {
    if (check_opts(o, err) != 0) return RAGD_ERR;
    crawler c = {.o = o, .sink = sink, .rng = (unsigned)time(NULL)};
    if (url_scope_init(&c.scope, seed, err) != 0) return RAGD_ERR;
    size_t tl = strcspn(o->user_agent, "/ ");
    if (tl >= sizeof(c.token)) tl = sizeof(c.token) - 1;
    memcpy(c.token, o->user_agent, tl);
    c.token[tl] = '\0';
    net_policy net = {.check = o->targets != NET_TARGETS_ANY};
    if (o->targets == NET_TARGETS_AUTO) {
        /* a seed on a private network may crawl its neighbours */
        CURLU *h = curl_url();
        char *host = NULL;
        if (curl_url_set(h, CURLUPART_URL, c.scope.origin, 0) == CURLUE_OK &&
            curl_url_get(h, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
            size_t hl = strlen(host);
            if (hl > 2 && host[0] == '[' && host[hl - 1] == ']') host[hl - 1] = '\0';
            net.private_ok = net_host_is_private(host[0] == '[' ? host + 1 : host);
        }
        curl_free(host);
        curl_url_cleanup(h);
    }
    c.net = &net;
    c.seen = strmap_new();
    c.multi = curl_multi_init();
    load_robots(&c);
    char *start_url = url_normalize(seed);
    enqueue(&c, start_url, 0, 0, NULL);
    mem_free(start_url);
    load_sitemaps(&c);
    crawl_loop(&c);
    if (sink->known && !loader_stopped(sink)) {
        sink->known(sink->ctx, revisit, &c);
        crawl_loop(&c);
    }
    if (c.frontier_full > 0) {
        log_warn("%s: %lld more links not followed: --max-pages %d reached", seed, c.frontier_full, o->max_pages);
    }
    for (item *it = c.head, *next; it; it = next) {
        next = it->next;
        if (!loader_stopped(sink)) loader_emit_event(sink, it->url, LOAD_SKIPPED, "page_limit", "");
        item_free(it);
    }
    /* Stopped early: abandon transfers still in flight. */
    while (c.active) {
        transfer *t = c.active;
        c.active = t->next;
        curl_multi_remove_handle(c.multi, t->easy);
        curl_easy_cleanup(t->easy);
        curl_slist_free_all(t->headers);
        item_free(t->it);
        mem_free(t->buf);
        mem_free(t);
    }
    curl_multi_cleanup(c.multi);
    robots_free(c.robots);
    strmap_free(c.seen, NULL);
    url_scope_clear(&c.scope);
    return RAGD_OK;
}
