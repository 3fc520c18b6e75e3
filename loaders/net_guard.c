/* net_guard.c - which network addresses a crawl may connect to */
#include "net_guard.h"

#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

static int classify4(uint32_t a) { /* host byte order */
    uint8_t b0 = (uint8_t)(a >> 24), b1 = (uint8_t)(a >> 16);
    if (b0 == 169 && b1 == 254) return NET_LINK_LOCAL;
    if (b0 == 0 || b0 >= 224) return NET_RESERVED; /* this network, multicast, reserved, broadcast */
    if (b0 == 127) return NET_LOOPBACK;
    if (b0 == 10 || (b0 == 172 && (b1 & 0xF0) == 16) || (b0 == 192 && b1 == 168) || (b0 == 100 && (b1 & 0xC0) == 64))
        return NET_PRIVATE;
    return NET_PUBLIC;
}

int net_classify(const struct sockaddr *sa) {
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return classify4(ntohl(in->sin_addr.s_addr));
    }
    if (sa->sa_family != AF_INET6) return NET_RESERVED;
    const uint8_t *b = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, zero[16] = {0};
    if (memcmp(b, mapped, 12) == 0)
        return classify4((uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 | (uint32_t)b[14] << 8 | b[15]);
    if (memcmp(b, zero, 15) == 0) return b[15] == 1 ? NET_LOOPBACK : NET_RESERVED; /* ::1, :: */
    if (b[0] == 0xfe && (b[1] & 0xC0) == 0x80) return NET_LINK_LOCAL; /* fe80::/10 */
    if (b[0] == 0xfd) return NET_LINK_LOCAL;                          /* fd00::/8: metadata (fd00:ec2::254) */
    if (b[0] == 0xfc) return NET_PRIVATE;                             /* the rest of fc00::/7 */
    if (b[0] == 0xff) return NET_RESERVED;                            /* multicast */
    return NET_PUBLIC;
}

const char *net_class_name(int cls) {
    static const char *names[] = {"public", "private", "loopback", "link-local/metadata", "reserved"};
    return cls >= 0 && cls <= NET_RESERVED ? names[cls] : "unknown";
}

int net_allowed(int cls, int private_ok) {
    return cls == NET_PUBLIC || (private_ok && (cls == NET_PRIVATE || cls == NET_LOOPBACK));
}

int net_targets_parse(const char *s) {
    if (!strcmp(s, "auto")) return NET_TARGETS_AUTO;
    if (!strcmp(s, "public")) return NET_TARGETS_PUBLIC;
    if (!strcmp(s, "any")) return NET_TARGETS_ANY;
    return -1;
}

int net_host_is_private(const char *host) {
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(host, NULL, &hints, &res) != 0) return 0;
    int priv = 0;
    for (struct addrinfo *r = res; r && !priv; r = r->ai_next) {
        int cls = net_classify(r->ai_addr);
        priv = cls == NET_PRIVATE || cls == NET_LOOPBACK;
    }
    freeaddrinfo(res);
    return priv;
}
