/* SPDX-License-Identifier: MIT */
#include "settings.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unitfile.h"
#include "util.h"

#define ENVIRON_MAX (1024 * 1024)

int serve_settings_changed(pid_t pid, const Model *md, Scope scope) {
        char want[SERVE_SETTINGS_LEN + 1], path[64];
        _cleanup_free_ char *env = NULL;
        size_t size = 0;

        if (pid <= 0)
                return 0;
        int r = unit_serve_settings(md, scope, want);
        if (r < 0)
                return r;
        snprintf(path, sizeof path, "/proc/%d/environ", (int) pid);
        if (read_full_file(path, ENVIRON_MAX, &env, &size) < 0)
                return 0;
        static const char key[] = SERVE_SETTINGS_VAR "=";
        for (size_t i = 0; i < size;) {
                const char *e = env + i;
                size_t n = strnlen(e, size - i);
                if (n == sizeof key - 1 + SERVE_SETTINGS_LEN && memcmp(e, key, sizeof key - 1) == 0)
                        return memcmp(e + sizeof key - 1, want, SERVE_SETTINGS_LEN) != 0;
                i += n + 1;
        }
        return 0;
}
