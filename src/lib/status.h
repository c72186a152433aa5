/* SPDX-License-Identifier: MIT */
/* The per-model status file, RUNTIME/status/NAME (docs/DESIGN.md "Status file").
 * Written whole (temp + rename) by deferred-realise; read by the CLI and reconcile.
 * A corrupt or truncated file reads as "unknown" with an error, never crashes a reader. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

typedef enum ModelState {
        MODEL_STATE_UNKNOWN,
        MODEL_STATE_PENDING,
        MODEL_STATE_SUBSTITUTING,
        MODEL_STATE_TRAINING,
        MODEL_STATE_READY,
        MODEL_STATE_FAILED,
        MODEL_STATE_STOPPED, /* asked to stop (systemctl stop) before the build finished */
        _MODEL_STATE_MAX,
} ModelState;

const char *model_state_to_string(ModelState s);
ModelState model_state_from_string(const char *s); /* MODEL_STATE_UNKNOWN when unknown */

#define STATUS_LINE_MAX 200
#define STATUS_ERROR_MAX 1024

typedef struct ModelStatus {
        ModelState state;
        char model[65];
        char drv[256];
        char out[256];
        char generation[129];
        char root[4096];
        unsigned long long started, finished; /* UNIX seconds; finished 0 while running */
        unsigned long long done, expected;    /* derivations */
        char last_line[STATUS_LINE_MAX + 1];
        char error[STATUS_ERROR_MAX + 1];
        unsigned attempts;
        /* Written always, read when present (files of older versions lack them): */
        unsigned long long last_output;    /* UNIX seconds of the build's last log line, 0 none */
        char waiting[STATUS_LINE_MAX + 1]; /* why nothing runs yet (a cache retried), or "" */
} ModelStatus;

/* Writes RUNTIME/status/NAME atomically (creating RUNTIME/status). Values are sanitised:
 * newlines and control characters become '?'. */
int status_write(const char *runtime_dir, const ModelStatus *st);
/* Reads it. -ENOENT when absent; -EBADMSG when it is not a status file (st is then zeroed
 * with state UNKNOWN and error saying so). Unknown keys are ignored. */
int status_read(const char *runtime_dir, const char *model, ModelStatus *st);
/* The same, for a status file DIR/NAME in another folder (the failure memory). */
int status_write_in(const char *dir, const ModelStatus *st);
int status_read_in(const char *dir, const char *model, ModelStatus *st);
/* Parses status text (for tests and the reader). */
int status_parse(const char *text, size_t size, ModelStatus *st);
