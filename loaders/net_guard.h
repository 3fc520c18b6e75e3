/* net_guard.h - which network addresses a crawl may connect to
 *
 * A crawled site chooses where its links, redirects, sitemaps and DNS
 * names point, so a crawler inside a cluster can be steered at the cloud
 * metadata service (169.254.169.254, fd00:ec2::254) or at internal
 * services. Every connection the crawler opens is checked here first, on
 * the address it is about to connect to (after DNS, so a public name that
 * resolves to a private address is caught too):
 *
 *   link-local and metadata (169.254/16, fe80::/10, fd00::/8) and
 *   reserved (0/8, multicast, broadcast, ::)        refused
 *   private (10/8, 172.16/12, 192.168/16, 100.64/10,
 *   fc00::/8) and loopback (127/8, ::1)              allowed only when the
 *                                                    seed itself is one
 *   public                                           allowed
 *
 * `--crawl-targets public` refuses private and loopback always; `any`
 * checks nothing (a lab).
 *
 *     int cls = net_classify(sa);
 *     if (!net_allowed(cls, seed_is_private)) refuse(net_class_name(cls));
 */
#ifndef RAGD_NET_GUARD_H
#define RAGD_NET_GUARD_H

#include <sys/socket.h>

enum net_class { NET_PUBLIC = 0, NET_PRIVATE, NET_LOOPBACK, NET_LINK_LOCAL, NET_RESERVED };

enum net_targets { NET_TARGETS_AUTO = 0, NET_TARGETS_PUBLIC, NET_TARGETS_ANY };

/* The class of an AF_INET or AF_INET6 address (IPv4-mapped IPv6 as IPv4);
 * another family is NET_RESERVED. */
int net_classify(const struct sockaddr *sa);

const char *net_class_name(int cls);

/* May a connection go to an address of this class? */
int net_allowed(int cls, int private_ok);

/* "auto", "public" or "any"; -1 if none. */
int net_targets_parse(const char *s);

/* 1 if host (a name or a literal) resolves to a private or loopback
 * address: under NET_TARGETS_AUTO such a seed may reach private targets. */
int net_host_is_private(const char *host);

#endif
