/* SPDX-License-Identifier: MIT */
/* Running nix-store: fork + execve with its stdout and stderr on pipes, one poll loop over
 * both pipes and a signalfd. The child dies with us (PR_SET_PDEATHSIG), our SIGTERM is
 * passed on to it, its internal-json stderr feeds the progress parser (src/lib/nixlog.c)
 * and is forwarded to our stderr as readable lines, never as raw JSON. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>

#include "log.h"
#include "realise.h"
#include "util.h"

/* Progress reaches sd_notify and the status file at most this often... */
#define REPORT_INTERVAL_USEC (500 * 1000ULL)
/* ...and at least this often, so that "elapsed" moves during a long silent step. */
#define REFRESH_INTERVAL_USEC (10 * 1000 * 1000ULL)
/* Longer lines (a huge JSON message) are cut: progress lines are far shorter. */
#define LINE_MAX_BYTES (64 * 1024)

extern char **environ;

int signals_setup(Context *c) {
        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGCHLD);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return -errno;
        c->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
        return c->signal_fd < 0 ? -errno : 0;
}

/* Reads pending signals. Returns true when SIGCHLD was among them. */
static bool read_signals(Context *c, pid_t child) {
        struct signalfd_siginfo si;
        bool chld = false;
        while (read(c->signal_fd, &si, sizeof si) == (ssize_t) sizeof si) {
                if (si.ssi_signo == SIGCHLD) {
                        chld = true;
                        continue;
                }
                if (!c->terminate_signal) {
                        c->terminate_signal = (int) si.ssi_signo;
                        log_notice("Received %s, stopping%s.", signal_name((int) si.ssi_signo, (char[16]){ 0 }),
                                   child > 0 ? " nix-store" : "");
                }
                if (child > 0)
                        (void) kill(child, SIGTERM);
        }
        return chld;
}

int sleep_interruptible(Context *c, unsigned long long usec) {
        unsigned long long end = now_usec(CLOCK_MONOTONIC) + usec;
        for (;;) {
                (void) read_signals(c, 0);
                if (c->terminate_signal)
                        return 1;
                unsigned long long now = now_usec(CLOCK_MONOTONIC);
                if (now >= end)
                        return 0;
                struct pollfd pfd = { .fd = c->signal_fd, .events = POLLIN };
                (void) poll(&pfd, 1, (int) ((end - now + 999) / 1000));
        }
}

typedef struct LineBuf {
        char *buf;
        size_t len;
        bool skipping; /* the rest of an over-long line is being dropped */
        bool eof;
} LineBuf;

typedef struct Reader {
        Context *c;
        NixRun *run;
        bool json;
        bool dirty;                     /* progress changed since the last report */
        bool reported;                  /* the first change was shown (at once) */
        unsigned long long last_report; /* CLOCK_MONOTONIC usec */
        char forwarded[NIXLOG_LINE_MAX + 1];
        char current_drv[NIXLOG_DRV_MAX + 1];
        unsigned n_errors;
        unsigned n_warnings;
} Reader;

/* Prints what a line told us in readable form: a build log line, the start of a build, an
 * error. Plain (non-JSON) lines are printed as they are, made printable. */
static void forward_line(Reader *rd, const char *line, size_t len, bool from_stdout) {
        const NixProgress *p = &rd->run->progress;

        if (from_stdout || !rd->json || len < 5 || memcmp(line, "@nix ", 5) != 0) {
                char clean[NIXLOG_ERROR_MAX + 1];
                size_t n = len < sizeof clean - 1 ? len : sizeof clean - 1;
                for (size_t i = 0; i < n; i++) {
                        unsigned char ch = (unsigned char) line[i];
                        clean[i] = ch < 0x20 || ch == 0x7f ? '?' : (char) ch;
                }
                clean[n] = 0;
                if (clean[0])
                        log_internal(!from_stdout && startswith(clean, "warning:") ? LOG_WARNING : LOG_INFO, 0,
                                     "%s%s", from_stdout ? "nix-store: " : "", clean);
                /* A plain "error: ..." or "warning: ..." line was just printed as it is: not
                 * again below. */
                rd->n_errors = p->n_errors;
                rd->n_warnings = p->n_warnings;
                return;
        }
        if (!streq(p->current_drv, rd->current_drv)) {
                status_set(rd->current_drv, sizeof rd->current_drv, p->current_drv);
                if (p->current_drv[0])
                        log_info("building %s%s%s", p->current_drv, p->machine[0] ? " on " : "", p->machine);
        }
        if (!streq(p->last_line, rd->forwarded)) {
                status_set(rd->forwarded, sizeof rd->forwarded, p->last_line);
                log_info("%s", p->last_line);
        }
        if (p->n_errors != rd->n_errors) {
                rd->n_errors = p->n_errors;
                log_error("error: %s", p->error);
        }
        /* Nix's warnings reach the journal as warnings: an untrusted realise user's
         * builders and substituters are ignored with nothing but a warning. */
        if (p->n_warnings != rd->n_warnings) {
                rd->n_warnings = p->n_warnings;
                log_warning("warning: %s", p->warning);
        }
}

static void handle_line(Reader *rd, const char *line, size_t len, bool from_stdout) {
        if (from_stdout) {
                /* nix-store prints the GC root it made (or the output path). */
                size_t n = len < sizeof rd->run->printed - 1 ? len : sizeof rd->run->printed - 1;
                memcpy(rd->run->printed, line, n);
                rd->run->printed[n] = 0;
        } else if (nixlog_feed(&rd->run->progress, line, len) > 0)
                rd->dirty = true;
        forward_line(rd, line, len, from_stdout);
}

/* Reads what is available on fd and hands out complete lines. */
static int pump(Reader *rd, int fd, LineBuf *lb, bool from_stdout) {
        for (;;) {
                if (lb->len == LINE_MAX_BYTES) {
                        /* Over-long: hand out what we have, drop the rest of the line. */
                        if (!lb->skipping)
                                handle_line(rd, lb->buf, lb->len, from_stdout);
                        lb->skipping = true;
                        lb->len = 0;
                }
                ssize_t k = read(fd, lb->buf + lb->len, LINE_MAX_BYTES - lb->len);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                return 0;
                        return -errno;
                }
                if (k == 0) {
                        if (lb->len > 0 && !lb->skipping)
                                handle_line(rd, lb->buf, lb->len, from_stdout);
                        lb->len = 0;
                        lb->eof = true;
                        return 0;
                }
                size_t start = 0, end = lb->len + (size_t) k;
                for (size_t i = lb->len; i < end; i++) {
                        if (lb->buf[i] != '\n')
                                continue;
                        if (!lb->skipping)
                                handle_line(rd, lb->buf + start, i - start, from_stdout);
                        lb->skipping = false;
                        start = i + 1;
                }
                memmove(lb->buf, lb->buf + start, end - start);
                lb->len = end - start;
        }
}

static void maybe_report(Reader *rd) {
        if (!rd->json)
                return;
        unsigned long long now = now_usec(CLOCK_MONOTONIC);
        /* The first change is shown at once, later ones at most twice a second. */
        bool due = rd->dirty && (!rd->reported || now - rd->last_report >= REPORT_INTERVAL_USEC);
        bool refresh = now - rd->last_report >= REFRESH_INTERVAL_USEC;
        if (!due && !refresh)
                return;
        report_progress(rd->c, &rd->run->progress);
        rd->dirty = false;
        rd->reported = true;
        rd->last_report = now;
}

static int poll_timeout_ms(const Reader *rd) {
        if (!rd->json)
                return -1;
        unsigned long long now = now_usec(CLOCK_MONOTONIC);
        if (rd->dirty && !rd->reported)
                return 0;
        unsigned long long next = rd->last_report + (rd->dirty ? REPORT_INTERVAL_USEC : REFRESH_INTERVAL_USEC);
        return next <= now ? 0 : (int) ((next - now + 999) / 1000);
}

/* In the child: only async-signal-safe calls (no stdio, no malloc), as after fork() in a
 * process that may have locks held. Never returns. */
static _Noreturn void child_exec(char *const *argv, pid_t parent, int out_fd, int err_fd) {
        /* Die with deferred-realise: a nix-store left behind would hold the build and the
         * GC root path while systemd starts a new deferred-realise. */
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
                _exit(127);
        sigset_t none;
        sigemptyset(&none);
        (void) sigprocmask(SIG_SETMASK, &none, NULL);
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0 ||
            dup2(err_fd, STDERR_FILENO) < 0)
                _exit(127);
        execve(argv[0], argv, environ);
        /* Read by the parent from the pipe like any nix-store error, in one writev(): a
         * line this short reaches a pipe whole. strerrordesc_np() returns a constant
         * string: no allocation, no locale data loaded. */
        const char *what = strerrordesc_np(errno);
        struct iovec iov[] = {
                IOVEC_STR("error: failed to execute "), IOVEC_STR(argv[0]), IOVEC_STR(": "),
                IOVEC_STR(what ? what : "unknown error"), IOVEC_STR("\n"),
        };
        (void) writev(STDERR_FILENO, iov, ELEMENTSOF(iov));
        _exit(127);
}

/* Forks the child with its stdout and stderr on pipes; returns our ends. */
static int spawn(char *const *argv, pid_t *ret_pid, int *ret_out, int *ret_err) {
        int out_pipe[2], err_pipe[2];

        if (pipe2(out_pipe, O_CLOEXEC) < 0)
                return -errno;
        if (pipe2(err_pipe, O_CLOEXEC) < 0) {
                int r = -errno;
                close(out_pipe[0]);
                close(out_pipe[1]);
                return r;
        }
        pid_t parent = getpid();
        /* fork(), not vfork() or posix_spawn(): the child must set PR_SET_PDEATHSIG before
         * it execs, which is not allowed in a vfork()ed child, and posix_spawn() cannot do
         * it. vfork() was measured at 2.5 ms faster per run (docs/BENCHMARKS.md). */
        pid_t pid = fork();
        if (pid == 0)
                child_exec(argv, parent, out_pipe[1], err_pipe[1]);
        int r = pid < 0 ? -errno : 0;
        close(out_pipe[1]);
        close(err_pipe[1]);
        if (r < 0) {
                close(out_pipe[0]);
                close(err_pipe[0]);
                return r;
        }
        (void) fcntl(out_pipe[0], F_SETFL, O_NONBLOCK);
        (void) fcntl(err_pipe[0], F_SETFL, O_NONBLOCK);
        *ret_pid = pid;
        *ret_out = out_pipe[0];
        *ret_err = err_pipe[0];
        return 0;
}

int nix_run(Context *c, char *const *argv, bool json, NixRun *run) {
        *run = (NixRun){ .exit_code = -1 };
        nixlog_init(&run->progress);

        /* One nix-store runs at a time: its line buffers can be static. */
        static char obuf[LINE_MAX_BYTES], ebuf[LINE_MAX_BYTES];

        pid_t pid = -1;
        _cleanup_close_ int out_fd = -1, err_fd = -1;
        int r = spawn(argv, &pid, &out_fd, &err_fd);
        if (r < 0)
                return log_error_errno(r, "Failed to start %s: %m", argv[0]);

        LineBuf out = { .buf = obuf }, err = { .buf = ebuf };
        Reader rd = { .c = c, .run = run, .json = json, .last_report = now_usec(CLOCK_MONOTONIC) };
        bool reaped = false;
        int status = 0;

        /* A stop request that came before the child existed is passed on now. */
        if (c->terminate_signal)
                (void) kill(pid, SIGTERM);

        while (!reaped || !out.eof || !err.eof) {
                struct pollfd pfd[3] = {
                        { .fd = out.eof ? -1 : out_fd, .events = POLLIN },
                        { .fd = err.eof ? -1 : err_fd, .events = POLLIN },
                        { .fd = c->signal_fd, .events = POLLIN },
                };
                if (poll(pfd, 3, poll_timeout_ms(&rd)) < 0 && errno != EINTR) {
                        r = log_error_errno(-errno, "Failed to wait for nix-store's output: %m");
                        (void) kill(pid, SIGKILL);
                        (void) waitpid(pid, NULL, 0);
                        return r;
                }
                if (!out.eof && pump(&rd, out_fd, &out, true) < 0)
                        out.eof = true;
                if (!err.eof && pump(&rd, err_fd, &err, false) < 0)
                        err.eof = true;
                if (read_signals(c, reaped ? 0 : pid) && !reaped && waitpid(pid, &status, WNOHANG) == pid) {
                        reaped = true;
                        /* Whatever a grandchild still holds open is not ours to wait for:
                         * take what is buffered and stop. */
                        if (!out.eof)
                                (void) pump(&rd, out_fd, &out, true);
                        if (!err.eof)
                                (void) pump(&rd, err_fd, &err, false);
                        out.eof = err.eof = true;
                }
                maybe_report(&rd);
        }
        /* The caller reports the outcome right away: only take the final numbers. */
        if (json)
                status_take_progress(c, &run->progress);

        if (WIFEXITED(status))
                run->exit_code = WEXITSTATUS(status);
        else if (WIFSIGNALED(status))
                run->term_signal = WTERMSIG(status);
        return 0;
}
