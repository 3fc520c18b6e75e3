/* fuzz_text.c - Markdown and plain text extraction (loaders/text_extract.c), front matter included */
#include <stdint.h>

#include "document.h"
#include "text_extract.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 1 << 20) return 0;
    document d;
    text_extract((const char *)data, size, "file:///docs/a.md", TEXT_MARKDOWN, &d);
    doc_clear(&d);
    text_extract((const char *)data, size, "file:///docs/a.txt", TEXT_PLAIN, &d);
    doc_clear(&d);
    return 0;
}
