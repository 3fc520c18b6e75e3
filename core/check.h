/* check.h - invariant checks that stay compiled in release builds
 *
 * Like GGML_ASSERT or libuv's ASSERT: a broken invariant means a bug in
 * ragd, and continuing would corrupt an index or answer wrongly, so we print
 * where and abort. Never use it for bad input: input gets an error message.
 *
 *     RAGD_CHECK(n_shards > 0);
 *     RAGD_CHECK(dim == vindex_dim(vi));
 */
#ifndef RAGD_CHECK_H
#define RAGD_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define RAGD_CHECK(cond)                                                    \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,         \
                    __LINE__, #cond);                                       \
            abort();                                                        \
        }                                                                   \
    } while (0)

#define RAGD_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
