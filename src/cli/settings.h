/* SPDX-License-Identifier: MIT */
/* Whether a running server has the settings the manifest now gives it. The generator
 * writes a digest of the serve drop-in's settings into it as DEFERRED_SERVE_SETTINGS=
 * (unitfile.h); the running process got the digest of the settings it started with in its
 * environment. A switch reloads the drop-in but never restarts the server, so reconcile
 * compares the two. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "manifest.h"
#include "paths.h"

/* 1 when process pid started with other settings than md's, 0 when with the same, or when
 * that cannot be told (no such process, a server that rewrote its environment, no
 * permission): never restart a server on a guess. */
int serve_settings_changed(pid_t pid, const Model *md, Scope scope);
