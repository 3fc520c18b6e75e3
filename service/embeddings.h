/* embeddings.h - the OpenAI-compatible /v1/embeddings and /v1/models answers, from the index's own embedder
 *
 * An agent stack that already speaks OpenAI's embeddings API (the openai
 * package, LangChain's OpenAIEmbeddings) can point base_url at ragd and get
 * exactly the vectors the index was built with: the live version's local
 * embedder (minilm, hash) embeds the inputs, one embedder call per request.
 * A remote embedder (openai) is refused unless allowed, so ragd never
 * becomes a silent proxy for a paid API. Errors use OpenAI's shape:
 * {"error": {"message", "type", "param", "code"}}.
 *
 *     json_t *resp;
 *     int status = embeddings_answer(live, &opts, body, len, &resp);   // 200 or 4xx/5xx, resp to send
 */
#ifndef RAGD_EMBEDDINGS_H
#define RAGD_EMBEDDINGS_H

#include <jansson.h>
#include <stddef.h>

#include "embed_batcher.h"

#include "live_index.h"
#include "request_parse.h"


embeddings_opts embeddings_opts_default(void);

/* Answer POST /v1/embeddings with body[0..len): the HTTP status and the
 * JSON to send (*resp, caller sends and frees). */
int embeddings_answer(live_index *li, embed_batcher *b, const embeddings_opts *o, const char *body, size_t len,
                      json_t **resp);

/* Answer GET /v1/models: the live version's model. */
int embeddings_models(live_index *li, json_t **resp);

/* The same with a given embedder (a router's: the served version's model). */
int embeddings_answer_with(embedder *e, embed_batcher *b, const embeddings_opts *o, const char *body, size_t len,
                           json_t **resp);
int embeddings_models_of(embedder *e, json_t **resp);

#endif
