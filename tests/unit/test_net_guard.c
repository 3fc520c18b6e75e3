/* test_net_guard.c - address classes a crawl may connect to (security review finding 2) */
#include <arpa/inet.h>
#include <netinet/in.h>

#include "net_guard.h"
#include "test.h"

static int cls(const char *ip) {
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6};
    struct sockaddr_in a4 = {.sin_family = AF_INET};
    if (inet_pton(AF_INET, ip, &a4.sin_addr) == 1) return net_classify((struct sockaddr *)&a4);
    if (inet_pton(AF_INET6, ip, &a6.sin6_addr) == 1) return net_classify((struct sockaddr *)&a6);
    return -1;
}

TEST(test_classes) {
    CHECK_EQ_INT(cls("169.254.169.254"), NET_LINK_LOCAL);
    CHECK_EQ_INT(cls("169.254.0.1"), NET_LINK_LOCAL);
    CHECK_EQ_INT(cls("fd00:ec2::254"), NET_LINK_LOCAL);
    CHECK_EQ_INT(cls("fe80::1"), NET_LINK_LOCAL);
    CHECK_EQ_INT(cls("::ffff:169.254.169.254"), NET_LINK_LOCAL); /* IPv4-mapped */
    CHECK_EQ_INT(cls("127.0.0.1"), NET_LOOPBACK);
    CHECK_EQ_INT(cls("127.1.2.3"), NET_LOOPBACK);
    CHECK_EQ_INT(cls("::1"), NET_LOOPBACK);
    CHECK_EQ_INT(cls("10.0.0.8"), NET_PRIVATE);
    CHECK_EQ_INT(cls("172.16.0.1"), NET_PRIVATE);
    CHECK_EQ_INT(cls("172.31.255.255"), NET_PRIVATE);
    CHECK_EQ_INT(cls("172.32.0.1"), NET_PUBLIC);
    CHECK_EQ_INT(cls("192.168.1.1"), NET_PRIVATE);
    CHECK_EQ_INT(cls("100.64.0.1"), NET_PRIVATE);
    CHECK_EQ_INT(cls("100.128.0.1"), NET_PUBLIC);
    CHECK_EQ_INT(cls("fc00::1"), NET_PRIVATE);
    CHECK_EQ_INT(cls("0.0.0.0"), NET_RESERVED);
    CHECK_EQ_INT(cls("224.0.0.1"), NET_RESERVED);
    CHECK_EQ_INT(cls("255.255.255.255"), NET_RESERVED);
    CHECK_EQ_INT(cls("::"), NET_RESERVED);
    CHECK_EQ_INT(cls("ff02::1"), NET_RESERVED);
    CHECK_EQ_INT(cls("93.184.216.34"), NET_PUBLIC);
    CHECK_EQ_INT(cls("2606:2800:220:1::"), NET_PUBLIC);
}

TEST(test_policy) {
    CHECK(net_allowed(NET_PUBLIC, 0) && net_allowed(NET_PUBLIC, 1));
    CHECK(!net_allowed(NET_PRIVATE, 0) && net_allowed(NET_PRIVATE, 1));
    CHECK(!net_allowed(NET_LOOPBACK, 0) && net_allowed(NET_LOOPBACK, 1));
    CHECK(!net_allowed(NET_LINK_LOCAL, 1) && !net_allowed(NET_RESERVED, 1));
    CHECK_EQ_INT(net_targets_parse("auto"), NET_TARGETS_AUTO);
    CHECK_EQ_INT(net_targets_parse("public"), NET_TARGETS_PUBLIC);
    CHECK_EQ_INT(net_targets_parse("any"), NET_TARGETS_ANY);
    CHECK_EQ_INT(net_targets_parse("all"), -1);
    CHECK(net_host_is_private("127.0.0.1") && net_host_is_private("localhost") && !net_host_is_private("93.184.216.34"));
}

int main(void) {
    RUN(test_classes);
    RUN(test_policy);
    return test_summary("net_guard");
}
