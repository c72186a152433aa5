/* SPDX-License-Identifier: MIT */
/* Reading folders and links with few system calls. */
#pragma once

#include <dirent.h>
#include <limits.h>
#include <stddef.h>

/* Reads a symlink's target into buf, NUL-terminated. -EINVAL: not a symlink. */
int readlinkat_buf(int dir_fd, const char *name, char buf[static PATH_MAX]);

/* The entries of one directory, as getdents64() returns them: names and file types
 * (d_type, DT_UNKNOWN where the file system does not say), without "." and "..", sorted
 * by name. The records stay in one buffer, read with as few getdents64() calls as the
 * folder's size allows; no entry is allocated on its own. */
typedef struct DirList {
        char *buf;
        struct dirent64 **v;
        size_t n;
} DirList;

void dir_list_done(DirList *l);

/* Lists the folder open at dir_fd (which stays the caller's). It reads through the fd's
 * own offset, so the fd must be freshly opened and listed once. Reading all names before
 * acting on any keeps removals from disturbing the iteration and makes every log come out
 * in one order. */
int dir_list(int dir_fd, DirList *ret);
