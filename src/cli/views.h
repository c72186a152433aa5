/* SPDX-License-Identifier: MIT */
/* Every model a monitoring verb reports on, loaded at once: the manifest's models plus
 * removed models whose units still run or failed, each a ModelView (model.h) with its
 * state-change time and its published output resolved. */
#pragma once

#include <stddef.h>
#include <systemd/sd-bus.h>

#include "manifest.h"
#include "model.h"
#include "units.h"

typedef struct ViewSet {
        Manifest *manifest;
        sd_bus *bus;
        UnitTable units;
        char *runtime_dir; /* NULL: unknown, no status files or published links */
        char *state_dir;   /* NULL: unknown, no failure memory */
        ModelView *views;
        char **published; /* per view: what RUNTIME/models/NAME resolves to, or NULL */
        size_t n;
} ViewSet;

/* Loads the set for the scope of the CLI: every model, or only those named in the
 * NULL-terminated names (NULL: all). Returns 0; a CLI_EXIT_* code after printing why
 * (manifest unusable, a name that is no model name, manager unreachable); or a negative
 * errno, logged. Call view_set_done() in every case. */
int view_set_load(ViewSet *s, char **names);
void view_set_done(ViewSet *s);
