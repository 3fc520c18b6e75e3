/* fuzz_manifest.c - manifest.json (core/manifest.c): read from a shared index volume
 *
 * A manifest that parses must validate and survive a write/read round trip.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "manifest.h"
#include "mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    manifest m;
    char err[RAGD_ERR_LEN];
    if (manifest_parse((const char *)data, size, &m, err) != 0) return 0;
    char *json = manifest_to_json(&m, err);
    if (json) {
        manifest m2;
        if (manifest_parse(json, strlen(json), &m2, err) != 0) abort();
        if (m2.n_shards != m.n_shards || m2.total_chunks != m.total_chunks || strcmp(m2.version_id, m.version_id))
            abort();
        manifest_clear(&m2);
        free(json);
    }
    manifest_clear(&m);
    return 0;
}
