/* SPDX-License-Identifier: MIT */
/* Each model as the verbs see it: its manifest entry, status file and units, and the
 * state derived from them. */
#pragma once

#include <stdbool.h>

#include "decide.h"
#include "manifest.h"
#include "status.h"
#include "units.h"

/* Loads the manifest for a verb: prints what is wrong and returns CLI_EXIT_NOINPUT when it
 * is missing, unreadable or rejected; warns once (to stderr) when models were skipped. */
int cli_load_manifest(const char *path, Manifest **ret);
/* The names of models skipped for errors (they keep running as they are). */
int manifest_skipped_names(const Manifest *m, char ***ret);

typedef struct ModelView {
        const char *name;
        const Model *model;       /* NULL: removed from the manifest */
        const ModelUnits *units;  /* NULL: none of its units is loaded */
        StatusInfo *status;       /* NULL: no status file */
        StatusInfo *failed;       /* the remembered build failure (failmem.h), or NULL */
        int status_error;         /* from status_read(), 0 when read */
        const char *state;        /* model_view_state_to_string(view_state) */
        ModelViewState view_state;
        UnitInfo *lead;           /* the unit the state comes from, or NULL */
        bool retraining;          /* a retrain runs while the old model serves */
        char *error;              /* what went wrong, or NULL */
        char *detail;             /* why it waits, how long it is silent (decide.h), or NULL */
        bool alarm;               /* a failure to report: a failed state, or a failed retrain */
        unsigned long long since; /* CLOCK_REALTIME µs of the last state change, 0 unknown */
} ModelView;

/* Seconds without a build log line after which a training shows "silent"; 0 never. */
#define SILENT_AFTER_DEFAULT_SEC 600ULL
extern unsigned long long arg_silent_after;

UnitInfo *model_unit(const ModelView *v, UnitKind k);
/* The facts of v as decide() takes them, without callbacks. */
void model_view_decide_input(const ModelView *v, DecideInput *ret);
/* Reads the status file of `name` below runtime_dir and its remembered failure below
 * state_dir (either may be NULL; through *scratch, reusable across calls) and derives state,
 * lead and error. */
int model_view_init(ModelView *v, const char *name, const Model *md, const ModelUnits *u, const char *runtime_dir,
                    const char *state_dir, ModelStatus *scratch);
/* Whether v->since needs the lead unit's StateChangeTimestamp: the status file stamps when
 * a training started and ended, but not when a server started. */
bool model_view_needs_unit_time(const ModelView *v);
/* Sets v->since from the status file, else the lead unit's StateChangeTimestamp. */
void model_view_update_since(ModelView *v);
void model_view_done(ModelView *v);
/* True when the status file says the manifest's derivation is what was published. */
bool model_view_is_current(const ModelView *v);
/* A build of the manifest's derivation failed and nobody retried it since: it must not be
 * built again until the manifest names another derivation or an operator retries. */
bool model_view_build_failed(const ModelView *v);
/* The status file names the same derivation as the manifest. */
bool model_view_status_drv_is(const ModelView *v, const char *drv);
