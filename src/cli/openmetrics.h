/* SPDX-License-Identifier: MIT */
/* Writing the OpenMetrics text format (https://prometheus.io/docs/specs/om/open_metrics_spec/):
 * metric families, samples with labels, and the closing "# EOF". */
#pragma once

#include <stdio.h>

/* "# TYPE NAME TYPE", "# UNIT NAME UNIT" when unit is not NULL, "# HELP NAME HELP". The
 * name, type, unit and help are ours (constants): not escaped. */
void om_family(FILE *f, const char *name, const char *type, const char *unit, const char *help);
/* Writes s as a label value between double quotes: backslash, double quote and newline
 * escaped as the format requires; other control characters and bytes that are not UTF-8
 * become U+FFFD, so any input gives a well-formed line. NULL writes "". */
void om_label_value(FILE *f, const char *s);
/* NAME{model="MODEL"} plus, when label is not NULL, ,LABEL="VALUE"; then the value. */
void om_sample_u64(FILE *f, const char *name, const char *model, const char *label, const char *value,
                   unsigned long long v);
void om_sample_double(FILE *f, const char *name, const char *model, const char *label, const char *value, double v);
void om_eof(FILE *f);
