/* fuzz_robots.c - robots.txt (loaders/robots.c), as any site may serve it
 *
 * The first line of the input is a path to check; the rest is the file.
 */
#include <stdint.h>
#include <string.h>

#include "mem.h"
#include "robots.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *s = (const char *)data, *nl = memchr(s, '\n', size);
    size_t plen = nl ? (size_t)(nl - s) : 0;
    char *path = mem_strndup(nl ? s : "/", nl ? plen : 1);
    robots *r = robots_parse(nl ? nl + 1 : s, nl ? size - plen - 1 : size, "ragd");
    if (r) {
        robots_allowed(r, path[0] == '/' ? path : "/");
        robots_crawl_delay_ms(r);
        for (int i = 0; i < robots_sitemap_count(r); i++)
            if (!robots_sitemap(r, i)) __builtin_trap();
        robots_free(r);
    }
    mem_free(path);
    return 0;
}
