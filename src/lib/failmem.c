/* SPDX-License-Identifier: MIT */
#include "failmem.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "paths.h"
#include "util.h"
#include "validate.h"

int failmem_remember(const char *state_dir, const ModelStatus *st) {
        _cleanup_free_ char *dir = strjoin(state_dir, "/" FAILED_SUBDIR);
        if (!dir)
                return -ENOMEM;
        return status_write_in(dir, st);
}

int failmem_forget(const char *state_dir, const char *model) {
        if (!model_name_is_valid(model))
                return -EINVAL;
        _cleanup_free_ char *path = strjoin(state_dir, "/" FAILED_SUBDIR "/", model);
        if (!path)
                return -ENOMEM;
        if (unlink(path) < 0 && errno != ENOENT && errno != ENOTDIR)
                return -errno;
        return 0;
}

int failmem_read(const char *state_dir, const char *model, ModelStatus *st) {
        _cleanup_free_ char *dir = strjoin(state_dir, "/" FAILED_SUBDIR);
        if (!dir)
                return -ENOMEM;
        int r = status_read_in(dir, model, st);
        return r == -ENOTDIR ? -ENOENT : r;
}
