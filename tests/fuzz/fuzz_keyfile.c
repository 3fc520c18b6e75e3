/* fuzz_keyfile.c - the API key file (service/auth.c), a mounted secret */
#include <stdint.h>
#include <string.h>

#include "auth.h"
#include "err.h"
#include "mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = mem_strndup((const char *)data, size);
    char err[RAGD_ERR_LEN];
    auth *a = auth_parse(text, "keys", err);
    if (a) {
        if (auth_count(a) < 1) __builtin_trap();
        const api_key *k = auth_check(a, text, strcspn(text, " \t\n"));
        if (k) auth_allows_index(k, "docs");
        auth_free(a);
    }
    mem_free(text);
    return 0;
}
