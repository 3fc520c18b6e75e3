/* safetensors.h - read tensors from a .safetensors file, every offset and shape checked
 *
 * The format is an 8-byte little-endian header length, a JSON header
 * mapping tensor names to {"dtype", "shape", "data_offsets": [begin, end]}
 * (offsets relative to the end of the header), then the raw data. The file
 * is mapped read-only; a tensor is returned only if its dtype is F32, its
 * byte range lies inside the file and equals 4 x the product of its shape.
 *
 *     safetensors *st = st_open("model.safetensors", err);
 *     int64_t shape[2] = {30522, 384};
 *     const float *w = st_get_f32(st, "embeddings.word_embeddings.weight", 2, shape, err);
 *     st_close(st);   // invalidates w
 */
#ifndef RAGD_SAFETENSORS_H
#define RAGD_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#define ST_MAX_HEADER (100u << 20)
#define ST_MAX_DIMS 8

typedef struct safetensors safetensors;

safetensors *st_open(const char *path, char *err);

/* The F32 tensor `name` whose shape must equal shape[0..ndim). NULL + a
 * message naming the tensor if it is missing or does not match. */
const float *st_get_f32(const safetensors *st, const char *name, int ndim, const int64_t *shape, char *err);

/* 1 if a tensor of that name exists (any dtype). */
int st_has(const safetensors *st, const char *name);

void st_close(safetensors *st);

#endif
