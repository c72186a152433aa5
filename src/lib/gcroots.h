/* SPDX-License-Identifier: MIT */
/* GC roots per generation, STATE/roots/GEN/NAME -> STORE/OUT (docs/DESIGN.md "Generation
 * identity"): listing them, and pruning those of deleted generations. A root is what
 * `nix-store --realise --add-root` leaves (rootentry.h); anything else below STATE/roots is
 * foreign, and never touched. Functions return 0 or a negative errno, logged once with
 * what to do (-ENOMEM is not logged). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* How long roots_prune() waits for another prune's lock before giving up with -EBUSY. */
#define ROOTS_LOCK_TIMEOUT_USEC (10ULL * 1000 * 1000)

typedef struct RootEntry {
        char *generation;
        char *model;  /* the entry's file name (a model name unless foreign) */
        char *path;   /* STATE/roots/GEN/MODEL */
        char *target; /* readlink, or NULL when not a symlink */
        bool valid;   /* a symlink into the store whose target exists */
        bool live;    /* its generation is live, or it is published */
        bool published;
        unsigned long long size; /* bytes of the target closure head (du of the store path), 0 if unknown */
        bool foreign;            /* not a root (rootentry.h): prune never removes it */
} RootEntry;

typedef struct RootList {
        RootEntry *entries;
        size_t n;
} RootList;
/* Frees the entries and their strings and empties the list; the struct itself is the
 * caller's (usually on the stack). Safe on a zeroed or already freed list. */
void root_list_free(RootList *l);

enum {
        ROOTS_LIST_NO_SIZE = 1 << 0, /* leave RootEntry.size 0: no walk of the store paths */
};

/* Lists every entry STATE/roots/GEN/ENTRY, roots and foreign entries alike, sorted by
 * generation then name, with liveness from `live` (NULL: none) and the links published
 * below runtime_dir (NULL: none). A missing STATE/roots is an empty list. Sizes are the
 * disk usage of each distinct store path, unless flags has ROOTS_LIST_NO_SIZE. */
int roots_list(const char *state_dir, const char *runtime_dir, char *const *live, RootList *ret);
int roots_list_full(const char *state_dir, const char *runtime_dir, char *const *live, unsigned flags,
                    RootList *ret);

typedef struct PruneStats {
        size_t removed_links, removed_dirs, kept, ignored_foreign;
        size_t deleted_generations; /* folders of generations that are not live (valid names only) */
} PruneStats;
/* Removes the roots whose generation is not in `live` (required: -EINVAL when NULL) and
 * that no link below runtime_dir publishes, then their empty folders; dry_run only logs
 * and counts. Never follows a symlink below STATE/roots and never removes a folder that
 * is not empty. Holds STATE/roots/.lock (not in a dry run), waiting at most
 * ROOTS_LOCK_TIMEOUT_USEC (-EBUSY). *stats (may be NULL) is filled even on failure.
 * Returns 0 or the first error met; one root that cannot go does not stop the others. */
int roots_prune(const char *state_dir, const char *runtime_dir, char *const *live, bool dry_run, PruneStats *stats);
