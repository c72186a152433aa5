/* SPDX-License-Identifier: MIT */
/* Where things live, per scope (docs/DESIGN.md "Scope and paths"). Every path can be
 * re-rooted by an environment variable. Returned strings are newly allocated. */
#pragma once

#include <stdbool.h>

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


