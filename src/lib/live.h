/* SPDX-License-Identifier: MIT */
/* Live generations: what prune must keep. */
#pragma once

/* The generations of the manifests of /run/current-system, /run/booted-system, every
 * /nix/var/nix/profiles/system-*-link and system-profiles/NAME-N-link, their
 * specialisations, and extra_toplevels (may be NULL). The fixed paths are taken below
 * $DEFERRED_BUILDS_SYSTEM_ROOT when it is set (tests; absolute, else -EINVAL).
 *
 * A missing toplevel or manifest is skipped; one that exists but cannot be read fails the
 * call, since prune must not guess. Returns 0 and a sorted, de-duplicated,
 * NULL-terminated list in *ret (strv_free() it; may be empty, never NULL). */
int live_generations(char *const *extra_toplevels, char ***ret);
