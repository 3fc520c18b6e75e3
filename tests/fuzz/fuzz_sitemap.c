/* fuzz_sitemap.c - sitemaps and sitemap indexes from crawled sites (loaders/sitemap.c, libxml2)
 *
 * Checked: every loc that comes out is a normalised URL (normalising it
 * again changes nothing), and there are at most SITEMAP_MAX_LOCS.
 */
#include <stdint.h>
#include <string.h>

#include "mem.h"
#include "sitemap.h"
#include "url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 1 << 20) return 0;
    sitemap s;
    if (sitemap_parse((const char *)data, size, "https://example.com/docs/sitemap.xml", &s) != 0) return 0;
    if (s.n < 0 || s.n > SITEMAP_MAX_LOCS) __builtin_trap();
    for (int i = 0; i < s.n; i++) {
        char *again = url_normalize(s.locs[i]);
        if (!again || strcmp(again, s.locs[i]) != 0) __builtin_trap();
        mem_free(again);
    }
    sitemap_clear(&s);
    return 0;
}
