/* answer.h - POST /v1/answer: retrieve, build the grounded prompt, ask the LLM, keep the citations it used
 *
 * The flow behind /v1/answer, without HTTP: the same search as
 * /v1/search (search_run: auth, limits, filters, cache were the route's),
 * the retrieved chunks as fenced passages within a token budget
 * (answer_prompt.c; chunks with prompt-injection flags left out unless
 * --answer-include-flagged), one chat completion through the LLM gateway
 * (llm.c), and the answer's citations mapped back to chunks: numbers the
 * model invented are dropped and counted. Answers are cached in Redis
 * (query_cache.h: an exact tier, and a semantic tier with the key
 * embedder and the same guard as search results) under the tenant, index
 * version, LLM model, prompt template and k/mode/filter; a hit makes no
 * LLM call and no retrieval. Streamed, each piece of text
 * goes to the caller's on_delta as it arrives. The result is the response
 * object (or, streamed, the final event's fields).
 *
 *     answerer a = {.s = &searcher, .l = llm, .o = answer_opts_default()};
 *     answer_out out;
 *     answer_run(&a, &req, tenant, &io, &out);   // out.status 200: out.body; else out.code, out.message
 *     answer_out_clear(&out);
 */
#ifndef RAGD_ANSWER_H
#define RAGD_ANSWER_H

#include <jansson.h>

#include "err.h"
#include "llm.h"
#include "rate_limit.h"
#include "router.h"
#include "request_parse.h"
#include "search.h"

typedef struct answer_opts {
    int context_tokens;   /* --answer-context-tokens: budget of the passages (3000) */
    int64_t cache_ttl_ms; /* --answer-cache-ttl-s: cached answers' lifetime (3600 s), set at write */
    int cache_semantic;   /* --answer-cache-semantic: near-duplicate questions reuse answers (1) */
    int max_tokens;       /* --answer-max-tokens: completion tokens when a request names none (512) */
    int max_tokens_limit; /* the most a request may ask for (4096) */
    int include_flagged;  /* --answer-include-flagged: keep flagged chunks in prompts (0) */
} answer_opts;

typedef struct answerer {
    searcher *s;
    router *router; /* a router (--router): retrieval from the shard servers */
    llm *l; /* NULL: no --llm-url, every answer is a 503 */
    answer_opts o;
} answerer;

/* A key's LLM token budget (tokens per minute) in the service's rate
 * limiter: an answer takes its estimated tokens (prompt + max_tokens)
 * before the call and gives back what it did not use. */
typedef struct answer_budget {
    rate_limit *rl;
    const char *bucket;
    double tpm; /* 0: no budget */
} answer_budget;

/* How the transport takes part: streamed text, and whether the client
 * is still there (all may be NULL). */
typedef struct answer_io {
    int (*on_delta)(void *ud, const char *text, size_t n); /* non-zero: the client went away */
    int (*cancelled)(void *ud);
    void *ud;
} answer_io;

typedef struct answer_out {
    int status;        /* 200, or the HTTP status of the error */
    const char *code;  /* error code (a literal) */
    char message[RAGD_ERR_LEN];
    char retry_after[16]; /* a 429's or 503's Retry-After, or "" */
    json_t *body;      /* 200: the response object (owned) */
    int streamed;      /* on_delta received text */
} answer_out;

answer_opts answer_opts_default(void);

/* Answer one parsed request for a tenant. Fills *out; never fails
 * otherwise. Streamed (on_delta set), a 200 body holds the final event's
 * fields; an error after text went out has streamed set. */
void answer_run(answerer *a, const answer_request *rq, const char *tenant, const answer_budget *b,
                const answer_io *io, answer_out *out);

void answer_out_clear(answer_out *out);

#endif
