/* SPDX-License-Identifier: MIT */
/* A JSON string writer. Status files, build log lines and paths are bytes, not
 * necessarily UTF-8; the output must be valid JSON in valid UTF-8 for any input, so every
 * byte sequence that is not well-formed UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF) becomes U+FFFD. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "format.h"
#include "utf8.h"

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
                        uint32_t cp;
                        size_t l = utf8_sequence(p, strnlen((const char *) p, 4), &cp);
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
