/* fuzz_embeddings_request.c - POST /v1/embeddings bodies (service/request_parse.c)
 *
 * Parsed against the hash embedder (dim 16): a parsed request holds 1 to
 * max_inputs non-empty texts within the byte limit, each NUL-free; an
 * error is a 400 or 404 with a code and a UTF-8 message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "embedder.h"
#include "err.h"
#include "request_parse.h"
#include "utf8.h"

static embedder *emb;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!emb) {
        char err[RAGD_ERR_LEN];
        embedder_opts eo = embedder_opts_default();
        eo.dim = 16;
        if (!(emb = embedder_create("hash", &eo, err))) abort();
    }
    embeddings_opts o = {.max_inputs = 8, .max_input_bytes = 256, .allow_remote = 0};
    embeddings_request r;
    api_error e;
    if (parse_embeddings_json(&o, emb, (const char *)data, size, &r, &e) == 0) {
        if (r.n < 1 || r.n > o.max_inputs || !r.model) __builtin_trap();
        for (int i = 0; i < r.n; i++) {
            size_t l = strlen(r.texts[i]);
            if (l == 0 || l > o.max_input_bytes) __builtin_trap();
        }
    } else if ((e.status != 400 && e.status != 404) || !e.code || !utf8_valid(e.message, strlen(e.message))) {
        __builtin_trap();
    }
    embeddings_request_clear(&r);
    return 0;
}
