/* llm.h - the LLM gateway: OpenAI-compatible chat completions over core/upstream.c, whole or streamed
 *
 * --llm-url (repeatable, the failover order) names base URLs: OpenAI's
 * "https://api.openai.com/v1", a vLLM, Ollama or llama.cpp server's
 * "http://host:port/v1", or an Azure OpenAI deployment
 * "https://NAME.openai.azure.com/openai/deployments/DEPLOYMENT?api-version=V"
 * (the api-version makes it Azure: api-key header). Each becomes
 * BASE/chat/completions. Retries, Retry-After, breakers per URL, failover
 * and the request's deadline are upstream.c's; this module builds the
 * request, reads the reply (llm_response.c) and, streamed, hands each
 * piece of text to the caller as it arrives. A caller that goes away
 * (cancelled) ends the upstream transfer. Metrics count calls, attempts
 * by error kind, failovers, breaker state and tokens.
 *
 *     llm *l = llm_new(&opts, err);
 *     llm_call c = {.system = sys, .user = prompt, .max_tokens = 512};
 *     if (llm_chat(l, &c, err) == 0) ... c.reply.text, c.reply.usage ...
 *     llm_call_clear(&c);
 */
#ifndef RAGD_LLM_H
#define RAGD_LLM_H

#include "llm_response.h"
#include "upstream.h"

typedef struct llm_opts {
    const char *urls[UPSTREAM_MAX_URLS]; /* base URLs, failover order */
    int n_urls;
    const char *model;    /* --llm-model */
    const char *key_file; /* --llm-api-key-file: a mounted secret, never logged */
    int timeout_ms;       /* per attempt (--llm-timeout-ms, 30000) */
    int retries;          /* rounds after the first (2) */
    int backoff_ms;       /* first back-off step (500) */
    int breaker_failures; /* failed attempts in a row that open a URL's breaker (5) */
    int breaker_cooldown_ms; /* how long it then skips the URL (30000) */
} llm_opts;

typedef struct llm llm;

typedef struct llm_call {
    const char *system, *user;
    int max_tokens;
    int stream; /* ask for SSE; each piece of text goes to on_delta */
    int (*on_delta)(void *ud, const char *text, size_t n); /* non-zero: stop (the client went away) */
    void *delta_ud;
    int (*cancelled)(void *ud); /* polled during the call: 1 = stop */
    void *cancel_ud;
    llm_reply reply;            /* out: the whole answer, usage, finish_reason */
    enum upstream_error error;  /* out: why it failed */
    int attempts;
} llm_call;

llm_opts llm_opts_default(void);

/* NULL + err for bad URLs, a missing model or an unreadable key file. */
llm *llm_new(const llm_opts *o, char *err);

/* One chat completion. 0, or -1 + err (and c->error). */
int llm_chat(llm *l, llm_call *c, char *err);

void llm_call_clear(llm_call *c);

const char *llm_model(const llm *l);

/* Upstream URLs and whether URL i's breaker is open (for /metrics). */
int llm_upstreams(const llm *l);
int llm_breaker_open(llm *l, int i);

void llm_free(llm *l);

#endif
