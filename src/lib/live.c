/* SPDX-License-Identifier: MIT */
/* Which generations are live: those of every system toplevel NixOS still keeps. */
#include "live.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "dirlist.h"
#include "generation.h"
#include "log.h"
#include "util.h"
#include "validate.h"

/* NixOS specialisations are one level deep; one more level costs nothing and keeps a
 * hand-made nesting live. Cycles are cut by the set of toplevels already seen. */
#define SPECIALISATION_DEPTH_MAX 2

typedef struct LiveSet {
        char **gens;
        size_t n_gens;
        char **seen; /* resolved toplevels already visited */
        size_t n_seen;
} LiveSet;

static void live_set_done(LiveSet *s) {
        strv_free(s->gens);
        strv_free(s->seen);
}

static int live_add_toplevel(LiveSet *s, const char *toplevel, unsigned depth);

/* The entries of a folder that names live generations. A missing folder names none; one
 * that cannot be read fails, since prune could no longer tell what is live. `what` starts
 * the message ("System generations cannot be told..."). */
static int live_dir_list(const char *dir, const char *what, DirList *ret) {
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
                int r = -errno;
                if (r == -ENOENT || r == -ENOTDIR)
                        return 0;
                return log_error_errno(r,
                                       "Failed to open %s: %m. %s cannot be told, so no GC root can be pruned "
                                       "safely; make it readable.",
                                       dir, what);
        }
        int r = dir_list(fd, ret);
        if (r < 0)
                return log_error_errno(r, "Failed to read %s: %m. No GC root can be pruned safely.", dir);
        return 0;
}

/* Every TOPLEVEL/specialisation/NAME is a toplevel of its own. */
static int live_add_specialisations(LiveSet *s, const char *toplevel, unsigned depth) {
        _cleanup_free_ char *dir = strjoin(toplevel, "/specialisation");
        if (!dir)
                return -ENOMEM;
        _cleanup_(dir_list_done) DirList l = {};
        int r = live_dir_list(dir, "Its generations", &l);
        if (r < 0)
                return r;
        for (size_t i = 0; i < l.n; i++) {
                _cleanup_free_ char *sub = strjoin(dir, "/", l.v[i]->d_name);
                if (!sub)
                        return -ENOMEM;
                r = live_add_toplevel(s, sub, depth + 1);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Follows the symlink chain of the last component of PATH (a profile link to its store
 * path, a specialisation link to its own toplevel) the way the kernel does: a relative
 * target is taken from the folder that holds the link. Leaves in ret a path to the same
 * file whose last component is not a symlink; folders above it are left for the kernel
 * to resolve, so nothing is normalized by hand. That costs one readlink per hop, where
 * realpath() costs one per component of every path on the way; the manifest below is
 * then found (and realpath()'d by manifest_load()) through a short path. Fails like
 * realpath() would: -ENOENT for a dangling link, -ELOOP past 40 hops. */
static int resolve_last_component(const char *path, char ret[static PATH_MAX]) {
        size_t len = strlen(path);
        if (len >= PATH_MAX)
                return -ENAMETOOLONG;
        memcpy(ret, path, len + 1);
        for (unsigned hops = 0;; hops++) {
                char target[PATH_MAX];
                int r = readlinkat_buf(AT_FDCWD, ret, target);
                if (r == -EINVAL)
                        return 0; /* not a symlink: ret is the file itself */
                if (r < 0)
                        return r;
                if (hops >= 40) /* the kernel's own limit (MAXSYMLINKS) */
                        return -ELOOP;
                /* An absolute target replaces the path, a relative one its last component
                 * (a link without a folder in its spelling is in the current folder). */
                char *slash = strrchr(ret, '/');
                size_t keep = target[0] == '/' || !slash ? 0 : (size_t) (slash - ret) + 1;
                size_t tlen = strlen(target);
                if (keep + tlen >= PATH_MAX)
                        return -ENAMETOOLONG;
                memcpy(ret + keep, target, tlen + 1);
        }
}

static int live_add_toplevel(LiveSet *s, const char *toplevel, unsigned depth) {
        char rp[PATH_MAX];
        int r = resolve_last_component(toplevel, rp);
        if (r < 0) {
                if (r == -ENOENT || r == -ENOTDIR)
                        return 0; /* no such system: nothing to keep */
                return log_error_errno(r,
                                       "Failed to resolve system toplevel %s: %m. Its generation cannot be told, so "
                                       "no GC root can be pruned safely; repair or remove that link.",
                                       toplevel);
        }
        /* Two links to one store path (a profile and /run/current-system) resolve to one
         * spelling: its manifest is read once. Another spelling of it only costs a second
         * read, and specialisations linking back are cut by the depth limit. */
        if (strv_contains(s->seen, rp))
                return 0;
        if ((r = strv_extend(&s->seen, &s->n_seen, rp)) < 0)
                return r;

        _cleanup_free_ char *gen = NULL;
        r = toplevel_generation(rp, &gen);
        if (r >= 0) {
                log_debug("System %s (%s) is generation %s.", toplevel, rp, gen);
                if (!strv_contains(s->gens, gen) && (r = strv_push(&s->gens, &s->n_gens, TAKE_PTR(gen))) < 0)
                        return r;
        } else if (r != -ENOENT)
                return r;

        if (depth >= SPECIALISATION_DEPTH_MAX)
                return 0;
        return live_add_specialisations(s, rp, depth);
}

/* Names a profile generation link the way the glob "system-*-link" would (prefix given),
 * or, for system-profiles/, any "NAME-N-link". Liberal on purpose: more live is safer. */
static bool profile_link_matches(const char *name, const char *prefix) {
        if (prefix)
                return startswith(name, prefix) && endswith(name, "-link") &&
                        strlen(name) >= strlen(prefix) + strlen("-link");
        return endswith(name, "-link") && name[0] != '.';
}

static int live_add_profiles(LiveSet *s, const char *dir, const char *prefix) {
        _cleanup_(dir_list_done) DirList l = {};
        int r = live_dir_list(dir, "System generations", &l);
        if (r < 0)
                return r;
        for (size_t i = 0; i < l.n; i++) {
                if (!profile_link_matches(l.v[i]->d_name, prefix))
                        continue;
                _cleanup_free_ char *p = strjoin(dir, "/", l.v[i]->d_name);
                if (!p)
                        return -ENOMEM;
                r = live_add_toplevel(s, p, 0);
                if (r < 0)
                        return r;
        }
        return 0;
}

int live_generations(char *const *extra_toplevels, char ***ret) {
        const char *root = getenv("DEFERRED_BUILDS_SYSTEM_ROOT");
        if (isempty(root))
                root = "";
        else if (!absolute_path_is_valid(root))
                return log_error_errno(-EINVAL,
                                       "DEFERRED_BUILDS_SYSTEM_ROOT='%s' is not an absolute, normalized path; set "
                                       "it to the folder that stands for / (tests only) or unset it.",
                                       root);
        else if (streq(root, "/"))
                root = "";

        _cleanup_(live_set_done) LiveSet s = {};
        int r;
        static const char *const fixed[] = { "/run/current-system", "/run/booted-system" };
        for (size_t i = 0; i < ELEMENTSOF(fixed); i++) {
                _cleanup_free_ char *p = strjoin(root, fixed[i]);
                if (!p)
                        return -ENOMEM;
                if ((r = live_add_toplevel(&s, p, 0)) < 0)
                        return r;
        }

        _cleanup_free_ char *profiles = strjoin(root, "/nix/var/nix/profiles");
        _cleanup_free_ char *named = strjoin(root, "/nix/var/nix/profiles/system-profiles");
        if (!profiles || !named)
                return -ENOMEM;
        if ((r = live_add_profiles(&s, profiles, "system-")) < 0)
                return r;
        if ((r = live_add_profiles(&s, named, NULL)) < 0)
                return r;

        for (char *const *t = extra_toplevels; t && *t; t++)
                if ((r = live_add_toplevel(&s, *t, 0)) < 0)
                        return r;

        if (s.n_gens > 0)
                qsort(s.gens, s.n_gens, sizeof(char *), strcmp_ptr);
        else if (!(s.gens = calloc(1, sizeof(char *))))
                return -ENOMEM;
        *ret = TAKE_PTR(s.gens);
        return 0;
}
