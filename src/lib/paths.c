/* SPDX-License-Identifier: MIT */
#include "paths.h"

#include <stdlib.h>

#include "util.h"

Scope scope_from_environment(void) {
        const char *e = getenv("SYSTEMD_SCOPE");
        return e && streq(e, "user") ? SCOPE_USER : SCOPE_SYSTEM;
}

const char *scope_to_string(Scope s) {
        return s == SCOPE_USER ? "user" : "system";
}

/* $VAR if set and absolute, else $FALLBACK_VAR/suffix, else $HOME/home_suffix/suffix. */
static int xdg_path(const char *var, const char *home_suffix, const char *suffix, char **ret) {
        const char *e = getenv(var);
        if (e && e[0] == '/')
                *ret = strjoin(e, "/", suffix);
        else {
                const char *home = getenv("HOME");
                if (!home || home[0] != '/')
                        return -ENXIO;
                *ret = strjoin(home, "/", home_suffix, "/", suffix);
        }
        return *ret ? 0 : -ENOMEM;
}

static int from_env(const char *var, char **ret) {
        const char *e = getenv(var);
        if (!e || e[0] != '/')
                return 0;
        *ret = strdup(e);
        return *ret ? 1 : -ENOMEM;
}

int path_manifest(Scope s, char **ret) {
        int r = from_env("DEFERRED_BUILDS_MANIFEST", ret);
        if (r != 0)
                return r < 0 ? r : 0;
        if (s == SCOPE_SYSTEM) {
                *ret = strdup("/etc/deferred-builds/manifest.ini");
                return *ret ? 0 : -ENOMEM;
        }
        return xdg_path("XDG_CONFIG_HOME", ".config", "deferred-builds/manifest.ini", ret);
}

int path_state_dir(Scope s, char **ret) {
        int r = from_env("DEFERRED_BUILDS_STATE_DIR", ret);
        if (r != 0)
                return r < 0 ? r : 0;
        if (s == SCOPE_SYSTEM) {
                *ret = strdup("/var/lib/deferred-builds");
                return *ret ? 0 : -ENOMEM;
        }
        return xdg_path("XDG_STATE_HOME", ".local/state", "deferred-builds", ret);
}

int path_runtime_dir(Scope s, char **ret) {
        int r = from_env("DEFERRED_BUILDS_RUNTIME_DIR", ret);
        if (r != 0)
                return r < 0 ? r : 0;
        r = from_env("RUNTIME_DIRECTORY", ret); /* set by systemd for units with RuntimeDirectory= */
        if (r != 0)
                return r < 0 ? r : 0;
        if (s == SCOPE_SYSTEM) {
                *ret = strdup("/run/deferred-builds");
                return *ret ? 0 : -ENOMEM;
        }
        const char *x = getenv("XDG_RUNTIME_DIR");
        if (!x || x[0] != '/')
                return -ENXIO;
        *ret = strjoin(x, "/deferred-builds");
        return *ret ? 0 : -ENOMEM;
}
