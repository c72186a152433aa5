/* SPDX-License-Identifier: MIT */
#include "escape.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "validate.h"

static char *escape(const char *s, size_t max, bool quoted) {
        size_t n = strnlen(s, max + 1);
        bool cut = n > max;
        if (cut)
                n = max;
        /* Each byte becomes at most four ("\xNN"); quotes, "..." and the NUL fit in eight. */
        char *r = malloc(n * 4 + 8), *w = r;
        if (!r)
                return NULL;
        if (quoted)
                *w++ = '\'';
        for (size_t i = 0; i < n;) {
                uint32_t cp;
                size_t len = unichar_at(s + i, &cp);
                if (len > 0 && i + len <= n && unichar_is_printable(cp) && cp != '\\' && !(quoted && cp == '\'')) {
                        memcpy(w, s + i, len);
                        w += len;
                        i += len;
                } else {
                        /* One byte at a time: an invalid sequence shows every byte it holds. */
                        w += sprintf(w, "\\x%02x", (unsigned char) s[i]);
                        i++;
                }
        }
        if (cut) {
                memcpy(w, "...", 3);
                w += 3;
        }
        if (quoted)
                *w++ = '\'';
        *w = 0;
        return r;
}

char *escape_for_message(const char *s, size_t max) {
        return escape(s, max, false);
}

char *quote_for_message(const char *s, size_t max) {
        return escape(s, max, true);
}
