/* SPDX-License-Identifier: MIT */
/* deferred-ready: wait until a server's readiness URL answers 2xx (deferred-ready(8)).
 *
 * The ExecStartPost= of deferred-serve@.service: the unit stays "activating" (and a
 * retrain swap waits) until the URL the manifest's ready-url names answers with a 2xx
 * status. It returns early with a failure when the server exits; the unit's
 * TimeoutStartSec= (the model's start-timeout) bounds the wait, so it has no timeout of its
 * own. Without a URL it returns 0 at once. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "escape.h"
#include "exitcode.h"
#include "log.h"
#include "netaddr.h"
#include "probe.h"
#include "unitfile.h"
#include "util.h"

/* The first retry comes quickly (a server usually listens within milliseconds of a bind),
 * later ones no more often than every POLL_MAX_MS; one probe may take PROBE_TIMEOUT_MS (a
 * health handler busy loading a model). */
#define POLL_FIRST_MS 10
#define POLL_MAX_MS 250
#define PROBE_TIMEOUT_MS 5000
/* How often a still-waiting helper says why, in the journal. */
#define REPORT_EVERY_MS 10000

static int pidfd_for(pid_t pid) {
#ifdef SYS_pidfd_open
        int fd = (int) syscall(SYS_pidfd_open, pid, 0);
        if (fd >= 0 || errno == ESRCH)
                return fd < 0 ? -ESRCH : fd;
#endif
        return -ENOSYS;
}

/* 1 when the server (pid, or its pidfd) has exited, 0 when it runs or is unknown. */
static int server_gone(pid_t pid, int pidfd) {
        if (pidfd >= 0) {
                struct pollfd p = { .fd = pidfd, .events = POLLIN };
                return poll(&p, 1, 0) > 0;
        }
        return pid > 0 && kill(pid, 0) < 0 && errno == ESRCH;
}

static int wait_ready(const char *url_text, const ReadyUrl *u, pid_t pid) {
        _cleanup_close_ int pidfd = -1;
        if (pid > 0) {
                int r = pidfd_for(pid);
                if (r == -ESRCH) {
                        log_error("The server (PID %d) exited before %s answered.", (int) pid, url_text);
                        return EXIT_GENERIC;
                }
                pidfd = r; /* -ENOSYS (or a filter refusing it): kill(pid, 0) between probes */
        }
        unsigned long long start = now_usec(CLOCK_MONOTONIC), last_report = start;
        int interval = POLL_FIRST_MS;
        char last[128] = "";
        for (unsigned attempts = 1;; attempts++) {
                char what[128] = "";
                int r = probe_once(u, pidfd, PROBE_TIMEOUT_MS, what);
                unsigned long long now = now_usec(CLOCK_MONOTONIC);
                if (r >= 200 && r <= 299) {
                        log_info("%s answered %d after %.3f s (%u probes): ready.", url_text, r,
                                 (double) (now - start) / 1e6, attempts);
                        return 0;
                }
                if (r == -EINTR || server_gone(pid, pidfd)) {
                        log_error("The server (PID %d) exited before %s answered 2xx (last: %s).", (int) pid,
                                  url_text, last[0] ? last : what);
                        return EXIT_GENERIC;
                }
                if (!streq(what, last) || (now - last_report) / 1000 >= REPORT_EVERY_MS) {
                        log_info("Waiting for %s: %s (%.1f s).", url_text, what, (double) (now - start) / 1e6);
                        last_report = now;
                        snprintf(last, sizeof last, "%s", what);
                }
                struct pollfd p = { .fd = pidfd, .events = POLLIN };
                if (poll(&p, pidfd >= 0 ? 1 : 0, interval) > 0) {
                        log_error("The server (PID %d) exited before %s answered 2xx (last: %s).", (int) pid,
                                  url_text, what);
                        return EXIT_GENERIC;
                }
                interval = interval * 2 > POLL_MAX_MS ? POLL_MAX_MS : interval * 2;
        }
}

static void help(void) {
        printf("Usage: %s [--pid PID] [URL]\n\n"
               "Wait until URL (default $" READY_URL_VAR ") answers an HTTP GET with a 2xx status;\n"
               "fail when process PID (default $MAINPID) exits first. Without a URL, exit 0 at once.\n"
               "URL: http://HOST[:PORT]/PATH, HOST an IPv4 address, [IPv6] or localhost.\n\n"
               "  -p --pid PID   the server's process\n"
               "  -h --help      show this help\n\n"
               "Exit status: 0 ready, " EXIT_STR(EXIT_GENERIC) " the server exited, " EXIT_STR(EXIT_USAGE)
               " usage or a bad URL. See deferred-ready(8).\n",
               program_invocation_short_name);
}

int main(int argc, char *argv[]) {
        static const struct option opts[] = {
                { "pid", required_argument, NULL, 'p' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        const char *pid_text = getenv("MAINPID");
        int c;
        log_setup("deferred-ready", LOG_TARGET_STDERR);
        while ((c = getopt_long(argc, argv, "p:h", opts, NULL)) >= 0)
                switch (c) {
                case 'p':
                        pid_text = optarg;
                        break;
                case 'h':
                        help();
                        return 0;
                default:
                        return EXIT_USAGE;
                }
        if (argc - optind > 1) {
                fprintf(stderr, "%s: takes at most one URL; see --help\n", program_invocation_short_name);
                return EXIT_USAGE;
        }
        const char *url = optind < argc ? argv[optind] : getenv(READY_URL_VAR);
        if (isempty(url))
                return 0;

        unsigned long long pid = 0;
        if (!isempty(pid_text) && (safe_atou64(pid_text, &pid) < 0 || pid == 0 || pid > INT32_MAX)) {
                fprintf(stderr, "%s: PID '%s' is not a process id\n", program_invocation_short_name, pid_text);
                return EXIT_USAGE;
        }
        ReadyUrl u;
        if (ready_url_parse(url, &u) < 0) {
                _cleanup_free_ char *shown = escape_for_message(url, READY_URL_MAX);
                log_error("Readiness URL '%s' is not http://HOST[:PORT]/PATH with an IP address or localhost.",
                          strempty(shown));
                return EXIT_USAGE;
        }
        return wait_ready(url, &u, (pid_t) pid);
}
