/* auth.c - API keys from a mounted file, checked in constant time */
#include "auth.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "fsio.h"
#include "mem.h"
#include "sha256.h"

struct auth {
    api_key *keys;
    int n;
};

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int parse_secret(const char *tok, api_key *k) {
    if (strncmp(tok, "sha256:", 7) == 0) {
        const char *h = tok + 7;
        if (strlen(h) != 64) return -1;
        for (int i = 0; i < 32; i++) {
            int hi = hexval(h[2 * i]), lo = hexval(h[2 * i + 1]);
            if (hi < 0 || lo < 0) return -1;
            k->sha[i] = (uint8_t)(hi * 16 + lo);
        }
        return 0;
    }
    if (strlen(tok) < 8) return -1; /* refuse trivially guessable keys */
    sha256_ctx c;
    sha256_init(&c);
    sha256_update(&c, tok, strlen(tok));
    sha256_final(&c, k->sha);
    return 0;
}

/* One "name=value" (or "admin") attribute; -1 + why for anything else. */
static int parse_attr(const char *tok, api_key *k, char *why, size_t cap) {
    const char *eq = strchr(tok, '=');
    if (!eq) {
        if (strcmp(tok, "admin") == 0) return k->admin = 1, 0;
        return snprintf(why, cap, "unknown attribute \"%.40s\"", tok), -1;
    }
    size_t kl = (size_t)(eq - tok);
    const char *v = eq + 1;
    if ((kl == 2 && !strncmp(tok, "id", 2)) || (kl == 6 && !strncmp(tok, "tenant", 6))) {
        char *dst = kl == 2 ? k->id : k->tenant;
        /* never truncated: two long ids must not become one */
        if (!*v || strlen(v) >= sizeof(k->id))
            return snprintf(why, cap, "%.*s must be 1 to %zu characters", (int)kl, tok, sizeof(k->id) - 1), -1;
        memcpy(dst, v, strlen(v) + 1);
    } else if ((kl == 4 && !strncmp(tok, "rate", 4)) || (kl == 5 && !strncmp(tok, "burst", 5))) {
        char *end;
        double x = strtod(v, &end);
        if (!*v || *end || !(x > 0 && x <= 1e6))
            return snprintf(why, cap, "%.*s must be a number above 0 (at most 1000000)", (int)kl, tok), -1;
        if (kl == 4) k->rate = x;
        else k->burst = x;
    } else if (kl == 3 && !strncmp(tok, "tpm", 3)) {
        char *end;
        double x = strtod(v, &end);
        if (!*v || *end || !(x > 0 && x <= 1e12))
            return snprintf(why, cap, "tpm must be a number above 0 (LLM tokens per minute)"), -1;
        k->tpm = x;
    } else if (kl == 7 && !strncmp(tok, "indexes", 7)) {
        char *copy = mem_strdup(v), *save = NULL;
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            k->indexes = mem_realloc(k->indexes, sizeof(char *) * (size_t)(k->n_indexes + 1));
            k->indexes[k->n_indexes++] = mem_strdup(t);
        }
        mem_free(copy);
        /* "indexes=" used to leave the list unset, which means every index */
        if (k->n_indexes == 0)
            return snprintf(why, cap, "indexes= names no index (leave it out to allow every index)"), -1;
    } else {
        return snprintf(why, cap, "unknown attribute \"%.40s\"", tok), -1;
    }
    return 0;
}

static int parse_line(char *line, api_key *k, char *why, size_t cap) {
    memset(k, 0, sizeof(*k));
    char *save = NULL;
    char *tok = strtok_r(line, " \t", &save);
    if (parse_secret(tok, k) != 0) {
        snprintf(why, cap, "key must be at least 8 characters, or sha256:<64 hex digits>");
        return -1;
    }
    while ((tok = strtok_r(NULL, " \t", &save)) != NULL) {
        if (parse_attr(tok, k, why, cap) != 0) return -1;
    }
    if (!k->id[0]) {
        /* Default id (and tenant): 128 bits of a hash of the key's digest
         * under its own label, so two keys never share a cache namespace or
         * a rate-limit bucket (security review finding 12: it was 32 bits),
         * and the log shows nothing an attacker could test guesses against. */
        char hex[SHA256_HEX_LEN + 1];
        sha256_ctx c;
        sha256_init(&c);
        sha256_update(&c, "ragd key id\n", 12);
        sha256_update(&c, k->sha, sizeof(k->sha));
        sha256_final_hex(&c, hex);
        snprintf(k->id, sizeof(k->id), "%.32s", hex);
    }
    if (!k->tenant[0]) snprintf(k->tenant, sizeof(k->tenant), "%s", k->id);
    return 0;
}

static void key_clear(api_key *k) {
    for (int i = 0; i < k->n_indexes; i++) mem_free(k->indexes[i]);
    mem_free(k->indexes);
}

auth *auth_parse(const char *text, const char *name, char *err) {
    auth *a = mem_calloc(1, sizeof(*a));
    char *copy = mem_strdup(text), *save = NULL;
    int lineno = 0;
    for (char *line = copy; line; line = save) {
        save = strchr(line, '\n');
        if (save) *save++ = '\0';
        lineno++;
        char *s = line;
        while (isspace((unsigned char)*s)) s++;
        char *e = s + strlen(s);
        while (e > s && isspace((unsigned char)e[-1])) *--e = '\0';
        if (!*s || *s == '#') continue;
        if (a->n >= AUTH_MAX_KEYS) {
            err_set(err, "%s: more than %d keys", name, AUTH_MAX_KEYS);
            goto fail;
        }
        a->keys = mem_realloc(a->keys, sizeof(api_key) * (size_t)(a->n + 1));
        char why[128];
        if (parse_line(s, &a->keys[a->n], why, sizeof(why)) != 0) {
            key_clear(&a->keys[a->n]);
            err_set(err, "%s:%d: %s", name, lineno, why);
            goto fail;
        }
        a->n++;
    }
    mem_free(copy);
    if (a->n == 0) {
        err_set(err, "%s: no keys (remove --api-keys for open access)", name);
        auth_free(a);
        return NULL;
    }
    return a;
fail:
    mem_free(copy);
    auth_free(a);
    return NULL;
}

auth *auth_load(const char *path, char *err) {
    char *buf;
    if (fsio_read_file(path, 4u << 20, &buf, NULL, err) != 0) return NULL;
    auth *a = auth_parse(buf, path, err);
    mem_free(buf);
    return a;
}

const api_key *auth_check(const auth *a, const char *presented, size_t len) {
    uint8_t h[32];
    sha256_ctx c;
    sha256_init(&c);
    sha256_update(&c, presented, len);
    sha256_final(&c, h);
    const api_key *found = NULL;
    for (int i = 0; i < a->n; i++) {
        volatile uint8_t diff = 0;
        for (int j = 0; j < 32; j++) diff |= (uint8_t)(h[j] ^ a->keys[i].sha[j]);
        /* No early exit: every entry is compared whatever matched. */
        const api_key *cand = &a->keys[i];
        found = diff == 0 ? cand : found;
    }
    return found;
}

int auth_allows_index(const api_key *k, const char *index_name) {
    if (!k->indexes) return 1;
    for (int i = 0; i < k->n_indexes; i++)
        if (strcmp(k->indexes[i], index_name) == 0) return 1;
    return 0;
}

int auth_count(const auth *a) {
    return a->n;
}

void auth_free(auth *a) {
    if (!a) return;
    for (int i = 0; i < a->n; i++) key_clear(&a->keys[i]);
    mem_free(a->keys);
    mem_free(a);
}
