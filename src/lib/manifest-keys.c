/* SPDX-License-Identifier: MIT */
/* The keys of a [model.NAME] section: each value is checked against the grammar of what
 * systemd or Nix will do with it, so that a value accepted here is applied as written. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manifest-parser.h"
#include "passthrough.h"
#include "profile.h"
#include "onfailure.h"
#include "validate.h"

/* Records "KEY 'VALUE' WHY" for the current model. */
static void bad_value(Parser *p, const char *key, const char *value, const char *why) {
        _cleanup_free_ char *q = quoted(value);
        model_error(p, p->line, "%s %s %s", key, q ? q : "?", why);
}

/* Records "value of KEY WHY" for the current model; KEY may be anything, so it is escaped. */
static int key_error(Parser *p, const char *key, const char *why) {
        _cleanup_free_ char *q = quoted(key);
        model_error(p, p->line, "value of %s %s", q ? q : "?", why);
        return 0;
}

static int set_once(Parser *p, char **field, const char *key, const char *value) {
        if (*field) {
                model_error(p, p->line, "key '%s' is set twice; keep one", key);
                return 0;
        }
        *field = strdup(value);
        return *field ? 0 : -ENOMEM;
}

static bool parse_bool(const char *v, int *ret) {
        if (streq(v, "true") || streq(v, "yes") || streq(v, "1")) {
                *ret = 1;
                return true;
        }
        if (streq(v, "false") || streq(v, "no") || streq(v, "0")) {
                *ret = 0;
                return true;
        }
        return false;
}

static void set_bool_once(Parser *p, int *field, const char *key, const char *value) {
        int b;
        if (*field >= 0)
                model_error(p, p->line, "key '%s' is set twice; keep one", key);
        else if (!parse_bool(value, &b))
                bad_value(p, key, value, "is not true or false");
        else
                *field = b;
}

bool raw_line_has_inline_comment(const char *raw) {
        const char *eq = strpbrk(raw, "=:");
        if (!eq)
                return false;
        for (const char *s = eq + 1; *s; s++)
                if (*s == ';' && ini_space(s[-1]))
                        return true;
        return false;
}

bool raw_line_has_odd_space(const char *raw) {
        for (const char *s = strpbrk(raw, "\v\f\r"); s; s = strpbrk(s + 1, "\v\f\r"))
                if (*s != '\r' || (s[1] != '\n' && s[1] != 0))
                        return true;
        return false;
}

static int handle_environment(Parser *p, const char *value) {
        Model *md = &p->models[p->cur_model];
        if (!env_assignment_is_valid(value)) {
                bad_value(p, "environment", value, "is not NAME=VALUE with NAME from [A-Za-z_][A-Za-z0-9_]*");
                return 0;
        }
        size_t n = strcspn(value, "=");
        if (env_name_is_reserved(value, n)) {
                bad_value(p, "environment", value,
                          "sets a DEFERRED_ variable, which the units set themselves (DEFERRED_MODEL_PATH is the "
                          "published model); rename it");
                return 0;
        }
        return strv_extend(&md->env, &md->n_env, value);
}

static int handle_serve_key(Parser *p, const char *key, const char *value) {
        Model *md = &p->models[p->cur_model];
        int r;
        if (streq(key, "user")) {
                if ((r = set_once(p, &md->user, key, value)) < 0)
                        return r;
                if (!user_name_is_valid(value))
                        bad_value(p, key, value, "is not a valid user name");
                else if (user_name_is_reserved(value))
                        bad_value(p, key, value,
                                  "is reserved: root, deferred-builds and names starting with dserve (the "
                                  "servers' dynamic users) may not run a server; name a user of its own, or drop "
                                  "'user =' for a dynamic user");
        } else if (streq(key, "memory-max")) {
                if ((r = set_once(p, &md->memory_max, key, value)) < 0)
                        return r;
                if (!memory_size_is_valid(value))
                        bad_value(p, key, value,
                                  "is not a limit systemd applies: 1 to 2^64-2 bytes with an optional K, M, G, T, "
                                  "P or E suffix, 1% to 100%, or infinity");
        } else if (streq(key, "cpu-quota")) {
                if ((r = set_once(p, &md->cpu_quota, key, value)) < 0)
                        return r;
                if (!cpu_quota_is_valid(value))
                        bad_value(p, key, value, "is not a quota systemd applies: a percentage from 1% to 21474836%");
        } else if (streq(key, "device-allow")) {
                if (!device_allow_is_valid(value))
                        bad_value(p, key, value,
                                  "is not '/dev/PATH [rwm]' or 'char-CLASS [rwm]' (no quotes or backslashes)");
                else
                        return strv_extend(&md->device_allow, &md->n_device_allow, value);
        } else if (streq(key, "notify"))
                set_bool_once(p, &md->notify, key, value);
        else
                return 1;
        return 0;
}

static int handle_realise_key(Parser *p, const char *key, const char *value) {
        Model *md = &p->models[p->cur_model];
        if (streq(key, "max-silent-time") || streq(key, "timeout")) {
                bool silent = streq(key, "max-silent-time");
                unsigned long long v;
                bool *has = silent ? &md->has_max_silent_time : &md->has_timeout;
                if (*has)
                        model_error(p, p->line, "key '%s' is set twice; keep one", key);
                else if (safe_atou64(value, &v) < 0 || v > 100ULL * 365 * 24 * 3600)
                        bad_value(p, key, value, "is not a number of seconds up to 100 years (0 means no limit)");
                else {
                        *has = true;
                        *(silent ? &md->max_silent_time : &md->timeout) = v;
                }
        } else if (streq(key, "builders"))
                return set_once(p, &md->builders, key, value);
        /* Nix's plain settings replace the daemon's lists (the whole build closure loses the
         * system's caches); the extra- ones add to them, and are what the NixOS module writes. */
        else if (streq(key, "substituters"))
                return set_once(p, &md->substituters, key, value);
        else if (streq(key, "trusted-public-keys"))
                return set_once(p, &md->trusted_public_keys, key, value);
        else if (streq(key, "extra-substituters"))
                return set_once(p, &md->extra_substituters, key, value);
        else if (streq(key, "extra-trusted-public-keys"))
                return set_once(p, &md->extra_trusted_public_keys, key, value);
        else if (streq(key, "builders-use-substitutes"))
                set_bool_once(p, &md->builders_use_substitutes, key, value);
        else
                return 1;
        return 0;
}

/* The sandbox profile, passed-through settings and secrets (docs/sandbox.md). */
static int handle_sandbox_key(Parser *p, const char *key, const char *value) {
        Model *md = &p->models[p->cur_model];
        if (streq(key, "sandbox")) {
                int r = sandbox_from_string(value);
                if (md->sandbox >= 0)
                        model_error(p, p->line, "key '%s' is set twice; keep one", key);
                else if (r < 0)
                        bad_value(p, key, value, "is not a sandbox profile: use strict (the default), ml or gpu");
                else
                        md->sandbox = r;
        } else if (streq(key, "service")) {
                bool repeatable = false;
                const char *why = service_setting_check(value, &repeatable);
                size_t n = strcspn(value, "=");
                if (why) {
                        bad_value(p, key, value, why);
                        return 0;
                }
                for (size_t i = 0; !repeatable && i < md->n_service; i++)
                        if (strncmp(md->service[i], value, n + 1) == 0) {
                                bad_value(p, key, value,
                                          "sets a single-value setting a second time; keep one (only list settings "
                                          "may repeat)");
                                return 0;
                        }
                return strv_extend(&md->service, &md->n_service, value);
        } else if (streq(key, "credential")) {
                const char *colon = strchr(value, ':');
                _cleanup_free_ char *id = colon ? strndup(value, (size_t) (colon - value)) : NULL;
                if (colon && !id)
                        return -ENOMEM;
                if (!id || !credential_id_is_valid(id) || !secret_path_is_valid(colon + 1))
                        bad_value(p, key, value,
                                  "is not ID:PATH with ID from [A-Za-z0-9._-] (at most 64, not starting with '.') "
                                  "and an absolute, normalized PATH without white space, quotes, backslashes or '%'");
                else if (path_is_in_store(colon + 1))
                        bad_value(p, key, value,
                                  "is in the Nix store, which every user can read: keep the secret outside it (e.g. "
                                  "/run/secrets) and name that path");
                else {
                        for (size_t i = 0; i < md->n_credentials; i++)
                                if (strncmp(md->credentials[i], value, strlen(id) + 1) == 0) {
                                        bad_value(p, key, value, "names a credential ID a second time; give each one ID");
                                        return 0;
                                }
                        return strv_extend(&md->credentials, &md->n_credentials, value);
                }
        } else if (streq(key, "environment-file")) {
                int r = set_once(p, &md->environment_file, key, value);
                if (r < 0)
                        return r;
                if (!secret_path_is_valid(value))
                        bad_value(p, key, value,
                                  "is not an absolute, normalized path without white space, quotes, backslashes or '%'");
                else if (path_is_in_store(value))
                        bad_value(p, key, value,
                                  "is in the Nix store, which every user can read: keep the secret outside it (e.g. "
                                  "/run/secrets) and name that path");
        } else
                return 1;
        return 0;
}

/* A model's alert units, at most ON_FAILURE_MAX: OnFailure= starts every one of them. */
#define ON_FAILURE_MAX 16
static int handle_alert_key(Parser *p, const char *key, const char *value) {
        Model *md = &p->models[p->cur_model];
        if (!streq(key, "on-failure"))
                return 1;
        if (!on_failure_unit_is_valid(value))
                bad_value(p, key, value,
                          "is not a unit name systemd starts as written: NAME.TYPE or NAME@INSTANCE.TYPE from "
                          "[A-Za-z0-9:_.-] (the instance may hold '@' and %n, %N, %p, %i, %j), at most 255 bytes");
        else if (md->n_on_failure >= ON_FAILURE_MAX)
                model_error(p, p->line, "more than %d on-failure units; start the others from one of them",
                            ON_FAILURE_MAX);
        else if (!strv_contains(md->on_failure, value))
                return strv_extend(&md->on_failure, &md->n_on_failure, value);
        return 0;
}

int handle_model_key(Parser *p, const char *key, const char *value) {
        Model *md = &p->models[p->cur_model];
        int r;

        if (raw_line_has_inline_comment(p->raw))
                return key_error(p, key, "contains ' ;', which starts a comment in this format");
        if (!string_is_printable_utf8(value)) {
                _cleanup_free_ char *q = quoted(value), *why = NULL;
                if (!q)
                        return -ENOMEM;
                if (asprintf(&why, "is %s: control characters, noncharacters and invalid UTF-8 are not allowed", q) < 0) {
                        why = NULL;
                        return -ENOMEM;
                }
                return key_error(p, key, why);
        }
        if (raw_line_has_odd_space(p->raw))
                return key_error(p, key,
                                 "has a vertical tab, form feed or carriage return around it, which the manifest "
                                 "parser strips as white space; remove it");

        if (streq(key, "drv")) {
                if ((r = set_once(p, &md->drv, key, value)) < 0)
                        return r;
                md->drv_line = p->line;
                if (!drv_path_is_valid(value)) {
                        _cleanup_free_ char *q = quoted(value);
                        model_error(p, p->line,
                                    "drv %s is not a derivation in the store: expected %s/<32 base-32 chars>-<name>.drv",
                                    q ? q : "?", store_dir());
                }
        } else if (streq(key, "out")) {
                if ((r = set_once(p, &md->out, key, value)) < 0)
                        return r;
                if (!store_path_is_valid(value) || endswith(value, ".drv")) {
                        _cleanup_free_ char *q = quoted(value);
                        model_error(p, p->line, "out %s is not a store path: expected %s/<32 base-32 chars>-<name>",
                                    q ? q : "?", store_dir());
                }
        } else if (streq(key, "bundle")) {
                if ((r = set_once(p, &md->bundle, key, value)) < 0)
                        return r;
                if (!store_path_is_valid(value) || endswith(value, ".drv")) {
                        _cleanup_free_ char *q = quoted(value);
                        model_error(p, p->line,
                                    "bundle %s is not a store path: expected %s/<32 base-32 chars>-<name>",
                                    q ? q : "?", store_dir());
                }
        } else if (streq(key, "output")) {
                if ((r = set_once(p, &md->output, key, value)) < 0)
                        return r;
                if (!output_name_is_valid(value))
                        bad_value(p, key, value, "is not a derivation output name (like out, bin, model)");
        } else if (streq(key, "exec")) {
                if ((r = set_once(p, &md->exec, key, value)) < 0)
                        return r;
                md->exec_line = p->line;
                if (!exec_path_is_valid(value))
                        bad_value(p, key, value,
                                  "is not an absolute, normalized program path without quotes, backslashes or '$' "
                                  "(systemd refuses those); arguments go in separate 'arg =' lines");
        } else if (streq(key, "arg"))
                return strv_extend(&md->args, &md->n_args, value);
        else if (streq(key, "environment"))
                return handle_environment(p, value);
        else if ((r = handle_serve_key(p, key, value)) <= 0 || (r = handle_realise_key(p, key, value)) <= 0 ||
                 (r = handle_readiness_key(p, key, value)) <= 0)
                return r;
        else if ((r = handle_sandbox_key(p, key, value)) <= 0)
                return r;
        else if ((r = handle_alert_key(p, key, value)) <= 0)
                return r;
        else {
                _cleanup_free_ char *q = quoted(key), *n = quoted(md->name);
                return diag_add(p->m, DIAG_WARNING, p->line, md->name,
                                "model %s: unknown key %s, ignoring it (see deferred-builds.ini(5))", n ? n : "?",
                                q ? q : "?");
        }
        return 0;
}
