/* SPDX-License-Identifier: MIT */
/* JSON reader: just enough for one line of Nix's internal-json log. Bounded, no
 * allocation, recursion at most NIXLOG_JSON_MAX_DEPTH deep. */
#include "jsonread.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "nixlog.h"
#include "utf8.h"
#include "util.h"

void json_skip_ws(Cursor *c) {
        while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
                c->p++;
}

static void json_string_put(JsonString *s, const unsigned char *bytes, size_t n) {
        if (!s || s->full)
                return;
        size_t room = s->cap - s->len;
        if (n > room) {
                copy_bytes(s->buf + s->len, bytes, room);
                s->len = utf8_cut(s->buf, s->len + room);
                s->full = true;
                return;
        }
        copy_bytes(s->buf + s->len, bytes, n);
        s->len += n;
}

static int json_hex4(Cursor *c, uint32_t *ret) {
        uint32_t v = 0;

        if (c->end - c->p < 4)
                return -EINVAL;
        for (int i = 0; i < 4; i++) {
                unsigned char h = c->p[i];
                uint32_t d;
                if (h >= '0' && h <= '9')
                        d = h - (unsigned) '0';
                else if (h >= 'a' && h <= 'f')
                        d = h - (unsigned) 'a' + 10;
                else if (h >= 'A' && h <= 'F')
                        d = h - (unsigned) 'A' + 10;
                else
                        return -EINVAL;
                v = v << 4 | d;
        }
        c->p += 4;
        *ret = v;
        return 0;
}

/* After "\u" (already consumed): one code point, joining a surrogate pair; an unpaired
 * surrogate becomes U+FFFD and a following non-low-surrogate escape is left unread. */
static int json_unicode_escape(Cursor *c, uint32_t *ret) {
        uint32_t cp, lo;
        int r = json_hex4(c, &cp);
        if (r < 0)
                return r;

        if (cp >= 0xdc00 && cp <= 0xdfff)
                cp = 0xfffd;
        else if (cp >= 0xd800 && cp <= 0xdbff) {
                Cursor save = *c;
                if (c->end - c->p >= 6 && c->p[0] == '\\' && c->p[1] == 'u') {
                        c->p += 2;
                        if (json_hex4(c, &lo) >= 0 && lo >= 0xdc00 && lo <= 0xdfff) {
                                *ret = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                                return 0;
                        }
                }
                *c = save;
                cp = 0xfffd;
        }
        *ret = cp;
        return 0;
}

/* At the opening quote. Raw bytes (even control bytes and invalid UTF-8) are kept as they
 * are; the sanitiser deals with them later. */
int json_read_string(Cursor *c, JsonString *s) {
        if (c->p >= c->end || *c->p != '"')
                return -EINVAL;
        c->p++;
        for (;;) {
                const unsigned char *run = c->p;
                while (c->p < c->end && *c->p != '"' && *c->p != '\\')
                        c->p++;
                json_string_put(s, run, (size_t) (c->p - run));
                if (c->p >= c->end)
                        return -EINVAL; /* unterminated */
                if (*c->p++ == '"')
                        return 0;

                if (c->p >= c->end)
                        return -EINVAL;
                unsigned char e = *c->p++, out;
                switch (e) {
                case '"':
                case '\\':
                case '/':
                        out = e;
                        break;
                case 'b':
                        out = '\b';
                        break;
                case 'f':
                        out = '\f';
                        break;
                case 'n':
                        out = '\n';
                        break;
                case 'r':
                        out = '\r';
                        break;
                case 't':
                        out = '\t';
                        break;
                case 'u': {
                        uint32_t cp;
                        char utf8[4];
                        int r = json_unicode_escape(c, &cp);
                        if (r < 0)
                                return r;
                        size_t l = utf8_encode(cp, utf8);
                        json_string_put(s, (const unsigned char *) utf8, l);
                        continue;
                }
                default:
                        return -EINVAL;
                }
                json_string_put(s, &out, 1);
        }
}

static bool is_digit(const Cursor *c) {
        return c->p < c->end && *c->p >= '0' && *c->p <= '9';
}

/* A JSON number; *ret_valid is false unless it is a plain unsigned integer that fits in 64
 * bits (negative, fractional, exponent or overflowing numbers parse but do not count). */
int json_number(Cursor *c, unsigned long long *ret, bool *ret_valid) {
        unsigned long long v = 0;
        bool valid = true;

        if (c->p < c->end && *c->p == '-') {
                valid = false;
                c->p++;
        }
        if (!is_digit(c))
                return -EINVAL;
        for (; is_digit(c); c->p++) {
                unsigned d = (unsigned) (*c->p - '0');
                if (v > (ULLONG_MAX - d) / 10)
                        valid = false;
                else
                        v = v * 10 + d;
        }
        if (c->p < c->end && *c->p == '.') {
                valid = false;
                c->p++;
                if (!is_digit(c))
                        return -EINVAL;
                while (is_digit(c))
                        c->p++;
        }
        if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
                valid = false;
                c->p++;
                if (c->p < c->end && (*c->p == '+' || *c->p == '-'))
                        c->p++;
                if (!is_digit(c))
                        return -EINVAL;
                while (is_digit(c))
                        c->p++;
        }
        *ret = valid ? v : 0;
        *ret_valid = valid;
        return 0;
}

int json_literal(Cursor *c, const char *word) {
        size_t l = strlen(word);
        if ((size_t) (c->end - c->p) < l || memcmp(c->p, word, l) != 0)
                return -EINVAL;
        c->p += l;
        return 0;
}

/* Walks the members of an object or the elements of an array (at the opening bracket),
 * skipping every value. */
static int json_skip_container(Cursor *c, unsigned depth) {
        unsigned char close = *c->p == '{' ? '}' : ']';
        bool object = close == '}';

        c->p++;
        json_skip_ws(c);
        if (c->p < c->end && *c->p == close) {
                c->p++;
                return 0;
        }
        for (;;) {
                int r;
                json_skip_ws(c);
                if (object) {
                        r = json_read_string(c, NULL);
                        if (r < 0)
                                return r;
                        json_skip_ws(c);
                        if (c->p >= c->end || *c->p != ':')
                                return -EINVAL;
                        c->p++;
                }
                r = json_skip_value(c, depth + 1);
                if (r < 0)
                        return r;
                json_skip_ws(c);
                if (c->p >= c->end)
                        return -EINVAL;
                if (*c->p == ',') {
                        c->p++;
                        continue;
                }
                if (*c->p != close)
                        return -EINVAL;
                c->p++;
                return 0;
        }
}

/* depth is the nesting level of the value itself (the top-level object is 1). */
int json_skip_value(Cursor *c, unsigned depth) {
        unsigned long long v;
        bool valid;

        if (depth > NIXLOG_JSON_MAX_DEPTH)
                return -ELOOP;
        json_skip_ws(c);
        if (c->p >= c->end)
                return -EINVAL;
        switch (*c->p) {
        case '{':
        case '[':
                return json_skip_container(c, depth);
        case '"':
                return json_read_string(c, NULL);
        case 't':
                return json_literal(c, "true");
        case 'f':
                return json_literal(c, "false");
        case 'n':
                return json_literal(c, "null");
        default:
                return json_number(c, &v, &valid);
        }
}

int json_object_open(Cursor *c) {
        json_skip_ws(c);
        if (c->p >= c->end || *c->p != '{')
                return -EINVAL;
        c->p++;
        json_skip_ws(c);
        if (c->p < c->end && *c->p == '}') {
                c->p++;
                return 0;
        }
        return 1;
}

int json_object_next(Cursor *c) {
        json_skip_ws(c);
        if (c->p >= c->end)
                return -EINVAL;
        if (*c->p == ',') {
                c->p++;
                json_skip_ws(c);
                return 1;
        }
        if (*c->p != '}')
                return -EINVAL;
        c->p++;
        return 0;
}

int json_member_colon(Cursor *c) {
        json_skip_ws(c);
        if (c->p >= c->end || *c->p != ':')
                return -EINVAL;
        c->p++;
        json_skip_ws(c);
        return 0;
}
