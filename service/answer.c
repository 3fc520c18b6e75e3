/* answer.c - /v1/answer without HTTP: search, grounded prompt, LLM call, citations */
#include "answer.h"

#include <stdio.h>
#include <string.h>

#include "answer_prompt.h"
#include "cache_codec.h"
#include "clock.h"
#include "injection.h"
#include "mem.h"
#include "metrics.h"
#include "query_cache.h"

answer_opts answer_opts_default(void) {
    answer_opts o = {.context_tokens = 3000, .cache_ttl_ms = 3600 * 1000LL, .cache_semantic = 1, .max_tokens = 512,
                     .max_tokens_limit = 4096, .include_flagged = 0};
    return o;
}

static void fail(answer_out *out, int status, const char *code, const char *fmt, const char *detail) {
    out->status = status;
    out->code = code;
    snprintf(out->message, sizeof(out->message), fmt, detail);
}

static int count_tokens(void *ud, const char *text, size_t len) {
    return embedder_count_tokens((embedder *)ud, text, len);
}

/* The retrieval as a search would do it; 0, or -1 with the error in out. */
static int retrieve(answerer *a, const answer_request *rq, const char *tenant, search_result *r, answer_out *out) {
    char err[RAGD_ERR_LEN];
    search_query q = rq->s.q;
    q.tenant = tenant;
    router_info ri;
    int st = a->router ? router_search(a->router, a->s, &q, 0, r, &ri, err) : search_run(a->s, &q, r, err);
    if (st == SEARCH_OK) return 0;
    search_result_clear(r);
    if (st == SEARCH_NOT_READY) fail(out, 503, "not_ready", "%s", err);
    else if (st == SEARCH_SHARDS_UNAVAILABLE) fail(out, 503, "shards_unavailable", "%s", err);
    else if (st == SEARCH_BAD_REQUEST) fail(out, 400, "mode_unavailable", "%s", err);
    else if (st == SEARCH_FILTER_UNAVAILABLE) fail(out, 400, "filter_unavailable", "%s", err);
    else if (deadline_expired()) fail(out, 504, "deadline_exceeded", "%s", err);
    else fail(out, 500, "search_failed", "%s", err);
    return -1;
}

/* The LLM's failure as an HTTP error: the upstream's fault is a 502, no
 * upstream to ask a 503, the deadline a 504. */
static void llm_failed(const llm_call *c, const char *err, answer_out *out) {
    switch (c->error) {
    case UPSTREAM_ERR_BREAKER: fail(out, 503, "llm_unavailable", "%s", err); break;
    case UPSTREAM_ERR_DEADLINE:
    case UPSTREAM_ERR_TIMEOUT:
        if (deadline_expired()) {
            fail(out, 504, "deadline_exceeded", "%s", err);
            break;
        }
        /* fall through */
    default: fail(out, 502, "llm_failed", "%s", err); break;
    case UPSTREAM_ERR_CANCELLED: fail(out, 499, "client_closed", "%s", err); break;
    }
}

static json_t *jstr(const char *s) {
    json_t *j = json_string(s ? s : "");
    return j ? j : json_string("\xef\xbf\xbd"); /* stored bytes that are not UTF-8 */
}

/* The citations the answer used, in passage order; invented ones apart. */
static json_t *citations(const answer_prompt *p, const search_result *r, const char *text, json_t **dropped) {
    unsigned char *used = mem_calloc((size_t)(p->n > 0 ? p->n : 1), 1);
    answer_cites c;
    answer_citations(text, strlen(text), p->n, used, &c);
    json_t *list = json_array();
    for (int n = 1; n <= p->n; n++) {
        if (!used[n - 1]) continue;
        const search_hit *h = &r->hits[p->src[n - 1]];
        char id[24];
        snprintf(id, sizeof(id), "%lld", (long long)h->id);
        json_array_append_new(list, json_pack("{s:i, s:s, s:o, s:o}", "n", n, "id", id, "url", jstr(h->row.doc_url),
                                              "title", jstr(h->row.title)));
    }
    *dropped = json_array();
    for (int i = 0; i < c.n_invented_distinct; i++) json_array_append_new(*dropped, json_integer(c.invented_n[i]));
    metrics_answer_invented(c.invented);
    mem_free(used);
    return list;
}

static json_t *usage_json(const llm_call *c, const answer_prompt *p, embedder *tok) {
    const llm_usage *u = &c->reply.usage;
    if (u->known)
        return json_pack("{s:I, s:I, s:b}", "prompt_tokens", (json_int_t)u->prompt_tokens, "completion_tokens",
                         (json_int_t)u->completion_tokens, "estimated", 0);
    /* the upstream said nothing: our tokenizer's count, marked as such */
    const char *t = c->reply.text ? c->reply.text : "";
    long pt = embedder_count_tokens(tok, p->system, strlen(p->system)) + embedder_count_tokens(tok, p->user, strlen(p->user));
    return json_pack("{s:I, s:I, s:b}", "prompt_tokens", (json_int_t)pt, "completion_tokens",
                     (json_int_t)embedder_count_tokens(tok, t, strlen(t)), "estimated", 1);
}

/* What an answer is, as cached: everything but how this request got it. */
static json_t *answer_core(answerer *a, const search_result *r, const answer_prompt *p, const llm_call *c,
                           embedder *tok) {
    json_t *dropped, *cites = citations(p, r, c->reply.text ? c->reply.text : "", &dropped);
    return json_pack("{s:o, s:o, s:o, s:s, s:s, s:o, s:{s:i, s:i, s:i, s:i}}", "answer", jstr(c->reply.text),
                     "citations", cites, "dropped_citations", dropped, "model", llm_model(a->l), "finish_reason",
                     c->reply.finish[0] ? c->reply.finish : "unknown", "usage", usage_json(c, p, tok), "context",
                     "passages", p->n, "tokens", p->context_tokens, "left_out_budget", p->left_out_budget,
                     "left_out_flagged", p->left_out_flagged);
}

/* The response: the answer plus how this request got it. */
static json_t *response(json_t *core, const char *cache, const char *version, double t0, const search_result *r,
                        double key_ms, double llm_ms) {
    json_t *o = json_deep_copy(core);
    json_object_set_new(o, "cache", json_string(cache));
    json_object_set_new(o, "index_version", json_string(version));
    json_object_set_new(o, "took_ms", json_real(clock_ms() - t0));
    json_object_set_new(o, "timings", json_pack("{s:f, s:f, s:f, s:f, s:f}", "embed_ms", r ? r->embed_ms : key_ms,
                                                "search_ms", r ? r->search_ms : 0.0, "keyword_ms",
                                                r ? r->keyword_ms : 0.0, "fetch_ms", r ? r->fetch_ms : 0.0, "llm_ms",
                                                llm_ms));
    return o;
}

/* A cached answer read back from a Redis other replicas share: the
 * fields a response needs, with the right types, or NULL. */
static json_t *cached_core(const char *s, size_t len) {
    json_t *j = json_loadb(s, len, 0, NULL), *c = json_object_get(j, "citations");
    int ok = json_is_object(j) && json_is_string(json_object_get(j, "answer")) && json_is_array(c) &&
             json_is_array(json_object_get(j, "dropped_citations")) && json_is_object(json_object_get(j, "usage")) &&
             json_is_object(json_object_get(j, "context")) && json_is_string(json_object_get(j, "finish_reason")) &&
             json_is_string(json_object_get(j, "model"));
    size_t i;
    json_t *v;
    json_array_foreach(c, i, v) ok = ok && json_is_object(v) && json_is_integer(json_object_get(v, "n")) &&
                                      json_is_string(json_object_get(v, "id")) &&
                                      json_is_string(json_object_get(v, "url")) &&
                                      json_is_string(json_object_get(v, "title"));
    if (ok) return j;
    json_decref(j);
    metrics_cache_event("corrupt_entries");
    return NULL;
}

/* The prompt from the retrieved chunks, counted by the live version's
 * tokenizer (the query side of the index: WordPiece for minilm). */
static void build_prompt(answerer *a, const answer_request *rq, const search_result *r, embedder *tok,
                         answer_prompt *p) {
    answer_source *src = mem_calloc((size_t)(r->n > 0 ? r->n : 1), sizeof(*src));
    for (int i = 0; i < r->n; i++) {
        const chunk_row *row = &r->hits[i].row;
        src[i] = (answer_source){.id = r->hits[i].id, .text = row->text, .title = row->title, .url = row->doc_url,
                                 .flags = injection_scan(row->text, row->text ? strlen(row->text) : 0)};
    }
    answer_prompt_build(rq->s.q.text, rq->s.q.len, src, r->n, a->o.context_tokens, a->o.include_flagged, count_tokens,
                        tok, p);
    metrics_answer_flagged(p->left_out_flagged);
    mem_free(src);
}

/* The version an answer starts on: its id and query model (this process's
 * live version, or a router's served one). */
typedef struct answer_view {
    char version[MANIFEST_NAME_LEN];
    embedder *e;
    live_version *lv; /* held while the answer runs (NULL on a router) */
} answer_view;

/* One answer's trip through the cache: keys, key vector, outcome. */
typedef struct acache {
    qcache *c;
    qkey key;
    embedder *kemb; /* the key embedder (or the index's own) */
    float *kv;      /* its vector of the question, once made */
    int kdim, semantic;
    char *spec;
    double key_ms;
} acache;

/* Keys of this question for a version. */
static void acache_key(answerer *a, const answer_request *rq, const char *tenant, const char *version,
                       const answer_view *w, acache *ac) {
    qcache_answer_key(ac->c, &ac->key, tenant, version, llm_model(a->l), embedder_model_id(ac->kemb),
                      embedder_uncased(w->e), ac->spec, rq->s.q.text, rq->s.q.len);
}

static void acache_open(answerer *a, const answer_request *rq, const char *tenant, const answer_view *w, acache *ac) {
    memset(ac, 0, sizeof(*ac));
    if (!(ac->c = a->s->cache)) return;
    ac->kemb = a->s->key ? a->s->key : w->e;
    ac->semantic = a->o.cache_semantic && qcache_semantic_on(ac->c);
    char *sspec = search_cache_spec(&rq->s.q);
    ac->spec = mem_printf("tpl=%s;k=%d;max_tokens=%d;ctx=%d;flagged=%d;%s", ANSWER_TEMPLATE_VERSION, rq->s.q.k,
                          rq->max_tokens ? rq->max_tokens : a->o.max_tokens, a->o.context_tokens, a->o.include_flagged,
                          sspec);
    mem_free(sspec);
    acache_key(a, rq, tenant, w->version, w, ac);
}

static void acache_close(acache *ac) {
    mem_free(ac->kv);
    mem_free(ac->spec);
}

/* The exact tier, then the semantic one: the cached answer's core, or
 * NULL (*outcome: CACHE_MISS, CACHE_BYPASS, CACHE_EXACT, CACHE_SEMANTIC). */
static json_t *acache_lookup(answerer *a, const answer_request *rq, acache *ac, enum cache_outcome *outcome) {
    char *s = NULL;
    size_t len = 0;
    *outcome = CACHE_BYPASS;
    if (!ac->c) return NULL;
    int st = qcache_answer_lookup(ac->c, &ac->key, &s, &len);
    json_t *core = st == CACHE_RESULTS ? cached_core(s, len) : NULL;
    mem_free(s);
    if (core) return *outcome = CACHE_EXACT, core;
    if (st == CACHE_BYPASS) return NULL;
    *outcome = CACHE_MISS;
    if (!ac->semantic) return NULL;
    char err[RAGD_ERR_LEN];
    double t = clock_ms();
    char *text = mem_strndup(rq->s.q.text, rq->s.q.len);
    ac->kdim = embedder_dim(ac->kemb);
    ac->kv = mem_alloc(sizeof(float) * (size_t)ac->kdim);
    int rc = embed_batcher_embed(a->s->batcher, ac->kemb, (const char *const *)&text, 1, ac->kv, err);
    mem_free(text);
    ac->key_ms = clock_ms() - t;
    if (rc != 0) {
        metrics_key_embed(1);
        mem_free(ac->kv);
        ac->kv = NULL;
        return NULL;
    }
    float score;
    if (!qcache_answer_semantic(ac->c, &ac->key, ac->kv, ac->kdim, rq->s.q.text, rq->s.q.len, &s, &len, &score))
        return NULL;
    core = cached_core(s, len);
    if (core) {
        *outcome = CACHE_SEMANTIC;
        qcache_answer_store_exact(ac->c, &ac->key, s, len, a->o.cache_ttl_ms); /* a repeat is then exact */
    }
    mem_free(s);
    return core;
}

static void acache_store(answerer *a, const answer_request *rq, const char *tenant, const answer_view *w,
                         const char *version, json_t *core, acache *ac) {
    if (!ac->c) return;
    /* under the version actually searched (a reload may have come between) */
    if (strcmp(version, w->version) != 0) acache_key(a, rq, tenant, version, w, ac);
    char *s = json_dumps(core, JSON_COMPACT);
    if (s && strlen(s) <= CODEC_MAX_ANSWER)
        qcache_answer_store(ac->c, &ac->key, ac->kv, ac->kdim, rq->s.q.text, rq->s.q.len, s, strlen(s),
                            a->o.cache_ttl_ms);
    free(s);
}

/* A cached answer to the client: streamed as one piece, or whole. */
static void serve_cached(json_t *core, enum cache_outcome oc, const char *version, double t0, double key_ms,
                         const answer_io *io, answer_out *out) {
    metrics_llm_avoided(oc);
    const char *text = json_string_value(json_object_get(core, "answer"));
    if (io && io->on_delta && *text) {
        out->streamed = 1;
        io->on_delta(io->ud, text, strlen(text));
    }
    out->status = 200;
    out->body = response(core, oc == CACHE_EXACT ? "exact" : "semantic", version, t0, NULL, key_ms, 0);
}

/* Take the call's estimated tokens from the key's budget; 0, or -1 with
 * a 429 in out. *taken: what to settle after the call. */
static int budget_take(const answer_budget *b, long estimate, double *taken, answer_out *out) {
    *taken = 0;
    if (!b || !b->rl || b->tpm <= 0) return 0;
    double wait = 0;
    if (!rate_limit_take_n(b->rl, b->bucket, b->tpm / 60.0, b->tpm, (double)estimate, &wait)) {
        out->status = 429;
        out->code = "token_budget_exceeded";
        snprintf(out->message, sizeof(out->message), "this key's LLM token budget (%.0f tokens per minute) is spent; "
                 "retry after the Retry-After seconds", b->tpm);
        snprintf(out->retry_after, sizeof(out->retry_after), "%d", (int)wait + 1);
        return -1;
    }
    *taken = estimate > b->tpm ? b->tpm : (double)estimate;
    return 0;
}

static void budget_settle(const answer_budget *b, double taken, const llm_call *c, long prompt_estimate) {
    if (taken <= 0) return;
    const llm_usage *u = &c->reply.usage;
    (void)prompt_estimate;
    /* the upstream's count; without one, a call that produced nothing used
     * nothing, and one that did keeps its estimate */
    double used = u->known ? (double)(u->prompt_tokens + u->completion_tokens) : c->reply.text ? taken : 0;
    if (used < taken) rate_limit_give(b->rl, b->bucket, b->tpm / 60.0, b->tpm, taken - used);
}

/* Retrieval, prompt, budget, LLM call: a fresh answer's core, or NULL
 * with the error in out. */
static json_t *fresh_answer(answerer *a, const answer_request *rq, const char *tenant, const answer_budget *b,
                            const answer_io *io, embedder *tok, search_result *r, double *llm_ms, answer_out *out) {
    if (retrieve(a, rq, tenant, r, out) != 0) return NULL;
    answer_prompt p;
    build_prompt(a, rq, r, tok, &p);
    llm_call c = {.system = p.system, .user = p.user, .max_tokens = rq->max_tokens ? rq->max_tokens : a->o.max_tokens,
                  .stream = io && io->on_delta, .on_delta = io ? io->on_delta : NULL, .delta_ud = io ? io->ud : NULL,
                  .cancelled = io ? io->cancelled : NULL, .cancel_ud = io ? io->ud : NULL};
    long prompt_est = embedder_count_tokens(tok, p.system, strlen(p.system)) + embedder_count_tokens(tok, p.user, strlen(p.user));
    double taken;
    json_t *core = NULL;
    if (budget_take(b, prompt_est + c.max_tokens, &taken, out) == 0) {
        char err[RAGD_ERR_LEN];
        double tl = clock_ms();
        int rc = llm_chat(a->l, &c, err);
        *llm_ms = clock_ms() - tl;
        budget_settle(b, taken, &c, prompt_est);
        out->streamed = c.stream && c.reply.text && *c.reply.text;
        if (rc != 0) llm_failed(&c, err, out);
        else core = answer_core(a, r, &p, &c, tok);
    }
    llm_call_clear(&c);
    answer_prompt_clear(&p);
    return core;
}

/* The version to start on: 0, or -1 with a 503 in out. */
static int view_open(answerer *a, answer_view *w, answer_out *out) {
    if (a->router) {
        char why[RAGD_ERR_LEN];
        int complete;
        w->e = router_embedder(a->router);
        if (!router_ready(a->router, w->version, sizeof(w->version), &complete, why, sizeof(why)) || !w->e)
            return fail(out, 503, "not_ready", "%s", why[0] ? why : "no version is served"), -1;
        return 0;
    }
    if (!(w->lv = live_index_acquire(a->s->li))) {
        live_status st;
        live_index_status(a->s->li, &st);
        return fail(out, 503, "not_ready", "%s", st.reason), -1;
    }
    snprintf(w->version, sizeof(w->version), "%s", w->lv->v->m.version_id);
    w->e = w->lv->e;
    return 0;
}

void answer_run(answerer *a, const answer_request *rq, const char *tenant, const answer_budget *b,
                const answer_io *io, answer_out *out) {
    memset(out, 0, sizeof(*out));
    double t0 = clock_ms(), llm_ms = 0;
    if (!a->l) return fail(out, 503, "llm_not_configured", "%s", "this server has no LLM: start it with --llm-url and --llm-model");
    answer_view w = {0};
    if (view_open(a, &w, out) != 0) return;
    acache ac;
    acache_open(a, rq, tenant, &w, &ac);
    enum cache_outcome oc;
    json_t *core = acache_lookup(a, rq, &ac, &oc);
    if (core) {
        serve_cached(core, oc, w.version, t0, ac.key_ms, io, out);
    } else {
        search_result r;
        embedder *tok = a->s->key ? a->s->key : w.e;
        if ((core = fresh_answer(a, rq, tenant, b, io, tok, &r, &llm_ms, out))) {
            out->status = 200;
            out->body = response(core, oc == CACHE_BYPASS ? "bypass" : "miss", r.version_id, t0, &r, 0, llm_ms);
            acache_store(a, rq, tenant, &w, r.version_id, core, &ac);
        }
        search_result_clear(&r);
    }
    json_decref(core);
    acache_close(&ac);
    live_version_release(w.lv);
}

void answer_out_clear(answer_out *out) {
    json_decref(out->body);
    out->body = NULL;
}
