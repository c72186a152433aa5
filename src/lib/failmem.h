/* SPDX-License-Identifier: MIT */
/* The failure memory: STATE/failed/NAME holds the status of the last build of model NAME
 * that failed, in the status file format. A unit's failed state does not last (every NixOS
 * switch runs `systemctl reset-failed`, a reboot forgets it), so this file is what says "this
 * derivation failed, do not build it again" until the manifest names another derivation or
 * an operator retries. */
#pragma once

#include <stdbool.h>

#include "status.h"

/* Remembers that st->drv failed for st->model. */
int failmem_remember(const char *state_dir, const ModelStatus *st);
/* Forgets the failure of model; 0 also when there was none. */
int failmem_forget(const char *state_dir, const char *model);
/* Reads the remembered failure of model into *st: 0, -ENOENT when there is none. */
int failmem_read(const char *state_dir, const char *model, ModelStatus *st);
