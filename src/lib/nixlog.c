/* SPDX-License-Identifier: MIT */
#include "nixlog.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "util.h"

/* Plain loops rather than memcpy()/memset()/snprintf(): the sizes are small, and every
 * bound is checked by the callers, next to the arithmetic that computes it. */
static void copy_bytes(char *dst, const void *src, size_t n) {
        const unsigned char *s = src;
        for (size_t i = 0; i < n; i++)
                dst[i] = (char) s[i];
}

static void fill_bytes(char *dst, char c, size_t n) {
        for (size_t i = 0; i < n; i++)
                dst[i] = c;
}

/* ---------------------------------------------------------------------------------------
 * UTF-8 */

/* Length of the valid UTF-8 sequence at s (shortest form, no surrogates, at most
 * U+10FFFF), storing its code point; 0 when s does not start one. */
static size_t utf8_sequence(const unsigned char *s, size_t n, uint32_t *ret_cp) {
        unsigned char c = s[0], lo = 0x80, hi = 0xbf;
        size_t need;
        uint32_t cp;

        if (c < 0x80) {
                *ret_cp = c;
                return 1;
        }
        if (c >= 0xc2 && c <= 0xdf) {
                need = 2;
                cp = c & 0x1fu;
        } else if (c >= 0xe0 && c <= 0xef) {
                need = 3;
                cp = c & 0x0fu;
                if (c == 0xe0)
                        lo = 0xa0; /* no overlong forms */
                else if (c == 0xed)
                        hi = 0x9f; /* no UTF-16 surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
                need = 4;
                cp = c & 0x07u;
                if (c == 0xf0)
                        lo = 0x90;
                else if (c == 0xf4)
                        hi = 0x8f; /* nothing above U+10FFFF */
        } else
                return 0;

        if (n < need)
                return 0;
        for (size_t k = 1; k < need; k++) {
                unsigned char b = s[k];
                if (k == 1 ? (b < lo || b > hi) : (b & 0xc0) != 0x80)
                        return 0;
                cp = cp << 6 | (b & 0x3fu);
        }
        *ret_cp = cp;
        return need;
}

static size_t utf8_encode(uint32_t cp, char out[static 4]) {
        if (cp < 0x80) {
                out[0] = (char) cp;
                return 1;
        }
        if (cp < 0x800) {
                out[0] = (char) (0xc0 | cp >> 6);
                out[1] = (char) (0x80 | (cp & 0x3f));
                return 2;
        }
        if (cp < 0x10000) {
                out[0] = (char) (0xe0 | cp >> 12);
                out[1] = (char) (0x80 | (cp >> 6 & 0x3f));
                out[2] = (char) (0x80 | (cp & 0x3f));
                return 3;
        }
        out[0] = (char) (0xf0 | cp >> 18);
        out[1] = (char) (0x80 | (cp >> 12 & 0x3f));
        out[2] = (char) (0x80 | (cp >> 6 & 0x3f));
        out[3] = (char) (0x80 | (cp & 0x3f));
        return 4;
}

/* The largest length <= len that does not end inside a multi-byte sequence: text cut to a
 * byte budget must not leave half a character behind. */
static size_t utf8_cut(const char *buf, size_t len) {
        size_t i = len, cont = 0;

        while (i > 0 && cont < 3 && ((unsigned char) buf[i - 1] & 0xc0) == 0x80) {
                i--;
                cont++;
        }
        if (i == 0)
                return len;
        unsigned char lead = (unsigned char) buf[i - 1];
        size_t need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
        if (need > 1 && cont + 1 < need)
                return i - 1;
        return len;
}

/* Code points that move the cursor or reorder text rather than print: C1 controls, line and
 * paragraph separators, bidirectional controls, the byte order mark. */
static bool unicode_is_control(uint32_t cp) {
        return (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 || (cp >= 0x200e && cp <= 0x200f) ||
               (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0xfeff;
}

/* ---------------------------------------------------------------------------------------
 * Text sanitising */

/* Skips the terminal escape sequence that starts at s[i] (an ESC byte): CSI ("ESC [" params
 * final), string sequences (OSC "ESC ]", DCS, SOS, PM, APC up to BEL or "ESC \"), and the
 * short "ESC intermediates final" forms. Returns the index after it. */
static size_t skip_escape(const unsigned char *s, size_t n, size_t i) {
        size_t j = i + 1;

        if (j >= n)
                return n;
        unsigned char c = s[j];
        if (c == '[') {
                j++;
                while (j < n && s[j] >= 0x20 && s[j] <= 0x3f)
                        j++;
                if (j < n && s[j] >= 0x40 && s[j] <= 0x7e)
                        j++;
                return j;
        }
        if (c == ']' || c == 'P' || c == 'X' || c == '^' || c == '_') {
                for (j++; j < n; j++) {
                        if (s[j] == 0x07)
                                return j + 1;
                        if (s[j] == 0x1b)
                                return j + 1 < n && s[j + 1] == '\\' ? j + 2 : j;
                }
                return n;
        }
        while (j < n && s[j] >= 0x20 && s[j] <= 0x2f)
                j++;
        if (j < n && s[j] >= 0x30 && s[j] <= 0x7e)
                j++;
        return j;
}

/* Copies in[0..n) to out (size >= 1, always NUL-terminated) as one printable line: escape
 * sequences dropped; tab, newline, CR, VT and FF are whitespace; other control characters
 * and invalid UTF-8 bytes become '?'; leading and trailing whitespace dropped; inner
 * whitespace runs kept as spaces, or collapsed to one space with collapse. Stops before a
 * character that does not fit. Returns the length written. */
static size_t sanitize(const char *in, size_t n, char *out, size_t size, bool collapse) {
        const unsigned char *s = (const unsigned char *) in;
        size_t len = 0, spaces = 0;

        assert(size > 0);
        for (size_t i = 0; i < n;) {
                unsigned char c = s[i];
                char tmp[4];
                size_t k = 1;
                uint32_t cp;

                if (c == 0x1b) {
                        i = skip_escape(s, n, i);
                        continue;
                }
                if (c == ' ' || (c >= '\t' && c <= '\r')) {
                        if (len > 0)
                                spaces++;
                        i++;
                        continue;
                }
                if (c < 0x20 || c == 0x7f) {
                        tmp[0] = '?';
                        i++;
                } else if (c < 0x80) {
                        tmp[0] = (char) c;
                        i++;
                } else {
                        size_t l = utf8_sequence(s + i, n - i, &cp);
                        if (l == 0 || unicode_is_control(cp)) {
                                tmp[0] = '?';
                                i += l == 0 ? 1 : l;
                        } else {
                                copy_bytes(tmp, s + i, l);
                                k = l;
                                i += l;
                        }
                }

                size_t sp = collapse && spaces > 0 ? 1 : spaces;
                if (sp > size - 1 - len || k > size - 1 - len - sp)
                        break;
                fill_bytes(out + len, ' ', sp);
                len += sp;
                spaces = 0;
                copy_bytes(out + len, tmp, k);
                len += k;
        }
        out[len] = 0;
        return len;
}

/* A build log line as a terminal would leave it: a builder that redraws a progress bar with
 * carriage returns shows the last part that is not blank. */
static size_t sanitize_log_line(const char *in, size_t n, char *out, size_t size) {
        size_t end = n;

        for (;;) {
                const char *cr = memrchr(in, '\r', end);
                size_t start = cr ? (size_t) (cr - in) + 1 : 0;
                size_t l = sanitize(in + start, end - start, out, size, false);
                if (l > 0 || !cr)
                        return l;
                end = start - 1;
        }
}

/* Copies a NUL-terminated src into dst[size] cut on a character boundary; returns whether
 * dst changed. */
static bool set_string(char *dst, size_t size, const char *src) {
        size_t l = strlen(src);

        if (l > size - 1)
                l = utf8_cut(src, size - 1);
        if (strncmp(dst, src, l) == 0 && dst[l] == 0)
                return false;
        copy_bytes(dst, src, l);
        dst[l] = 0;
        return true;
}

static bool set_u64(unsigned long long *dst, unsigned long long v) {
        if (*dst == v)
                return false;
        *dst = v;
        return true;
}

static bool set_bool(bool *dst, bool v) {
        if (*dst == v)
                return false;
        *dst = v;
        return true;
}

/* ---------------------------------------------------------------------------------------
 * JSON reader: just enough for one JSONLogger line. Bounded, no allocation. */

typedef struct Cursor {
        const unsigned char *p, *end;
} Cursor;

/* Destination of a decoded string: at most cap bytes are kept, never half a character; the
 * rest is read and dropped. NULL to skip the string. Not NUL-terminated (may hold NUL). */
typedef struct JsonString {
        char *buf;
        size_t cap, len;
        bool full;
} JsonString;

static void json_skip_ws(Cursor *c) {
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
static int json_string(Cursor *c, JsonString *s) {
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
static int json_number(Cursor *c, unsigned long long *ret, bool *ret_valid) {
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

static int json_literal(Cursor *c, const char *word) {
        size_t l = strlen(word);
        if ((size_t) (c->end - c->p) < l || memcmp(c->p, word, l) != 0)
                return -EINVAL;
        c->p += l;
        return 0;
}

static int json_skip_value(Cursor *c, unsigned depth);

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
                        r = json_string(c, NULL);
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
static int json_skip_value(Cursor *c, unsigned depth) {
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
                return json_string(c, NULL);
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

/* ---------------------------------------------------------------------------------------
 * One "@nix" message */

#define FIELDS_MAX 4
#define FIELD_STRING_MAX 1024
#define MSG_MAX 4096
#define TEXT_MAX 512

typedef enum FieldKind { FIELD_NONE, FIELD_NUMBER, FIELD_STRING, FIELD_OTHER } FieldKind;

typedef struct NixField {
        FieldKind kind;
        unsigned long long num; /* FIELD_NUMBER: valid only with num_valid */
        bool num_valid;
        char str[FIELD_STRING_MAX]; /* FIELD_STRING: str_len bytes, not NUL-terminated */
        size_t str_len;
} NixField;

typedef struct NixMessage {
        char action[16];
        size_t action_len;
        bool has_action, has_id, has_level, has_type, has_msg, has_text;
        unsigned long long id, level, type;
        char msg[MSG_MAX];
        size_t msg_len;
        char text[TEXT_MAX];
        size_t text_len;
        NixField fields[FIELDS_MAX];
        unsigned n_fields;
} NixMessage;

static int json_member_string(Cursor *c, char *buf, size_t cap, size_t *ret_len, bool *ret_has) {
        json_skip_ws(c);
        if (c->p >= c->end || *c->p != '"') {
                *ret_has = false;
                return json_skip_value(c, 2);
        }
        JsonString s = { .buf = buf, .cap = cap };
        int r = json_string(c, &s);
        if (r < 0)
                return r;
        *ret_len = s.len;
        *ret_has = true;
        return 0;
}

static int json_member_number(Cursor *c, unsigned long long *ret, bool *ret_has) {
        json_skip_ws(c);
        if (c->p >= c->end || !(*c->p == '-' || (*c->p >= '0' && *c->p <= '9'))) {
                *ret_has = false;
                return json_skip_value(c, 2);
        }
        return json_number(c, ret, ret_has);
}

static int json_fields(Cursor *c, NixMessage *m) {
        json_skip_ws(c);
        m->n_fields = 0;
        if (c->p >= c->end || *c->p != '[')
                return json_skip_value(c, 2);
        c->p++;
        json_skip_ws(c);
        if (c->p < c->end && *c->p == ']') {
                c->p++;
                return 0;
        }
        for (;;) {
                int r;
                json_skip_ws(c);
                if (c->p >= c->end)
                        return -EINVAL;
                NixField *f = m->n_fields < FIELDS_MAX ? &m->fields[m->n_fields] : NULL;
                if (!f)
                        r = json_skip_value(c, 3);
                else if (*c->p == '"') {
                        JsonString s = { .buf = f->str, .cap = sizeof f->str };
                        r = json_string(c, &s);
                        f->kind = FIELD_STRING;
                        f->str_len = s.len;
                } else if (*c->p == '-' || (*c->p >= '0' && *c->p <= '9')) {
                        r = json_number(c, &f->num, &f->num_valid);
                        f->kind = FIELD_NUMBER;
                } else {
                        r = json_skip_value(c, 3);
                        f->kind = FIELD_OTHER;
                }
                if (r < 0)
                        return r;
                if (f)
                        m->n_fields++;
                json_skip_ws(c);
                if (c->p >= c->end)
                        return -EINVAL;
                if (*c->p == ',') {
                        c->p++;
                        continue;
                }
                if (*c->p != ']')
                        return -EINVAL;
                c->p++;
                return 0;
        }
}

static bool key_is(const char *key, size_t len, const char *name) {
        return strlen(name) == len && memcmp(key, name, len) == 0;
}

/* Parses one JSON object into m. Members may come in any order; a repeated member counts
 * once, the last time; members of an unexpected type count as absent. Whitespace after the
 * object is fine, anything else is not. */
static int nix_message_parse(const char *json, size_t len, NixMessage *m) {
        Cursor c = { (const unsigned char *) json, (const unsigned char *) json + len };

        *m = (NixMessage) {};

        json_skip_ws(&c);
        if (c.p >= c.end || *c.p != '{')
                return -EINVAL;
        c.p++;
        json_skip_ws(&c);
        if (c.p < c.end && *c.p == '}')
                c.p++;
        else
                for (;;) {
                        char key[16];
                        JsonString k = { .buf = key, .cap = sizeof key };
                        int r;

                        json_skip_ws(&c);
                        r = json_string(&c, &k);
                        if (r < 0)
                                return r;
                        json_skip_ws(&c);
                        if (c.p >= c.end || *c.p != ':')
                                return -EINVAL;
                        c.p++;

                        if (k.full) /* longer than any key we read */
                                r = json_skip_value(&c, 2);
                        else if (key_is(key, k.len, "action"))
                                r = json_member_string(&c, m->action, sizeof m->action, &m->action_len,
                                                       &m->has_action);
                        else if (key_is(key, k.len, "id"))
                                r = json_member_number(&c, &m->id, &m->has_id);
                        else if (key_is(key, k.len, "level"))
                                r = json_member_number(&c, &m->level, &m->has_level);
                        else if (key_is(key, k.len, "type"))
                                r = json_member_number(&c, &m->type, &m->has_type);
                        else if (key_is(key, k.len, "msg"))
                                r = json_member_string(&c, m->msg, sizeof m->msg, &m->msg_len, &m->has_msg);
                        else if (key_is(key, k.len, "text"))
                                r = json_member_string(&c, m->text, sizeof m->text, &m->text_len, &m->has_text);
                        else if (key_is(key, k.len, "fields"))
                                r = json_fields(&c, m);
                        else
                                r = json_skip_value(&c, 2);
                        if (r < 0)
                                return r;

                        json_skip_ws(&c);
                        if (c.p >= c.end)
                                return -EINVAL;
                        if (*c.p == ',') {
                                c.p++;
                                continue;
                        }
                        if (*c.p != '}')
                                return -EINVAL;
                        c.p++;
                        break;
                }
        json_skip_ws(&c);
        return c.p == c.end ? 0 : -EINVAL;
}

static bool action_is(const NixMessage *m, const char *name) {
        return m->has_action && key_is(m->action, m->action_len, name);
}

static const NixField *field(const NixMessage *m, unsigned i, FieldKind kind) {
        if (i >= m->n_fields || m->fields[i].kind != kind)
                return NULL;
        if (kind == FIELD_NUMBER && !m->fields[i].num_valid)
                return NULL;
        return &m->fields[i];
}

/* ---------------------------------------------------------------------------------------
 * Activities */

static NixActivity *activity_find(NixProgress *p, unsigned long long id) {
        for (size_t i = 0; i < NIXLOG_MAX_ACTIVITIES; i++)
                if (p->activities[i].seq != 0 && p->activities[i].id == id)
                        return &p->activities[i];
        return NULL;
}

static NixBuildActivity *build_find(NixProgress *p, unsigned long long id) {
        for (size_t i = 0; i < NIXLOG_MAX_BUILDS; i++)
                if (p->builds[i].seq != 0 && p->builds[i].id == id)
                        return &p->builds[i];
        return NULL;
}

/* A free slot, else the oldest one (evicted). */
static NixActivity *activity_slot(NixProgress *p) {
        NixActivity *best = &p->activities[0];
        for (size_t i = 0; i < NIXLOG_MAX_ACTIVITIES; i++) {
                if (p->activities[i].seq == 0)
                        return &p->activities[i];
                if (p->activities[i].seq < best->seq)
                        best = &p->activities[i];
        }
        return best;
}

static NixBuildActivity *build_slot(NixProgress *p) {
        NixBuildActivity *best = &p->builds[0];
        for (size_t i = 0; i < NIXLOG_MAX_BUILDS; i++) {
                if (p->builds[i].seq == 0)
                        return &p->builds[i];
                if (p->builds[i].seq < best->seq)
                        best = &p->builds[i];
        }
        return best;
}

static void activity_forget(NixProgress *p, unsigned long long id) {
        NixActivity *a = activity_find(p, id);
        NixBuildActivity *b = build_find(p, id);

        if (a)
                *a = (NixActivity) {};
        if (b)
                *b = (NixBuildActivity) {};
        if (p->has_builds && p->builds_id == id)
                p->has_builds = false;
        if (p->has_copy_paths && p->copy_paths_id == id)
                p->has_copy_paths = false;
}

/* Recomputes building, substituting, current_drv and machine from the tables. */
static bool activities_changed(NixProgress *p) {
        const NixBuildActivity *latest = NULL;
        bool substituting = false, changed = false;

        for (size_t i = 0; i < NIXLOG_MAX_BUILDS; i++)
                if (p->builds[i].seq != 0 && (!latest || p->builds[i].seq > latest->seq))
                        latest = &p->builds[i];
        for (size_t i = 0; i < NIXLOG_MAX_ACTIVITIES; i++)
                if (p->activities[i].seq != 0 && p->activities[i].type == NIX_ACT_SUBSTITUTE)
                        substituting = true;

        changed |= set_bool(&p->building, latest != NULL);
        changed |= set_bool(&p->substituting, substituting);
        changed |= set_string(p->current_drv, sizeof p->current_drv, latest ? latest->drv : "");
        changed |= set_string(p->machine, sizeof p->machine, latest ? latest->machine : "");
        return changed;
}

/* The drv of an actBuild: fields[0], or else the quoted path in its text
 * ("building '/nix/store/...drv'"), for Nix versions without fields. */
static void build_drv(const NixMessage *m, char *drv, size_t size) {
        const NixField *f = field(m, 0, FIELD_STRING);
        if (f) {
                sanitize(f->str, f->str_len, drv, size, false);
                return;
        }
        drv[0] = 0;
        if (!m->has_text)
                return;
        const char *q = memchr(m->text, '\'', m->text_len);
        if (!q)
                return;
        q++;
        const char *e = memchr(q, '\'', m->text_len - (size_t) (q - m->text));
        if (e)
                sanitize(q, (size_t) (e - q), drv, size, false);
}

static bool handle_start(NixProgress *p, const NixMessage *m) {
        unsigned type = m->has_type && m->type <= UINT_MAX ? (unsigned) m->type : NIX_ACT_UNKNOWN;

        if (!m->has_id)
                return false;
        activity_forget(p, m->id); /* a reused id starts afresh */

        if (type == NIX_ACT_BUILDS && !p->has_builds) {
                p->has_builds = true;
                p->builds_id = m->id;
        } else if (type == NIX_ACT_COPY_PATHS && !p->has_copy_paths) {
                p->has_copy_paths = true;
                p->copy_paths_id = m->id;
        } else if (type == NIX_ACT_BUILD) {
                NixBuildActivity *b = build_slot(p);
                *b = (NixBuildActivity) { .id = m->id, .seq = ++p->seq };
                build_drv(m, b->drv, sizeof b->drv);
                const NixField *f = field(m, 1, FIELD_STRING);
                if (f)
                        sanitize(f->str, f->str_len, b->machine, sizeof b->machine, false);
        } else {
                NixActivity *a = activity_slot(p);
                *a = (NixActivity) { .id = m->id, .seq = ++p->seq, .type = type };
        }
        return activities_changed(p);
}

static bool handle_stop(NixProgress *p, const NixMessage *m) {
        if (!m->has_id)
                return false;
        activity_forget(p, m->id);
        return activities_changed(p);
}

static bool handle_result(NixProgress *p, const NixMessage *m) {
        bool changed = false;

        if (!m->has_type)
                return false;
        if (m->type == NIX_RES_BUILD_LOG_LINE || m->type == NIX_RES_POST_BUILD_LOG_LINE) {
                const NixField *f = field(m, 0, FIELD_STRING);
                char line[NIXLOG_LINE_MAX + 1];
                /* Blank lines say nothing about progress: keep the last one that did. */
                if (f && sanitize_log_line(f->str, f->str_len, line, sizeof line) > 0)
                        changed = set_string(p->last_line, sizeof p->last_line, line);
                return changed;
        }
        if (m->type != NIX_RES_PROGRESS || !m->has_id)
                return false;

        const NixField *done = field(m, 0, FIELD_NUMBER), *expected = field(m, 1, FIELD_NUMBER),
                       *running = field(m, 2, FIELD_NUMBER), *failed = field(m, 3, FIELD_NUMBER);
        if (!done || !expected)
                return false;
        if (p->has_builds && m->id == p->builds_id) {
                changed |= set_u64(&p->done, done->num);
                changed |= set_u64(&p->expected, expected->num);
                if (running)
                        changed |= set_u64(&p->running, running->num);
                if (failed)
                        changed |= set_u64(&p->failed, failed->num);
        } else if (p->has_copy_paths && m->id == p->copy_paths_id) {
                changed |= set_u64(&p->subst_done, done->num);
                changed |= set_u64(&p->subst_expected, expected->num);
        }
        return changed;
}

/* ---------------------------------------------------------------------------------------
 * Errors */

static bool contains(const char *s, const char *needle) {
        return strstr(s, needle) != NULL;
}

/* Build-failure texts: a retry would fail the same way. Messages of Nix 2.8 (and the
 * "Cannot build ... Reason:" forms of later versions). */
static const char *const build_failure_texts[] = {
        "builder for '",                            /* failed with exit code N / due to signal N / to produce output path */
        "builder failed",                           /* later Nix: "Reason: builder failed with exit code 1." */
        "timed out after",                          /* timeout and max-silent-time */
        "hash mismatch in fixed-output derivation", /* */
        "is required to build '",                   /* "a 'SYSTEM' with features {F} is required to build ..." */
        "required system or feature not available", /* */
        "failed to produce output path",            /* */
        "killed after writing more than",           /* max-log-size */
        "may not be deterministic",                 /* --check */
        "is not allowed to refer to",               /* disallowedReferences, allowedReferences */
        "cycle detected in the references",         /* */
};

typedef enum ErrorKind {
        ERROR_INFRA,
        ERROR_BUILD,
        ERROR_CONSEQUENCE, /* reports an earlier failure: says nothing about its cause */
        ERROR_NO_MACHINE,  /* no machine could take the build */
} ErrorKind;

static ErrorKind error_kind(const char *text) {
        for (size_t i = 0; i < ELEMENTSOF(build_failure_texts); i++)
                if (contains(text, build_failure_texts[i]))
                        return ERROR_BUILD;
        if (contains(text, "unable to start any build"))
                return ERROR_NO_MACHINE;
        /* "N dependencies of derivation 'D' failed to build", later "Reason: 1 dependency
         * failed.", and a bare "build of 'P' failed" (a remote "build of 'P' on 'M' failed:
         * REASON" carries its cause and is judged by it). */
        if (contains(text, "dependencies of derivation '") || contains(text, "dependency failed") ||
            contains(text, "dependencies failed") ||
            (startswith(text, "build of '") && endswith(text, "' failed")))
                return ERROR_CONSEQUENCE;
        return ERROR_INFRA;
}

/* Stores text in dst (size bytes), cut on a character boundary without trailing space. */
static void set_cut(char *dst, size_t size, const char *text) {
        size_t l = strlen(text);

        if (l > size - 1)
                l = utf8_cut(text, size - 1);
        while (l > 0 && text[l - 1] == ' ')
                l--;
        copy_bytes(dst, text, l);
        dst[l] = 0;
}

static void set_error(NixProgress *p, const char *text) {
        set_cut(p->error, sizeof p->error, text);
}

/* Records one error (text already sanitised, starting with "error:"). */
static bool record_error(NixProgress *p, const char *text, bool plain) {
        const char *body = startswith(text, "error:");

        assert(body);
        body += strspn(body, " ");
        if (!*body)
                body = text; /* keep "error:" rather than nothing */

        ErrorKind kind = error_kind(body);
        /* A report of a failed dependency would hide the failure itself. */
        if (kind != ERROR_CONSEQUENCE || p->error[0] == 0) {
                set_error(p, body);
                p->in_plain_error = plain;
        } else
                p->in_plain_error = false;
        if (p->n_errors < UINT_MAX)
                p->n_errors++;

        if (p->failure == NIX_FAILURE_NONE)
                switch (kind) {
                case ERROR_BUILD:
                        p->failure = NIX_FAILURE_BUILD;
                        break;
                case ERROR_NO_MACHINE:
                        p->failure = p->remote_unreachable ? NIX_FAILURE_INFRA : NIX_FAILURE_BUILD;
                        break;
                case ERROR_INFRA:
                        p->failure = NIX_FAILURE_INFRA;
                        break;
                case ERROR_CONSEQUENCE:
                        break;
                }
        return true;
}

static bool is_error_text(const char *text) {
        return startswith(text, "error:");
}

/* Appends a continuation line (sanitised, not empty) to p->error. */
static bool append_error(NixProgress *p, const char *text) {
        char joined[sizeof p->error + 1];
        size_t l = strlen(p->error);

        if (l + 1 >= sizeof p->error - 1)
                return false; /* full already */
        copy_bytes(joined, p->error, l);
        joined[l] = ' ';
        size_t tl = strlen(text);
        if (tl > sizeof joined - 1 - (l + 1))
                tl = sizeof joined - 1 - (l + 1);
        copy_bytes(joined + l + 1, text, tl);
        joined[l + 1 + tl] = 0;
        set_error(p, joined);
        return true;
}

/* Records one warning (text already sanitised, starting with "warning:"). */
static void record_warning(NixProgress *p, const char *text) {
        const char *body = startswith(text, "warning:");

        assert(body);
        body += strspn(body, " ");
        if (!*body)
                body = text;
        set_cut(p->warning, sizeof p->warning, body);
        if (p->n_warnings < UINT_MAX)
                p->n_warnings++;
}

static bool handle_msg(NixProgress *p, const NixMessage *m) {
        char text[NIXLOG_ERROR_MAX + 64];

        if (!m->has_msg || !m->has_level || m->level > 1)
                return false;
        sanitize(m->msg, m->msg_len, text, sizeof text, true);
        if (startswith(text, "warning:")) {
                record_warning(p, text);
                return false;
        }
        if (m->level != 0)
                return false;
        if (is_error_text(text))
                return record_error(p, text, false);
        /* build-remote: "cannot build on 'MACHINE': error: cannot connect to ...". Nix then
         * looks for another machine and may end with "unable to start any build". */
        if (startswith(text, "cannot build on '"))
                p->remote_unreachable = true;
        return false;
}

static bool handle_plain(NixProgress *p, const char *line, size_t len) {
        char text[NIXLOG_ERROR_MAX + 64];

        sanitize(line, len, text, sizeof text, true);
        if (is_error_text(text))
                return record_error(p, text, true);
        if (startswith(text, "warning:")) {
                record_warning(p, text);
                p->in_plain_error = false;
                return false;
        }
        if (p->in_plain_error && len > 0 && (line[0] == ' ' || line[0] == '\t') && text[0])
                return append_error(p, text);
        p->in_plain_error = false;
        return false;
}

/* ---------------------------------------------------------------------------------------
 * API */

void nixlog_init(NixProgress *p) {
        assert(p);
        *p = (NixProgress) {};
}

int nixlog_feed(NixProgress *p, const char *line, size_t len) {
        static const char prefix[] = "@nix ";
        NixMessage m;
        bool changed = false;

        assert(p);
        if (!line)
                return 0;
        if (len > 0 && line[len - 1] == '\r')
                len--;

        if (len < strlen(prefix) || memcmp(line, prefix, strlen(prefix)) != 0)
                return handle_plain(p, line, len);

        p->in_plain_error = false;
        if (nix_message_parse(line + strlen(prefix), len - strlen(prefix), &m) < 0)
                return 0;
        if (action_is(&m, "start"))
                changed = handle_start(p, &m);
        else if (action_is(&m, "stop"))
                changed = handle_stop(p, &m);
        else if (action_is(&m, "result"))
                changed = handle_result(p, &m);
        else if (action_is(&m, "msg"))
                changed = handle_msg(p, &m);
        return changed;
}

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

void nixlog_format_status(const NixProgress *p, const char *model, unsigned long long elapsed_sec,
                          char *buf, size_t size) {
        Output o = { .buf = buf, .size = size };
        bool substituting;
        char name[256];

        assert(p);
        if (size == 0)
                return;
        assert(buf);
        buf[0] = 0;

        substituting = p->substituting && !p->building;
        output_string(&o, substituting ? "substituting" : "training");
        sanitize(model ? model : "", model ? strlen(model) : 0, name, sizeof name, false);
        if (name[0]) {
                output_string(&o, " ");
                output_string(&o, name);
        }
        output_string(&o, ": ");
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

NixFailure nixlog_classify(const NixProgress *p) {
        assert(p);
        if (p->n_errors == 0)
                return NIX_FAILURE_NONE;
        if (p->failure != NIX_FAILURE_NONE)
                return p->failure;
        /* Only reports of failed dependencies, whose own errors were not seen. */
        return NIX_FAILURE_BUILD;
}

const char *nix_failure_to_string(NixFailure f) {
        switch (f) {
        case NIX_FAILURE_NONE:
                return "none";
        case NIX_FAILURE_BUILD:
                return "build";
        case NIX_FAILURE_INFRA:
                return "infra";
        }
        return "unknown";
}
