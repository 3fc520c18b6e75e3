/* fuzz_openai_response.c - replies of an OpenAI-compatible embeddings server (embedders/openai.c)
 *
 * The first byte sets how many inputs were sent (1..4); the rest is the
 * reply body. A parsed reply gives n unit-length (or all-zero) rows of
 * finite floats; the error-message reader always ends in a short string
 * without control characters.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "err.h"
#include "openai_response.h"
#include "upstream.h"

#define DIM 4

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int n = 1 + data[0] % 4;
    const char *body = (const char *)data + 1;
    float out[4 * DIM];
    char err[RAGD_ERR_LEN];
    if (openai_parse_embeddings(body, size - 1, n, DIM, out, err) == 0) {
        for (int i = 0; i < n; i++) {
            double norm = 0;
            for (int d = 0; d < DIM; d++) {
                if (!isfinite(out[i * DIM + d])) __builtin_trap();
                norm += (double)out[i * DIM + d] * out[i * DIM + d];
            }
            if (norm != 0 && fabs(norm - 1.0) > 1e-3) __builtin_trap();
        }
    }
    char msg[256];
    int quota = -1;
    upstream_error_message(body, size - 1, msg, sizeof(msg), &quota);
    if (strlen(msg) > 200 || (quota != 0 && quota != 1)) __builtin_trap();
    for (const char *p = msg; *p; p++)
        if ((unsigned char)*p < 0x20) __builtin_trap();
    return 0;
}
