/* SPDX-License-Identifier: MIT */
/* Sandbox profiles, passed-through [Service] settings and secrets: what the manifest
 * accepts is written to the serve drop-in as systemd applies it, and a value systemd would
 * drop, cut, join or ignore skips the model with a message naming the fix. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"
#include "passthrough.h"
#include "profile.h"
#include "unitfile.h"
#include "util.h"

#define DRV "/nix/store/wvfqywd4bwvl3m6rrc9y3vca4k0piz57-tiny-model.drv"
#define HEAD "[deferred-builds]\nversion = 1\n"
#define GOOD "[model.good]\ndrv = " DRV "\nexec = /bin/serve\n"

static Manifest *parse(const char *text) {
        Manifest *m = NULL;
        assert_int_equal(manifest_parse("test.ini", text, strlen(text), &m), 0);
        assert_non_null(m);
        return m;
}

static void dump(const Manifest *m) {
        for (size_t i = 0; i < m->n_diags; i++)
                print_message("  diag line %u: %s\n", m->diags[i].line, m->diags[i].message);
}

static bool has_diag(const Manifest *m, unsigned line, const char *needle) {
        for (size_t i = 0; i < m->n_diags; i++)
                if (m->diags[i].line == line && strstr(m->diags[i].message, needle))
                        return true;
        return false;
}

/* A model "bad" whose section ends with `lines` (its first line is line 8) is skipped with
 * an error on line `line` containing `needle`; "good" still loads. */
static void refused_at(const char *lines, unsigned line, const char *needle) {
        _cleanup_free_ char *text = strjoin(HEAD, GOOD, "[model.bad]\ndrv = " DRV "\nexec = /bin/serve\n", lines);
        Manifest *m = parse(text);
        if (m->rejected || m->n_models != 1 || !streq(m->models[0].name, "good") || !has_diag(m, line, needle)) {
                dump(m);
                fail_msg("'%s' was not refused for the model alone at line %u with '%s'", lines, line, needle);
        }
        manifest_free(m);
}
static void refused(const char *lines, const char *needle) {
        refused_at(lines, 9, needle);
}

/* The section loads without an error; returns the drop-in text for the system scope. */
static char *dropin_of(const char *lines, Scope scope) {
        _cleanup_free_ char *text = strjoin(HEAD, "[model.m]\ndrv = " DRV "\nexec = /bin/serve\n", lines);
        Manifest *m = parse(text);
        if (m->rejected || m->n_models != 1 || manifest_count_errors(m) != 0) {
                dump(m);
                fail_msg("'%s' was not accepted", lines);
        }
        char *d = NULL;
        assert_int_equal(unit_serve_dropin(&m->models[0], scope, "test.ini", &d), 0);
        manifest_free(m);
        return d;
}
static void accepted(const char *lines) {
        free(dropin_of(lines, SCOPE_SYSTEM));
}

static void test_profiles_by_name(void **s) {
        (void) s;
        assert_int_equal(sandbox_from_string("strict"), SANDBOX_STRICT);
        assert_int_equal(sandbox_from_string("ml"), SANDBOX_ML);
        assert_int_equal(sandbox_from_string("gpu"), SANDBOX_GPU);
        assert_int_equal(sandbox_from_string("ML"), -EINVAL);
        assert_int_equal(sandbox_from_string(""), -EINVAL);
        for (int i = 0; i < _SANDBOX_MAX; i++)
                assert_int_equal(sandbox_from_string(sandbox_to_string(i)), i);
        assert_null(sandbox_to_string(_SANDBOX_MAX));
}

static void test_strict_adds_nothing(void **s) {
        (void) s;
        _cleanup_free_ char *plain = dropin_of("", SCOPE_SYSTEM);
        _cleanup_free_ char *strict = dropin_of("sandbox = strict\n", SCOPE_SYSTEM);
        /* The same lines, so the same settings digest: naming the default restarts nothing. */
        assert_string_equal(plain, strict);
        assert_null(strstr(plain, "ProcSubset"));
}

static void test_ml_profile(void **s) {
        (void) s;
        _cleanup_free_ char *d = dropin_of("sandbox = ml\n", SCOPE_SYSTEM);
        assert_non_null(strstr(d, "\nProcSubset=all\nMemoryDenyWriteExecute=no\nSystemCallFilter=@resources\n"
                                  "RestrictAddressFamilies=AF_NETLINK\nStateDirectory=deferred-serve/%i\n"
                                  "CacheDirectory=deferred-serve/%i\nEnvironment=HOME=%S/deferred-serve/%i\n"
                                  "Environment=XDG_CACHE_HOME=%C/deferred-serve/%i\n"));
        /* Added to the strict lists, never reset: no empty assignment. */
        assert_null(strstr(d, "SystemCallFilter=\n"));
        assert_null(strstr(d, "RestrictAddressFamilies=\n"));
        assert_null(strstr(d, "DeviceAllow"));
        /* The model's own HOME wins: the profile's line, which would come later, is left out. */
        _cleanup_free_ char *own = dropin_of("sandbox = ml\nenvironment = HOME=/srv/home\n", SCOPE_SYSTEM);
        assert_non_null(strstr(own, "\nEnvironment=\"HOME=/srv/home\"\n"));
        assert_null(strstr(own, "Environment=HOME="));
        assert_non_null(strstr(own, "\nEnvironment=XDG_CACHE_HOME=%C/deferred-serve/%i\n"));
        /* HOMEDIR is another variable. */
        _cleanup_free_ char *other = dropin_of("sandbox = ml\nenvironment = HOMEDIR=/x\n", SCOPE_SYSTEM);
        assert_non_null(strstr(other, "\nEnvironment=HOME=%S/deferred-serve/%i\n"));
        /* User managers get none of it. */
        _cleanup_free_ char *u = dropin_of("sandbox = ml\n", SCOPE_USER);
        assert_null(strstr(u, "ProcSubset"));
        assert_null(strstr(u, "StateDirectory"));
}

static void test_gpu_profile_is_ml_and_devices(void **s) {
        (void) s;
        _cleanup_free_ char *ml = dropin_of("sandbox = ml\n", SCOPE_SYSTEM);
        _cleanup_free_ char *gpu = dropin_of("sandbox = gpu\n", SCOPE_SYSTEM);
        const char *ml_lines = strstr(ml, "ProcSubset=all");
        assert_non_null(ml_lines);
        assert_non_null(strstr(gpu, ml_lines));
        assert_non_null(strstr(gpu, "PrivateDevices=no\nDevicePolicy=closed\nDeviceAllow=char-nvidiactl rw\n"
                                    "DeviceAllow=char-nvidia-frontend rw\nDeviceAllow=char-nvidia-uvm rw\n"
                                    "DeviceAllow=char-nvidia-caps rw\n"));
        /* A model's own devices add to the profile's; PrivateDevices=no is written once. */
        _cleanup_free_ char *both = dropin_of("sandbox = gpu\ndevice-allow = /dev/nvidia0 rw\n", SCOPE_SYSTEM);
        assert_non_null(strstr(both, "DeviceAllow=/dev/nvidia0 rw\n"));
        const char *first = strstr(both, "PrivateDevices=no");
        assert_non_null(first);
        assert_null(strstr(first + 1, "PrivateDevices=no"));
}

static void test_profile_errors(void **s) {
        (void) s;
        refused("sandbox = lax\n", "is not a sandbox profile: use strict (the default), ml or gpu");
        refused("sandbox = GPU\n", "is not a sandbox profile");
        refused_at("sandbox = ml\nsandbox = gpu\n", 10, "key 'sandbox' is set twice");
}

/* Each accepted value is written as is, after the profile's lines. */
static void test_passthrough_written_after_profile(void **s) {
        (void) s;
        _cleanup_free_ char *d = dropin_of("sandbox = ml\nservice = MemoryDenyWriteExecute=yes\n"
                                           "service = ReadWritePaths=/srv/models -/var/tmp/x\n",
                                           SCOPE_SYSTEM);
        const char *profile = strstr(d, "MemoryDenyWriteExecute=no\n");
        const char *mine = strstr(d, "MemoryDenyWriteExecute=yes\n");
        assert_non_null(profile);
        assert_non_null(mine);
        assert_true(mine > profile); /* the later assignment wins */
        assert_non_null(strstr(d, "\nReadWritePaths=/srv/models -/var/tmp/x\n"));
        _cleanup_free_ char *u = dropin_of("service = Nice=5\n", SCOPE_USER);
        assert_null(strstr(u, "Nice="));
}

static void test_passthrough_accepts(void **s) {
        (void) s;
        const char *good[] = {
                "ProcSubset=all", "ProcSubset=pid", "ProtectProc=ptraceable", "MemoryDenyWriteExecute=no",
                "PrivateDevices=yes", "PrivateNetwork=true", "SupplementaryGroups=video render",
                "ReadOnlyPaths=/etc/ssl -/opt/x", "BindPaths=/srv/a:/data:rbind", "BindReadOnlyPaths=-/srv/b",
                "LimitNOFILE=65536", "LimitNOFILE=1024:524288", "LimitNOFILE=1048576", "LimitMEMLOCK=64M",
                "LimitMEMLOCK=1M:infinity", "LimitCORE=0", "LimitNPROC=512", "LimitNPROC=infinity",
                "SystemCallFilter=@resources @mount", "SystemCallFilter=~@mount",
                "RestrictAddressFamilies=AF_NETLINK AF_PACKET", "RestrictAddressFamilies=~AF_INET6",
                "IPAddressAllow=localhost 10.0.0.0/8 fe80::/10", "IPAddressDeny=any", "Nice=-5", "Nice=19",
                "CPUAffinity=0-3 8", "CPUWeight=200", "IOWeight=10000", "MemoryHigh=80%", "MemoryHigh=12G",
                "TasksMax=512", "TasksMax=50%", "TasksMax=infinity", "OOMScoreAdjust=-100",
        };
        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                bool repeatable;
                const char *why = service_setting_check(good[i], &repeatable);
                if (why)
                        fail_msg("'%s' was refused: %s", good[i], why);
                _cleanup_free_ char *line = strjoin("service = ", good[i], "\n");
                accepted(line);
        }
        /* List settings accumulate over lines; single values may be given once. */
        accepted("service = SystemCallFilter=@resources\nservice = SystemCallFilter=~@mount\n");
        refused_at("service = Nice=1\nservice = Nice=2\n", 10, "sets a single-value setting a second time");
}

/* What systemd would drop ("ignoring"), cut, join with the next line or read otherwise. */
static void test_passthrough_refuses_what_systemd_would_not_apply(void **s) {
        (void) s;
        const char *bad[][2] = {
                { "ProcSubset=everything", "is not all or pid" },
                { "MemoryDenyWriteExecute=maybe", "is not a boolean" },
                { "ReadWritePaths=relative/path", "absolute, normalized" },
                { "ReadWritePaths=/srv/%i", "'%'" },       /* a specifier */
                { "ReadWritePaths=\"/srv/a b\"", "quotes" }, /* unquoted by systemd */
                { "ReadWritePaths=/srv/a\\", "backslashes" }, /* joins the next line */
                { "ReadWritePaths=/srv/../etc", "normalized" },
                { "ReadWritePaths=/a  /b", "absolute" },
                { "BindPaths=/a:/b:private", "rbind|norbind" },
                { "LimitNOFILE=2:1", "SOFT <= HARD" },
                { "LimitNOFILE=2000000", "up to 1048576" },
                { "LimitNOFILE=01", "count" },
                { "LimitNOFILE=infinity", "not infinity, which systemd would lower" },
                { "LimitNOFILE=1024:infinity", "not infinity" },
                { "LimitNPROC=2:1", "SOFT <= HARD" },
                { "LimitMEMLOCK=2M:1024K", "SOFT <= HARD" },
                { "LimitMEMLOCK=10%", "is not a size" },
                { "SystemCallFilter=@nonexistent", "system-call groups" }, /* "Unknown ... ignoring" */
                { "SystemCallFilter=sched_setaffinity", "single system calls" },
                { "SystemCallFilter=@resources:EPERM", "system-call groups" },
                { "RestrictAddressFamilies=AF_FOO", "address families" },
                { "RestrictAddressFamilies=AF_INET,AF_INET6", "address families" },
                { "IPAddressAllow=10.0.0.0/33", "IPv4/IPv6" },
                { "IPAddressAllow=example.org", "IPv4/IPv6" },
                { "Nice=20", "from -20 to 19" },
                { "Nice=+1", "from -20 to 19" },
                { "CPUAffinity=3-1", "CPU numbers" },
                { "CPUAffinity=9000", "CPU numbers" },
                { "CPUWeight=0", "from 1 to 10000" },
                { "MemoryHigh=101%", "1% to" },
                { "TasksMax=0", "count" },
                { "OOMScoreAdjust=1001", "-1000 to 1000" },
                { "SupplementaryGroups=%g", "group names" },
                { "SystemCallFilter=", "is empty, which resets the setting" },
                { "ProcSubset", "is not Key=Value" },
                { "=all", "is not Key=Value" },
                { "ProcSubset =all", "may be passed through" },
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                bool repeatable;
                const char *why = service_setting_check(bad[i][0], &repeatable);
                if (!why || !strstr(why, bad[i][1]))
                        fail_msg("'%s': expected a refusal with '%s', got '%s'", bad[i][0], bad[i][1],
                                 strempty(why));
                _cleanup_free_ char *line = strjoin("service = ", bad[i][0], "\n");
                refused(line, bad[i][1]);
        }
}

/* Keys the manifest has a key for, and those that would break the units. */
static void test_passthrough_refuses_owned_keys(void **s) {
        (void) s;
        const char *owned[][2] = {
                { "ExecStart=/bin/sh", "'exec ='" },
                { "ExecStartPre=/bin/true", "the units own" },
                { "User=root", "'user ='" },
                { "DynamicUser=no", "'user ='" },
                { "Group=root", "SupplementaryGroups=" },
                { "Environment=A=1", "'environment ='" },
                { "EnvironmentFile=/etc/x", "'environment-file ='" },
                { "LoadCredential=a:/b", "'credential ='" },
                { "MemoryMax=1G", "'memory-max ='" },
                { "CPUQuota=10%", "'cpu-quota ='" },
                { "DeviceAllow=/dev/null rw", "'device-allow ='" },
                { "Type=simple", "'notify ='" },
                { "Restart=no", "the units own" },
                { "RestartSec=0", "the units own" },
                { "TimeoutStartSec=infinity", "the units own" },
                { "StateDirectory=x", "sandbox = ml" },
                { "ProtectSystem=no", "may be passed through" },
                { "CapabilityBoundingSet=CAP_SYS_ADMIN", "may be passed through" },
                { "NoNewPrivileges=no", "may be passed through" },
        };
        for (size_t i = 0; i < ELEMENTSOF(owned); i++) {
                _cleanup_free_ char *line = strjoin("service = ", owned[i][0], "\n");
                refused(line, owned[i][1]);
        }
}

static void test_credentials(void **s) {
        (void) s;
        _cleanup_free_ char *d = dropin_of("credential = hf-token:/run/secrets/hf\ncredential = db.pw:/etc/db/pw\n",
                                           SCOPE_USER);
        assert_non_null(strstr(d, "\nLoadCredential=hf-token:/run/secrets/hf\nLoadCredential=db.pw:/etc/db/pw\n"));
        refused("credential = token:/nix/store/1gdfjg3yr2hpz99mpgi876di58lslnjr-token\n",
                "is in the Nix store, which every user can read");
        refused("credential = token:/nix/store\n", "is in the Nix store");
        refused("credential = token\n", "is not ID:PATH");
        refused("credential = :/run/x\n", "is not ID:PATH");
        refused("credential = .hidden:/run/x\n", "is not ID:PATH");
        refused("credential = a/b:/run/x\n", "is not ID:PATH");
        refused("credential = tok:relative\n", "is not ID:PATH");
        refused("credential = tok:/run/%i\n", "is not ID:PATH");
        refused("credential = tok:/run/a b\n", "is not ID:PATH");
        refused_at("credential = tok:/run/a\ncredential = tok:/run/b\n", 10, "names a credential ID a second time");
        /* An ID that is a prefix of another is another ID. */
        accepted("credential = tok:/run/a\ncredential = token:/run/b\n");
        /* /nix/storefront is not the store. */
        accepted("credential = tok:/nix/storefront/x\n");
}

static void test_environment_file(void **s) {
        (void) s;
        _cleanup_free_ char *d = dropin_of("environment-file = /run/secrets/env\n", SCOPE_SYSTEM);
        assert_non_null(strstr(d, "\nEnvironmentFile=/run/secrets/env\n"));
        refused("environment-file = /nix/store/1gdfjg3yr2hpz99mpgi876di58lslnjr-env\n", "is in the Nix store");
        refused("environment-file = -/run/x\n", "is not an absolute");
        refused("environment-file = /run/%n\n", "'%'");
        refused_at("environment-file = /run/a\nenvironment-file = /run/b\n", 10, "key 'environment-file' is set twice");
}

/* A change of profile, setting or secret path changes the settings digest (reconcile
 * restarts the server). */
static void test_settings_digest_follows(void **s) {
        (void) s;
        _cleanup_free_ char *a = dropin_of("", SCOPE_SYSTEM), *b = dropin_of("sandbox = ml\n", SCOPE_SYSTEM),
                            *c = dropin_of("service = Nice=1\n", SCOPE_SYSTEM),
                            *e = dropin_of("credential = a:/run/a\n", SCOPE_SYSTEM);
        char *digests[] = { a, b, c, e };
        for (size_t i = 0; i < ELEMENTSOF(digests); i++)
                for (size_t j = i + 1; j < ELEMENTSOF(digests); j++)
                        assert_memory_not_equal(strstr(digests[i], "SETTINGS="), strstr(digests[j], "SETTINGS="),
                                                strlen("SETTINGS=") + 16);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_profiles_by_name),
                cmocka_unit_test(test_strict_adds_nothing),
                cmocka_unit_test(test_ml_profile),
                cmocka_unit_test(test_gpu_profile_is_ml_and_devices),
                cmocka_unit_test(test_profile_errors),
                cmocka_unit_test(test_passthrough_written_after_profile),
                cmocka_unit_test(test_passthrough_accepts),
                cmocka_unit_test(test_passthrough_refuses_what_systemd_would_not_apply),
                cmocka_unit_test(test_passthrough_refuses_owned_keys),
                cmocka_unit_test(test_credentials),
                cmocka_unit_test(test_environment_file),
                cmocka_unit_test(test_settings_digest_follows),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
