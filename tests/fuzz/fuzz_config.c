/* fuzz_config.c - "option = value" config files (core/config.c) and the value parsers */
#include <stdint.h>

#include "config.h"
#include "err.h"
#include "mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = mem_strndup((const char *)data, size);
    config_entry *e = NULL;
    int n = 0;
    char err[RAGD_ERR_LEN];
    if (config_parse(text, "fuzz.conf", &e, &n, err) == 0) {
        for (int i = 0; i < n; i++) {
            long long x;
            double f;
            if (e[i].value) {
                config_int(e[i].value, -1000000, 1000000, &x);
                config_duration_ms(e[i].value, 0, 3650LL * 86400000, &x);
                config_share(e[i].value, &f);
            }
        }
        config_free(e, n);
    }
    mem_free(text);
    return 0;
}
