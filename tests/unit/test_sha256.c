/* test_sha256.c - SHA-256 against the FIPS 180-4 / NIST example vectors */
#include <stdlib.h>
#include <unistd.h>

#include "err.h"
#include "sha256.h"
#include "test.h"

TEST(test_empty) {
    char hex[65];
    sha256_hex("", 0, hex);
    CHECK(strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == 0);
}

TEST(test_abc) {
    char hex[65];
    sha256_hex("abc", 3, hex);
    CHECK(strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0);
}

TEST(test_two_blocks) {
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    char hex[65];
    sha256_hex(m, strlen(m), hex);
    CHECK(strcmp(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1") == 0);
}

TEST(test_million_a_in_odd_pieces) {
    sha256_ctx c;
    char buf[997], hex[65];
    memset(buf, 'a', sizeof(buf));
    sha256_init(&c);
    size_t left = 1000000;
    while (left) {
        size_t n = left < sizeof(buf) ? left : sizeof(buf);
        sha256_update(&c, buf, n);
        left -= n;
    }
    sha256_final_hex(&c, hex);
    CHECK(strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0);
}

TEST(test_file_matches_buffer) {
    char path[] = "/tmp/ragd-sha-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    char data[200000];
    for (size_t i = 0; i < sizeof(data); i++) data[i] = (char)(i * 31 + 7);
    CHECK(write(fd, data, sizeof(data)) == (ssize_t)sizeof(data));
    close(fd);
    char a[65], b[65], err[RAGD_ERR_LEN];
    int64_t size = 0;
    sha256_hex(data, sizeof(data), a);
    CHECK(sha256_file(path, b, &size, err) == 0);
    unlink(path);
    CHECK(strcmp(a, b) == 0);
    CHECK_EQ_INT(size, sizeof(data));
    CHECK(sha256_file(path, b, NULL, err) == -1);
    CHECK_CONTAINS(err, path);
}

int main(void) {
    RUN(test_empty);
    RUN(test_abc);
    RUN(test_two_blocks);
    RUN(test_million_a_in_odd_pieces);
    RUN(test_file_matches_buffer);
    return test_summary("sha256");
}
