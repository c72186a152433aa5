/* SPDX-License-Identifier: MIT */
#include "log.h"

#include "escape.h"
#include "util.h"
#include "validate.h"

#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>

static const char *log_ident = "deferred-builds";
static int log_max_level = LOG_INFO;
static int kmsg_fd = -1;

void log_setup(const char *ident, int target) {
        log_ident = ident;
        if (target == LOG_TARGET_KMSG && kmsg_fd < 0)
                kmsg_fd = open("/dev/kmsg", O_WRONLY | O_NOCTTY | O_CLOEXEC);
}

void log_set_max_level(int level) {
        log_max_level = level;
}

int log_get_max_level(void) {
        return log_max_level;
}

bool log_stderr_is_journal(void) {
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

int log_internal(int level, int error, const char *fmt, ...) {
        int e = error < 0 ? -error : error;
        if (level > log_max_level)
                return error < 0 ? error : -e;

        /* %m must see the error we were handed, not whatever errno happens to be. */
        errno = e;
        char msg[2048];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);

        /* Whatever a message quotes (a manifest value, a file name below STATE/roots, another
         * program's output), no control byte reaches the admin's terminal or the journal:
         * such a message is written with those bytes as \xNN. */
        _cleanup_free_ char *escaped = NULL;
        const char *text = msg;
        if (!string_is_printable_utf8(msg)) {
                escaped = escape_for_message(msg, sizeof msg);
                if (escaped)
                        text = escaped;
                else
                        for (char *c = msg; *c; c++)
                                if ((unsigned char) *c < 0x20 || *c == 0x7f)
                                        *c = '?';
        }

        if (kmsg_fd >= 0) {
                char line[2200];
                int n = snprintf(line, sizeof line, "<%d>%s[%d]: %s\n", LOG_DAEMON | level, log_ident,
                                 (int) getpid(), text);
                if (n > 0 && write(kmsg_fd, line, (size_t) (n < (int) sizeof line ? n : (int) sizeof line - 1)) >= 0)
                        return -e;
        }
        if (log_stderr_is_journal())
                fprintf(stderr, "<%d>%s\n", level, text);
        else
                fprintf(stderr, "%s\n", text);
        return -e;
}
