/* SPDX-License-Identifier: MIT */
/* One readiness probe: an HTTP/1.0 GET of a ReadyUrl over a plain TCP connection. */
#pragma once

#include "netaddr.h"

/* Connects, sends "GET PATH HTTP/1.0" and reads the status line, waiting at most
 * timeout_ms in all, and also returning when wake_fd (a pidfd, or -1) becomes readable.
 * Returns the HTTP status (100-599); -ECONNREFUSED and the like when no connection was
 * made; -ETIMEDOUT; -EBADMSG for an answer that is not HTTP; -EINTR when wake_fd fired.
 * what[] says in words what happened, for the log. */
int probe_once(const ReadyUrl *u, int wake_fd, int timeout_ms, char what[128]);
