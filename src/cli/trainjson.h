/* SPDX-License-Identifier: MIT */
/* A model's training metrics (trainmetrics.h) as a JSON value, for `status --json`. */
#pragma once

#include <stdio.h>

/* Writes {"NAME":NUMBER,...} from OUT/nix-support/training-metrics.json of the output out,
 * or null when out is NULL or empty, has no such file, or the file is malformed (warned).
 * Returns 0 or -ENOMEM (logged). */
int training_metrics_json(FILE *f, const char *out);
