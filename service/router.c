/* router.c - scatter-gather over shard servers: discovery, one version, replica failover, exact merge */
#include "router.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <math.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "err.h"
#include "fsio.h"
#include "fusion.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"
#include "shard_api.h"

#define RT_MAX_PEERS 64
#define RT_MAX_REPLICAS 256
#define RT_MAX_MODELS 4
#define RT_MAX_VERSIONS 8
#define RT_MAX_BODY (64u << 20)

typedef struct replica {
    char url[96]; /* http://a.b.c.d:port */
    int group;    /* the --peers entry it was found under */
    int ok;       /* its state answered */
    int *shards;  /* the shards it serves (owned) */
    int n_shards, n_total;
    char versions[2][MANIFEST_NAME_LEN];
    int n_versions;
    char err[160];
} replica;

typedef struct known_version {
    char id[MANIFEST_NAME_LEN];
    manifest m;
} known_version;

typedef struct model {
    char id[MANIFEST_NAME_LEN];
    embedder *e;
} model;

struct router {
    router_opts o;
    char secret_header[600];
    char *hosts[RT_MAX_PEERS]; /* each resolved on every poll: its A records are replicas */
    int ports[RT_MAX_PEERS], host_group[RT_MAX_PEERS], n_hosts;
    int n_peers; /* shard groups: the comma-separated entries of --peers */
    char index_name[128];
    pthread_mutex_t mu; /* guards everything below */
    replica reps[RT_MAX_REPLICAS];
    int n_reps;
    char version[MANIFEST_NAME_LEN]; /* the version served ("" none) */
    int n_shards;
    int complete; /* every shard of version has a live replica */
    char why[300];
    known_version vers[RT_MAX_VERSIONS];
    int n_vers;
    model models[RT_MAX_MODELS]; /* embedders, kept for the router's life (a query may hold one) */
    int n_models;
    atomic_uint rr;
    CURLM *multis[64]; /* idle multi handles: each keeps its connections alive */
    int n_multis;
    pthread_t thread;
    atomic_int stopping;
};

/* ---- discovery ---- */

static const char *jstr_or(json_t *j) {
    const char *s = json_string_value(j);
    return s ? s : "";
}

typedef struct buf {
    char *s;
    size_t len;
} buf;

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
    buf *b = ud;
    size_t k = size * n;
    if (b->len + k > RT_MAX_BODY) return 0;
    b->s = mem_realloc(b->s, b->len + k + 1);
    memcpy(b->s + b->len, p, k);
    b->len += k;
    b->s[b->len] = '\0';
    return k;
}

static struct curl_slist *secret_headers(const router *rt, int json) {
    struct curl_slist *h = curl_slist_append(NULL, rt->secret_header);
    if (json) h = curl_slist_append(h, "Content-Type: application/json");
    return curl_slist_append(h, "Expect:");
}

/* GET url + path: 200 and the body, or another status / -1. */
static long get_json(const router *rt, const char *url, const char *path, json_t **out, char *err, size_t cap) {
    CURL *c = curl_easy_init();
    buf b = {0};
    char *full = mem_printf("%s%s", url, path);
    struct curl_slist *h = secret_headers(rt, 0);
    curl_easy_setopt(c, CURLOPT_URL, full);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 1000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(c);
    long status = -1;
    if (rc == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    else snprintf(err, cap, "%s", curl_easy_strerror(rc));
    *out = status == 200 ? json_loadb(b.s ? b.s : "", b.len, 0, NULL) : NULL;
    if (status != 200 && status > 0) {
        json_t *j = json_loadb(b.s ? b.s : "", b.len, 0, NULL);
        const char *m = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
        snprintf(err, cap, "HTTP %ld: %.120s", status, m ? m : "");
        json_decref(j);
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    mem_free(full);
    mem_free(b.s);
    return status == 200 && !*out ? -1 : status;
}

/* The manifest of a version a replica reported (kept once per id). */
static void learn_version(router *rt, const char *id, json_t *mj) {
    for (int i = 0; i < rt->n_vers; i++)
        if (!strcmp(rt->vers[i].id, id)) return;
    char *s = json_dumps(mj, JSON_COMPACT), err[RAGD_ERR_LEN];
    manifest m;
    int ok = s && manifest_parse(s, strlen(s), &m, err) == 0 && !strcmp(m.version_id, id);
    free(s);
    if (!ok) return;
    if (rt->n_vers == RT_MAX_VERSIONS) { /* forget the oldest */
        manifest_clear(&rt->vers[0].m);
        memmove(&rt->vers[0], &rt->vers[1], sizeof(known_version) * (RT_MAX_VERSIONS - 1));
        rt->n_vers--;
    }
    snprintf(rt->vers[rt->n_vers].id, MANIFEST_NAME_LEN, "%s", id);
    rt->vers[rt->n_vers++].m = m;
}

/* One replica's state into r (r->ok 0 with r->err on failure). */
static void ask_state(router *rt, replica *r) {
    json_t *j = NULL;
    long st = get_json(rt, r->url, "/internal/v1/state", &j, r->err, sizeof(r->err));
    if (st != 200) {
        if (st == 401) snprintf(r->err, sizeof(r->err), "refused the peer secret (--peer-secret-file differs)");
        json_decref(j);
        return;
    }
    const char *name = json_string_value(json_object_get(j, "index_name"));
    json_t *shards = json_object_get(j, "shards"), *versions = json_object_get(j, "versions");
    pthread_mutex_lock(&rt->mu);
    if (!rt->index_name[0] && name) snprintf(rt->index_name, sizeof(rt->index_name), "%s", name);
    int same_index = name && !strcmp(name, rt->index_name);
    size_t i;
    json_t *v;
    json_array_foreach(versions, i, v) if (i < 2 && same_index) learn_version(rt, jstr_or(json_object_get(v, "index_version")), json_object_get(v, "manifest"));
    pthread_mutex_unlock(&rt->mu);
    if (!same_index) {
        snprintf(r->err, sizeof(r->err), "serves index \"%.40s\", not \"%.40s\"", name ? name : "?", rt->index_name);
        json_decref(j);
        return;
    }
    r->n_total = (int)json_integer_value(json_object_get(j, "n_shards"));
    r->shards = mem_alloc(sizeof(int) * (json_array_size(shards) + 1));
    json_array_foreach(shards, i, v) r->shards[r->n_shards++] = (int)json_integer_value(v);
    json_array_foreach(versions, i, v) if (i < 2) snprintf(r->versions[r->n_versions++], MANIFEST_NAME_LEN, "%s",
                                                         jstr_or(json_object_get(v, "index_version")));
    r->ok = 1;
    json_decref(j);
}

/* The replicas host h names: its A records, now. */
static int resolve(router *rt, int h, replica *out, int cap) {
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(rt->hosts[h], NULL, &hints, &res) != 0) return 0;
    int n = 0;
    for (struct addrinfo *a = res; a && n < cap; a = a->ai_next) {
        char ip[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &((struct sockaddr_in *)a->ai_addr)->sin_addr, ip, sizeof(ip));
        char url[96];
        snprintf(url, sizeof(url), "http://%s:%d", ip, rt->ports[h]);
        int dup = 0;
        for (int i = 0; i < n; i++) dup |= !strcmp(out[i].url, url);
        if (dup) continue;
        memset(&out[n], 0, sizeof(out[n]));
        snprintf(out[n].url, sizeof(out[n].url), "%s", url);
        out[n++].group = rt->host_group[h];
    }
    freeaddrinfo(res);
    return n;
}

static int has_version(const replica *r, const char *id) {
    for (int i = 0; i < r->n_versions; i++)
        if (!strcmp(r->versions[i], id)) return 1;
    return 0;
}

static const manifest *version_manifest(const router *rt, const char *id) {
    for (int i = 0; i < rt->n_vers; i++)
        if (!strcmp(rt->vers[i].id, id)) return &rt->vers[i].m;
    return NULL;
}

/* Shards of version id the live replicas cover (covered[s] = 1). */
static int coverage(const replica *reps, int n, const char *id, int n_shards, unsigned char *covered) {
    memset(covered, 0, (size_t)n_shards);
    int c = 0;
    for (int i = 0; i < n; i++)
        if (reps[i].ok && has_version(&reps[i], id))
            for (int j = 0; j < reps[i].n_shards; j++)
                if (reps[i].shards[j] >= 0 && reps[i].shards[j] < n_shards && !covered[reps[i].shards[j]])
                    covered[reps[i].shards[j]] = 1, c++;
    return c;
}

static int newer_first(const void *a, const void *b) {
    return -strcmp((const char *)a, (const char *)b); /* version ids begin with their UTC time */
}

/* The newest version every shard of which a live replica serves; if none
 * is complete, the newest with the most shards served (requests that
 * allow partial results get those; the others a 503). *complete says which. */
static void choose(router *rt, const replica *reps, int n, char *version, int *n_shards, int *complete, char *why,
                   size_t cap) {
    char ids[RT_MAX_REPLICAS * 2][MANIFEST_NAME_LEN];
    int m = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; reps[i].ok && j < reps[i].n_versions; j++) snprintf(ids[m++], MANIFEST_NAME_LEN, "%s", reps[i].versions[j]);
    qsort(ids, (size_t)m, MANIFEST_NAME_LEN, newer_first);
    version[0] = '\0';
    snprintf(why, cap, "no shard server answered (peers: %d)", rt->n_peers);
    unsigned char covered[MANIFEST_MAX_SHARDS];
    int best = -1, best_c = 0;
    *complete = 0;
    for (int i = 0; i < m; i++) {
        if (i && !strcmp(ids[i], ids[i - 1])) continue;
        const manifest *mf = version_manifest(rt, ids[i]);
        if (!mf) continue;
        int c = coverage(reps, n, ids[i], mf->n_shards, covered);
        if (c == mf->n_shards) {
            snprintf(version, MANIFEST_NAME_LEN, "%.127s", ids[i]);
            *n_shards = mf->n_shards;
            *complete = 1;
            why[0] = '\0';
            return;
        }
        if (c > best_c) best = i, best_c = c;
    }
    if (best >= 0) {
        const manifest *mf = version_manifest(rt, ids[best]);
        snprintf(version, MANIFEST_NAME_LEN, "%.127s", ids[best]);
        *n_shards = mf->n_shards;
        snprintf(why, cap, "version %.80s: live replicas serve %d of its %d shards (partial results only)", ids[best],
                 best_c, mf->n_shards);
    }
}

/* The embedder of a manifest's model, made once. */
static embedder *model_for(router *rt, const manifest *m, char *err) {
    for (int i = 0; i < rt->n_models; i++)
        if (!strcmp(rt->models[i].id, m->model_id)) return rt->models[i].e;
    if (rt->n_models == RT_MAX_MODELS) return err_set(err, "more than %d query models", RT_MAX_MODELS), NULL;
    embedder *e = embedder_for_manifest(m, &rt->o.emb, err);
    if (!e) return NULL;
    snprintf(rt->models[rt->n_models].id, MANIFEST_NAME_LEN, "%s", m->model_id);
    rt->models[rt->n_models++].e = e;
    return e;
}

static void free_reps(replica *reps, int n) {
    for (int i = 0; i < n; i++) mem_free(reps[i].shards);
}

static void poll_once(router *rt) {
    replica *reps = mem_calloc(RT_MAX_REPLICAS, sizeof(replica));
    int n = 0;
    for (int h = 0; h < rt->n_hosts && n < RT_MAX_REPLICAS; h++) n += resolve(rt, h, reps + n, RT_MAX_REPLICAS - n);
    for (int i = 0; i < n; i++) ask_state(rt, &reps[i]);
    char version[MANIFEST_NAME_LEN], why[300], err[RAGD_ERR_LEN];
    int n_shards = 0, complete = 0;
    pthread_mutex_lock(&rt->mu);
    choose(rt, reps, n, version, &n_shards, &complete, why, sizeof(why));
    const manifest *mf = version[0] ? version_manifest(rt, version) : NULL;
    if (mf && !model_for(rt, mf, err)) { /* a version whose queries this router cannot embed is not served */
        snprintf(why, sizeof(why), "version %.80s: %.200s", version, err);
        version[0] = '\0';
    }
    if (strcmp(version, rt->version) != 0 || complete != rt->complete)
        log_info("router: serving %s%s %s", version[0] ? "version " : "nothing", version, why);
    free_reps(rt->reps, rt->n_reps);
    memcpy(rt->reps, reps, sizeof(replica) * (size_t)n);
    rt->n_reps = n;
    snprintf(rt->version, sizeof(rt->version), "%s", version);
    rt->n_shards = n_shards;
    rt->complete = complete;
    snprintf(rt->why, sizeof(rt->why), "%s", why);
    pthread_mutex_unlock(&rt->mu);
    mem_free(reps);
}

static void *poll_loop(void *arg) {
    router *rt = arg;
    while (!atomic_load(&rt->stopping)) {
        for (int waited = 0; waited < rt->o.poll_ms && !atomic_load(&rt->stopping); waited += 50) usleep(50 * 1000);
        if (!atomic_load(&rt->stopping)) poll_once(rt);
    }
    return NULL;
}

/* ---- the query path ---- */

typedef struct group_call {
    int group;
    char urls[16][96];
    int n_urls, next, tried;
    unsigned char *owns; /* owns[s]: the group's replicas serve shard s of the version (owned) */
    const char *path;    /* the internal route this call asks */
    char *payload;       /* its body (owned) */
    CURL *h;
    buf body;
    json_t *answer; /* 200 of the right version */
    int done, refused;
    char err[200];
} group_call;

static CURLM *take_multi(router *rt) {
    pthread_mutex_lock(&rt->mu);
    CURLM *m = rt->n_multis ? rt->multis[--rt->n_multis] : NULL;
    pthread_mutex_unlock(&rt->mu);
    return m ? m : curl_multi_init();
}

static void give_multi(router *rt, CURLM *m) {
    pthread_mutex_lock(&rt->mu);
    if (rt->n_multis < 64) rt->multis[rt->n_multis++] = m, m = NULL;
    pthread_mutex_unlock(&rt->mu);
    if (m) curl_multi_cleanup(m);
}

static void start_call(router *rt, CURLM *multi, group_call *g, struct curl_slist *hd) {
    const char *url = g->urls[(g->next++) % g->n_urls];
    char full[128];
    snprintf(full, sizeof(full), "%s%s", url, g->path);
    g->tried++;
    mem_free(g->body.s);
    g->body = (buf){0};
    g->h = curl_easy_init();
    curl_easy_setopt(g->h, CURLOPT_URL, full);
    curl_easy_setopt(g->h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(g->h, CURLOPT_POSTFIELDS, g->payload);
    curl_easy_setopt(g->h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(g->h, CURLOPT_WRITEDATA, &g->body);
    curl_easy_setopt(g->h, CURLOPT_PRIVATE, g);
    double left = deadline_left_ms();
    long t = left < rt->o.shard_timeout_ms ? (long)left : rt->o.shard_timeout_ms;
    curl_easy_setopt(g->h, CURLOPT_TIMEOUT_MS, t > 1 ? t : 1L);
    curl_easy_setopt(g->h, CURLOPT_NOSIGNAL, 1L);
    curl_multi_add_handle(multi, g->h);
}

/* One finished transfer: keep the answer, or try the group's next replica. */
static void finish_call(router *rt, CURLM *multi, group_call *g, CURLcode rc, const char *version,
                        struct curl_slist *hd, router_info *info) {
    long status = 0;
    curl_easy_getinfo(g->h, CURLINFO_RESPONSE_CODE, &status);
    curl_multi_remove_handle(multi, g->h);
    curl_easy_cleanup(g->h);
    g->h = NULL;
    json_t *j = rc == CURLE_OK && status == 200 ? json_loadb(g->body.s ? g->body.s : "", g->body.len, 0, NULL) : NULL;
    const char *v = json_string_value(json_object_get(j, "index_version"));
    if (j && v && !strcmp(v, version)) {
        g->answer = j;
        g->done = 1;
        return;
    }
    json_decref(j);
    if (rc != CURLE_OK) snprintf(g->err, sizeof(g->err), "%s", curl_easy_strerror(rc));
    else snprintf(g->err, sizeof(g->err), "HTTP %ld", status);
    if (status == 400) { /* the request itself: another replica would say the same */
        g->refused = 1;
        json_t *e = json_loadb(g->body.s ? g->body.s : "", g->body.len, 0, NULL);
        const char *m = json_string_value(json_object_get(json_object_get(e, "error"), "message"));
        snprintf(g->err, sizeof(g->err), "%.190s", m ? m : "bad request");
        json_decref(e);
        g->done = 1;
        return;
    }
    if (g->tried < g->n_urls && !deadline_expired()) {
        info->failovers++;
        info->replicas_tried++;
        start_call(rt, multi, g, hd);
        return;
    }
    g->done = 1;
}

/* Every call of gs (each with its path and payload) to one replica of its
 * group, in parallel; failed ones to the group's next replica. */
static void fan_out(router *rt, group_call *gs, int ng, const char *version, router_info *info) {
    CURLM *multi = take_multi(rt);
    struct curl_slist *hd = secret_headers(rt, 1);
    for (int i = 0; i < ng; i++) {
        info->replicas_tried++;
        start_call(rt, multi, &gs[i], hd);
    }
    for (;;) {
        int running = 0, open = 0;
        curl_multi_perform(multi, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(multi, &left)))
            if (msg->msg == CURLMSG_DONE) {
                group_call *g;
                curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&g);
                finish_call(rt, multi, g, msg->data.result, version, hd, info);
            }
        for (int i = 0; i < ng; i++) open += !gs[i].done;
        if (!open) break;
        curl_multi_poll(multi, NULL, 0, 100, NULL);
    }
    curl_slist_free_all(hd);
    give_multi(rt, multi);
}

/* A list of [id, shard, score] entries appended to out (with their group's rank for ties). */
typedef struct cand {
    ranked_hit h;
    int rank;
} cand;

static int read_list(json_t *a, cand *out, int n, int cap) {
    size_t i;
    json_t *e;
    json_array_foreach(a, i, e) {
        if (n >= cap) break;
        const char *id = json_string_value(json_array_get(e, 0));
        if (!id) continue;
        out[n].h = (ranked_hit){strtoll(id, NULL, 10), (int)json_integer_value(json_array_get(e, 1)),
                                (float)json_number_value(json_array_get(e, 2))};
        out[n++].rank = (int)i;
    }
    return n;
}

/* Vector lists as one process merges shards: score, then shard, then rank. */
static int vec_order(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->h.score != y->h.score) return x->h.score < y->h.score ? 1 : -1;
    if (x->h.shard != y->h.shard) return x->h.shard - y->h.shard;
    return x->rank - y->rank;
}

/* Keyword lists as one process merges them: score, then id. */
static int kw_order(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->h.score != y->h.score) return x->h.score < y->h.score ? 1 : -1;
    return x->h.id < y->h.id ? -1 : x->h.id > y->h.id;
}

static int merge(group_call *gs, int ng, const char *key, int (*order)(const void *, const void *), int depth,
                 ranked_hit *out) {
    int cap = 0;
    for (int i = 0; i < ng; i++) cap += (int)json_array_size(json_object_get(gs[i].answer, key));
    cand *all = mem_alloc(sizeof(cand) * (size_t)(cap + 1));
    int n = 0;
    for (int i = 0; i < ng; i++)
        if (gs[i].answer) n = read_list(json_object_get(gs[i].answer, key), all, n, cap);
    qsort(all, (size_t)n, sizeof(cand), order);
    int m = 0;
    for (int i = 0; i < n && m < depth; i++) {
        int dup = 0; /* groups that overlap: a chunk once */
        for (int j = 0; j < m && !dup; j++) dup = out[j].id == all[i].h.id && out[j].shard == all[i].h.shard;
        if (!dup) out[m++] = all[i].h;
    }
    mem_free(all);
    return m;
}

static char *dup_str(json_t *o, const char *k) {
    const char *s = json_string_value(json_object_get(o, k));
    return mem_strdup(s ? s : "");
}

/* The row of chunk (id, shard) from any group's answer into h. */
static int find_row(group_call *gs, int ng, const fused_hit *f, search_hit *h) {
    char id[24];
    snprintf(id, sizeof(id), "%lld", (long long)f->id);
    for (int i = 0; i < ng; i++) {
        size_t k;
        json_t *row;
        json_array_foreach(json_object_get(gs[i].answer, "rows"), k, row) {
            if (strcmp(jstr_or(json_object_get(row, "id")), id) != 0 ||
                json_integer_value(json_object_get(row, "shard")) != f->shard)
                continue;
            char *heads = json_dumps(json_object_get(row, "headings"), JSON_COMPACT);
            *h = (search_hit){.id = f->id, .score = f->score, .vector_score = f->vector_score,
                              .keyword_score = f->keyword_score, .found = f->found, .shard = f->shard};
            h->row.id = f->id;
            h->row.doc_url = dup_str(row, "url");
            h->row.title = dup_str(row, "title");
            h->row.text = dup_str(row, "text");
            h->row.headings = mem_strdup(heads ? heads : "[]");
            free(heads);
            return 1;
        }
    }
    return 0;
}

/* The shard servers' lists, fused and cut to k, with their rows. */
static int assemble(group_call *gs, int ng, const search_query *q, int depth, search_result *r) {
    ranked_hit *vl = mem_alloc(sizeof(ranked_hit) * (size_t)depth), *kl = mem_alloc(sizeof(ranked_hit) * (size_t)depth);
    fused_hit *fused = mem_alloc(sizeof(fused_hit) * (size_t)depth);
    int nv = q->mode != MODE_KEYWORD ? merge(gs, ng, "vector", vec_order, depth, vl) : 0;
    int nk = q->mode != MODE_VECTOR ? merge(gs, ng, "keyword", kw_order, depth, kl) : 0, nf;
    if (q->mode == MODE_HYBRID) {
        nf = fusion_fuse((enum fusion_method)q->fusion, q->alpha, vl, nv, kl, nk, depth, fused);
    } else {
        const ranked_hit *l = q->mode == MODE_VECTOR ? vl : kl;
        int found = q->mode == MODE_VECTOR ? FUSION_FOUND_VECTOR : FUSION_FOUND_KEYWORD;
        nf = q->mode == MODE_VECTOR ? nv : nk;
        for (int i = 0; i < nf; i++)
            fused[i] = (fused_hit){.id = l[i].id, .shard = l[i].shard, .score = l[i].score, .found = found,
                                   .vector_score = found == FUSION_FOUND_VECTOR ? l[i].score : 0,
                                   .keyword_score = found == FUSION_FOUND_KEYWORD ? l[i].score : 0};
    }
    r->hits = mem_calloc((size_t)(q->k > 0 ? q->k : 1), sizeof(search_hit));
    for (int i = 0; i < nf && r->n < q->k; i++)
        if (find_row(gs, ng, &fused[i], &r->hits[r->n])) r->n++;
    mem_free(vl);
    mem_free(kl);
    mem_free(fused);
    return RAGD_OK;
}

static char *payload_json(const search_query *q, const char *version, const float *qv, int dim, int depth,
                          json_t *filter) {
    json_t *o = json_pack("{s:s, s:s, s:i}", "index_version", version, "mode", search_mode_name(q->mode), "depth", depth);
    if (q->mode != MODE_KEYWORD) {
        json_t *v = json_array();
        for (int i = 0; i < dim; i++) json_array_append_new(v, json_real(qv[i]));
        json_object_set_new(o, "vector", v);
    }
    if (q->mode != MODE_VECTOR) json_object_set_new(o, "query", json_stringn(q->text, q->len));
    if (filter) json_object_set_new(o, "filter", filter);
    char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(9));
    json_decref(o);
    return s;
}

/* The filter of a query as the shard route takes it. */
static json_t *filter_json(const search_filter *f) {
    json_t *o = json_object();
    const char *keys[] = {"url_prefix", "url", "title_contains", "heading", "source"};
    const char *vals[] = {f->url_prefix, f->url, f->title_contains, f->heading, f->source};
    for (int i = 0; i < 5; i++)
        if (vals[i]) json_object_set_new(o, keys[i], json_string(vals[i]));
    if (f->modified_after) json_object_set_new(o, "modified_after", json_integer(f->modified_after));
    if (f->modified_before) json_object_set_new(o, "modified_before", json_integer(f->modified_before));
    for (int i = 0; i < f->n_meta; i++) {
        char k[80];
        snprintf(k, sizeof(k), "meta.%s", f->meta_names[i]);
        json_object_set_new(o, k, json_string(f->meta_values[i]));
    }
    if (json_object_size(o) == 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* One request through the router: its view of the table (the search
 * backend's context, search.h). */
typedef struct rcall {
    router *rt;
    char version[MANIFEST_NAME_LEN], model_id[MANIFEST_NAME_LEN];
    int dim, n_shards, normalized;
    embedder *e;
    group_call *gs; /* one per group with a replica on the version */
    int ng, allow_partial;
    router_info *info;
} rcall;

/* This request's view of the table: the version, its embedder, and per
 * group the replicas serving it (round-robin start) and the shards they
 * hold. 0: nothing is served. */
static int snapshot(router *rt, rcall *c) {
    pthread_mutex_lock(&rt->mu);
    snprintf(c->version, sizeof(c->version), "%s", rt->version);
    const manifest *mf = c->version[0] ? version_manifest(rt, c->version) : NULL;
    if (mf) {
        c->dim = mf->dim, c->normalized = mf->normalized, c->n_shards = mf->n_shards;
        snprintf(c->model_id, sizeof(c->model_id), "%s", mf->model_id);
        char err[RAGD_ERR_LEN];
        c->e = model_for(rt, mf, err);
        unsigned start = atomic_fetch_add(&rt->rr, 1);
        c->gs = mem_calloc((size_t)rt->n_peers, sizeof(group_call));
        for (int g = 0; g < rt->n_peers; g++) {
            group_call *gc = &c->gs[c->ng];
            gc->group = g;
            gc->owns = mem_calloc((size_t)mf->n_shards, 1);
            for (int i = 0; i < rt->n_reps; i++) {
                const replica *rp = &rt->reps[i];
                if (rp->group != g || !rp->ok || !has_version(rp, c->version)) continue;
                if (gc->n_urls < 16) snprintf(gc->urls[gc->n_urls++], 96, "%s", rp->url);
                for (int j = 0; j < rp->n_shards; j++)
                    if (rp->shards[j] >= 0 && rp->shards[j] < mf->n_shards) gc->owns[rp->shards[j]] = 1;
            }
            if (!gc->n_urls) {
                mem_free(gc->owns);
                memset(gc, 0, sizeof(*gc));
                continue;
            }
            gc->next = (int)(start % (unsigned)gc->n_urls);
            c->ng++;
        }
    }
    pthread_mutex_unlock(&rt->mu);
    return mf != NULL;
}

static void calls_reset(group_call *gs, int ng) {
    for (int i = 0; i < ng; i++) {
        json_decref(gs[i].answer);
        mem_free(gs[i].body.s);
        mem_free(gs[i].payload);
        gs[i].answer = NULL, gs[i].body = (buf){0}, gs[i].payload = NULL;
        gs[i].done = gs[i].refused = gs[i].tried = 0;
        gs[i].err[0] = '\0';
    }
}

/* Shards of the version no answered group covers, into info. */
static void missing_shards(group_call *gs, int ng, int n_shards, router_info *info) {
    unsigned char covered[MANIFEST_MAX_SHARDS] = {0};
    for (int i = 0; i < ng; i++) {
        size_t k;
        json_t *s;
        json_array_foreach(json_object_get(gs[i].answer, "shards"), k, s) {
            json_int_t v = json_integer_value(s);
            if (v >= 0 && v < n_shards) covered[v] = 1;
        }
    }
    info->n_missing = 0;
    for (int s = 0; s < n_shards; s++)
        if (!covered[s] && info->n_missing < 64) info->missing[info->n_missing++] = s;
}

/* The backend's fresh search: every group's lists, merged and fused, with rows. */
static int router_fresh(void *ctx, const search_query *q, const float *qv, int depth, search_result *r, char *err) {
    rcall *c = ctx;
    char *payload = payload_json(q, c->version, qv, c->dim, depth, filter_json(&q->filter));
    calls_reset(c->gs, c->ng);
    for (int i = 0; i < c->ng; i++) {
        c->gs[i].path = "/internal/v1/search";
        c->gs[i].payload = mem_strdup(payload);
    }
    free(payload);
    double t = clock_ms();
    fan_out(c->rt, c->gs, c->ng, c->version, c->info);
    r->search_ms = clock_ms() - t;
    metrics_stage(STAGE_SEARCH, r->search_ms / 1000.0);
    for (int i = 0; i < c->ng; i++)
        if (c->gs[i].refused) return err_set(err, "%s", c->gs[i].err), SEARCH_BAD_REQUEST;
    missing_shards(c->gs, c->ng, c->n_shards, c->info);
    if (c->info->n_missing && !c->allow_partial) {
        err_set(err, "%d of the %d shards of version %s have no live replica (first: shard %d); send "
                "\"allow_partial\": true to accept results without them", c->info->n_missing, c->n_shards, c->version,
                c->info->missing[0]);
        return SEARCH_SHARDS_UNAVAILABLE;
    }
    c->info->partial = c->info->n_missing > 0;
    double tf = clock_ms();
    assemble(c->gs, c->ng, q, depth, r);
    r->fetch_ms = clock_ms() - tf;
    return SEARCH_OK;
}

/* The ids of hits group g holds, as the rows route takes them; NULL if none. */
static char *rows_payload(const rcall *c, int g, const fused_hit *hits, int n) {
    json_t *ids = json_array();
    for (int i = 0; i < n; i++) {
        char id[24];
        snprintf(id, sizeof(id), "%lld", (long long)hits[i].id);
        if (hits[i].shard >= 0 && hits[i].shard < c->n_shards && c->gs[g].owns[hits[i].shard])
            json_array_append_new(ids, json_pack("[s, i]", id, hits[i].shard));
    }
    if (!json_array_size(ids)) {
        json_decref(ids);
        return NULL;
    }
    json_t *o = json_pack("{s:s, s:o}", "index_version", c->version, "ids", ids);
    char *s = json_dumps(o, JSON_COMPACT), *out = mem_strdup(s);
    free(s);
    json_decref(o);
    return out;
}

/* The backend's rows for cached hits: one request per group holding some;
 * RAGD_ERR (a miss) unless every row came back. */
static int router_rows(void *ctx, const fused_hit *hits, int n, const search_query *q, search_result *r, char *err) {
    rcall *c = ctx;
    calls_reset(c->gs, c->ng);
    group_call *need = mem_calloc((size_t)(c->ng ? c->ng : 1), sizeof(group_call));
    int nn = 0, rc = RAGD_OK;
    for (int g = 0; g < c->ng; g++) {
        char *p = rows_payload(c, g, hits, n);
        if (!p) continue;
        need[nn] = c->gs[g];
        need[nn].path = "/internal/v1/rows";
        need[nn++].payload = p;
    }
    double t = clock_ms();
    fan_out(c->rt, need, nn, c->version, c->info);
    r->hits = mem_calloc((size_t)(q->k > 0 ? q->k : 1), sizeof(search_hit));
    for (int i = 0; i < n && r->n < q->k && rc == RAGD_OK; i++) {
        if (find_row(need, nn, &hits[i], &r->hits[r->n])) r->n++;
        else rc = err_set(err, "chunk %lld: no row from its shard group", (long long)hits[i].id);
    }
    r->fetch_ms = clock_ms() - t;
    for (int i = 0; i < nn; i++) {
        json_decref(need[i].answer);
        mem_free(need[i].body.s);
        mem_free(need[i].payload);
    }
    mem_free(need);
    return rc;
}

int router_search(router *rt, searcher *s, const search_query *q, int allow_partial, search_result *r,
                  router_info *info, char *err) {
    memset(r, 0, sizeof(*r));
    memset(info, 0, sizeof(*info));
    r->cache = CACHE_BYPASS;
    rcall c = {.rt = rt, .allow_partial = allow_partial, .info = info};
    int status;
    if (!snapshot(rt, &c) || (!c.e && q->mode != MODE_KEYWORD && !q->vector)) {
        pthread_mutex_lock(&rt->mu);
        err_set(err, "%s", rt->why[0] ? rt->why : "the router cannot embed queries of this version");
        pthread_mutex_unlock(&rt->mu);
        status = SEARCH_NOT_READY;
    } else {
        search_backend b = {.version_id = c.version, .model_id = c.model_id, .dim = c.dim, .n_shards = c.n_shards,
                            .normalized = c.normalized, .e = c.e, .rows = router_rows, .fresh = router_fresh,
                            .ctx = &c};
        status = search_through(s, &b, q, r, err);
    }
    metrics_router(info->replicas_tried, info->failovers, info->partial);
    calls_reset(c.gs, c.ng);
    for (int i = 0; i < c.ng; i++) mem_free(c.gs[i].owns);
    mem_free(c.gs);
    return status;
}

int router_ready(router *rt, char *version, size_t cap, int *complete, char *why, size_t why_cap) {
    pthread_mutex_lock(&rt->mu);
    snprintf(version, cap, "%s", rt->version);
    snprintf(why, why_cap, "%s", rt->why);
    int ready = rt->version[0] != '\0';
    *complete = rt->complete;
    pthread_mutex_unlock(&rt->mu);
    return ready;
}

embedder *router_embedder(router *rt) {
    char err[RAGD_ERR_LEN];
    pthread_mutex_lock(&rt->mu);
    const manifest *mf = rt->version[0] ? version_manifest(rt, rt->version) : NULL;
    embedder *e = mf ? model_for(rt, mf, err) : NULL;
    pthread_mutex_unlock(&rt->mu);
    return e;
}

void router_counts(router *rt, int *replicas, int *ok, int *complete) {
    pthread_mutex_lock(&rt->mu);
    *replicas = rt->n_reps;
    *ok = 0;
    for (int i = 0; i < rt->n_reps; i++) *ok += rt->reps[i].ok;
    *complete = rt->complete;
    pthread_mutex_unlock(&rt->mu);
}

json_t *router_state_json(router *rt) {
    json_t *reps = json_array();
    pthread_mutex_lock(&rt->mu);
    for (int i = 0; i < rt->n_reps; i++) {
        const replica *r = &rt->reps[i];
        json_t *sh = json_array(), *vs = json_array();
        for (int j = 0; j < r->n_shards; j++) json_array_append_new(sh, json_integer(r->shards[j]));
        for (int j = 0; j < r->n_versions; j++) json_array_append_new(vs, json_string(r->versions[j]));
        json_array_append_new(reps, json_pack("{s:s, s:i, s:b, s:o, s:o, s:s?}", "url", r->url, "group", r->group, "ok",
                                              r->ok, "shards", sh, "versions", vs, "error", r->ok ? NULL : r->err));
    }
    json_t *o = json_pack("{s:s, s:s, s:i, s:b, s:o}", "index_name", rt->index_name, "index_version", rt->version,
                          "shards", rt->n_shards, "complete", rt->complete, "replicas", reps);
    pthread_mutex_unlock(&rt->mu);
    return o;
}

/* ---- lifecycle ---- */

/* --peers: shard groups separated by commas; within one, replicas by
 * "|" (each host may have several A records: more replicas). */
static int parse_peers(router *rt, const char *list, char *err) {
    char *copy = mem_strdup(list ? list : ""), *save = NULL;
    int rc = RAGD_OK;
    for (char *grp = strtok_r(copy, ",", &save); grp && rc == RAGD_OK; grp = strtok_r(NULL, ",", &save)) {
        char *save2 = NULL;
        for (char *t = strtok_r(grp, "|", &save2); t && rc == RAGD_OK; t = strtok_r(NULL, "|", &save2)) {
            char host[256], rest[8] = "";
            int port = 0;
            while (*t == ' ') t++;
            if (sscanf(t, "http://%255[^:/]:%d%7s", host, &port, rest) < 2 || (rest[0] && strcmp(rest, "/")) ||
                port < 1 || port > 65535 || rt->n_hosts == RT_MAX_PEERS)
                rc = err_set(err, "--peers: \"%s\" is not http://HOST:PORT (at most %d in all)", t, RT_MAX_PEERS);
            else {
                rt->hosts[rt->n_hosts] = mem_strdup(host);
                rt->ports[rt->n_hosts] = port;
                rt->host_group[rt->n_hosts++] = rt->n_peers;
            }
        }
        rt->n_peers++;
    }
    mem_free(copy);
    return rc == RAGD_OK && rt->n_hosts == 0 ? err_set(err, "--router needs --peers") : rc;
}

router *router_new(const router_opts *o, char *err) {
    router *rt = mem_calloc(1, sizeof(*rt));
    rt->o = *o;
    if (rt->o.poll_ms <= 0) rt->o.poll_ms = 1000;
    if (rt->o.shard_timeout_ms <= 0) rt->o.shard_timeout_ms = 2000;
    pthread_mutex_init(&rt->mu, NULL);
    if (o->index_name) snprintf(rt->index_name, sizeof(rt->index_name), "%s", o->index_name);
    char *secret = NULL;
    if (parse_peers(rt, o->peers, err) != RAGD_OK) goto fail;
    if (!o->secret_file) {
        err_set(err, "--router needs --peer-secret-file (the shard servers' secret)");
        goto fail;
    }
    if (fsio_read_file(o->secret_file, 64 * 1024, &secret, NULL, err) != 0) goto fail;
    secret[strcspn(secret, "\r\n")] = '\0';
    snprintf(rt->secret_header, sizeof(rt->secret_header), "%s: %.500s", SHARD_SECRET_HEADER, secret);
    memset(secret, 0, strlen(secret));
    mem_free(secret);
    poll_once(rt);
    pthread_create(&rt->thread, NULL, poll_loop, rt);
    return rt;
fail:
    router_free(rt);
    return NULL;
}

void router_free(router *rt) {
    if (!rt) return;
    if (rt->thread) {
        atomic_store(&rt->stopping, 1);
        pthread_join(rt->thread, NULL);
    }
    free_reps(rt->reps, rt->n_reps);
    for (int i = 0; i < rt->n_vers; i++) manifest_clear(&rt->vers[i].m);
    for (int i = 0; i < rt->n_models; i++) embedder_free(rt->models[i].e);
    for (int i = 0; i < rt->n_multis; i++) curl_multi_cleanup(rt->multis[i]);
    for (int i = 0; i < rt->n_hosts; i++) mem_free(rt->hosts[i]);
    memset(rt->secret_header, 0, sizeof(rt->secret_header));
    pthread_mutex_destroy(&rt->mu);
    mem_free(rt);
}
