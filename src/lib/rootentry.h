/* SPDX-License-Identifier: MIT */
/* What an entry below STATE/roots is: shared by the listing (gcroots.c) and prune
 * (prune.c). A root is a symlink named like a model, in a folder named like a generation,
 * whose target is a top-level store path: what `nix-store --add-root` leaves. Anything
 * else is foreign, and never touched. */
#pragma once

#include <limits.h>
#include <sys/types.h>

typedef enum EntryKind {
        ENTRY_ROOT,
        ENTRY_BAD_NAME,
        ENTRY_NOT_LINK,
        ENTRY_LINK_ELSEWHERE,
} EntryKind;

/* Decides whether GEN_FD/NAME is one of our roots, reading the link first (a root, the
 * common case, needs nothing more) and allocating nothing. On ENTRY_ROOT and ENTRY_LINK_ELSEWHERE, target holds the
 * link's target, else it is empty; *ret_mode gets the entry's file type. Returns -ENOENT when the entry vanished
 * meanwhile. */
int classify_entry(int gen_fd, const char *name, char target[static PATH_MAX], EntryKind *ret_kind, mode_t *ret_mode);

/* "a regular file", "a directory", ... for messages. */
const char *file_type_name(mode_t mode);

/* Logs why DIR/NAME is left alone. */
void warn_foreign(const char *dir, const char *name, mode_t mode, EntryKind kind, const char *target);

/* Opens STATE/roots without following a symlink in its place. Returns -ENOENT silently. */
int open_roots(const char *state_dir, char **ret_path, int *ret_fd);
