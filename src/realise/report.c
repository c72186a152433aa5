/* SPDX-License-Identifier: MIT */
/* What others see of a realisation: the status file (the CLI and reconcile read it), the
 * unit's StatusText (sd_notify STATUS=) and start/finish/failure messages in the journal
 * with fields to filter on (journalctl DEFERRED_MODEL=NAME). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>

#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>

#include "log.h"
#include "realise.h"
#include "util.h"

unsigned long long elapsed_sec(const Context *c) {
        return (now_usec(CLOCK_MONOTONIC) - c->start_usec) / 1000000ULL;
}

const char *signal_name(int sig, char buf[static 16]) {
        const char *abbrev = sigabbrev_np(sig);
        if (abbrev)
                snprintf(buf, 16, "SIG%s", abbrev);
        else
                snprintf(buf, 16, "signal %d", sig);
        return buf;
}

void status_set(char *dst, size_t size, const char *text) {
        size_t l = strlen(text);
        if (l >= size) {
                l = size - 1;
                /* Do not cut a UTF-8 sequence: back up over continuation bytes. */
                while (l > 0 && ((unsigned char) text[l] & 0xc0) == 0x80)
                        l--;
        }
        memcpy(dst, text, l);
        dst[l] = 0;
}

void report_status(Context *c) {
        int r = status_write(c->runtime_dir, &c->st);
        if (r < 0 && !c->status_warned) {
                c->status_warned = true;
                log_warning_errno(r, "Failed to write the status file of model %s below %s, continuing without "
                                     "it (deferred-builds status will not show this model): %m",
                                  c->model_name, c->runtime_dir);
        }
}

void report_notify(const char *fmt, ...) {
        char text[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(text, sizeof text, fmt, ap);
        va_end(ap);
        /* Not under a manager (a manual run): nothing to tell, and that is fine. */
        (void) sd_notifyf(0, "STATUS=%s", text);
}

/* True when stderr is connected to the journal (systemd sets $JOURNAL_STREAM to its
 * device:inode): then messages sent to the journal directly must not be printed again. */
static bool stderr_is_journal(void) {
        static int cached = -1;
        if (cached >= 0)
                return cached;
        cached = 0;
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;
        if (e && sscanf(e, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) >= 0 &&
            (unsigned long long) st.st_dev == dev && (unsigned long long) st.st_ino == ino)
                cached = 1;
        return cached;
}

void report_event(Context *c, int priority, const char *fmt, ...) {
        char text[2048];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(text, sizeof text, fmt, ap);
        va_end(ap);

        /* Without journald (containers, tests) this fails: the stderr copy below is what
         * remains, so the error is ignored. */
        int r = sd_journal_send("MESSAGE=%s", text, "PRIORITY=%i", priority, "SYSLOG_IDENTIFIER=deferred-realise",
                                "DEFERRED_MODEL=%s", c->model_name, "DEFERRED_DRV=%s", c->md ? c->md->drv : "",
                                "DEFERRED_OUT=%s", c->st.out, "DEFERRED_GENERATION=%s", c->st.generation, NULL);
        if (r < 0 || !stderr_is_journal())
                log_internal(priority, 0, "%s", text);
}

void report_progress(Context *c, const NixProgress *p) {
        static char last_sent[1024];
        char text[1024];

        nixlog_format_status(p, c->model_name, elapsed_sec(c), text, sizeof text);
        if (streq(text, last_sent))
                return;
        snprintf(last_sent, sizeof last_sent, "%s", text);
        report_notify("%s", text);

        /* The state follows what Nix is doing right now; between activities (querying,
         * registering the root) it keeps what it was, so a cache hit never shows
         * "training". */
        if (p->building)
                c->st.state = MODEL_STATE_TRAINING;
        else if (p->substituting)
                c->st.state = MODEL_STATE_SUBSTITUTING;
        status_take_progress(c, p);
        report_status(c);
}

void status_take_progress(Context *c, const NixProgress *p) {
        c->st.done = p->done;
        c->st.expected = p->expected;
        if (p->last_line[0])
                status_set(c->st.last_line, sizeof c->st.last_line, p->last_line);
}
