/* SPDX-License-Identifier: MIT */
/* Human output: colours, relative times, sizes, short store paths, column widths. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "format.h"
#include "util.h"
#include "validate.h"

bool colour_enabled(void) {
        static int cached = -1;
        if (cached < 0) {
                const char *term = getenv("TERM");
                cached = isatty(STDOUT_FILENO) && !getenv("NO_COLOR") && !(term && streq(term, "dumb"));
        }
        return cached;
}

const char *state_colour(const char *state) {
        if (streq(state, "serving") || streq(state, "ready"))
                return ANSI_GREEN;
        if (streq(state, "training") || streq(state, "substituting"))
                return ANSI_YELLOW;
        if (streq(state, "pending") || streq(state, "waiting"))
                return ANSI_BLUE;
        if (streq(state, "failed") || streq(state, "stopped") || streq(state, "silent"))
                return ANSI_RED;
        return ANSI_GREY;
}

void format_relative(char *buf, size_t n, unsigned long long usec, unsigned long long now) {
        if (usec == 0) {
                snprintf(buf, n, "-");
                return;
        }
        unsigned long long s = now > usec ? (now - usec) / 1000000ULL : 0;
        if (s < 60)
                snprintf(buf, n, "%llus ago", s);
        else if (s < 3600)
                snprintf(buf, n, "%llum ago", s / 60);
        else if (s < 86400)
                snprintf(buf, n, "%lluh%02llum ago", s / 3600, s % 3600 / 60);
        else
                snprintf(buf, n, "%llud%02lluh ago", s / 86400, s % 86400 / 3600);
}

void format_size(char *buf, size_t n, unsigned long long bytes) {
        static const char units[] = "KMGTPE";
        if (bytes < 1024) {
                snprintf(buf, n, "%lluB", bytes);
                return;
        }
        double v = (double) bytes;
        size_t i = 0;
        for (v /= 1024; v >= 1024 && i + 1 < sizeof units - 1; i++)
                v /= 1024;
        snprintf(buf, n, "%.1f%c", v, units[i]);
}

void format_store_path(char *buf, size_t n, const char *path) {
        const char *dir = store_dir();
        const char *rest = isempty(path) ? NULL : startswith(path, dir);
        if (!rest || rest[0] != '/' || strlen(rest) < 34 || rest[33] != '-') {
                snprintf(buf, n, "%s", isempty(path) ? "-" : path);
                return;
        }
        /* <hash> is 32 characters: 7 are enough to tell models apart at a glance. */
        snprintf(buf, n, "%.7s\xe2\x80\xa6%s", rest + 1, rest + 33);
}

size_t utf8_columns(const char *s) {
        size_t n = 0;
        for (; *s; s++)
                n += ((unsigned char) *s & 0xc0) != 0x80;
        return n;
}

void utf8_truncate(char *buf, size_t n, const char *s, size_t max) {
        if (n == 0)
                return;
        if (max == 0) {
                buf[0] = 0;
                return;
        }
        if (utf8_columns(s) <= max) {
                snprintf(buf, n, "%s", s);
                return;
        }
        /* Keep max-1 characters and add "…" (3 bytes). */
        size_t cols = 0, i = 0;
        for (; s[i]; i++) {
                if (((unsigned char) s[i] & 0xc0) != 0x80) {
                        if (cols == max - 1)
                                break;
                        cols++;
                }
        }
        if (i + 4 > n)
                i = n >= 4 ? n - 4 : 0;
        while (i > 0 && ((unsigned char) s[i] & 0xc0) == 0x80)
                i--;
        memcpy(buf, s, i);
        if (n - i >= 4) {
                memcpy(buf + i, "\xe2\x80\xa6", 3);
                i += 3;
        }
        buf[i] = 0;
}
