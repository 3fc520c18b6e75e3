/* openai_response.h - reading an OpenAI-compatible embeddings server's replies (embedders/openai.c)
 *
 * The upstream is not ours: a reply is untrusted bytes. These parsers do
 * no I/O, so they have a fuzz harness (tests/fuzz/fuzz_openai_response.c).
 *
 *     if (openai_parse_embeddings(body, len, n, dim, out, err) != 0) ... err says what was wrong ...
 *
 * (Error replies are read by upstream_error_message, core/upstream.h.)
 */
#ifndef RAGD_OPENAI_RESPONSE_H
#define RAGD_OPENAI_RESPONSE_H

#include <stddef.h>

/* {"data": [{"embedding": [...], "index": i}, ...]} into out (n x dim),
 * each row L2-normalised: exactly n embeddings, each index once, dim
 * finite numbers each. 0, or -1 + message. */
int openai_parse_embeddings(const char *body, size_t len, int n, int dim, float *out, char *err);

#endif
