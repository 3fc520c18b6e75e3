/* test_auth.c - the API key file: keys, attributes, and what is refused */
#include "auth.h"
#include "err.h"
#include "test.h"

static int refused(const char *text, const char *why) {
    char err[RAGD_ERR_LEN] = "";
    auth *a = auth_parse(text, "keys", err);
    int ok = a == NULL && strstr(err, why) != NULL;
    if (!ok) printf("    %s -> %s\n", text, a ? "accepted" : err);
    auth_free(a);
    return ok;
}

TEST(test_keys_and_attributes) {
    char err[RAGD_ERR_LEN];
    auth *a = auth_parse("# comment\n\n  sk-live-4f9a0c71e2  id=ui tenant=acme indexes=docs,wiki rate=5 burst=10\n"
                         "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 admin\n",
                         "keys", err);
    CHECK(a && auth_count(a) == 2);
    const api_key *k = auth_check(a, "sk-live-4f9a0c71e2", 18);
    CHECK(k && !strcmp(k->id, "ui") && !strcmp(k->tenant, "acme") && k->rate == 5 && k->burst == 10 && !k->admin);
    CHECK(auth_allows_index(k, "docs") && auth_allows_index(k, "wiki") && !auth_allows_index(k, "other"));
    k = auth_check(a, "test", 4); /* sha256("test") */
    CHECK(k && k->admin && auth_allows_index(k, "anything"));
    /* derived: 128 bits (finding 12: 32 bits collided at scale), not a prefix of the stored digest */
    CHECK(strlen(k->id) == 32 && !strcmp(k->tenant, k->id) && strncmp(k->id, "9f86d081", 8) != 0);
    CHECK(auth_check(a, "sk-live-4f9a0c71e", 17) == NULL);
    CHECK(auth_check(a, "", 0) == NULL);
    auth_free(a);
}

/* Security review finding 8: "indexes=" with no names used to grant every
 * index; over-long ids were cut (two keys could share a tenant); a rate
 * that is not a number became 0, i.e. the server default. */
TEST(test_refused_lines) {
    CHECK(refused("sk-live-4f9a0c71e2 indexes=", "indexes= names no index"));
    CHECK(refused("sk-live-4f9a0c71e2 indexes=,,", "indexes= names no index"));
    char line[200];
    snprintf(line, sizeof(line), "sk-live-4f9a0c71e2 tenant=%s", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    CHECK(refused(line, "tenant must be 1 to 63 characters"));
    CHECK(refused("sk-live-4f9a0c71e2 id=", "id must be 1 to 63"));
    CHECK(refused("sk-live-4f9a0c71e2 rate=fast", "rate must be a number"));
    CHECK(refused("sk-live-4f9a0c71e2 burst=-1", "burst must be a number"));
    CHECK(refused("short id=x", "at least 8 characters"));
    CHECK(refused("sk-live-4f9a0c71e2 colour=blue", "unknown attribute"));
    CHECK(refused("# only comments\n", "no keys"));
    CHECK(refused("sk-live-4f9a0c71e2\nsecond-key-ok id=b\nbad\n", "keys:3:"));
}

int main(void) {
    RUN(test_keys_and_attributes);
    RUN(test_refused_lines);
    return test_summary("auth");
}
