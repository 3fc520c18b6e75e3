/* utf8.h - the length of one valid UTF-8 sequence, allocation-free
 *
 * Shared by the JSON log escaper (core/log.c) and file URLs
 * (loaders/local_walk.c): strict UTF-8, no overlongs, no surrogates,
 * nothing above U+10FFFF.
 *
 *     size_t n = utf8_seq_len(p, end - p);   // 1..4, or 0 if invalid here
 *     if (!utf8_valid(s, len)) ...             // the whole of s[0..len)
 */
#ifndef RAGD_UTF8_H
#define RAGD_UTF8_H

#include <stddef.h>

static inline size_t utf8_seq_len(const unsigned char *s, size_t n) {
    unsigned c = s[0], min;
    size_t len;
    if (c < 0x80) return 1;
    if ((c & 0xE0) == 0xC0) len = 2, min = 0x80, c &= 0x1F;
    else if ((c & 0xF0) == 0xE0) len = 3, min = 0x800, c &= 0x0F;
    else if ((c & 0xF8) == 0xF0) len = 4, min = 0x10000, c &= 0x07;
    else return 0;
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
    return len;
}

/* 1 if s[0..n) is entirely valid UTF-8 (NUL bytes included: callers
 * that refuse them check separately). */
static inline int utf8_valid(const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t l = utf8_seq_len(p + i, n - i);
        if (!l) return 0;
        i += l;
    }
    return 1;
}

#endif
