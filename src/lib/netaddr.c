/* SPDX-License-Identifier: MIT */
#include "netaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "util.h"
#include "validate.h"

/* [1-9][0-9]{0,4} up to 65535: systemd reads a port with base prefixes ("010" would be 8),
 * so a leading zero is refused rather than read differently. */
static bool parse_port(const char *s, size_t n, uint16_t *ret) {
        if (n == 0 || n > 5 || s[0] < '1' || s[0] > '9')
                return false;
        unsigned v = 0;
        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return false;
                v = v * 10 + (unsigned) (s[i] - '0');
        }
        if (v > 65535)
                return false;
        *ret = (uint16_t) v;
        return true;
}

/* inet_pton on the n bytes at s; the same function systemd reads addresses with. */
static bool parse_ip(int family, const char *s, size_t n, void *ret) {
        char buf[INET6_ADDRSTRLEN];
        if (n == 0 || n >= sizeof buf)
                return false;
        memcpy(buf, s, n);
        buf[n] = 0;
        return inet_pton(family, buf, ret) == 1;
}

static bool is_hex(char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* RFC 3986 pchar, '/' and '?' (path and query); pct-encoded well formed. */
static bool url_path_is_valid(const char *s) {
        if (*s != '/')
                return false;
        for (; *s; s++) {
                char c = *s;
                if (c == '%') {
                        if (!is_hex(s[1]) || !is_hex(s[2]))
                                return false;
                        s += 2;
                } else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                             strchr("-._~!$&'()*+,;=:@/?", c)))
                        return false;
        }
        return true;
}

int ready_url_parse(const char *s, ReadyUrl *ret) {
        ReadyUrl u = { 0 };
        if (strlen(s) > READY_URL_MAX)
                return -EINVAL;
        const char *p = startswith(s, "http://");
        if (!p)
                return -EINVAL;
        size_t hostlen;
        const char *after;
        if (*p == '[') {
                const char *close = strchr(p, ']');
                if (!close || !parse_ip(AF_INET6, p + 1, (size_t) (close - p - 1), &u.addr.in6))
                        return -EINVAL;
                u.family = AF_INET6;
                after = close + 1;
        } else {
                size_t n = strcspn(p, ":/");
                if (n == strlen("localhost") && strncmp(p, "localhost", n) == 0)
                        inet_pton(AF_INET, "127.0.0.1", &u.addr.in);
                else if (!parse_ip(AF_INET, p, n, &u.addr.in))
                        return -EINVAL;
                u.family = AF_INET;
                after = p + n;
        }
        u.port = 80;
        if (*after == ':') {
                size_t n = strcspn(after + 1, "/");
                if (!parse_port(after + 1, n, &u.port))
                        return -EINVAL;
                after += 1 + n;
        }
        hostlen = (size_t) (after - p);
        if (hostlen >= sizeof u.host)
                return -EINVAL;
        memcpy(u.host, p, hostlen);
        u.host[hostlen] = 0;
        if (*after == 0)
                u.path = "/";
        else if (url_path_is_valid(after))
                u.path = after;
        else
                return -EINVAL;
        if (ret)
                *ret = u;
        return 0;
}

bool ready_url_is_valid(const char *s) {
        return ready_url_parse(s, NULL) == 0;
}

static bool unix_path_is_valid(const char *s) {
        if (strlen(s) > LISTEN_UNIX_PATH_MAX || !absolute_path_is_valid(s) || streq(s, "/"))
                return false;
        for (const char *c = s; *c; c++)
                if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
                      strchr("._/-", *c)))
                        return false;
        return true;
}

static const unsigned char v4_mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/* The kernel binds an IPv4-mapped address as the IPv4 one, and :: as the dual-stack
 * wildcard. */
static void classify_ipv6(const struct in6_addr *a6, ListenAddress *l) {
        if (memcmp(a6->s6_addr, v4_mapped_prefix, sizeof v4_mapped_prefix) == 0) {
                memcpy(l->addr, a6->s6_addr + 12, 4);
                l->kind = memcmp(l->addr, "\0\0\0\0", 4) == 0 ? LISTEN_ANY4 : LISTEN_IPV4;
        } else if (IN6_IS_ADDR_UNSPECIFIED(a6))
                l->kind = LISTEN_ANY;
        else {
                memcpy(l->addr, a6->s6_addr, 16);
                l->kind = LISTEN_IPV6;
        }
}

int listen_address_parse(const char *s, ListenAddress *ret) {
        ListenAddress l = { 0 };
        if (*s == '/') {
                if (!unix_path_is_valid(s))
                        return -EINVAL;
                l.kind = LISTEN_UNIX;
                l.path = s;
        } else if (*s == '[') {
                struct in6_addr a6;
                const char *close = strchr(s, ']');
                if (!close || close[1] != ':' || !parse_ip(AF_INET6, s + 1, (size_t) (close - s - 1), &a6) ||
                    !parse_port(close + 2, strlen(close + 2), &l.port))
                        return -EINVAL;
                classify_ipv6(&a6, &l);
        } else {
                const char *colon = strchr(s, ':');
                struct in_addr a4;
                if (!colon) {
                        if (!parse_port(s, strlen(s), &l.port))
                                return -EINVAL;
                        l.kind = LISTEN_ANY;
                } else {
                        if (!parse_ip(AF_INET, s, (size_t) (colon - s), &a4) ||
                            !parse_port(colon + 1, strlen(colon + 1), &l.port))
                                return -EINVAL;
                        memcpy(l.addr, &a4, 4);
                        l.kind = a4.s_addr == htonl(INADDR_ANY) ? LISTEN_ANY4 : LISTEN_IPV4;
                }
        }
        if (ret)
                *ret = l;
        return 0;
}

bool listen_address_is_valid(const char *s) {
        return listen_address_parse(s, NULL) == 0;
}

static bool is_ipv4(ListenKind k) {
        return k == LISTEN_ANY4 || k == LISTEN_IPV4;
}

bool listen_addresses_collide(const ListenAddress *a, const ListenAddress *b) {
        if (a->kind == LISTEN_UNIX || b->kind == LISTEN_UNIX)
                return a->kind == b->kind && streq(a->path, b->path);
        if (a->port != b->port)
                return false;
        if (a->kind == LISTEN_ANY || b->kind == LISTEN_ANY)
                return true;
        if (is_ipv4(a->kind) && is_ipv4(b->kind))
                return a->kind == LISTEN_ANY4 || b->kind == LISTEN_ANY4 || memcmp(a->addr, b->addr, 4) == 0;
        return a->kind == b->kind && memcmp(a->addr, b->addr, 16) == 0;
}
