/* SPDX-License-Identifier: MIT */
#include "statusline.h"

#include <assert.h>
#include <string.h>

#include "utf8.h"
#include "util.h"

typedef struct Output {
        char *buf;
        size_t size, len;
        bool full;
} Output;

static void output_append(Output *o, const char *s, size_t n) {
        if (o->full)
                return;
        size_t room = o->size - 1 - o->len;
        if (n > room) {
                copy_bytes(o->buf + o->len, s, room);
                o->len = utf8_cut(o->buf, o->len + room);
                o->full = true;
        } else {
                copy_bytes(o->buf + o->len, s, n);
                o->len += n;
        }
        o->buf[o->len] = 0;
}

static void output_string(Output *o, const char *s) {
        output_append(o, s, strlen(s));
}

static void output_u64(Output *o, unsigned long long v) {
        char b[20]; /* 18446744073709551615 */
        size_t i = sizeof b;

        do {
                b[--i] = (char) ('0' + v % 10);
                v /= 10;
        } while (v > 0);
        output_append(o, b + i, sizeof b - i);
}

static void output_elapsed(Output *o, unsigned long long sec) {
        if (sec < 60) {
                output_u64(o, sec);
                output_string(o, "s");
        } else if (sec < 3600) {
                output_u64(o, sec / 60);
                output_string(o, "m");
        } else {
                unsigned long long min = sec / 60 % 60;
                output_u64(o, sec / 3600);
                output_string(o, min < 10 ? "h0" : "h");
                output_u64(o, min);
                output_string(o, "m");
        }
}

void status_line_format(const NixProgress *p, const char *model, unsigned long long elapsed_sec, char *buf,
                        size_t size) {
        Output o = { .buf = buf, .size = size };
        bool substituting, waiting;
        char name[256];

        assert(p);
        if (size == 0)
                return;
        assert(buf);
        buf[0] = 0;

        substituting = p->substituting && !p->building;
        waiting = p->waiting[0] && !p->building && !p->substituting;
        output_string(&o, substituting ? "substituting" : waiting ? "waiting for a cache" : "training");
        text_sanitize(model ? model : "", model ? strlen(model) : 0, name, sizeof name, false);
        if (name[0]) {
                output_string(&o, " ");
                output_string(&o, name);
        }
        output_string(&o, ": ");
        if (waiting) {
                output_string(&o, p->waiting);
                output_string(&o, ", ");
                output_elapsed(&o, elapsed_sec);
                output_string(&o, " elapsed");
                return;
        }
        if (substituting) {
                output_u64(&o, p->subst_done);
                output_string(&o, "/");
                output_u64(&o, p->subst_expected);
                output_string(&o, " paths substituted");
        } else {
                output_u64(&o, p->done);
                output_string(&o, "/");
                output_u64(&o, p->expected);
                output_string(&o, " derivations built");
                if (p->failed > 0) {
                        output_string(&o, ", ");
                        output_u64(&o, p->failed);
                        output_string(&o, " failed");
                }
        }
        output_string(&o, ", ");
        output_elapsed(&o, elapsed_sec);
        output_string(&o, " elapsed");
        if (p->last_line[0]) {
                output_string(&o, ", last: ");
                output_string(&o, p->last_line);
        }
}
