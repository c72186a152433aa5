/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the manifest parser, the validators and the unit writer. Whatever the
 * input, parsing must not crash or leak, and every model that survives validation must be
 * applied as written:
 *   - each accepted value equals its raw line, read by a plain reference reader that knows
 *     nothing of inih (so a value cut at a comment, a continuation line, a hidden section or
 *     stripped white space shows);
 *   - each value is UTF-8 that systemd keeps (no control, no noncharacter), checked here
 *     independently of validate.c;
 *   - the unit text has no raw control character, no line over systemd's LONG_LINE_MAX, no
 *     line ending in a backslash (it would join the next) and nothing smuggled in;
 *   - every diagnostic is printable. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"
#include "unitfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* systemd's utf8_is_valid() and unichar_is_valid(), plus no C0/C1 control or DEL. */
static bool clean_utf8(const char *s) {
        const unsigned char *p = (const unsigned char *) s;
        while (*p) {
                uint32_t c;
                int n;
                if (p[0] < 0x80) {
                        c = p[0];
                        n = 1;
                } else if ((p[0] & 0xe0) == 0xc0) {
                        c = p[0] & 0x1f;
                        n = 2;
                } else if ((p[0] & 0xf0) == 0xe0) {
                        c = p[0] & 0x0f;
                        n = 3;
                } else if ((p[0] & 0xf8) == 0xf0) {
                        c = p[0] & 0x07;
                        n = 4;
                } else
                        return false;
                for (int i = 1; i < n; i++) {
                        if ((p[i] & 0xc0) != 0x80)
                                return false;
                        c = c << 6 | (p[i] & 0x3f);
                }
                static const uint32_t min[] = { 0, 0, 0x80, 0x800, 0x10000 };
                if (c < min[n] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff) || (c >= 0xfdd0 && c <= 0xfdef) ||
                    (c & 0xfffe) == 0xfffe || c < 0x20 || (c >= 0x7f && c <= 0x9f))
                        return false;
                p += n;
        }
        return true;
}

static void check_unit_text(const char *t) {
        for (const char *p = t; *p; p++)
                if ((unsigned char) *p < 0x20 && *p != '\n')
                        abort();
        /* Every line is a comment, a [section], empty, or Key=...: nothing smuggled in. */
        for (const char *line = t; *line;) {
                const char *nl = strchr(line, '\n');
                size_t len = nl ? (size_t) (nl - line) : strlen(line);
                if (len > 1024 * 1024 - 1 || (len > 0 && line[len - 1] == '\\'))
                        abort();
                if (len > 0 && line[0] != '#' && line[0] != '[') {
                        const char *eq = memchr(line, '=', len);
                        if (!eq)
                                abort();
                        for (const char *k = line; k < eq; k++)
                                if (!((*k >= 'A' && *k <= 'Z') || (*k >= 'a' && *k <= 'z')))
                                        abort();
                }
                line += len + (nl ? 1 : 0);
        }
}

/* One "key = value" line as a plain reader sees it. */
typedef struct Line {
        const char *section; /* into a copy of the input */
        char *key, *value;
} Line;

static bool blank(char c) {
        return c == ' ' || c == '\t';
}

/* Splits the input into key lines with the section each belongs to. Returns the count. */
static size_t reference_read(char *text, Line *out, size_t max) {
        size_t n = 0;
        const char *section = NULL;
        char *s = text;
        if (strncmp(s, "\xEF\xBB\xBF", 3) == 0)
                s += 3;
        while (*s && n < max) {
                char *nl = strchr(s, '\n');
                char *next = nl ? nl + 1 : s + strlen(s);
                if (nl)
                        *nl = 0;
                size_t len = strlen(s);
                if (len > 0 && s[len - 1] == '\r')
                        s[--len] = 0;
                char *p = s;
                while (blank(*p))
                        p++;
                if (*p == 0 || *p == ';' || *p == '#') {
                } else if (s[0] == '[') {
                        char *close = strchr(s, ']');
                        if (close)
                                *close = 0;
                        section = s + 1;
                } else {
                        char *sep = strpbrk(p, "=:");
                        if (sep) {
                                char *ke = sep;
                                while (ke > p && blank(ke[-1]))
                                        ke--;
                                *ke = 0;
                                char *v = sep + 1;
                                while (blank(*v))
                                        v++;
                                char *ve = v + strlen(v);
                                while (ve > v && blank(ve[-1]))
                                        ve--;
                                *ve = 0;
                                out[n++] = (Line){ section, p, v };
                        }
                }
                s = next;
        }
        return n;
}

/* The values of KEY in section [model.NAME], in file order, must be exactly vals. */
static void expect_values(const Line *lines, size_t n, const char *name, const char *key, char *const *vals,
                          size_t n_vals) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
                if (!lines[i].section || strncmp(lines[i].section, "model.", 6) != 0 ||
                    strcmp(lines[i].section + 6, name) != 0 || strcmp(lines[i].key, key) != 0)
                        continue;
                if (k >= n_vals || strcmp(lines[i].value, vals[k]) != 0)
                        abort();
                k++;
        }
        if (k != n_vals)
                abort();
        for (size_t i = 0; i < n_vals; i++)
                if (!clean_utf8(vals[i]))
                        abort();
}

static void expect_value(const Line *lines, size_t n, const char *name, const char *key, char *val) {
        expect_values(lines, n, name, key, val ? &val : NULL, val ? 1 : 0);
}

static void check_model(const Line *lines, size_t n, const Model *md) {
        expect_value(lines, n, md->name, "drv", md->drv);
        expect_value(lines, n, md->name, "exec", md->exec);
        expect_value(lines, n, md->name, "out", md->out);
        expect_values(lines, n, md->name, "arg", md->args, md->n_args);
        expect_values(lines, n, md->name, "environment", md->env, md->n_env);
        expect_values(lines, n, md->name, "device-allow", md->device_allow, md->n_device_allow);
        expect_value(lines, n, md->name, "user", md->user);
        expect_value(lines, n, md->name, "memory-max", md->memory_max);
        expect_value(lines, n, md->name, "cpu-quota", md->cpu_quota);
        expect_value(lines, n, md->name, "builders", md->builders);
        expect_value(lines, n, md->name, "substituters", md->substituters);
        expect_value(lines, n, md->name, "trusted-public-keys", md->trusted_public_keys);
        expect_value(lines, n, md->name, "extra-substituters", md->extra_substituters);
        expect_value(lines, n, md->name, "extra-trusted-public-keys", md->extra_trusted_public_keys);
        /* The limits systemd applies (systemd-analyze verify, 252). */
        if (md->memory_max && strcmp(md->memory_max, "infinity") != 0) {
                char *e;
                unsigned long long v = strtoull(md->memory_max, &e, 10);
                if (v == 0 || (*e && *e != '%' && !strchr("KMGTPE", *e)) || (*e == '%' && v > 100))
                        abort();
        }
        if (md->cpu_quota && (strtoull(md->cpu_quota, NULL, 10) == 0 || strtoull(md->cpu_quota, NULL, 10) > 21474836))
                abort();
        if (md->user && (strcmp(md->user, "root") == 0 || strncmp(md->user, "dserve", 6) == 0))
                abort();
        for (size_t i = 0; i < md->n_env; i++)
                if (strncmp(md->env[i], "DEFERRED_", 9) == 0)
                        abort();
        /* Passed-through settings and secrets: as written, never empty, never quoted or
         * escaped, never a specifier where systemd expands one, never a secret in the store. */
        expect_values(lines, n, md->name, "service", md->service, md->n_service);
        expect_values(lines, n, md->name, "credential", md->credentials, md->n_credentials);
        expect_value(lines, n, md->name, "environment-file", md->environment_file);
        for (size_t i = 0; i < md->n_service; i++) {
                const char *eq = strchr(md->service[i], '=');
                if (!eq || eq == md->service[i] || !eq[1] || strpbrk(eq, "\\\"'\t") ||
                    (strchr(eq, '%') && strncmp(md->service[i], "TasksMax=", 9) != 0 &&
                     strncmp(md->service[i], "MemoryHigh=", 11) != 0))
                        abort();
                for (const char *k = md->service[i]; k < eq; k++)
                        if (!((*k >= 'A' && *k <= 'Z') || (*k >= 'a' && *k <= 'z')))
                                abort();
        }
        for (size_t i = 0; i < md->n_credentials; i++) {
                const char *path = strchr(md->credentials[i], ':');
                if (!path || path[1] != '/' || strncmp(path + 1, "/nix/store/", 11) == 0 ||
                    strcmp(path + 1, "/nix/store") == 0 || strpbrk(path, "% \\\"'"))
                        abort();
        }
        if (md->environment_file &&
            (md->environment_file[0] != '/' || strncmp(md->environment_file, "/nix/store/", 11) == 0 ||
             strpbrk(md->environment_file, "% \\\"'")))
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        Manifest *m = NULL;
        (void) manifest_parse("fuzz.ini", (const char *) data, size, &m);
        if (!m)
                return 0;
        if (m->n_models > 0) {
                char *text = malloc(size + 1);
                Line *lines = malloc(sizeof(Line) * (size / 2 + 1));
                if (text && lines) {
                        memcpy(text, data, size);
                        text[size] = 0;
                        size_t n = reference_read(text, lines, size / 2 + 1);
                        for (size_t i = 0; i < m->n_models; i++)
                                check_model(lines, n, &m->models[i]);
                }
                free(text);
                free(lines);
        }
        for (size_t i = 0; i < m->n_models; i++) {
                char *t = NULL;
                for (int scope = 0; scope < 2; scope++) {
                        if (unit_serve_dropin(&m->models[i], scope ? SCOPE_USER : SCOPE_SYSTEM, "/x.ini", &t) == 0) {
                                check_unit_text(t);
                                free(t);
                        }
                }
        }
        for (size_t i = 0; i < m->n_diags; i++)
                if (!clean_utf8(m->diags[i].message))
                        abort();
        FILE *devnull = fopen("/dev/null", "w");
        if (devnull) {
                manifest_print_diags(m, devnull);
                fclose(devnull);
        }
        manifest_free(m);
        return 0;
}
