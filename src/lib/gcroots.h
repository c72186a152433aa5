/* SPDX-License-Identifier: MIT */
/* GC roots per generation: STATE/roots/<generation>/<model> -> /nix/store/<out>, and the
 * published links RUNTIME/models/<model> -> STATE/roots/<generation>/<model>
 * (docs/DESIGN.md). Pruning deletes only our own symlinks that point into the store:
 * never a regular file, a directory with foreign content, or a link elsewhere. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

typedef struct RootEntry {
        char *generation;
        char *model;
        char *path;   /* STATE/roots/GEN/MODEL */
        char *target; /* readlink, or NULL when not a symlink */
        bool valid;   /* a symlink into the store whose target exists */
        bool live;    /* its generation is live, or it is published */
        bool published;
        unsigned long long size; /* bytes of the target closure head (du of the store path), 0 if unknown */
} RootEntry;

typedef struct RootList {
        RootEntry *entries;
        size_t n;
} RootList;
void root_list_free(RootList *l);

/* The set of live generation identities: generations of the manifests of
 * /run/current-system, /run/booted-system, every /nix/var/nix/profiles/system-*-link,
 * their specialisations, and `extra_toplevels` (e.g. $systemConfig during activation).
 * The roots of those paths can be re-rooted with DEFERRED_BUILDS_SYSTEM_ROOT (tests).
 * Returns a NULL-terminated, sorted, de-duplicated list. */
int live_generations(char *const *extra_toplevels, char ***ret);

/* Lists STATE/roots/<gen>/<model> with liveness resolved against `live` and the published
 * links below runtime_dir (may be NULL). */
int roots_list(const char *state_dir, const char *runtime_dir, char *const *live, RootList *ret);

typedef struct PruneStats {
        size_t removed_links, removed_dirs, kept, ignored_foreign;
} PruneStats;
/* Removes roots (and then empty generation folders) whose generation is not live and that
 * are not published. dry_run: only counts and logs "would remove". */
int roots_prune(const char *state_dir, const char *runtime_dir, char *const *live, bool dry_run, PruneStats *stats);
