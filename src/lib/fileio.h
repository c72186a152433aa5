/* SPDX-License-Identifier: MIT */
/* Files that others read are written whole or not at all: a hidden temp file in the same
 * directory, then rename(2). A reader (systemd, the CLI, a server) sees the old content or
 * the new, never a mix; a crash leaves at most a hidden ".#name.XXXXXX" temp file. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

enum {
        WRITE_NOREPLACE = 1 << 0, /* fail with -EEXIST rather than replace an existing file */
        WRITE_FSYNC = 1 << 1,     /* fsync the file and its directory: survives power loss */
};

int write_file_atomic_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode, unsigned flags);
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, unsigned flags);

/* Creates or atomically replaces a symlink. */
int symlink_atomic_at(const char *target, int dirfd, const char *name, unsigned flags);
int symlink_atomic(const char *target, const char *path, unsigned flags);

/* mkdir -p; existing directories are fine, anything else in the way is -ENOTDIR. */
int mkdir_p(const char *path, mode_t mode);
int mkdirat_p(int dirfd, const char *path, mode_t mode);
