/* SPDX-License-Identifier: MIT */
#include "errtext.h"

#include <stdbool.h>
#include <string.h>

#include "utf8.h"
#include "util.h"

#define LOG_KEEP 32       /* quoted log lines looked at (Nix quotes 10 by default) */
#define PIECE_MAX 512     /* bytes of one sanitised line */
#define ELLIPSIS "\u2026" /* marks a cut */

typedef struct Summary {
        char head[PIECE_MAX * 2];
        size_t head_len;
        char log[LOG_KEEP][PIECE_MAX];
        size_t n_log; /* lines seen; the last LOG_KEEP are kept, log[i % LOG_KEEP] */
} Summary;

static void head_append(Summary *s, const char *text, size_t l) {
        size_t room = sizeof s->head - 1 - s->head_len;
        if (s->head_len > 0 && room > 0) {
                s->head[s->head_len++] = ' ';
                room--;
        }
        if (l > room)
                l = utf8_cut(text, room);
        memcpy(s->head + s->head_len, text, l);
        s->head_len += l;
        s->head[s->head_len] = 0;
}

static bool is_log_header(const char *t) {
        /* "last 10 log lines:" */
        const char *p = startswith(t, "last ");
        if (!p || !*p)
                return false;
        p += strspn(p, "0123456789");
        return streq(p, " log lines:");
}

/* Python's last traceback line: "Type: message" or a bare "Type" (dotted names too). */
static bool is_exception_line(const char *t) {
        size_t n = strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.");
        if (n == 0 || (t[0] >= '0' && t[0] <= '9'))
                return false;
        return t[n] == 0 || (t[n] == ':' && (t[n + 1] == ' ' || t[n + 1] == 0));
}

static const char *log_line(const Summary *s, size_t i) {
        return s->log[i % LOG_KEEP];
}

/* Appends text to out at *w, cut to fit `room` bytes, with an ellipsis when cut. */
static void put(char *out, size_t *w, size_t limit, const char *text, size_t l) {
        if (*w + l > limit) {
                size_t keep = limit - *w >= strlen(ELLIPSIS) ? limit - *w - strlen(ELLIPSIS) : 0;
                keep = utf8_cut(text, keep);
                memcpy(out + *w, text, keep);
                *w += keep;
                if (*w + strlen(ELLIPSIS) <= limit) {
                        memcpy(out + *w, ELLIPSIS, strlen(ELLIPSIS));
                        *w += strlen(ELLIPSIS);
                }
                return;
        }
        memcpy(out + *w, text, l);
        *w += l;
}

size_t nix_error_summarize(const char *msg, size_t len, char *out, size_t size) {
        Summary s;
        bool in_log = false;
        char piece[PIECE_MAX];

        if (size == 0)
                return 0;
        s.head_len = 0;
        s.head[0] = 0;
        s.n_log = 0;

        for (size_t at = 0; msg && at < len;) {
                const char *nl = memchr(msg + at, '\n', len - at);
                size_t l = nl ? (size_t) (nl - (msg + at)) : len - at;
                size_t pl = text_sanitize(msg + at, l, piece, sizeof piece, true);
                at += l + (nl ? 1 : 0);
                if (pl == 0)
                        continue;
                if (in_log && piece[0] == '>') {
                        const char *t = piece + 1 + (piece[1] == ' ');
                        if (*t)
                                snprintf(s.log[s.n_log++ % LOG_KEEP], PIECE_MAX, "%s", t);
                        continue;
                }
                if (is_log_header(piece)) {
                        in_log = true;
                        continue;
                }
                if (in_log && startswith(piece, "For full logs, run"))
                        continue;
                head_append(&s, piece, pl);
        }
        while (s.head_len > 0 && (s.head[s.head_len - 1] == ';' || s.head[s.head_len - 1] == ':'))
                s.head[--s.head_len] = 0;

        size_t first = s.n_log > LOG_KEEP ? s.n_log - LOG_KEEP : 0, anchor = s.n_log;
        bool traceback = false;
        for (size_t i = s.n_log; i > first; i--)
                if (streq(log_line(&s, i - 1), "Traceback (most recent call last):")) {
                        traceback = true;
                        for (size_t k = s.n_log; k > i; k--)
                                if (is_exception_line(log_line(&s, k - 1))) {
                                        anchor = k - 1;
                                        break;
                                }
                        break;
                }
        if (anchor == s.n_log && s.n_log > first)
                anchor = s.n_log - 1;

        size_t limit = size - 1, w = 0;
        if (anchor == s.n_log) {
                put(out, &w, limit, s.head, s.head_len);
                out[w] = 0;
                return w;
        }

        /* The headline and the anchor line always; then earlier lines, whole, while they fit. */
        const char *a = log_line(&s, anchor);
        size_t al = strlen(a), sep = s.head_len > 0 ? 2 : 0, used = s.head_len + sep + al;
        size_t from = anchor;
        while (from > first) {
                const char *t = log_line(&s, from - 1);
                if (traceback && streq(t, "Traceback (most recent call last):"))
                        break;
                if (used + strlen(t) + 3 > limit)
                        break;
                used += strlen(t) + 3;
                from--;
        }

        if (s.head_len > 0) {
                /* The headline gives way to the cause, but keeps at least a third. */
                size_t head_room = s.head_len;
                if (s.head_len + sep + al > limit) {
                        head_room = limit > sep + al ? limit - sep - al : 0;
                        if (head_room < limit / 3)
                                head_room = limit / 3;
                }
                put(out, &w, head_room, s.head, s.head_len);
                put(out, &w, limit, ": ", 2);
        }
        for (size_t i = from; i < anchor; i++) {
                const char *t = log_line(&s, i);
                put(out, &w, limit, t, strlen(t));
                put(out, &w, limit, " | ", 3);
        }
        put(out, &w, limit, a, al);
        out[w] = 0;
        return w;
}
