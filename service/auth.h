/* auth.h - API keys from a mounted file: constant-time checks, tenants, index limits, rate overrides
 *
 * The key file (a Kubernetes secret mounted as a file) has one key per
 * line, either the key itself or "sha256:<64 hex>" of it, followed by
 * optional attributes:
 *
 *     # key                        attributes
 *     sk-live-4f9a...              id=search-ui tenant=acme indexes=docs,wiki
 *     sha256:9f86d08...            id=ops admin rate=50 burst=100
 *
 * Presented keys are hashed and compared against every entry with a
 * constant-time comparison (no early exit), so timing tells nothing about
 * which bytes matched. `tenant` is the cache namespace (default: the key
 * id); `indexes` limits the index names the key may query; `admin` allows
 * POST /admin/reload; `rate`/`burst` override the default rate limit;
 * `tpm` the default LLM token budget (tokens per minute, /v1/answer).
 *
 *     auth *a = auth_load("/etc/ragd/keys", err);
 *     const api_key *k = auth_check(a, header_value);   // NULL if unknown
 *     if (k && !auth_allows_index(k, "docs")) -> 403
 */
#ifndef RAGD_AUTH_H
#define RAGD_AUTH_H

#include <stddef.h>
#include <stdint.h>

#define AUTH_MAX_KEYS 10000

typedef struct api_key {
    uint8_t sha[32];
    char id[64];
    char tenant[64];
    char **indexes; /* NULL: any index */
    int n_indexes;
    int admin;
    double rate, burst; /* 0: the service default */
    double tpm;         /* LLM tokens per minute for /v1/answer; 0: the service default */
} api_key;

typedef struct auth auth;

/* NULL + "FILE:LINE: message" on a malformed file. */
auth *auth_load(const char *path, char *err);
auth *auth_parse(const char *text, const char *name, char *err);

/* The key entry matching the presented secret, or NULL. */
const api_key *auth_check(const auth *a, const char *presented, size_t len);

int auth_allows_index(const api_key *k, const char *index_name);
int auth_count(const auth *a);

void auth_free(auth *a);

#endif
