/* SPDX-License-Identifier: MIT */
/* The OpenMetrics text format (openmetrics.h). Label values are the only untrusted text
 * written: paths read from links and status files. */
#include "openmetrics.h"

#include <stdint.h>
#include <string.h>

#include "utf8.h"

void om_family(FILE *f, const char *name, const char *type, const char *unit, const char *help) {
        fprintf(f, "# TYPE %s %s\n", name, type);
        if (unit)
                fprintf(f, "# UNIT %s %s\n", name, unit);
        fprintf(f, "# HELP %s %s\n", name, help);
}

void om_label_value(FILE *f, const char *s) {
        fputc('"', f);
        for (const unsigned char *p = (const unsigned char *) (s ? s : ""); *p;) {
                if (*p == '\\' || *p == '"') {
                        fputc('\\', f);
                        fputc(*p++, f);
                } else if (*p == '\n') {
                        fputs("\\n", f);
                        p++;
                } else if (*p < 0x20 || *p == 0x7f) {
                        fputs("\xef\xbf\xbd", f);
                        p++;
                } else {
                        uint32_t cp;
                        size_t l = utf8_sequence(p, strnlen((const char *) p, 4), &cp);
                        if (l == 0) {
                                fputs("\xef\xbf\xbd", f);
                                p++;
                        } else {
                                fwrite(p, 1, l, f);
                                p += l;
                        }
                }
        }
        fputc('"', f);
}

static void labels(FILE *f, const char *name, const char *model, const char *label, const char *value) {
        fprintf(f, "%s{model=", name);
        om_label_value(f, model);
        if (label) {
                fprintf(f, ",%s=", label);
                om_label_value(f, value);
        }
        fputc('}', f);
}

void om_sample_u64(FILE *f, const char *name, const char *model, const char *label, const char *value,
                   unsigned long long v) {
        labels(f, name, model, label, value);
        fprintf(f, " %llu\n", v);
}

void om_sample_double(FILE *f, const char *name, const char *model, const char *label, const char *value, double v) {
        labels(f, name, model, label, value);
        /* %.17g round-trips; finite values only (the callers' inputs are checked). */
        fprintf(f, " %.17g\n", v);
}

void om_eof(FILE *f) {
        fputs("# EOF\n", f);
}
