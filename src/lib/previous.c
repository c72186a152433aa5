/* SPDX-License-Identifier: MIT */
#include "previous.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "paths.h"
#include "util.h"
#include "validate.h"

int previous_remember(const char *state_dir, const char *name, const char *root) {
        if (!model_name_is_valid(name))
                return -EINVAL;
        _cleanup_free_ char *dir = strjoin(state_dir, "/" SERVED_SUBDIR);
        _cleanup_free_ char *path = strjoin(state_dir, "/" SERVED_SUBDIR "/", name);
        if (!dir || !path)
                return -ENOMEM;
        int r = mkdir_p(dir, 0755);
        if (r < 0)
                return r;
        return symlink_atomic(root, path, 0);
}

static int absent(const char *path) {
        struct stat sb;
        if (lstat(path, &sb) == 0)
                return 0;
        return errno == ENOENT || errno == ENOTDIR ? 1 : -errno;
}

/* The store path our root `root` (STATE/roots/GEN/NAME) links to, into target (PATH_MAX):
 * 1 when it is one and exists, else 0. */
static int root_target(const char *root, char *target) {
        ssize_t n = readlink(root, target, PATH_MAX - 1);
        if (n < 0) {
                target[0] = 0;
                return 0;
        }
        target[n] = 0;
        return store_path_is_valid(target) && absent(target) == 0;
}

int previous_model(const char *state_dir, const char *runtime_dir, const char *generation, const Model *md,
                   char *root) {
        char target[PATH_MAX];
        root[0] = 0;
        if (!generation_is_valid(generation))
                return 0;
        _cleanup_free_ char *current = strjoin(state_dir, "/" ROOTS_SUBDIR "/", generation, "/", md->name);
        _cleanup_free_ char *published = strjoin(runtime_dir, "/" PUBLISHED_SUBDIR "/", md->name);
        _cleanup_free_ char *record = strjoin(state_dir, "/" SERVED_SUBDIR "/", md->name);
        _cleanup_free_ char *roots = strjoin(state_dir, "/" ROOTS_SUBDIR "/");
        if (!current || !published || !record || !roots)
                return -ENOMEM;
        if (root_target(current, target))
                return 0; /* the manifest's model is realised: serve that */
        int r = absent(published);
        if (r <= 0)
                return r;

        ssize_t n = readlink(record, root, PATH_MAX - 1);
        if (n < 0) {
                root[0] = 0;
                return errno == ENOENT || errno == ENOTDIR || errno == EINVAL ? 0 : -errno;
        }
        root[n] = 0;
        /* Only another of our own roots, STATE/roots/GEN/NAME, and only while it links to a
         * store path that still exists (a pruned generation's root is gone). */
        const char *rest = startswith(root, roots);
        const char *slash = rest ? strchr(rest, '/') : NULL;
        if (!slash || slash == rest || !streq(slash + 1, md->name) || streq(root, current) ||
            !root_target(root, target)) {
                root[0] = 0;
                return 0;
        }
        return 1;
}
