/* SPDX-License-Identifier: MIT */
#include "validate.h"

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
                if (*c == '/')
                        return false;
                if (c[0] == '.' && (c[1] == '/' || c[1] == 0))
                        return false;
                if (c[0] == '.' && c[1] == '.' && (c[2] == '/' || c[2] == 0))
                        return false;
        }
        return true;
}

bool string_is_printable_utf8(const char *s) {
        const unsigned char *p = (const unsigned char *) s;
        while (*p) {
                unsigned c = *p;
                if (c < 0x20 || c == 0x7f)
                        return false;
                if (c < 0x80) {
                        p++;
                        continue;
                }
                unsigned cp, len;
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
                        return false;
                for (unsigned i = 1; i < len; i++) {
                        if ((p[i] & 0xc0) != 0x80)
                                return false;
                        cp = (cp << 6) | (p[i] & 0x3f);
                }
                /* Overlong forms, surrogates, beyond U+10FFFF and C1 controls are rejected. */
                if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
                    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff || (cp >= 0x80 && cp <= 0x9f))
                        return false;
                p += len;
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

static bool all_digits(const char *s, const char *end) {
        if (s == end)
                return false;
        for (; s < end; s++)
                if (*s < '0' || *s > '9')
                        return false;
        return true;
}

bool memory_size_is_valid(const char *s) {
        if (streq(s, "infinity"))
                return true;
        size_t n = strlen(s);
        if (n == 0 || n > 20)
                return false;
        if (s[n - 1] == '%')
                return all_digits(s, s + n - 1);
        if (strchr("KMGTPE", s[n - 1]))
                return all_digits(s, s + n - 1);
        return all_digits(s, s + n);
}

bool cpu_quota_is_valid(const char *s) {
        size_t n = strlen(s);
        return n >= 2 && n <= 8 && s[n - 1] == '%' && all_digits(s, s + n - 1);
}

bool device_allow_is_valid(const char *s) {
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
