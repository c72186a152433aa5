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

/* A ListenStream= value that systemd binds as written: "PORT" (every address, IPv6 and
 * IPv4), "IPV4:PORT", "[IPV6]:PORT" (no interface suffix), or an absolute, normalized
 * AF_UNIX path of at most LISTEN_UNIX_PATH_MAX bytes from [A-Za-z0-9._/-]. PORT as above. */
bool listen_address_is_valid(const char *s);
