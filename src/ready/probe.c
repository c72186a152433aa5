/* SPDX-License-Identifier: MIT */
#include "probe.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

/* Waits until fd has `events` or wake_fd fires, within the deadline (CLOCK_MONOTONIC, ms).
 * Returns 0, -ETIMEDOUT or -EINTR (wake_fd). */
static int wait_fd(int fd, short events, int wake_fd, long long deadline_ms) {
        for (;;) {
                long long left = deadline_ms - (long long) (now_usec(CLOCK_MONOTONIC) / 1000);
                if (left <= 0)
                        return -ETIMEDOUT;
                struct pollfd p[2] = { { .fd = fd, .events = events }, { .fd = wake_fd, .events = POLLIN } };
                int n = poll(p, wake_fd >= 0 ? 2 : 1, (int) left);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (wake_fd >= 0 && p[1].revents)
                        return -EINTR;
                if (n > 0)
                        return 0;
        }
}

/* "HTTP/1.x NNN ..." -> NNN, or -EBADMSG. */
static int parse_status_line(const char *s, size_t n) {
        if (n < 12 || memcmp(s, "HTTP/1.", 7) != 0 || s[8] != ' ')
                return -EBADMSG;
        int code = 0;
        for (int i = 9; i < 12; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -EBADMSG;
                code = code * 10 + (s[i] - '0');
        }
        return code >= 100 && code <= 599 ? code : -EBADMSG;
}

int probe_once(const ReadyUrl *u, int wake_fd, int timeout_ms, char what[128]) {
        long long deadline = (long long) (now_usec(CLOCK_MONOTONIC) / 1000) + timeout_ms;
        struct sockaddr_storage sa = { 0 };
        socklen_t salen;
        int r;

        if (u->family == AF_INET6) {
                struct sockaddr_in6 *s6 = (struct sockaddr_in6 *) &sa;
                *s6 = (struct sockaddr_in6){ .sin6_family = AF_INET6, .sin6_port = htons(u->port),
                                             .sin6_addr = u->addr.in6 };
                salen = sizeof *s6;
        } else {
                struct sockaddr_in *s4 = (struct sockaddr_in *) &sa;
                *s4 = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(u->port), .sin_addr = u->addr.in };
                salen = sizeof *s4;
        }

        _cleanup_close_ int fd = socket(u->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                r = -errno;
                snprintf(what, 128, "cannot make a socket: %s", strerror(-r));
                return r;
        }
        if (connect(fd, (struct sockaddr *) &sa, salen) < 0) {
                if (errno != EINPROGRESS) {
                        r = -errno;
                        snprintf(what, 128, "%s", strerror(-r));
                        return r;
                }
                if ((r = wait_fd(fd, POLLOUT, wake_fd, deadline)) < 0) {
                        snprintf(what, 128, "%s", r == -ETIMEDOUT ? "no connection within the probe's time" : "");
                        return r;
                }
                int err = 0;
                socklen_t len = sizeof err;
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                        err = errno;
                if (err != 0) {
                        snprintf(what, 128, "%s", strerror(err));
                        return -err;
                }
        }

        char req[READY_URL_MAX + 128];
        int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: deferred-ready\r\n\r\n", u->path,
                         u->host);
        for (int off = 0; off < n;) {
                ssize_t k = send(fd, req + off, (size_t) (n - off), MSG_NOSIGNAL);
                if (k < 0 && errno == EAGAIN) {
                        if ((r = wait_fd(fd, POLLOUT, wake_fd, deadline)) < 0) {
                                snprintf(what, 128, "request not taken within the probe's time");
                                return r;
                        }
                        continue;
                }
                if (k < 0) {
                        r = -errno;
                        snprintf(what, 128, "sending the request: %s", strerror(-r));
                        return r;
                }
                off += (int) k;
        }

        /* The status line is all we need: "HTTP/1.1 200 OK". */
        char buf[64];
        size_t have = 0;
        while (have < 12) {
                ssize_t k = recv(fd, buf + have, sizeof buf - 1 - have, 0);
                if (k < 0 && errno == EAGAIN) {
                        if ((r = wait_fd(fd, POLLIN, wake_fd, deadline)) < 0) {
                                snprintf(what, 128, "no answer within the probe's time");
                                return r;
                        }
                        continue;
                }
                if (k < 0) {
                        r = -errno;
                        snprintf(what, 128, "reading the answer: %s", strerror(-r));
                        return r;
                }
                if (k == 0)
                        break;
                have += (size_t) k;
        }
        r = parse_status_line(buf, have);
        if (r < 0)
                snprintf(what, 128, have == 0 ? "connection closed without an answer" : "an answer that is not HTTP/1.x");
        else
                snprintf(what, 128, "HTTP status %d", r);
        return r;
}
