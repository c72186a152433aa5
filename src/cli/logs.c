/* SPDX-License-Identifier: MIT */
/* deferred-builds logs NAME [-n N] [-f]: a model's journal entries.
 *
 * Matches only fields no other process can forge: what the model's three units wrote
 * (_SYSTEMD_UNIT / _SYSTEMD_USER_UNIT, set by journald from the sender's cgroup) and what
 * the manager said about them (UNIT= from PID 1, USER_UNIT= from our own user). The
 * DEFERRED_MODEL= field the helpers add is any sender's to write, so it selects nothing.
 * Without a journal (no journald, as in a bare user manager) the status file still knows
 * the last build line and the last error. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-journal.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "log.h"
#include "status.h"
#include "units.h"
#include "util.h"

#define DEFAULT_LINES 50

static unsigned long long arg_lines = DEFAULT_LINES;
static bool arg_all = false;
static bool arg_follow = false;

static void help(void) {
        printf("Usage: %s logs [-n N] [-f] NAME\n\n"
               "Show the journal entries of model NAME: what its realise, retrain and serve units\n"
               "wrote and what the service manager said about them. Without a journal, show what\n"
               "the status file knows (last build log line, last error).\n\n"
               "  -n --lines=N   show the last N entries (default %d; \"all\": all of them)\n"
               "  -f --follow    keep printing new entries\n"
               "  --user         the user's units     --system  system units (default)\n"
               "  -h --help      show this help\n",
               program_invocation_short_name, DEFAULT_LINES);
}

static int parse_argv(int argc, char *argv[]) {
        static const struct option opts[] = {
                COMMON_OPTIONS,
                { "lines", required_argument, NULL, 'n' },
                { "follow", no_argument, NULL, 'f' },
                {},
        };
        int c;
        while ((c = getopt_long(argc, argv, ":hn:f", opts, NULL)) >= 0) {
                if (common_option(c))
                        continue;
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case 'n':
                        arg_all = streq(optarg, "all");
                        if (!arg_all && safe_atou64(optarg, &arg_lines) < 0)
                                return operand_error(argv, "-n takes a number of entries, or \"all\"");
                        break;
                case 'f':
                        arg_follow = true;
                        break;
                default:
                        return option_error(c, argv);
                }
        }
        if (argc - optind != 1)
                return operand_error(argv, "takes exactly one model NAME");
        return CLI_CONTINUE;
}

/* One disjunct: FIELD=VALUE, and in the user scope also _UID=ours, so that neither a
 * system unit of the same name nor another user's model shows up. A field the sender
 * writes itself (UNIT=, USER_UNIT=) counts only from the service manager: _PID=1, or in
 * the user scope our own process named systemd (_COMM= is journald's, from /proc). */
static int add_term(sd_journal *j, const char *field, const char *value) {
        char match[UNIT_NAME_BUF + 64];
        bool sender_field = !startswith(field, "_");
        int r;
        snprintf(match, sizeof match, "%s=%s", field, value);
        if ((r = sd_journal_add_match(j, match, 0)) < 0)
                return r;
        if (arg_scope == SCOPE_USER) {
                snprintf(match, sizeof match, "_UID=%u", (unsigned) getuid());
                if ((r = sd_journal_add_match(j, match, 0)) < 0)
                        return r;
        }
        if (sender_field &&
            (r = sd_journal_add_match(j, arg_scope == SCOPE_USER ? "_COMM=systemd" : "_PID=1", 0)) < 0)
                return r;
        return sd_journal_add_disjunction(j);
}

static int add_matches(sd_journal *j, const char *name) {
        /* Unit fields: in the user scope the journal sets _SYSTEMD_USER_UNIT for processes of
         * a user manager below user@UID.service, but _SYSTEMD_UNIT for one that runs at the
         * top of its own cgroup tree (a container, a test namespace); with _UID=ours both
         * mean our user's unit. */
        static const char *const system_fields[] = { "_SYSTEMD_UNIT", "UNIT" };
        static const char *const user_fields[] = { "_SYSTEMD_USER_UNIT", "USER_UNIT", "_SYSTEMD_UNIT" };
        const char *const *fields = arg_scope == SCOPE_USER ? user_fields : system_fields;
        size_t n_fields = arg_scope == SCOPE_USER ? ELEMENTSOF(user_fields) : ELEMENTSOF(system_fields);
        char unit[UNIT_NAME_BUF];
        int r;

        for (UnitKind k = 0; k < _UNIT_KIND_MAX; k++)
                for (size_t i = 0; i < n_fields; i++)
                        if ((r = add_term(j, fields[i], model_unit_name(k, name, unit))) < 0)
                                return r;
        return 0;
}

/* In the system scope, entries of user managers' units are not the system's. */
static bool entry_in_scope(sd_journal *j) {
        const void *data;
        size_t len;
        if (arg_scope == SCOPE_USER)
                return true;
        if (sd_journal_get_data(j, "_SYSTEMD_USER_UNIT", &data, &len) >= 0)
                return false;
        if (sd_journal_get_data(j, "_SYSTEMD_UNIT", &data, &len) >= 0 && len > 19 &&
            memcmp(data, "_SYSTEMD_UNIT=user@", 19) == 0)
                return false;
        return true;
}

/* The value of FIELD in the current entry, cut at n-1 bytes, or "" when absent. */
static void field(sd_journal *j, const char *name, char *buf, size_t n) {
        const void *data;
        size_t len, l = strlen(name);
        buf[0] = 0;
        if (sd_journal_get_data(j, name, &data, &len) < 0 || len <= l + 1)
                return;
        len -= l + 1;
        if (len >= n)
                len = n - 1;
        memcpy(buf, (const char *) data + l + 1, len);
        buf[len] = 0;
}

static bool print_entry(sd_journal *j) {
        uint64_t usec = 0;
        if (!entry_in_scope(j))
                return false;
        char when[64] = "", ident[128], pid[32];
        (void) sd_journal_get_realtime_usec(j, &usec);
        time_t t = (time_t) (usec / 1000000ULL);
        struct tm tm;
        if (localtime_r(&t, &tm))
                strftime(when, sizeof when, "%b %d %H:%M:%S", &tm);
        field(j, "SYSLOG_IDENTIFIER", ident, sizeof ident);
        if (!ident[0])
                field(j, "_COMM", ident, sizeof ident);
        field(j, "_PID", pid, sizeof pid);
        if (!pid[0])
                field(j, "SYSLOG_PID", pid, sizeof pid);
        printf("%s %s%s%s%s: ", when, ident[0] ? ident : "?", pid[0] ? "[" : "", pid, pid[0] ? "]" : "");

        const void *data;
        size_t len;
        if (sd_journal_get_data(j, "MESSAGE", &data, &len) >= 0 && len > 8) {
                /* Terminal escapes in a log line must not reach the terminal. */
                const unsigned char *s = (const unsigned char *) data + 8;
                for (size_t i = 0; i < len - 8; i++) {
                        unsigned char c = s[i];
                        if (c == '\n')
                                fputs("\n    ", stdout);
                        else if (c == '\t' || (c >= 0x20 && c != 0x7f))
                                putchar(c);
                        else
                                putchar('?');
                }
        }
        putchar('\n');
        return true;
}

/* What the status file knows, for when the journal does not. */
static int print_status_file(const char *name) {
        _cleanup_free_ char *runtime_dir = NULL;
        ModelStatus st;
        int r = path_runtime_dir(arg_scope, &runtime_dir);
        if (r < 0)
                return log_error_errno(r, "Failed to determine the runtime directory (set XDG_RUNTIME_DIR or "
                                          "DEFERRED_BUILDS_RUNTIME_DIR): %m");
        r = status_read(runtime_dir, name, &st);
        if (r == -ENOENT) {
                log_error("No status file %s/" STATUS_SUBDIR "/%s either: model %s has not been realised yet.",
                          runtime_dir, name, name);
                return CLI_EXIT_FAILURE;
        }
        if (r < 0 && r != -EBADMSG)
                return log_error_errno(r, "Failed to read the status file %s/" STATUS_SUBDIR "/%s: %m", runtime_dir,
                                       name);

        printf("Status file %s/" STATUS_SUBDIR "/%s:\n", runtime_dir, name);
        printf("  state:     %s\n", model_state_to_string(st.state));
        printf("  drv:       %s\n", isempty(st.drv) ? "-" : st.drv);
        printf("  out:       %s\n", isempty(st.out) ? "-" : st.out);
        if (st.expected > 0)
                printf("  progress:  %llu/%llu derivations\n", st.done, st.expected);
        printf("  last line: %s\n", isempty(st.last_line) ? "-" : st.last_line);
        printf("  error:     %s\n", isempty(st.error) ? "-" : st.error);
        printf("  attempts:  %u\n", st.attempts);
        return 0;
}

static int run(const char *name) {
        _cleanup_(sd_journal_closep) sd_journal *j = NULL;
        uint64_t usage = 0;
        int r = cli_model_arg(name, NULL, NULL);
        if (r != 0)
                return r;

        r = sd_journal_open(&j, SD_JOURNAL_LOCAL_ONLY);
        if (r >= 0)
                r = sd_journal_get_usage(j, &usage);
        if (r < 0 || usage == 0) {
                bool journald = access("/run/systemd/journal/socket", F_OK) >= 0;
                fprintf(stderr,
                        "No journal is available (%s), so the log of model %s was not recorded; showing its status "
                        "file instead.\n",
                        r < 0        ? strerror(-r)
                        : !journald ? "systemd-journald is not running"
                                     : "no journal files",
                        name);
                return print_status_file(name);
        }

        r = add_matches(j, name);
        if (r < 0)
                return log_error_errno(r, "Failed to set up journal matches for model %s: %m", name);
        if (arg_follow) {
                /* Watch for changes before positioning: set up later, the watches re-read the
                 * journal files and the position is lost (journalctl does the same). */
                r = sd_journal_get_fd(j);
                if (r < 0)
                        return log_error_errno(r, "Failed to watch the journal: %m");
        }

        size_t shown = 0;
        if (arg_all) {
                r = sd_journal_seek_head(j);
                while (r >= 0 && (r = sd_journal_next(j)) > 0)
                        shown += print_entry(j);
        } else {
                /* Stand on the N-th last entry (on the last one for -n 0, without printing
                 * it, so that -f -n 0 prints only what comes), then walk forward. */
                r = sd_journal_seek_tail(j);
                if (r >= 0)
                        r = sd_journal_previous_skip(j, arg_lines > 0 ? arg_lines : 1);
                if (r > 0 && arg_lines > 0) {
                        do
                                shown += print_entry(j);
                        while ((r = sd_journal_next(j)) > 0);
                }
        }
        if (r < 0)
                return log_error_errno(r, "Failed to read the journal: %m");

        if (!arg_follow) {
                if (shown == 0 && (arg_all || arg_lines > 0)) {
                        fprintf(stderr, "No journal entries for model %s.\n", name);
                        return print_status_file(name);
                }
                return 0;
        }

        fflush(stdout);
        for (;;) {
                r = sd_journal_wait(j, UINT64_MAX);
                if (r < 0)
                        return log_error_errno(r, "Failed to wait for journal entries: %m");
                while ((r = sd_journal_next(j)) > 0)
                        print_entry(j);
                if (r < 0)
                        return log_error_errno(r, "Failed to read the journal: %m");
                fflush(stdout);
        }
}

int verb_logs(int argc, char *argv[]) {
        int r = parse_argv(argc, argv);
        if (r != CLI_CONTINUE)
                return r;
        return run(argv[optind]);
}
