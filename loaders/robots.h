/* robots.h - robots.txt (RFC 9309): groups, longest-match allow/disallow, sitemaps
 *
 * The group whose user-agent matches our product token (case-insensitive)
 * wins over "*"; several matching groups are merged. The longest matching
 * rule decides, and Allow wins a tie; "*" and a final "$" are honoured;
 * Crawl-delay (not in the RFC, but widely served) is read from that group;
 * /robots.txt itself is always allowed. Only the first ROBOTS_MAX_BYTES
 * are parsed, as the RFC allows. A robots.txt that could not be fetched
 * (5xx, network error) means disallow all; a 4xx means allow all: the
 * caller picks robots_parse, robots_disallow_all or robots_allow_all.
 *
 *     robots *r = robots_parse(body, len, "ragd");
 *     if (!robots_allowed(r, "/private/x.html")) skip();
 *     for (int i = 0; i < robots_sitemap_count(r); i++) seed(robots_sitemap(r, i));
 *     robots_free(r);
 */
#ifndef RAGD_ROBOTS_H
#define RAGD_ROBOTS_H

#include <stddef.h>

#define ROBOTS_MAX_BYTES (500 * 1024)

typedef struct robots robots;

/* Never NULL; the caller frees with robots_free. */
robots *robots_parse(const char *txt, size_t len, const char *product_token);
robots *robots_allow_all(void);
robots *robots_disallow_all(void);

/* path_query starts with "/" and may carry "?query". 1 allowed, 0 not. */
int robots_allowed(const robots *r, const char *path_query);

/* The Crawl-delay of the group that applies to us, in milliseconds, or
 * -1 if it gives none. The caller caps it (--max-crawl-delay). */
long robots_crawl_delay_ms(const robots *r);

int robots_sitemap_count(const robots *r);
const char *robots_sitemap(const robots *r, int i);

void robots_free(robots *r);

#endif
