/* sitemap.h - the <loc> URLs of a sitemap or sitemap index (libxml2), no I/O
 *
 * A crawled site's sitemap.xml is untrusted bytes: this reads it into
 * normalised URLs (url_normalize; a loc that is not a valid http(s) URL is
 * dropped) and says whether it is a <sitemapindex>. Whether a URL may be
 * fetched (origin, scope, robots.txt) is the crawler's decision.
 *
 *     sitemap s;
 *     if (sitemap_parse(body, len, "https://site/sitemap.xml", &s) == 0) {
 *         for (int i = 0; i < s.n; i++) ... s.locs[i] ... (s.is_index: they are sitemaps)
 *         sitemap_clear(&s);
 *     }
 */
#ifndef RAGD_SITEMAP_H
#define RAGD_SITEMAP_H

#include <stddef.h>

#define SITEMAP_MAX_LOCS 50000 /* the sitemap protocol's limit per file */

typedef struct sitemap {
    char **locs;
    int n;
    int is_index; /* <sitemapindex>: the locs are sitemaps, not pages */
} sitemap;

/* 0 and *out (even with no locs), or -1 if body is not XML. */
int sitemap_parse(const char *body, size_t len, const char *url, sitemap *out);

void sitemap_clear(sitemap *s);

#endif
