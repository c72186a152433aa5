/* SPDX-License-Identifier: MIT */
/* Every value the manifest parser accepts is applied as written: by systemd (252 and
 * current), by inih and by Nix. One case per class of docs/security.md; each fails on a
 * parser that says "configuration OK" for a value the next program drops, cuts or ignores. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "manifest.h"
#include "unitfile.h"
#include "util.h"
#include "validate.h"

#define DRV "/nix/store/wvfqywd4bwvl3m6rrc9y3vca4k0piz57-tiny-model.drv"
#define HEAD "[deferred-builds]\nversion = 1\n"
#define GOOD "[model.good]\ndrv = " DRV "\nexec = /bin/serve\n"

static Manifest *parse_n(const char *text, size_t n) {
        Manifest *m = NULL;
        assert_int_equal(manifest_parse("test.ini", text, n, &m), 0);
        assert_non_null(m);
        return m;
}

static Manifest *parse(const char *text) {
        return parse_n(text, strlen(text));
}

static bool has_diag(const Manifest *m, const char *needle) {
        for (size_t i = 0; i < m->n_diags; i++)
                if (strstr(m->diags[i].message, needle))
                        return true;
        return false;
}

static void dump(const Manifest *m) {
        for (size_t i = 0; i < m->n_diags; i++)
                print_message("  diag line %u: %s\n", m->diags[i].line, m->diags[i].message);
}

/* HEAD GOOD and a model "bad" whose section ends with `lines`: "bad" is skipped with a
 * message containing `needle`, "good" loads. */
static void refused(const char *lines, const char *needle) {
        _cleanup_free_ char *text = strjoin(HEAD, GOOD, "[model.bad]\ndrv = " DRV "\n", lines);
        Manifest *m = parse(text);
        if (m->rejected || m->n_models != 1 || !streq(m->models[0].name, "good") || !has_diag(m, needle)) {
                dump(m);
                fail_msg("'%s' was not refused for the model alone with '%s'", lines, needle);
        }
        manifest_free(m);
}

/* The same section loads, with no error. */
static void accepted(const char *lines) {
        _cleanup_free_ char *text = strjoin(HEAD, GOOD, "[model.bad]\ndrv = " DRV "\n", lines);
        Manifest *m = parse(text);
        if (m->rejected || m->n_models != 2 || manifest_count_errors(m) != 0) {
                dump(m);
                fail_msg("'%s' was not accepted", lines);
        }
        manifest_free(m);
}

/* The whole file is rejected with a message containing needle. */
static void rejected(const char *text, const char *needle) {
        Manifest *m = parse(text);
        if (!m->rejected || m->n_models != 0 || !has_diag(m, needle)) {
                dump(m);
                fail_msg("file was not rejected with '%s'", needle);
        }
        manifest_free(m);
}

/* Limits: systemd logs "out of range, ignoring" (or "Invalid ...") and runs the server with
 * no limit at all. Bounds measured with systemd-analyze verify (252). */
static void test_limits_that_would_not_apply(void **s) {
        (void) s;
        const char *bad_memory[] = { "0", "0%", "00%", "101%", "16E", "16384P", "99999999999999999999",
                                     "18446744073709551615", "0K", "1k", "1.5G", "4 G", "-1", "" };
        for (size_t i = 0; i < ELEMENTSOF(bad_memory); i++) {
                _cleanup_free_ char *l = strjoin("exec = /bin/x\nmemory-max = ", bad_memory[i], "\n");
                refused(l, "memory-max");
        }
        const char *good_memory[] = { "1", "15E", "16383P", "18446744073709551614", "100%", "1%", "4G", "infinity" };
        for (size_t i = 0; i < ELEMENTSOF(good_memory); i++) {
                _cleanup_free_ char *l = strjoin("exec = /bin/x\nmemory-max = ", good_memory[i], "\n");
                accepted(l);
        }
        const char *bad_cpu[] = { "0%", "000%", "21474837%", "99999999999%", "50", "50 %", "1.5%" };
        for (size_t i = 0; i < ELEMENTSOF(bad_cpu); i++) {
                _cleanup_free_ char *l = strjoin("exec = /bin/x\ncpu-quota = ", bad_cpu[i], "\n");
                refused(l, "cpu-quota");
        }
        accepted("exec = /bin/x\ncpu-quota = 1%\n");
        accepted("exec = /bin/x\ncpu-quota = 21474836%\n");
}

/* Values systemd refuses or mangles: the unit would lose its ExecStart= or Environment=. */
static void test_values_systemd_refuses(void **s) {
        (void) s;
        /* "Executable name contains special characters"; '$' is not expanded in the path. */
        refused("exec = /bin/a\"b\n", "exec");
        refused("exec = /bin/a\\b\n", "exec");
        refused("exec = /bin/a'b\n", "exec");
        refused("exec = /bin/a$b\n", "exec");
        accepted("exec = /bin/a b%c\n"); /* quoted, and '%' doubled */
        /* "String is not UTF-8 clean, ignoring assignment": noncharacters. */
        refused("exec = /bin/x\narg = a\xef\xb7\x90z\n", "noncharacters"); /* U+FDD0 */
        refused("exec = /bin/x\narg = \xef\xbf\xbe\n", "noncharacters");  /* U+FFFE */
        refused("exec = /bin/x\nenvironment = A=\xf0\x9f\xbf\xbf\n", "noncharacters"); /* U+1FFFF */
        accepted("exec = /bin/x\narg = \xef\xb7\xb0\n");                   /* U+FDF0 is a character */
        /* A trailing backslash joins the next unit-file line; quotes are unquoted. */
        refused("exec = /bin/x\ndevice-allow = /dev/a\\\n", "device-allow");
        refused("exec = /bin/x\ndevice-allow = \"/dev/a\" rw\n", "device-allow");
}

/* An ExecStart= line over LONG_LINE_MAX fails the whole unit ("No buffer space available"). */
static void test_exec_start_line_limit(void **s) {
        (void) s;
        /* 3,000 arguments of 190 '%' each: 600 KB of manifest, 1.15 MB of ExecStart=. */
        char arg[256] = "arg = ";
        memset(arg + 6, '%', 190);
        arg[196] = '\n';
        arg[197] = 0;
        size_t n = 3000, len = strlen(arg);
        _cleanup_free_ char *lines = malloc(n * len + 32);
        assert_non_null(lines);
        char *w = stpcpy(lines, "exec = /bin/x\n");
        for (size_t i = 0; i < n; i++)
                w = stpcpy(w, arg);
        refused(lines, "ExecStart= line would be");
        /* 1,000 of them fit. */
        lines[strlen("exec = /bin/x\n") + 1000 * len] = 0;
        accepted(lines);
}

/* inih's white space is isspace(): \v, \f and \r as well as space and tab. */
static void test_whitespace_as_inih_sees_it(void **s) {
        (void) s;
        /* A value cut at an inline comment after a vertical tab or form feed. */
        refused("exec = /bin/x\narg = a\v;b\n", "comment");
        refused("exec = /bin/x\narg = a\f;b\n", "comment");
        /* White space stripped from around a value or key. */
        refused("exec = /bin/x\narg = a\v\n", "white space");
        refused("exec = /bin/x\narg = \fa\n", "white space");
        refused("exec = /bin/x\narg\r = a\n", "white space");
        refused("exec = /bin/x\narg = a\r\r\n", "white space");
        accepted("exec = /bin/x\r\narg = a\r\n"); /* CRLF line ends */
        /* Continuation lines appended to the previous value. */
        rejected(HEAD GOOD "arg = a\n\vb\n", "starts with white space");
        rejected(HEAD GOOD "arg = a\n\fb\n", "starts with white space");
        rejected(HEAD GOOD "arg = a\n\rb\n", "starts with white space");
        /* A section header hidden from the reader: inih sees [model.x], a raw '[' test does not. */
        rejected(HEAD GOOD "\v[model.x]\ndrv = " DRV "\nexec = /bin/y\n", "starts with white space");
        /* Inline comments in the [deferred-builds] header. */
        rejected(HEAD "generation = abc ;x\n" GOOD, "comment");
        rejected(HEAD "generation = abc\v\n" GOOD, "white space");
        rejected("[deferred-builds]\nversion = 1 ;x\n" GOOD, "comment");
}

/* Names and users. */
static void test_reserved_names_and_users(void **s) {
        (void) s;
        refused("exec = /bin/x\nenvironment = DEFERRED_MODEL_PATH=/tmp/evil\n", "DEFERRED_");
        refused("exec = /bin/x\nenvironment = DEFERRED_BUILDS_STATE_DIR=/tmp\n", "DEFERRED_");
        accepted("exec = /bin/x\nenvironment = DEFERREDX=1\n");
        refused("exec = /bin/x\nenvironment = A=1\nenvironment = A=2\n", "more than once");
        refused("exec = /bin/x\nuser = root\n", "reserved");
        refused("exec = /bin/x\nuser = deferred-builds\n", "reserved");
        refused("exec = /bin/x\nuser = dserve-good\n", "reserved");
        refused("exec = /bin/x\nuser = dserve_0123456789abcdef\n", "reserved");
        refused("exec = /bin/x\nuser = dservex\n", "reserved"); /* found by the fuzz oracle */
        accepted("exec = /bin/x\nuser = alice\n");
}

/* Names that differ only in case: both are skipped (the Nix module refused them; now the
 * parser, the one grammar, does). */
static void test_names_differing_in_case(void **s) {
        (void) s;
        Manifest *m = parse(HEAD GOOD "[model.Llama]\ndrv = " DRV "\nexec = /x\n[model.llama]\ndrv = " DRV
                                      "\nexec = /x\n");
        assert_false(m->rejected);
        assert_int_equal(m->n_models, 1);
        assert_string_equal(m->models[0].name, "good");
        assert_int_equal(m->n_skipped, 2);
        assert_true(has_diag(m, "differs only in case from model 'llama' (line 9)"));
        assert_true(has_diag(m, "differs only in case from model 'Llama' (line 6)"));
        manifest_free(m);
}

/* A long name's hashed dynamic user could equal another model's literal "dserve-NAME". */
static void test_dynamic_users_never_meet(void **s) {
        (void) s;
        char longname[65];
        memset(longname, 'a', 64);
        longname[64] = 0;
        char hashed[32];
        serve_user_name(longname, hashed);
        /* A model named after the hash digits would get the literal form of the same text. */
        const char *digits = hashed + strlen("dserve_");
        _cleanup_free_ char *text = strjoin(HEAD, "[model.", longname, "]\ndrv = " DRV "\nexec = /x\n[model.", digits,
                                            "]\ndrv = " DRV "\nexec = /x\n");
        Manifest *m = parse(text);
        assert_int_equal(m->n_models, 2);
        char u0[32], u1[32];
        serve_user_name(m->models[0].name, u0);
        serve_user_name(m->models[1].name, u1);
        assert_string_not_equal(u0, u1);
        manifest_free(m);
}

/* Every message is printable: names, keys and values from the file are escaped. */
static void test_messages_are_escaped(void **s) {
        (void) s;
        const char *texts[] = {
                HEAD "[model.\x1b[31mred]\ndrv = " DRV "\nexec = /x\n",
                HEAD GOOD "\x1b]0;owned\x07 = 1\n",
                HEAD GOOD "k\xc2\x9b" "31m = 1\n",
                HEAD "\x1b[2J = 1\n" GOOD,
                "x\x9b = 1\n" HEAD GOOD,
                "[deferred-builds]\nversion = \x1b[31m\n",
                HEAD "generation = \xc2\x85x\n",
                HEAD "[\x1b[1mnot-a-model]\n",
                HEAD GOOD "[model.a]\ndrv = " DRV "\nexec = /x\nmemory-max = \xe2\x80\xae" "4G\n",
        };
        for (size_t i = 0; i < ELEMENTSOF(texts); i++) {
                Manifest *m = parse(texts[i]);
                assert_true(m->n_diags > 0);
                for (size_t k = 0; k < m->n_diags; k++)
                        if (!string_is_printable_utf8(m->diags[k].message))
                                fail_msg("case %zu: diagnostic %zu prints raw bytes: %s", i, k, m->diags[k].message);
                manifest_free(m);
        }
}

/* Diagnostics are sorted in O(n log n): 10,000 models, each with two late errors at its
 * header line (no drv, no exec) and unknown keys after it, in 1 MiB. Under ASan this takes
 * about a second with a merge sort and over ten with the insertion sort it replaced. */
static void test_diagnostics_cost(void **s) {
        (void) s;
        size_t cap = MANIFEST_MAX_BYTES - 64;
        _cleanup_free_ char *text = malloc(cap + 64);
        assert_non_null(text);
        char *w = stpcpy(text, HEAD);
        size_t per_model = (cap - 20 * MANIFEST_MAX_MODELS) / 4 / MANIFEST_MAX_MODELS;
        for (size_t i = 0; i < MANIFEST_MAX_MODELS; i++) {
                w += sprintf(w, "[model.m%zu]\n", i);
                for (size_t k = 0; k < per_model; k++)
                        w = stpcpy(w, "x=1\n");
        }
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        Manifest *m = parse_n(text, (size_t) (w - text));
        clock_gettime(CLOCK_MONOTONIC, &b);
        double secs = (double) (b.tv_sec - a.tv_sec) + (double) (b.tv_nsec - a.tv_nsec) / 1e9;
        print_message("# %zu diagnostics sorted in %.2f s\n", m->n_diags, secs);
        assert_true(m->n_diags > 200000);
        for (size_t i = 1; i < m->n_diags; i++)
                assert_true(m->diags[i - 1].line <= m->diags[i].line);
        assert_true(secs < 4);
        manifest_free(m);
}

/* Nix's plain substituters and trusted-public-keys replace the daemon's lists; the extra-
 * settings, which the NixOS module writes, add to them and are kept apart. */
static void test_trust_options_add(void **s) {
        (void) s;
        Manifest *m = parse(HEAD "[model.a]\ndrv = " DRV "\nexec = /x\nextra-substituters = https://c\n"
                                 "extra-trusted-public-keys = c:k=\nsubstituters =\n");
        assert_int_equal(m->n_diags, 0);
        const Model *md = manifest_find(m, "a");
        assert_non_null(md);
        assert_string_equal(md->extra_substituters, "https://c");
        assert_string_equal(md->extra_trusted_public_keys, "c:k=");
        assert_string_equal(md->substituters, "");
        assert_null(md->trusted_public_keys);
        manifest_free(m);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_limits_that_would_not_apply),
                cmocka_unit_test(test_values_systemd_refuses),
                cmocka_unit_test(test_exec_start_line_limit),
                cmocka_unit_test(test_whitespace_as_inih_sees_it),
                cmocka_unit_test(test_reserved_names_and_users),
                cmocka_unit_test(test_names_differing_in_case),
                cmocka_unit_test(test_dynamic_users_never_meet),
                cmocka_unit_test(test_messages_are_escaped),
                cmocka_unit_test(test_diagnostics_cost),
                cmocka_unit_test(test_trust_options_add),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
