/* fuzz_safetensors.c - the model file's header and tensor table (embedders/safetensors.c)
 *
 * The input is written to a memory file and opened like a model; any tensor
 * it names must be readable within the file, at the shape asked for.
 */
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "err.h"
#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int fd = memfd_create("fuzz.safetensors", 0);
    if (fd < 0) return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    char path[64], err[RAGD_ERR_LEN];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    safetensors *st = st_open(path, err);
    if (st) {
        static const char *names[] = {"a", "w", "embeddings.word_embeddings.weight", "x"};
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
            int64_t shape1[1] = {4}, shape2[2] = {2, 2};
            const float *p = st_get_f32(st, names[i], 1, shape1, err);
            if (p) { volatile float x = p[0] + p[3]; (void)x; }
            p = st_get_f32(st, names[i], 2, shape2, err);
            if (p) { volatile float x = p[0] + p[3]; (void)x; }
            st_has(st, names[i]);
        }
        st_close(st);
    }
    close(fd);
    return 0;
}
