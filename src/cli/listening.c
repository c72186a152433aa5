/* SPDX-License-Identifier: MIT */
#include "listening.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

#define TCP_LISTEN 0x0A
/* __SO_ACCEPTCON in /proc/net/unix's Flags: a socket listen() was called on. */
#define UNIX_ACCEPTCON 0x00010000UL
#define UNIX_STREAM 1

static int add(Listening *l, const ListenAddress *a) {
        if (l->n % 64 == 0) {
                ListenAddress *v = reallocarray(l->addrs, l->n + 64, sizeof(ListenAddress));
                if (!v)
                        return log_oom();
                l->addrs = v;
        }
        l->addrs[l->n++] = *a;
        return 0;
}

/* The kernel prints each 32-bit word of an address as the hex of its in-memory value, and
 * the port in host order. */
static int read_tcp(Listening *l, const char *path, bool v6) {
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        char line[512];
        if (!f)
                return errno == ENOENT ? 0 : log_error_errno(-errno, "Failed to open %s: %m", path);
        if (!fgets(line, sizeof line, f))
                return 0;
        while (fgets(line, sizeof line, f)) {
                char addr[33];
                unsigned port, st;
                if (sscanf(line, " %*u: %32[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x", addr, &port, &st) != 3 ||
                    st != TCP_LISTEN || strlen(addr) != (v6 ? 32 : 8))
                        continue;
                unsigned char bytes[16];
                for (size_t w = 0; w < strlen(addr) / 8; w++) {
                        char word[9];
                        memcpy(word, addr + 8 * w, 8);
                        word[8] = 0;
                        uint32_t v = (uint32_t) strtoul(word, NULL, 16);
                        memcpy(bytes + 4 * w, &v, 4);
                }
                char text[INET6_ADDRSTRLEN + 16], ip[INET6_ADDRSTRLEN];
                if (!inet_ntop(v6 ? AF_INET6 : AF_INET, bytes, ip, sizeof ip))
                        continue;
                snprintf(text, sizeof text, v6 ? "[%s]:%u" : "%s:%u", ip, port);
                ListenAddress a;
                if (listen_address_parse(text, &a) == 0 && add(l, &a) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static int read_unix(Listening *l) {
        _cleanup_fclose_ FILE *f = fopen("/proc/net/unix", "re");
        char line[512];
        if (!f)
                return errno == ENOENT ? 0 : log_error_errno(-errno, "Failed to open /proc/net/unix: %m");
        if (!fgets(line, sizeof line, f))
                return 0;
        while (fgets(line, sizeof line, f)) {
                unsigned long flags;
                unsigned type;
                char path[256];
                if (sscanf(line, "%*s %*x %*x %lx %x %*x %*u %255s", &flags, &type, path) != 3 ||
                    !(flags & UNIX_ACCEPTCON) || type != UNIX_STREAM || path[0] != '/')
                        continue;
                if (strv_extend(&l->paths, &l->n_paths, path) < 0)
                        return log_oom();
        }
        return 0;
}

int listening_load(Listening *ret) {
        Listening l = { 0 };
        int r;
        if ((r = read_tcp(&l, "/proc/net/tcp", false)) < 0 || (r = read_tcp(&l, "/proc/net/tcp6", true)) < 0 ||
            (r = read_unix(&l)) < 0) {
                listening_done(&l);
                return r;
        }
        *ret = l;
        return 0;
}

bool listening_has(const Listening *l, const ListenAddress *a) {
        if (a->kind == LISTEN_UNIX)
                return strv_contains(l->paths, a->path);
        for (size_t i = 0; i < l->n; i++)
                if (l->addrs[i].kind == a->kind && l->addrs[i].port == a->port &&
                    memcmp(l->addrs[i].addr, a->addr, sizeof a->addr) == 0)
                        return true;
        return false;
}

void listening_done(Listening *l) {
        free(l->addrs);
        strv_free(l->paths);
        *l = (Listening){ 0 };
}
