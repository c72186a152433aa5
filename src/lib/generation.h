/* SPDX-License-Identifier: MIT */
/* Generation identity (docs/DESIGN.md "Generation identity"). */
#pragma once

/* The generation of one manifest file, the same way manifest_load() names it: the
 * header's `generation =`, else the basename of the resolved path when that is a
 * top-level store path, else "local". A manifest rejected for its content still has one.
 * Returns 0, -ENOENT (not logged) when there is no file there, or another -errno
 * (logged) when it cannot be read. */
int manifest_generation(const char *manifest_path, char **ret);

/* manifest_generation() of TOPLEVEL/deferred-builds/manifest.ini, else of
 * TOPLEVEL/etc/deferred-builds/manifest.ini. -ENOENT (not logged) when both are missing. */
int toplevel_generation(const char *toplevel, char **ret);
