/* SPDX-License-Identifier: MIT */
/* A model's own training metrics: OUT/nix-support/training-metrics.json, which a trainer
 * may write into the model's output (docs/operations.md "Training metrics"). A flat JSON
 * object of finite numbers, `{"loss": 0.054, "epochs": 5}`; names from
 * [A-Za-z_][A-Za-z0-9_]{0,63}, at most TRAIN_METRICS_MAX of them, the file at most
 * TRAIN_METRICS_MAX_BYTES. Anything else makes the whole file malformed. */
#pragma once

#include <stddef.h>

#define TRAIN_METRICS_PATH "nix-support/training-metrics.json"
#define TRAIN_METRICS_MAX 64
#define TRAIN_METRICS_MAX_BYTES (64 * 1024)
#define TRAIN_METRIC_NAME_MAX 64

typedef struct TrainMetric {
        char name[TRAIN_METRIC_NAME_MAX + 1];
        double value;
} TrainMetric;

typedef struct TrainMetrics {
        TrainMetric v[TRAIN_METRICS_MAX]; /* in the file's order */
        size_t n;
} TrainMetrics;

/* Whether name may name a training metric. */
int train_metric_name_is_valid(const char *name, size_t len);

/* Parses the file's bytes into *ret. Returns 0, or -EBADMSG with a reason in why (a
 * static string) when they are not such an object. */
int train_metrics_parse(const char *data, size_t size, TrainMetrics *ret, const char **why);

/* Reads OUT/nix-support/training-metrics.json of the store path out. Returns 0; -ENOENT
 * (not logged) when there is none; -EBADMSG, -EFBIG or another -errno when it is there but
 * cannot be used, after a warning naming the file and what is wrong. */
int train_metrics_read(const char *out, TrainMetrics *ret);
