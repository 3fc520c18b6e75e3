/* test_request_parse.c - request parsers: GET, POST and the seed route share their rules; errors are values */
#include <stdio.h>
#include <stdlib.h>

#include "embedder.h"
#include "manifest.h"
#include "request_parse.h"
#include "test.h"

static const search_limits L = {.max_query_bytes = 32, .max_k = 50, .default_k = 10, .default_mode = MODE_HYBRID,
                                 .default_alpha = 0.5f, .default_fusion = FUSION_CONVEX};

/* "k=v&k2=v2" into args (values are NUL-terminated copies, as
 * libmicrohttpd hands them over); a key without "=" has a NULL value. */
static int args_of(const char *qs, query_arg *a, char store[][64]) {
    int n = 0;
    const char *p = qs;
    while (*p && n < REQUEST_MAX_ARGS + 1) {
        const char *amp = strchr(p, '&'), *end = amp ? amp : p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(end - p));
        size_t kl = (size_t)((eq ? eq : end) - p);
        snprintf(store[2 * n], 64, "%.*s", (int)kl, p);
        a[n].key = store[2 * n];
        a[n].key_len = kl;
        if (eq) {
            snprintf(store[2 * n + 1], 64, "%.*s", (int)(end - eq - 1), eq + 1);
            a[n].value = store[2 * n + 1];
            a[n].value_len = strlen(store[2 * n + 1]);
        } else {
            a[n].value = NULL, a[n].value_len = 0;
        }
        n++;
        p = amp ? amp + 1 : end;
    }
    return n;
}

static const char *get_code(const char *qs, api_error *e) {
    query_arg a[REQUEST_MAX_ARGS + 1];
    static char store[2 * (REQUEST_MAX_ARGS + 1)][64];
    search_request r;
    int rc = parse_search_args(&L, a, args_of(qs, a, store), &r, e);
    search_request_clear(&r);
    return rc == 0 ? "ok" : e->code;
}

static const char *post_code(const char *body, api_error *e) {
    search_request r;
    int rc = parse_search_json(&L, body, strlen(body), &r, e);
    search_request_clear(&r);
    return rc == 0 ? "ok" : e->code;
}

TEST(test_get_and_post_share_rules) {
    api_error e;
    /* empty query: the same code from both */
    CHECK(!strcmp(get_code("q=+&k=3", &e), "ok")); /* '+' is not decoded here: a real character */
    CHECK(!strcmp(get_code("q= \t", &e), "empty_query") && e.status == 400);
    CHECK(!strcmp(post_code("{\"query\": \" \\t\"}", &e), "empty_query") && e.status == 400);
    /* k: the same limit, each message naming it */
    CHECK(!strcmp(get_code("q=a&k=51", &e), "invalid_k"));
    CHECK_CONTAINS(e.message, "1 to 50");
    CHECK(!strcmp(post_code("{\"query\": \"a\", \"k\": 51}", &e), "invalid_k"));
    CHECK_CONTAINS(e.message, "1 to 50");
    CHECK(!strcmp(get_code("q=a&k=", &e), "invalid_k") && !strcmp(get_code("q=a&k=2x", &e), "invalid_k"));
    /* query length: 414 in a URL, 400 in a body */
    CHECK(!strcmp(get_code("q=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", &e), "query_too_long") && e.status == 414);
    CHECK(!strcmp(post_code("{\"query\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}", &e), "query_too_long") &&
          e.status == 400);
    /* unknown parameters and fields are errors, never ignored */
    CHECK(!strcmp(get_code("q=a&filter=x", &e), "unknown_parameter"));
    CHECK_CONTAINS(e.message, "\"filter\"");
    CHECK(!strcmp(post_code("{\"query\": \"a\", \"fitler\": {}}", &e), "unknown_field"));
    CHECK(!strcmp(post_code("{\"query\": \"a\", \"filter\": {\"colour\": \"red\"}}", &e), "invalid_filter"));
    CHECK(!strcmp(get_code("k=3", &e), "missing_query"));
    CHECK(!strcmp(post_code("{\"k\": 3}", &e), "missing_query"));
    CHECK(!strcmp(post_code("[1]", &e), "invalid_json") && !strcmp(post_code("{", &e), "invalid_json"));
}

TEST(test_parsed_values) {
    query_arg a[REQUEST_MAX_ARGS + 1];
    static char store[2 * (REQUEST_MAX_ARGS + 1)][64];
    search_request r;
    api_error e;
    CHECK(parse_search_args(&L, a, args_of("q=hello&k=7&url_prefix=https://x/&mode=hybrid&fusion=rrf", a, store), &r,
                            &e) == 0);
    CHECK(r.q.len == 5 && !memcmp(r.q.text, "hello", 5) && r.q.k == 7 && r.q.mode == MODE_HYBRID &&
          r.q.fusion == FUSION_RRF && !strcmp(r.q.filter.url_prefix, "https://x/"));
    search_request_clear(&r);
    const char *body = "{\"query\": \"hi\", \"filter\": {\"source\": \"docs\", \"modified_after\": "
                       "\"2024-05-01\", \"meta.lang\": \"en\"}, \"mode\": \"hybrid\", \"alpha\": 0.25}";
    CHECK(parse_search_json(&L, body, strlen(body), &r, &e) == 0);
    CHECK(r.q.k == 10 && r.q.alpha == 0.25f && !strcmp(r.q.filter.source, "docs") && r.q.filter.modified_after > 0 &&
          r.q.filter.n_meta == 1 && !strcmp(r.q.filter.meta_names[0], "lang"));
    search_request_clear(&r);
    /* alpha needs hybrid + convex; fusion needs hybrid */
    CHECK(!strcmp(post_code("{\"query\": \"a\", \"mode\": \"vector\", \"alpha\": 0.2}", &e), "invalid_mode"));
    CHECK(!strcmp(post_code("{\"query\": \"a\", \"alpha\": 1.5}", &e), "invalid_alpha"));
    CHECK(!strcmp(get_code("q=a&alpha=x", &e), "invalid_alpha"));
    CHECK(!strcmp(get_code("q=a&mode=fuzzy", &e), "invalid_mode"));
}

TEST(test_vector_body) {
    search_request r;
    api_error e;
    /* a vector alone: mode vector, no text, the values as floats */
    const char *body = "{\"vector\": [0.5, -1, 2e-3], \"k\": 3}";
    CHECK(parse_search_json(&L, body, strlen(body), &r, &e) == 0);
    CHECK(r.q.vector && r.q.vector_dim == 3 && r.q.vector[0] == 0.5f && r.q.vector[1] == -1.0f &&
          r.q.vector[2] == 2e-3f && r.q.mode == MODE_VECTOR && r.q.len == 0 && r.q.k == 3);
    search_request_clear(&r);
    CHECK(r.vector == NULL);
    /* with text: the server's default mode (hybrid), the text kept for the keyword list */
    body = "{\"vector\": [1], \"query\": \"hi\"}";
    CHECK(parse_search_json(&L, body, strlen(body), &r, &e) == 0);
    CHECK(r.q.mode == MODE_HYBRID && r.q.len == 2 && r.q.vector_dim == 1);
    search_request_clear(&r);
    CHECK(!strcmp(post_code("{\"vector\": []}", &e), "invalid_vector"));
    CHECK(!strcmp(post_code("{\"vector\": {}}", &e), "invalid_vector"));
    CHECK(!strcmp(post_code("{\"vector\": [1, null]}", &e), "invalid_vector"));
    CHECK_CONTAINS(e.message, "[1]");
    CHECK(!strcmp(post_code("{\"vector\": [1, \"2\"]}", &e), "invalid_vector"));
    CHECK(!strcmp(post_code("{\"vector\": [1e39]}", &e), "invalid_vector")); /* beyond float */
    CHECK(!strcmp(post_code("{\"vector\": [1], \"mode\": \"keyword\", \"query\": \"a\"}", &e), "invalid_mode"));
    CHECK(!strcmp(post_code("{\"vector\": [1], \"mode\": \"hybrid\"}", &e), "missing_query"));
    CHECK(!strcmp(post_code("{\"vector\": [1], \"query\": \" \"}", &e), "empty_query"));
    CHECK(!strcmp(post_code("{\"vector\": [1], \"alpha\": 0.3}", &e), "invalid_mode")); /* alpha needs hybrid */
    /* more values than any index has */
    size_t n = 2 + 2 * (MANIFEST_MAX_DIM + 1) + 1;
    char *big = malloc(n + 32);
    size_t o = (size_t)sprintf(big, "{\"vector\": [");
    for (int i = 0; i <= MANIFEST_MAX_DIM; i++) o += (size_t)sprintf(big + o, i ? ",1" : "1");
    sprintf(big + o, "]}");
    CHECK(!strcmp(post_code(big, &e), "invalid_vector"));
    free(big);
}

TEST(test_seed_route) {
    query_arg a[REQUEST_MAX_ARGS + 1];
    static char store[2 * (REQUEST_MAX_ARGS + 1)][64];
    search_request r;
    api_error e;
    CHECK(parse_compat_args(&L, a, args_of("other=1", a, store), &r, &e) == 0 && r.empty); /* 200, no results */
    CHECK(parse_compat_args(&L, a, args_of("query=%20%20", a, store), &r, &e) == 0 && !r.empty);
    search_request_clear(&r);
    CHECK(parse_compat_args(&L, a, args_of("query=  ", a, store), &r, &e) == 0 && r.empty);
    CHECK(parse_compat_args(&L, a, args_of("query=tell+me", a, store), &r, &e) == 0 && !r.empty && r.q.k == 5 &&
          r.q.mode == MODE_HYBRID);
    CHECK(parse_compat_args(&L, a, args_of("query=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", a, store), &r, &e) != 0 &&
          e.status == 414);
}

TEST(test_bytes_that_are_not_text) {
    api_error e;
    query_arg a[2] = {{"q", 1, "a\0b", 3}};
    search_request r;
    CHECK(parse_search_args(&L, a, 1, &r, &e) != 0 && !strcmp(e.code, "invalid_query"));
    search_request_clear(&r);
    a[0].value = "\xc3\x28", a[0].value_len = 2;
    CHECK(parse_search_args(&L, a, 1, &r, &e) != 0 && !strcmp(e.code, "invalid_query"));
    search_request_clear(&r);
    query_arg bad_key[1] = {{"\xff\xfe", 2, "x", 1}};
    CHECK(parse_search_args(&L, bad_key, 1, &r, &e) != 0 && !strcmp(e.code, "unknown_parameter"));
    CHECK_CONTAINS(e.message, "\xef\xbf\xbd"); /* quoted as U+FFFD, never raw */
    search_request_clear(&r);
    query_arg many[REQUEST_MAX_ARGS + 1];
    for (int i = 0; i <= REQUEST_MAX_ARGS; i++) many[i] = (query_arg){"q", 1, "x", 1};
    CHECK(parse_search_args(&L, many, REQUEST_MAX_ARGS + 1, &r, &e) != 0 && e.status == 400);
    search_request_clear(&r);
}

TEST(test_embeddings_body) {
    char err[RAGD_ERR_LEN];
    embedder_opts eo = embedder_opts_default();
    eo.dim = 16;
    embedder *emb = embedder_create("hash", &eo, err);
    CHECK(emb);
    embeddings_opts o = {.max_inputs = 2, .max_input_bytes = 8, .allow_remote = 0};
    embeddings_request r;
    api_error e;
#define EMB(body) parse_embeddings_json(&o, emb, body, strlen(body), &r, &e)
    int rc = EMB("{\"model\": \"hash\", \"input\": [\"a\", \"bb\"], \"encoding_format\": \"base64\"}");
    CHECK(rc == 0 && r.n == 2 && r.b64 && !strcmp(r.texts[1], "bb") && !strcmp(r.model, "hash"));
    embeddings_request_clear(&r);
    CHECK(EMB("{\"model\": \"gpt\", \"input\": \"a\"}") != 0 && e.status == 404 && !strcmp(e.param, "model"));
    embeddings_request_clear(&r);
    CHECK(EMB("{\"model\": \"hash\", \"input\": [\"a\", \"b\", \"c\"]}") != 0 && !strcmp(e.code, "too_many_inputs"));
    embeddings_request_clear(&r);
    CHECK(EMB("{\"model\": \"hash\", \"input\": \"123456789\"}") != 0 && !strcmp(e.code, "invalid_input"));
    embeddings_request_clear(&r);
    CHECK(EMB("{\"model\": \"hash\", \"input\": [[1, 2]]}") != 0 && !strcmp(e.code, "invalid_input"));
    embeddings_request_clear(&r);
    CHECK(EMB("{\"model\": \"hash\", \"input\": \"a\", \"dimensions\": 8}") != 0 && !strcmp(e.param, "dimensions"));
    embeddings_request_clear(&r);
    CHECK(EMB("{\"model\": \"hash\", \"input\": \"a\", \"temperature\": 1}") != 0 &&
          !strcmp(e.code, "unknown_parameter") && !strcmp(e.param, "temperature"));
    embeddings_request_clear(&r);
    CHECK(EMB("{\"model\": \"hash\"") != 0 && !strcmp(e.code, "invalid_json"));
    embeddings_request_clear(&r);
#undef EMB
    embedder_free(emb);
}

int main(void) {
    RUN(test_get_and_post_share_rules);
    RUN(test_parsed_values);
    RUN(test_vector_body);
    RUN(test_seed_route);
    RUN(test_bytes_that_are_not_text);
    RUN(test_embeddings_body);
    return test_summary("request_parse");
}
