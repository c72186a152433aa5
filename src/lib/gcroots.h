/* SPDX-License-Identifier: MIT */
/* GC roots per generation: STATE/roots/<generation>/<model> -> /nix/store/<out>, and the
 * published links RUNTIME/models/<model> -> STATE/roots/<generation>/<model>
 * (docs/DESIGN.md). Pruning deletes only our own symlinks that point into the store:
 * never a regular file, a directory with foreign content, or a link elsewhere.
 *
 * Vocabulary used below:
 *   root       an entry STATE/roots/GEN/MODEL that is a symlink, whose name matches the
 *              model grammar (model_name_is_valid), inside a folder whose name matches
 *              the generation grammar (generation_is_valid), and whose target is a
 *              top-level store path (store_path_is_valid: STORE/<32 base-32>-<name>).
 *              This is exactly what `nix-store --realise --add-root` leaves behind.
 *   foreign    anything else below STATE/roots (other than the lock file): regular
 *              files, directories, links elsewhere, names outside the grammars. Prune
 *              never touches it and warns with its path.
 *   published  the root a link RUNTIME/models/NAME points at. Links are compared by the
 *              entry they name: the folder holding it (device and inode, however the
 *              state dir is spelled; trailing slashes dropped) and its name, never by the
 *              store path behind it, so two roots sharing one output are told apart. A
 *              link that names a store path itself keeps every root of that store path.
 *              The links are read once per call, so matching a root costs no system call.
 *
 * Every function returns 0 or a negative errno. Failures are logged once, naming the path
 * and what to do, before they are returned; not logged are -ENOMEM and the -ENOENT that
 * manifest_generation() and toplevel_generation() use to say "no manifest here". */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Below the state dir: one folder per generation, and the lock prune holds. */
#define ROOTS_SUBDIR "roots"
#define ROOTS_LOCK_NAME ".lock"
/* Below the runtime dir: the links the serve units read. */
#define PUBLISHED_SUBDIR "models"
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
        bool foreign; /* not a root (see above): prune never removes it */
} RootEntry;

typedef struct RootList {
        RootEntry *entries;
        size_t n;
} RootList;
/* Frees the entries and their strings and empties the list; the struct itself is the
 * caller's (usually on the stack). Safe on a zeroed or already freed list. */
void root_list_free(RootList *l);

/* The set of live generation identities: generations of the manifests of
 * /run/current-system, /run/booted-system, every /nix/var/nix/profiles/system-*-link
 * (and /nix/var/nix/profiles/system-profiles/NAME-N-link, the profiles of
 * `nixos-rebuild --profile-name`), their specialisations (TOPLEVEL/specialisation/NAME),
 * and `extra_toplevels` (e.g. $systemConfig during activation; may be NULL).
 *
 * The fixed paths above are re-rooted below $DEFERRED_BUILDS_SYSTEM_ROOT when it is set
 * (tests build fake trees there; it must be an absolute path, else -EINVAL); the
 * extra toplevels are used as given. A toplevel that does not exist, or has no manifest,
 * is skipped. A manifest that exists but cannot be read (permissions, I/O) fails the
 * whole call: liveness that cannot be known must not let prune delete anything.
 * A manifest rejected for its content still has a generation (toplevel_generation()).
 *
 * Returns 0 and a NULL-terminated, sorted, de-duplicated list in *ret (free it with
 * strv_free(); it may be empty, never NULL). */
int live_generations(char *const *extra_toplevels, char ***ret);

/* The generation identity of one manifest file, derived as docs/DESIGN.md "Generation
 * identity" says and the same way manifest_load() does: the header's `generation =`,
 * else the basename of the resolved path when that is a top-level store path, else
 * "local". A manifest rejected for its content (bad syntax, wrong version, too large, a
 * directory) still has one. Returns -ENOENT (not logged) when there is no file there. */
int manifest_generation(const char *manifest_path, char **ret);

/* The generation of a system toplevel: manifest_generation() of
 * TOPLEVEL/deferred-builds/manifest.ini, falling back to
 * TOPLEVEL/etc/deferred-builds/manifest.ini. Returns -ENOENT (not logged) when the
 * toplevel or both manifests are missing. */
int toplevel_generation(const char *toplevel, char **ret);

enum {
        ROOTS_LIST_NO_SIZE = 1 << 0, /* leave RootEntry.size 0: no walk of the store paths */
};

/* Lists every entry STATE/roots/<gen>/<entry> (roots and foreign entries alike) with
 * liveness resolved against `live` (NULL-terminated, any order; NULL means none) and the
 * published links below runtime_dir (may be NULL: nothing is published). Entries directly
 * below STATE/roots that are not folders (and the lock file) are not listed. Sorted by
 * generation, then entry name. A missing STATE/roots gives an empty list.
 * Sizes are disk usage (st_blocks, like du) of each distinct store path, computed once
 * per path; pass ROOTS_LIST_NO_SIZE to roots_list_full() to skip that walk. */
int roots_list(const char *state_dir, const char *runtime_dir, char *const *live, RootList *ret);
int roots_list_full(const char *state_dir, const char *runtime_dir, char *const *live, unsigned flags,
                    RootList *ret);

typedef struct PruneStats {
        size_t removed_links, removed_dirs, kept, ignored_foreign;
        size_t deleted_generations; /* folders of generations that are not live (valid names only) */
} PruneStats;
/* Removes roots (and then empty generation folders) whose generation is not live and that
 * are not published. dry_run: only counts and logs "would remove".
 *
 * `live` is the NULL-terminated list from live_generations() (any order); it must not be
 * NULL (-EINVAL), and an empty list means every unpublished root goes: callers that
 * found no live generation at all should ask themselves why before pruning.
 * runtime_dir may be NULL (nothing is published); a RUNTIME/models that exists but
 * cannot be read fails the prune, since published roots could not be told apart.
 *
 * Never follows a symlink below STATE/roots: folders are opened O_NOFOLLOW, entries are
 * inspected with readlinkat() (and fstatat(AT_SYMLINK_NOFOLLOW) when not a link) and
 * removed with unlinkat(); folders are removed with rmdir only once empty, never
 * recursively. Foreign entries are warned about and counted in ignored_foreign.
 * Generation folders that are live are only listed, not inspected for foreign content:
 * their symlinks with model names are counted in kept by the listing's file type,
 * without reading them. A removed root costs two system calls, a live folder a few.
 *
 * Holds an exclusive flock on STATE/roots/.lock (created if missing) for the whole
 * prune, waiting at most ROOTS_LOCK_TIMEOUT_USEC for another prune (-EBUSY after);
 * a dry run takes no lock and creates nothing. A missing STATE/roots is not an error.
 *
 * *stats (may be NULL) is zeroed, then filled even on failure. Returns 0, or the first
 * negative errno met (an entry that could not be removed does not stop the others). */
int roots_prune(const char *state_dir, const char *runtime_dir, char *const *live, bool dry_run, PruneStats *stats);
