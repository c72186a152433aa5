/* SPDX-License-Identifier: MIT */
/* A fresh temporary folder per cmocka test: setup_dir() puts its path in *state,
 * teardown_dir() removes it with everything in it. */
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline int setup_dir(void **state) {
        char tmpl[] = "/tmp/deferred-builds-unit.XXXXXX";
        char *d = mkdtemp(tmpl);
        if (!d)
                return -1;
        *state = strdup(d);
        return *state ? 0 : -1;
}

static inline int teardown_dir(void **state) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", (char *) *state);
        int r = system(cmd);
        free(*state);
        return r == 0 ? 0 : -1;
}
