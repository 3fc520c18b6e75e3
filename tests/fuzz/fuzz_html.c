/* fuzz_html.c - HTML extraction (loaders/html_extract.c, libxml2): crawled pages */
#include <stdint.h>
#include <string.h>

#include "document.h"
#include "err.h"
#include "html_extract.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 1 << 20) return 0;
    document d;
    char err[RAGD_ERR_LEN];
    if (html_extract((const char *)data, size, "http://example.com/docs/page.html", NULL, &d, err) == 0) doc_clear(&d);
    if (html_extract((const char *)data, size, "http://example.com/", "iso-8859-1", &d, err) == 0) doc_clear(&d);
    return 0;
}
