/* model_dir.h - where the all-MiniLM-L6-v2 model files are
 *
 * Used by the minilm embedder to load its weights and by embedder.c to
 * choose the default embedder; neither depends on the other for it.
 *
 *     char dir[4200], tried[16800];
 *     if (embedder_find_model(&opts, dir, sizeof(dir), tried, sizeof(tried)) != 0) ... say where it looked ...
 */
#ifndef RAGD_MODEL_DIR_H
#define RAGD_MODEL_DIR_H

#include <stddef.h>

struct embedder_opts;

/* The model folder's name, and the system folder searched last (make
 * install puts the model there; -DRAGD_SYSTEM_MODEL_DIR=... changes it). */
#define EMBEDDER_MODEL_NAME "all-MiniLM-L6-v2"
#ifndef RAGD_SYSTEM_MODEL_DIR
#define RAGD_SYSTEM_MODEL_DIR "/usr/local/share/ragd/models"
#endif

/* Find the model folder: opts->model_dir if set (final, no fallback),
 * else $RAGD_MODEL_DIR (final), else the first of
 * BINDIR/../models/NAME, BINDIR/../share/ragd/models/NAME and
 * RAGD_SYSTEM_MODEL_DIR/NAME that holds model.safetensors. Returns 0 and
 * the folder in out, or -1 (out = the first candidate); tried (may be
 * NULL) lists every path looked at, for error messages. */
int embedder_find_model(const struct embedder_opts *opts, char *out, size_t cap, char *tried, size_t tcap);

/* The folder embedder_find_model chose (or would have tried first). */
void embedder_default_model_dir(const struct embedder_opts *opts, char *out, size_t cap);

#endif
