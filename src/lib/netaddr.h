/* SPDX-License-Identifier: MIT */
/* Network grammars of the serve options: the readiness URL (ready-url =) and the listening
 * addresses systemd holds for a server (listen =). Both are checked here, once, for the
 * manifest parser, the generator and the readiness helper alike. */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#define READY_URL_MAX 1024
/* sizeof(sun_path) - 1: the longest AF_UNIX path systemd binds. */
#define LISTEN_UNIX_PATH_MAX 107

typedef struct ReadyUrl {
        int family;   /* AF_INET or AF_INET6 */
        union {
                struct in_addr in;
                struct in6_addr in6;
        } addr;
        uint16_t port;   /* 80 unless given */
        char host[64];   /* as written, for the Host: header ("[::1]", "localhost:8080") */
        const char *path; /* into the parsed string: "/" when none was given */
} ReadyUrl;

/* Parses "http://HOST[:PORT][PATH]": HOST an IPv4 literal, a bracketed IPv6 literal or
 * "localhost" (127.0.0.1: no name service is asked), PORT 1 to 65535 without leading zeros,
 * PATH "/" then RFC 3986 path and query characters (no fragment, no white space, every '%'
 * followed by two hex digits), at most READY_URL_MAX bytes in all. Returns 0, or -EINVAL.
 * ret->path points into s. */
int ready_url_parse(const char *s, ReadyUrl *ret);
bool ready_url_is_valid(const char *s);

/* What a listening socket binds, as far as two of them can collide. */
typedef enum ListenKind {
        LISTEN_UNIX, /* an AF_UNIX path */
        LISTEN_ANY,  /* "PORT" or "[::]:PORT": every IPv6 and IPv4 address (dual-stack) */
        LISTEN_ANY4, /* "0.0.0.0:PORT" (or "[::ffff:0.0.0.0]:PORT"): every IPv4 address */
        LISTEN_IPV4, /* one IPv4 address, also when written IPv4-mapped ("[::ffff:A.B.C.D]") */
        LISTEN_IPV6, /* one IPv6 address */
} ListenKind;

typedef struct ListenAddress {
        ListenKind kind;
        uint16_t port;          /* 0 for LISTEN_UNIX */
        unsigned char addr[16]; /* LISTEN_IPV4: the first 4 bytes; LISTEN_IPV6: all; else zero */
        const char *path;       /* LISTEN_UNIX: the parsed string itself; else NULL */
} ListenAddress;

/* A ListenStream= value that systemd binds as written: "PORT" (every address, IPv6 and
 * IPv4), "IPV4:PORT", "[IPV6]:PORT" (no interface suffix), or an absolute, normalized
 * AF_UNIX path of at most LISTEN_UNIX_PATH_MAX bytes from [A-Za-z0-9._/-]. PORT as above.
 * Returns 0 and fills ret (when not NULL), or -EINVAL. */
int listen_address_parse(const char *s, ListenAddress *ret);
bool listen_address_is_valid(const char *s);

/* Whether the kernel refuses to listen on b while a listening socket holds a (or the
 * reverse), as systemd binds them (SO_REUSEADDR, and BindIPv6Only=both, which the socket
 * unit sets): the same path; or the same port and the same address,
 * or a wildcard that covers the other's address (the dual-stack wildcard covers every
 * IPv6 and IPv4 address, 0.0.0.0 every IPv4 one). */
bool listen_addresses_collide(const ListenAddress *a, const ListenAddress *b);
