/* SPDX-License-Identifier: MIT */
#include "utf8.h"

#include <assert.h>
#include <string.h>

#include "util.h"

size_t utf8_sequence(const unsigned char *s, size_t n, uint32_t *ret_cp) {
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

size_t utf8_encode(uint32_t cp, char out[static 4]) {
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

size_t utf8_cut(const char *buf, size_t len) {
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

bool unicode_is_control(uint32_t cp) {
        return (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 || (cp >= 0x200e && cp <= 0x200f) ||
                (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0xfeff;
}

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

size_t text_sanitize(const char *in, size_t n, char *out, size_t size, bool collapse) {
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

size_t text_sanitize_log_line(const char *in, size_t n, char *out, size_t size) {
        size_t end = n;

        for (;;) {
                const char *cr = memrchr(in, '\r', end);
                size_t start = cr ? (size_t) (cr - in) + 1 : 0;
                size_t l = text_sanitize(in + start, end - start, out, size, false);
                if (l > 0 || !cr)
                        return l;
                end = start - 1;
        }
}
