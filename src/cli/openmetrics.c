/* SPDX-License-Identifier: MIT */
/* The OpenMetrics text format (openmetrics.h). Label values are the only untrusted text
 * written: paths read from links and status files. */
#include "openmetrics.h"

#include <stdint.h>
#include <string.h>

#include "utf8.h"

void om_family(const Om *o, const char *name, const char *type, const char *unit, const char *help) {
        if (o->prometheus) {
                bool info = strcmp(type, "info") == 0;
                if (info || strcmp(type, "stateset") == 0)
                        type = "gauge";
                fprintf(o->f, "# HELP %s%s %s\n# TYPE %s%s %s\n", name, info ? "_info" : "", help, name,
                        info ? "_info" : "", type);
                return;
        }
        fprintf(o->f, "# TYPE %s %s\n", name, type);
        if (unit)
                fprintf(o->f, "# UNIT %s %s\n", name, unit);
        fprintf(o->f, "# HELP %s %s\n", name, help);
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

void om_sample_u64(const Om *o, const char *name, const char *model, const char *label, const char *value,
                   unsigned long long v) {
        labels(o->f, name, model, label, value);
        fprintf(o->f, " %llu\n", v);
}

void om_sample_double(const Om *o, const char *name, const char *model, const char *label, const char *value,
                      double v) {
        labels(o->f, name, model, label, value);
        /* %.17g round-trips; finite values only (the callers' inputs are checked). */
        fprintf(o->f, " %.17g\n", v);
}

void om_eof(const Om *o) {
        if (!o->prometheus)
                fputs("# EOF\n", o->f);
}
