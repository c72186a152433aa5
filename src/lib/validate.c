/* SPDX-License-Identifier: MIT */
#include "validate.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static bool is_alnum(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool model_name_is_valid(const char *s) {
        size_t n = strlen(s);
        if (n == 0 || n > MODEL_NAME_MAX || !is_alnum(s[0]))
                return false;
        for (size_t i = 1; i < n; i++)
                if (!is_alnum(s[i]) && s[i] != '_' && s[i] != '-')
                        return false;
        return true;
}

bool generation_is_valid(const char *s) {
        size_t n = strlen(s);
        if (n == 0 || n > GENERATION_MAX || !is_alnum(s[0]))
                return false;
        for (size_t i = 1; i < n; i++)
                if (!is_alnum(s[i]) && !strchr("._+-", s[i]))
                        return false;
        return true;
}

const char *store_dir(void) {
        const char *e = getenv("NIX_STORE_DIR");
        return e && absolute_path_is_valid(e) ? e : "/nix/store";
}

/* Nix's base-32 alphabet: digits and lower-case letters without e, o, u, t. */
static bool is_nix_base32(char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z' && !strchr("eout", c));
}

static bool store_name_char(char c) {
        return is_alnum(c) || strchr("+-._?=", c);
}

bool store_path_is_valid(const char *s) {
        const char *dir = store_dir();
        const char *p = startswith(s, dir);
        if (!p || *p != '/')
                return false;
        p++;
        for (int i = 0; i < 32; i++)
                if (!is_nix_base32(p[i]))
                        return false;
        p += 32;
        if (*p != '-')
                return false;
        p++;
        size_t n = strlen(p);
        if (n == 0 || n > 211 || p[0] == '.')
                return false;
        for (size_t i = 0; i < n; i++)
                if (!store_name_char(p[i]))
                        return false;
        return true;
}

bool drv_path_is_valid(const char *s) {
        return store_path_is_valid(s) && endswith(s, ".drv") && strlen(s) > strlen(store_dir()) + 1 + 32 + 1 + 4;
}

bool absolute_path_is_valid(const char *s) {
        if (s[0] != '/' || !string_is_printable_utf8(s) || strlen(s) > 4095)
                return false;
        if (streq(s, "/"))
                return true;
        if (endswith(s, "/"))
                return false;
        for (const char *p = s; *p; p++) {
                if (*p != '/')
                        continue;
                const char *c = p + 1;
                if (*c == '/' || strcspn(c, "/") > NAME_MAX)
                        return false;
                if (c[0] == '.' && (c[1] == '/' || c[1] == 0))
                        return false;
                if (c[0] == '.' && c[1] == '.' && (c[2] == '/' || c[2] == 0))
                        return false;
        }
        return true;
}

size_t unichar_at(const char *s, uint32_t *ret) {
        const unsigned char *p = (const unsigned char *) s;
        unsigned c = p[0];
        uint32_t cp;
        size_t len;
        if (c < 0x80) {
                *ret = c;
                return c ? 1 : 0;
        }
        if ((c & 0xe0) == 0xc0) {
                cp = c & 0x1f;
                len = 2;
        } else if ((c & 0xf0) == 0xe0) {
                cp = c & 0x0f;
                len = 3;
        } else if ((c & 0xf8) == 0xf0) {
                cp = c & 0x07;
                len = 4;
        } else
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((p[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (p[i] & 0x3f);
        }
        /* Overlong forms, surrogates and code points beyond U+10FFFF are not UTF-8. */
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
                return 0;
        *ret = cp;
        return len;
}

bool unichar_is_printable(uint32_t cp) {
        /* C0, DEL and C1 controls; and the noncharacters systemd's utf8_is_valid() refuses
         * (U+FDD0..U+FDEF and the last two code points of every plane): a unit line holding
         * one is dropped whole ("String is not UTF-8 clean"). */
        return cp >= 0x20 && !(cp >= 0x7f && cp <= 0x9f) && !(cp >= 0xfdd0 && cp <= 0xfdef) &&
               (cp & 0xfffe) != 0xfffe;
}

bool string_is_printable_utf8(const char *s) {
        while (*s) {
                /* Printable ASCII, nearly every byte of a manifest, needs no decoding. */
                if ((unsigned char) *s >= 0x20 && (unsigned char) *s < 0x7f) {
                        s++;
                        continue;
                }
                uint32_t cp;
                size_t n = unichar_at(s, &cp);
                if (n == 0 || !unichar_is_printable(cp))
                        return false;
                s += n;
        }
        return true;
}

bool env_assignment_is_valid(const char *s) {
        const char *eq = strchr(s, '=');
        if (!eq || eq == s)
                return false;
        if (!((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
                return false;
        for (const char *p = s + 1; p < eq; p++)
                if (!is_alnum(*p) && *p != '_')
                        return false;
        return string_is_printable_utf8(eq + 1);
}

bool output_name_is_valid(const char *s) {
        size_t n = strlen(s);
        if (n == 0 || n > 64 || s[0] == '.')
                return false;
        for (size_t i = 0; i < n; i++)
                if (!store_name_char(s[i]))
                        return false;
        return true;
}

bool user_name_is_valid(const char *s) {
        size_t n = strlen(s);
        if (n == 0 || n > 31)
                return false;
        if (!((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
                return false;
        for (size_t i = 1; i < n; i++)
                if (!is_alnum(s[i]) && s[i] != '_' && s[i] != '-')
                        return false;
        return true;
}

bool user_name_is_reserved(const char *s) {
        /* root is root; deferred-builds owns the GC roots and talks to nix-daemon; dserve-*
         * and dserve_* are the servers' dynamic users (serve_user_name()): the whole dserve
         * prefix is kept for them. */
        return streq(s, "root") || streq(s, "deferred-builds") || startswith(s, "dserve");
}

bool env_name_is_reserved(const char *name, size_t len) {
        /* DEFERRED_MODEL_PATH, DEFERRED_MODEL_NAME and DEFERRED_BUILDS_*: set by the units. */
        return len >= strlen("DEFERRED_") && memcmp(name, "DEFERRED_", strlen("DEFERRED_")) == 0;
}

bool exec_path_is_valid(const char *s) {
        /* systemd refuses an executable name holding a quote or a backslash (string_is_safe():
         * "Executable name contains special characters"), and expands no '$' in it, so "$$"
         * would stay doubled: none of the three can be written so that systemd runs the path. */
        return absolute_path_is_valid(s) && !streq(s, "/") && !strpbrk(s, "\"'\\$");
}

bool unit_path_is_valid(const char *s) {
        /* Written unquoted (SourcePath=): a trailing backslash would join the next line and
         * trailing white space would be stripped. Backslashes are refused altogether. */
        return absolute_path_is_valid(s) && !strchr(s, '\\') && !endswith(s, " ");
}

/* Parses [0-9]+ of at most 20 digits with no overflow; *end is where the digits stop. */
static bool parse_digits(const char *s, const char **end, unsigned long long *ret) {
        unsigned long long v = 0;
        const char *p = s;
        for (; *p >= '0' && *p <= '9'; p++) {
                unsigned d = (unsigned) (*p - '0');
                if (v > (ULLONG_MAX - d) / 10)
                        return false;
                v = v * 10 + d;
        }
        *end = p;
        *ret = v;
        return p != s;
}

bool memory_size_is_valid(const char *s) {
        /* systemd (config_parse_memory_limit): "infinity"; a percentage of physical memory,
         * 1% to 100% (0% is "out of range", over 100% "invalid"); or bytes, 1 to 2^64 - 2
         * (0 and 2^64 - 1 are "out of range", more overflows). Outside these the setting is
         * dropped and the server runs with no limit. */
        if (streq(s, "infinity"))
                return true;
        const char *e;
        unsigned long long v;
        if (!parse_digits(s, &e, &v))
                return false;
        if (streq(e, "%"))
                return v >= 1 && v <= 100;
        static const char suffixes[] = "KMGTPE";
        unsigned long long factor = 1;
        if (*e) {
                const char *k = strchr(suffixes, *e);
                if (!k || e[1])
                        return false;
                for (const char *q = suffixes; q <= k; q++)
                        factor *= 1024;
        }
        return v >= 1 && v <= (ULLONG_MAX - 1) / factor;
}

bool cpu_quota_is_valid(const char *s) {
        /* systemd (parse_permyriad_unbounded() in config_parse_cpu_quota): a percentage above
         * 0% whose permyriad value fits an int, so at most INT_MAX / 100 percent. */
        const char *e;
        unsigned long long v;
        return parse_digits(s, &e, &v) && streq(e, "%") && v >= 1 && v <= INT_MAX / 100;
}

bool device_allow_is_valid(const char *s) {
        /* systemd unquotes and unescapes the path (extract_first_word(EXTRACT_UNQUOTE)), and a
         * trailing backslash joins the next unit-file line: no quotes or backslashes. */
        if (strpbrk(s, "\"'\\"))
                return false;
        _cleanup_free_ char *copy = strdup(s);
        if (!copy)
                return false;
        char *sp = strchr(copy, ' ');
        if (sp) {
                *sp = 0;
                const char *perm = sp + 1;
                if (!*perm || strlen(perm) > 3)
                        return false;
                for (const char *p = perm; *p; p++)
                        if (!strchr("rwm", *p))
                                return false;
        }
        if (startswith(copy, "char-") || startswith(copy, "block-")) {
                const char *cls = strchr(copy, '-') + 1;
                if (!*cls)
                        return false;
                for (const char *p = cls; *p; p++)
                        if (!is_alnum(*p) && !strchr("-_", *p))
                                return false;
                return true;
        }
        return startswith(copy, "/dev/") && absolute_path_is_valid(copy);
}

bool credential_id_is_valid(const char *s) {
        size_t n = strlen(s);
        if (n == 0 || n > 64 || s[0] == '.')
                return false;
        for (size_t i = 0; i < n; i++)
                if (!is_alnum(s[i]) && !strchr("._-", s[i]))
                        return false;
        return true;
}

bool secret_path_is_valid(const char *s) {
        return absolute_path_is_valid(s) && !streq(s, "/") && !strpbrk(s, " \t\"'\\%");
}

bool path_is_in_store(const char *s) {
        const char *p = startswith(s, store_dir());
        return p && (*p == '/' || *p == 0);
}
