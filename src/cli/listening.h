/* SPDX-License-Identifier: MIT */
/* The stream addresses the kernel has a listening socket on, in this network namespace
 * (/proc/net/tcp, tcp6 and unix): what a running socket unit really holds, which after a
 * daemon-reload can differ from its Listen property. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "netaddr.h"

typedef struct Listening {
        ListenAddress *addrs; /* the TCP ones */
        char **paths;         /* the AF_UNIX ones */
        size_t n, n_paths;
} Listening;

/* Reads every listening TCP and AF_UNIX stream socket. Returns 0, or a negative errno
 * (logged) when /proc/net cannot be read. */
int listening_load(Listening *ret);
/* Whether a listening socket is bound exactly to a (the same kind, address, port or path). */
bool listening_has(const Listening *l, const ListenAddress *a);
void listening_done(Listening *l);
