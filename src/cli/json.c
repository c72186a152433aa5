/* SPDX-License-Identifier: MIT */
/* A JSON string writer. Status files, build log lines and paths are bytes, not
 * necessarily UTF-8; the output must be valid JSON in valid UTF-8 for any input, so every
 * byte sequence that is not well-formed UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF) becomes U+FFFD. */
#include <stdio.h>

#include "cli.h"

/* Length of the well-formed UTF-8 sequence at s (1..4), or 0 when it is not one. */
static size_t utf8_valid_len(const unsigned char *s) {
        unsigned char c = s[0];
        if (c < 0x80)
                return 1;
        if (c >= 0xc2 && c <= 0xdf)
                return (s[1] & 0xc0) == 0x80 ? 2 : 0;
        if (c >= 0xe0 && c <= 0xef) {
                unsigned char lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
                return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 ? 3 : 0;
        }
        if (c >= 0xf0 && c <= 0xf4) {
                unsigned char lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
                return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 && (s[3] & 0xc0) == 0x80 ? 4 : 0;
        }
        return 0;
}

void json_string(FILE *f, const char *s) {
        if (!s) {
                fputs("null", f);
                return;
        }
        fputc('"', f);
        for (const unsigned char *p = (const unsigned char *) s; *p;) {
                unsigned char c = *p;
                if (c == '"' || c == '\\') {
                        fputc('\\', f);
                        fputc(c, f);
                        p++;
                } else if (c == '\n') {
                        fputs("\\n", f);
                        p++;
                } else if (c == '\t') {
                        fputs("\\t", f);
                        p++;
                } else if (c < 0x20 || c == 0x7f) {
                        fprintf(f, "\\u%04x", c);
                        p++;
                } else {
                        /* The NUL terminator stops utf8_valid_len() at a truncated sequence,
                         * because NUL is never a continuation byte. */
                        size_t l = utf8_valid_len(p);
                        if (l == 0) {
                                fputs("\\ufffd", f);
                                p++;
                        } else {
                                fwrite(p, 1, l, f);
                                p += l;
                        }
                }
        }
        fputc('"', f);
}
