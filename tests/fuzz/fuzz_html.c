/* fuzz_html.c - HTML extraction (loaders/html_extract.c, libxml2): crawled pages
 *
 * One extraction per input: the input's length picks the case, so the
 * fuzzer explores both (and each input costs one libxml2 parse, which
 * doubles the executions a long run gets per second):
 *   even length: no HTTP charset (<meta charset> or detection decides),
 *                a page URL (relative links resolve against its folder);
 *   odd length:  the HTTP header's charset (iso-8859-1) overrides the
 *                page's, a site-root URL. */
#include <stdint.h>
#include <string.h>

#include "document.h"
#include "err.h"
#include "html_extract.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 1 << 20) return 0;
    document d;
    char err[RAGD_ERR_LEN];
    int odd = size & 1;
    if (html_extract((const char *)data, size, odd ? "http://example.com/" : "http://example.com/docs/page.html",
                     odd ? "iso-8859-1" : NULL, &d, err) == 0)
        doc_clear(&d);
    return 0;
}
