/* SPDX-License-Identifier: MIT */
/* Writing the OpenMetrics text format (https://prometheus.io/docs/specs/om/open_metrics_spec/):
 * metric families, samples with labels, and the closing "# EOF"; or the older Prometheus
 * text format 0.0.4, which node-exporter's textfile collector parses: no "# UNIT" or
 * "# EOF", stateset and info families written as gauges (it refuses other types). */
#pragma once

#include <stdbool.h>
#include <stdio.h>

typedef struct Om {
        FILE *f;
        bool prometheus; /* text format 0.0.4 instead of OpenMetrics */
} Om;

/* "# TYPE NAME TYPE", "# UNIT NAME UNIT" when unit is not NULL, "# HELP NAME HELP". The
 * name, type, unit and help are ours (constants): not escaped. In the 0.0.4 format an
 * info family's NAME gets its samples' "_info" suffix. */
void om_family(const Om *o, const char *name, const char *type, const char *unit, const char *help);
/* Writes s as a label value between double quotes: backslash, double quote and newline
 * escaped as the format requires; other control characters and bytes that are not UTF-8
 * become U+FFFD, so any input gives a well-formed line. NULL writes "". */
void om_label_value(FILE *f, const char *s);
/* NAME{model="MODEL"} plus, when label is not NULL, ,LABEL="VALUE"; then the value. */
void om_sample_u64(const Om *o, const char *name, const char *model, const char *label, const char *value,
                   unsigned long long v);
void om_sample_double(const Om *o, const char *name, const char *model, const char *label, const char *value, double v);
void om_eof(const Om *o);
