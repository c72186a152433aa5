/* SPDX-License-Identifier: MIT */
/* What others see of a realisation: the status file (the CLI and reconcile read it), the
 * unit's StatusText (sd_notify STATUS=) and start/finish/failure messages in the journal
 * with fields to filter on (journalctl DEFERRED_MODEL=NAME). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "log.h"
#include "realise.h"
#include "sdproto.h"
#include "statusline.h"
#include "utf8.h"
#include "util.h"

#define OUTPUT_STAMP_SEC 5ULL

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
        if (l >= size)
                l = utf8_cut(text, size - 1);
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

#define STRLEN_STATUS (sizeof "STATUS=" - 1)

void report_notify(const char *fmt, ...) {
        char state[STRLEN_STATUS + 1024] = "STATUS=";
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(state + STRLEN_STATUS, sizeof state - STRLEN_STATUS, fmt, ap);
        va_end(ap);
        /* The manager reads one assignment per line: a line break in the text (from a
         * build log or an error) would end STATUS= there and start another assignment. */
        for (char *p = state; (p = strchr(p, '\n')); p++)
                *p = ' ';
        /* Not under a manager (a manual run): nothing to tell, and that is fine. Nor is a
         * manager that cannot be reached a reason to fail a build. */
        (void) notify_send(state);
}

void report_event(Context *c, int priority, const char *fmt, ...) {
        char text[2048];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(text, sizeof text, fmt, ap);
        va_end(ap);
        /* Trailing line breaks (the end of a quoted Nix error) would show as empty lines. */
        for (size_t l = strlen(text); l > 0 && strchr(" \t\n", text[l - 1]); l--)
                text[l - 1] = 0;

        char prio[12];
        snprintf(prio, sizeof prio, "%i", priority);
        const JournalField fields[] = {
                { "MESSAGE", text },
                { "PRIORITY", prio },
                { "SYSLOG_IDENTIFIER", "deferred-realise" },
                { "DEFERRED_MODEL", c->model_name },
                { "DEFERRED_DRV", c->md ? c->md->drv : "" },
                { "DEFERRED_OUT", c->st.out },
                { "DEFERRED_GENERATION", c->st.generation },
        };
        /* Without journald (containers, the tests' user manager) this fails, with -ENOENT:
         * the stderr copy below is what remains, so the error is not logged. (libsystemd
         * reported a missing journal socket as success; now such a message still reaches
         * stderr even when $JOURNAL_STREAM says stderr is the journal.) */
        int r = journal_send_to(JOURNAL_SOCKET_PATH, fields, ELEMENTSOF(fields));
        if (r < 0 || !log_stderr_is_journal())
                log_internal(priority, 0, "%s", text);
}

/* When the build last printed: silence is measured from it (or from the build's start). */
static bool stamp_output(Context *c, const NixProgress *p) {
        static unsigned long long seen_lines;
        static bool was_building;
        bool printed = p->n_log_lines != seen_lines || (p->building && !was_building);
        seen_lines = p->n_log_lines;
        was_building = p->building;
        if (!printed)
                return false;
        unsigned long long now = (unsigned long long) time(NULL), before = c->st.last_output;
        c->st.last_output = now;
        /* A chatty build would rewrite the file for every line: seconds are enough. */
        return now >= before + OUTPUT_STAMP_SEC;
}

void report_progress(Context *c, const NixProgress *p) {
        static char last_sent[1024];
        char text[1024];

        bool stamp_due = stamp_output(c, p);
        bool waiting_changed = !streq(c->st.waiting, p->waiting);
        if (waiting_changed)
                status_set(c->st.waiting, sizeof c->st.waiting, p->waiting);
        status_line_format(p, c->model_name, elapsed_sec(c), text, sizeof text);
        if (streq(text, last_sent) && !stamp_due && !waiting_changed)
                return;
        if (streq(text, last_sent)) {
                report_status(c);
                return;
        }
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
