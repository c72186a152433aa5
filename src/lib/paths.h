/* SPDX-License-Identifier: MIT */
/* Where things live, per scope (docs/DESIGN.md "Scope and paths"). Every path can be
 * re-rooted by an environment variable. Returned strings are newly allocated. */
#pragma once

#include <stdbool.h>

/* Below the state dir: STATE/roots/GEN/NAME, the GC roots, and the lock prune holds. */
#define ROOTS_SUBDIR "roots"
#define ROOTS_LOCK_NAME ".lock"
/* Below the state dir: STATE/failed/NAME, the status of a build that failed, kept across
 * reboots and `systemctl reset-failed` until the model builds or an operator retries. */
#define FAILED_SUBDIR "failed"
/* Below the state dir: STATE/served/NAME -> STATE/roots/GEN/NAME, the GC root last
 * published for NAME, which serves again after a reboot while a newer model trains. */
#define SERVED_SUBDIR "served"
/* Below the runtime dir: RUNTIME/models/NAME, the links the servers read, and
 * RUNTIME/status/NAME, each model's status file. */
#define PUBLISHED_SUBDIR "models"
#define STATUS_SUBDIR "status"
/* Where a system toplevel carries its manifest, and the older place. */
#define TOPLEVEL_MANIFEST "deferred-builds/manifest.ini"
#define TOPLEVEL_MANIFEST_ETC "etc/deferred-builds/manifest.ini"

typedef enum Scope {
        SCOPE_SYSTEM,
        SCOPE_USER,
} Scope;

/* From $SYSTEMD_SCOPE ("user" -> user), else system. */
Scope scope_from_environment(void);
const char *scope_to_string(Scope s);

int path_manifest(Scope s, char **ret);
int path_state_dir(Scope s, char **ret);
int path_runtime_dir(Scope s, char **ret);


