/* fuzz_wordpiece.c - the WordPiece tokenizer (embedders/wordpiece.c) on any text a user or page sends
 *
 * Needs the model's vocab.txt: $RAGD_MODEL_DIR, else models/all-MiniLM-L6-v2
 * under the working folder. Checks the token count agrees with the ids.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "err.h"
#include "mem.h"
#include "wordpiece.h"

static wordpiece *wp;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    const char *dir = getenv("RAGD_MODEL_DIR");
    char path[4096], err[RAGD_ERR_LEN];
    snprintf(path, sizeof(path), "%s/vocab.txt", dir ? dir : "models/all-MiniLM-L6-v2");
    if (!(wp = wp_load(path, 1, err))) {
        fprintf(stderr, "fuzz_wordpiece: %s\n", err);
        exit(1);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 1 << 16) return 0;
    int32_t ids[256];
    int n = wp_encode(wp, (const char *)data, size, ids, 256);
    if (n < 2 || n > 256) abort(); /* at least [CLS] [SEP] */
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= wp_vocab_size(wp)) abort();
    int count = wp_count(wp, (const char *)data, size);
    if (count < 0 || (count + 2 <= 256 && count + 2 != n)) abort();
    return 0;
}
