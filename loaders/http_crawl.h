/* http_crawl.h - crawl a website with libcurl's multi interface, politely and within scope
 *
 * From a seed URL the crawler follows links that stay within the seed's
 * scheme, host, port and path folder, breadth first, up to max_depth link
 * hops and max_pages fetched pages. It reads robots.txt first (RFC 9309:
 * unreachable or 5xx disallows all, 4xx allows all, our product token's
 * group wins over "*") and uses sitemap.xml (and robots.txt's Sitemap
 * lines) as extra seeds. At most `concurrency` requests run at once, with
 * at least delay_ms between starts. 5xx, 429 and timeouts are retried up to
 * max_retries times with exponential backoff and jitter, or after the
 * server's Retry-After. Redirects are followed by the crawler itself, and
 * only within scope. Bodies over max_page_bytes are cut off and reported;
 * non-HTML content types are skipped and reported. Each outcome goes to
 * the sink with a reason.
 *
 * Incremental crawls (a sink with prior/not_modified/known): a page the
 * live index holds is fetched with If-None-Match / If-Modified-Since; a
 * 304 reuses it and follows its stored links; after the link crawl, every
 * page the index holds within scope that was not reached is fetched too.
 * robots.txt redirects are followed (5 hops, RFC 9309); its Crawl-delay
 * raises delay_ms up to max_crawl_delay_ms. --include / --exclude globs
 * (fnmatch on the URL path) narrow the scope; sitemap entries obey it.
 *
 *     crawl_opts o = crawl_opts_default();
 *     o.max_pages = 500;
 *     if (crawl_run("http://127.0.0.1:8000/docs/", &o, &sink, err) != 0) ...;
 */
#ifndef RAGD_HTTP_CRAWL_H
#define RAGD_HTTP_CRAWL_H

#include <stddef.h>

#include "loader.h"

typedef struct crawl_opts {
    int max_pages;          /* pages fetched at most (default 10000) */
    int max_depth;          /* link hops from the seed (default 20) */
    int concurrency;        /* requests in flight to the host (default 4) */
    int delay_ms;           /* least time between request starts (default 0) */
    int timeout_ms;         /* whole-request timeout (default 10000) */
    size_t max_page_bytes;  /* body size cap (default 5 MiB) */
    const char *user_agent; /* first word before '/' is the robots.txt token */
    int max_retries;        /* retries after the first try (default 3) */
    int max_retry_wait_ms;  /* longest Retry-After honoured (default 30000) */
    int backoff_ms;         /* first backoff step (default 250) */
    int max_crawl_delay_ms; /* robots.txt Crawl-delay honoured up to this (default 10000) */
    const char *const *include, *const *exclude; /* globs on the URL path */
    int n_include, n_exclude;
    int targets; /* enum net_targets: addresses connections may go to (net_guard.h; default auto) */
} crawl_opts;

crawl_opts crawl_opts_default(void);

/* Crawl from seed. -1 + message only for an invalid seed or options;
 * everything else is reported to the sink and the crawl goes on. */
int crawl_run(const char *seed, const crawl_opts *o, const loader_sink *sink, char *err);

#endif
