/* sha256.h - SHA-256 (FIPS 180-4) for shard checksums and content hashes
 *
 * Shard files are checked against the manifest before FAISS reads them, and
 * chunks and documents are identified by the hash of their content.
 *
 *     sha256_ctx c;
 *     sha256_init(&c);
 *     sha256_update(&c, text, len);
 *     char hex[SHA256_HEX_LEN + 1];
 *     sha256_final_hex(&c, hex);
 */
#ifndef RAGD_SHA256_H
#define RAGD_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32
#define SHA256_HEX_LEN 64

typedef struct sha256_ctx {
    uint32_t state[8];
    uint64_t bytes;
    uint8_t block[64];
    size_t used;
} sha256_ctx;

void sha256_init(sha256_ctx *c);
void sha256_update(sha256_ctx *c, const void *data, size_t len);
void sha256_final(sha256_ctx *c, uint8_t out[SHA256_LEN]);
/* Final digest as 64 lowercase hex characters plus a NUL. */
void sha256_final_hex(sha256_ctx *c, char out[SHA256_HEX_LEN + 1]);

/* One-shot digest of a buffer, as hex. */
void sha256_hex(const void *data, size_t len, char out[SHA256_HEX_LEN + 1]);

/* Digest of a whole file; returns 0, or -1 with a message naming the path.
 * If size is not NULL it receives the number of bytes hashed. */
int sha256_file(const char *path, char out[SHA256_HEX_LEN + 1], int64_t *size, char *err);

#endif
