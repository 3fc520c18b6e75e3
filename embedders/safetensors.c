/* safetensors.c - read tensors from a .safetensors file, every offset and shape checked */
#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "mem.h"

struct safetensors {
    char *path;
    uint8_t *map;
    size_t size;
    size_t data_start; /* 8 + header length */
    json_t *header;
};

safetensors *st_open(const char *path, char *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        err_set(err, "%s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || sb.st_size < 8) {
        close(fd);
        err_set(err, "%s: not a safetensors file (too small)", path);
        return NULL;
    }
    void *map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) {
        err_set(err, "%s: mmap: %s", path, strerror(errno));
        return NULL;
    }
    safetensors *st = mem_calloc(1, sizeof(*st));
    st->path = mem_strdup(path);
    st->map = map;
    st->size = (size_t)sb.st_size;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | st->map[i];
    if (hlen == 0 || hlen > ST_MAX_HEADER || hlen > st->size - 8) {
        err_set(err, "%s: header length %llu does not fit the file (%zu bytes)", path, (unsigned long long)hlen,
                st->size);
        st_close(st);
        return NULL;
    }
    json_error_t jerr;
    st->header = json_loadb((const char *)st->map + 8, (size_t)hlen, 0, &jerr);
    if (!json_is_object(st->header)) {
        err_set(err, "%s: header is not a JSON object (%s)", path, jerr.text);
        st_close(st);
        return NULL;
    }
    st->data_start = 8 + (size_t)hlen;
    return st;
}

int st_has(const safetensors *st, const char *name) {
    return json_object_get(st->header, name) != NULL;
}

const float *st_get_f32(const safetensors *st, const char *name, int ndim, const int64_t *shape, char *err) {
    json_t *t = json_object_get(st->header, name);
    if (!json_is_object(t)) {
        err_set(err, "%s: no tensor \"%s\"", st->path, name);
        return NULL;
    }
    json_t *dtype = json_object_get(t, "dtype"), *sh = json_object_get(t, "shape");
    json_t *off = json_object_get(t, "data_offsets");
    if (!json_is_string(dtype) || strcmp(json_string_value(dtype), "F32") != 0) {
        err_set(err, "%s: %s has dtype %s, need F32", st->path, name, json_is_string(dtype) ? json_string_value(dtype) : "?");
        return NULL;
    }
    if (!json_is_array(sh) || (int)json_array_size(sh) != ndim) {
        err_set(err, "%s: %s has %zu dimensions, need %d", st->path, name, json_is_array(sh) ? json_array_size(sh) : 0, ndim);
        return NULL;
    }
    uint64_t count = 1;
    for (int i = 0; i < ndim; i++) {
        json_t *d = json_array_get(sh, (size_t)i);
        if (!json_is_integer(d) || json_integer_value(d) != shape[i]) {
            err_set(err, "%s: %s dimension %d is %lld, config says %lld", st->path, name, i,
                    json_is_integer(d) ? (long long)json_integer_value(d) : -1LL, (long long)shape[i]);
            return NULL;
        }
        count *= (uint64_t)shape[i];
    }
    json_t *b = json_array_get(off, 0), *e = json_array_get(off, 1);
    if (!json_is_array(off) || json_array_size(off) != 2 || !json_is_integer(b) || !json_is_integer(e)) {
        err_set(err, "%s: %s has no valid data_offsets", st->path, name);
        return NULL;
    }
    uint64_t begin = (uint64_t)json_integer_value(b), end = (uint64_t)json_integer_value(e);
    uint64_t avail = st->size - st->data_start;
    if (json_integer_value(b) < 0 || begin > end || end > avail || end - begin != count * 4 || begin % 4) {
        err_set(err, "%s: %s offsets [%llu, %llu) do not fit %llu floats in a data section of %llu bytes", st->path,
                name, (unsigned long long)begin, (unsigned long long)end, (unsigned long long)count,
                (unsigned long long)avail);
        return NULL;
    }
    /* data_start is 8 + header; the format pads the header so tensors are
     * aligned, but do not rely on it for floats: check. */
    const uint8_t *p = st->map + st->data_start + begin;
    if ((uintptr_t)p % sizeof(float)) {
        err_set(err, "%s: %s is not 4-byte aligned", st->path, name);
        return NULL;
    }
    return (const float *)p;
}

void st_close(safetensors *st) {
    if (!st) return;
    if (st->map) munmap(st->map, st->size);
    json_decref(st->header);
    mem_free(st->path);
    mem_free(st);
}
