/* SPDX-License-Identifier: MIT */
/* Logging: to /dev/kmsg when asked (generators run before the journal), else stderr. When
 * stderr is the journal ($JOURNAL_STREAM names it), each line starts with its syslog level,
 * "<4>" for a warning, which journald takes as the entry's priority (SyslogLevelPrefix=),
 * so `journalctl -p warning` finds warnings and errors.
 * Every log_*_errno() returns the negative error it was given, so callers can write
 * `return log_error_errno(r, "Failed to ...: %m");` with %m meaning strerror(-r). */
#pragma once

#include "util.h"

enum { LOG_TARGET_STDERR, LOG_TARGET_KMSG };

void log_setup(const char *ident, int target); /* KMSG falls back to stderr if unavailable */
void log_set_max_level(int level);               /* syslog levels; default LOG_INFO */
int log_get_max_level(void);
int log_internal(int level, int error, const char *fmt, ...) _printf_(3, 4);
/* True when stderr is the stream systemd connected to the journal: $JOURNAL_STREAM is
 * "DEVICE:INODE" of it (systemd.exec(5)). Checked once. */
bool log_stderr_is_journal(void);

#include <syslog.h>
#define log_debug(...) log_internal(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...) log_internal(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...) log_internal(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) log_internal(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...) log_internal(LOG_ERR, 0, __VA_ARGS__)
#define log_warning_errno(e, ...) log_internal(LOG_WARNING, (e), __VA_ARGS__)
#define log_error_errno(e, ...) log_internal(LOG_ERR, (e), __VA_ARGS__)
#define log_oom() log_internal(LOG_ERR, -ENOMEM, "Out of memory.")
