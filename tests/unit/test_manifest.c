/* SPDX-License-Identifier: MIT */
/* The manifest parser and validators against well-formed and hostile manifests. Each case
 * asserts the exact outcome: which models load, whether the file is rejected, and the line
 * and text of each diagnostic. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "manifest.h"
#include "util.h"
#include "validate.h"

#define DRV "/nix/store/wvfqywd4bwvl3m6rrc9y3vca4k0piz57-tiny-model.drv"
#define OUT "/nix/store/1gdfjg3yr2hpz99mpgi876di58lslnjr-tiny-model"
#define HEAD "[deferred-builds]\nversion = 1\n"
#define GOOD(name) "[model." name "]\ndrv = " DRV "\nexec = /bin/serve\n"

static Manifest *parse(const char *text) {
        Manifest *m = NULL;
        assert_int_equal(manifest_parse("test.ini", text, strlen(text), &m), 0);
        assert_non_null(m);
        return m;
}

/* Asserts a diagnostic exists at `line` with `level` whose message contains `needle`. */
static void assert_diag(const Manifest *m, DiagLevel level, unsigned line, const char *needle) {
        for (size_t i = 0; i < m->n_diags; i++)
                if (m->diags[i].level == level && m->diags[i].line == line && strstr(m->diags[i].message, needle))
                        return;
        for (size_t i = 0; i < m->n_diags; i++)
                print_message("  diag %zu: level %d line %u: %s\n", i, m->diags[i].level, m->diags[i].line,
                              m->diags[i].message);
        fail_msg("no diagnostic at line %u containing '%s'", line, needle);
}

static void assert_models(const Manifest *m, const char *const *names, size_t n) {
        assert_int_equal(m->n_models, n);
        for (size_t i = 0; i < n; i++)
                assert_string_equal(m->models[i].name, names[i]);
}

/* A model with one bad value is skipped; the good one next to it loads. */
static void assert_only_good_survives(const char *bad_section, unsigned line, const char *needle) {
        _cleanup_free_ char *text = strjoin(HEAD, GOOD("good"), bad_section);
        Manifest *m = parse(text);
        assert_false(m->rejected);
        const char *names[] = { "good" };
        assert_models(m, names, 1);
        assert_int_equal(m->n_skipped, 1);
        assert_diag(m, DIAG_ERROR, line, needle);
        manifest_free(m);
}

static void test_minimal(void **state) {
        (void) state;
        Manifest *m = parse(HEAD GOOD("alpha"));
        assert_false(m->rejected);
        assert_int_equal(m->n_models, 1);
        const Model *md = manifest_find(m, "alpha");
        assert_non_null(md);
        assert_string_equal(md->drv, DRV);
        assert_string_equal(md->output, "out");
        assert_null(md->out);
        assert_string_equal(md->exec, "/bin/serve");
        assert_int_equal(md->n_args, 0);
        assert_int_equal(md->builders_use_substitutes, -1);
        assert_int_equal(md->notify, -1);
        assert_string_equal(m->generation, "local");
        assert_int_equal(m->n_diags, 0);
        manifest_free(m);
}

static void test_full_model(void **state) {
        (void) state;
        Manifest *m = parse(HEAD "generation = gen-1\n"
                                 "[model.beta]\n"
                                 "drv = " DRV "\nout = " OUT "\noutput = model\nexec = /bin/serve\n"
                                 "arg = --port\narg = 8080\narg =\n"
                                 "environment = A=1\nenvironment = B=x y\n"
                                 "max-silent-time = 3600\ntimeout = 0\n"
                                 "builders = ssh-ng://gpu x86_64-linux - 1 1 cuda\n"
                                 "substituters = https://cache.example.org\n"
                                 "trusted-public-keys = cache:abc=\nbuilders-use-substitutes = true\n"
                                 "user = alice\nmemory-max = 4G\ncpu-quota = 200%\nnotify = yes\n"
                                 "device-allow = /dev/nvidia0 rw\ndevice-allow = char-nvidia-uvm rw\n");
        assert_false(m->rejected);
        assert_int_equal(m->n_diags, 0);
        assert_string_equal(m->generation, "gen-1");
        const Model *md = manifest_find(m, "beta");
        assert_non_null(md);
        assert_string_equal(md->out, OUT);
        assert_string_equal(md->output, "model");
        assert_int_equal(md->n_args, 3);
        assert_string_equal(md->args[0], "--port");
        assert_string_equal(md->args[1], "8080");
        assert_string_equal(md->args[2], "");
        assert_int_equal(md->n_env, 2);
        assert_string_equal(md->env[1], "B=x y");
        assert_true(md->has_max_silent_time);
        assert_int_equal(md->max_silent_time, 3600);
        assert_true(md->has_timeout);
        assert_int_equal(md->timeout, 0);
        assert_string_equal(md->builders, "ssh-ng://gpu x86_64-linux - 1 1 cuda");
        assert_int_equal(md->builders_use_substitutes, 1);
        assert_string_equal(md->user, "alice");
        assert_string_equal(md->memory_max, "4G");
        assert_string_equal(md->cpu_quota, "200%");
        assert_int_equal(md->n_device_allow, 2);
        assert_int_equal(md->notify, 1);
        manifest_free(m);
}

static void test_sorted_output(void **state) {
        (void) state;
        Manifest *m = parse(HEAD GOOD("zeta") GOOD("Alpha") GOOD("mid-1") GOOD("alpha_2"));
        const char *names[] = { "Alpha", "alpha_2", "mid-1", "zeta" };
        assert_models(m, names, 4);
        manifest_free(m);
}

static void test_name_with_slash(void **s) {
        (void) s;
        assert_only_good_survives(GOOD("a/b"), 6, "invalid name 'a/b'");
}
static void test_name_with_space(void **s) {
        (void) s;
        assert_only_good_survives(GOOD("a b"), 6, "invalid name 'a b'");
}
static void test_name_with_percent(void **s) {
        (void) s;
        assert_only_good_survives(GOOD("a%i"), 6, "invalid name 'a%i'");
}
static void test_name_with_dollar(void **s) {
        (void) s;
        assert_only_good_survives(GOOD("a$HOME"), 6, "invalid name 'a$HOME'");
}
static void test_name_with_utf8(void **s) {
        (void) s;
        assert_only_good_survives(GOOD("mod\xc3\xa8le"), 6, "invalid name 'mod\xc3\xa8le'");
}
static void test_name_leading_dot(void **s) {
        (void) s;
        assert_only_good_survives(GOOD(".hidden"), 6, "invalid name '.hidden'");
}
static void test_name_leading_dash(void **s) {
        (void) s;
        assert_only_good_survives(GOOD("-x"), 6, "invalid name '-x'");
}
static void test_name_dotdot(void **s) {
        (void) s;
        assert_only_good_survives(GOOD(".."), 6, "invalid name '..'");
}
static void test_name_empty(void **s) {
        (void) s;
        assert_only_good_survives(GOOD(""), 6, "invalid name ''");
}
static void test_name_64_ok_65_rejected(void **s) {
        (void) s;
        char n64[65], n65[66];
        memset(n64, 'a', 64);
        n64[64] = 0;
        memset(n65, 'b', 65);
        n65[65] = 0;
        _cleanup_free_ char *text = strjoin(HEAD, "[model.", n64, "]\ndrv = " DRV "\nexec = /x\n", "[model.", n65,
                                            "]\ndrv = " DRV "\nexec = /x\n");
        Manifest *m = parse(text);
        assert_int_equal(m->n_models, 1);
        assert_string_equal(m->models[0].name, n64); /* not truncated by inih's 50-byte section buffer */
        assert_int_equal(m->n_skipped, 1);
        assert_diag(m, DIAG_ERROR, 6, "a model name is 1 to 64 characters");
        manifest_free(m);
}
static void test_name_newline_in_section(void **s) {
        (void) s;
        /* "[model.a\n]" is a syntax error: the section header never closes on its line. */
        Manifest *m = parse(HEAD "[model.a\n]\ndrv = " DRV "\nexec = /x\n");
        assert_true(m->rejected);
        assert_int_equal(m->n_models, 0);
        assert_diag(m, DIAG_ERROR, 3, "syntax error");
        manifest_free(m);
}

static void test_duplicate_sections(void **s) {
        (void) s;
        Manifest *m = parse(HEAD GOOD("dup") GOOD("other") GOOD("dup"));
        const char *names[] = { "other" };
        assert_models(m, names, 1);
        assert_diag(m, DIAG_ERROR, 9, "defined twice (lines 3 and 9)");
        manifest_free(m);
}

static void test_duplicate_key(void **s) {
        (void) s;
        assert_only_good_survives("[model.b]\ndrv = " DRV "\ndrv = " DRV "\nexec = /x\n", 8, "key 'drv' is set twice");
}

static void test_drv_outside_store(void **s) {
        (void) s;
        assert_only_good_survives("[model.b]\ndrv = /tmp/wvfqywd4bwvl3m6rrc9y3vca4k0piz57-x.drv\nexec = /x\n", 7,
                                  "is not a derivation in the store");
}
static void test_drv_relative(void **s) {
        (void) s;
        assert_only_good_survives("[model.b]\ndrv = wvfqywd4bwvl3m6rrc9y3vca4k0piz57-x.drv\nexec = /x\n", 7,
                                  "is not a derivation in the store");
}
static void test_drv_dotdot(void **s) {
        (void) s;
        assert_only_good_survives("[model.b]\ndrv = /nix/store/../store/wvfqywd4bwvl3m6rrc9y3vca4k0piz57-x.drv\n"
                                  "exec = /x\n",
                                  7, "is not a derivation in the store");
}
static void test_drv_short_hash(void **s) {
        (void) s;
        assert_only_good_survives("[model.b]\ndrv = /nix/store/wvfqywd4bwvl3m6rrc9y3vca4k0piz5-x.drv\nexec = /x\n", 7,
                                  "is not a derivation in the store");
}
static void test_drv_bad_base32(void **s) {
        (void) s;
        /* 'e', 'o', 'u' and 't' are not in Nix's base-32 alphabet. */
        assert_only_good_survives("[model.b]\ndrv = /nix/store/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-x.drv\nexec = /x\n", 7,
                                  "is not a derivation in the store");
}
static void test_drv_not_drv(void **s) {
        (void) s;
        assert_only_good_survives("[model.b]\ndrv = " OUT "\nexec = /x\n", 7, "is not a derivation in the store");
}
static void test_drv_subpath(void **s) {
        (void) s;
        assert_only_good_survives("[model.b]\ndrv = " OUT "/x.drv\nexec = /x\n", 7, "is not a derivation in the store");
}
static void test_out_is_drv(void **s) {
        (void) s;
        assert_only_good_survives("[model.b]\ndrv = " DRV "\nout = " DRV "\nexec = /x\n", 8, "out '" DRV "' is not a store path");
}
static void test_missing_drv(void **s) {
        (void) s;
        assert_only_good_survives("[model.b]\nexec = /x\n", 6, "no 'drv =' line");
}
static void test_missing_exec(void **s) {
        (void) s;
        assert_only_good_survives("[model.b]\ndrv = " DRV "\n", 6, "no 'exec =' line");
}
static void test_exec_relative(void **s) {
        (void) s;
        assert_only_good_survives("[model.b]\ndrv = " DRV "\nexec = bin/serve\n", 8, "is not an absolute, normalized");
}
static void test_exec_with_args(void **s) {
        (void) s;
        /* A space is a legal path byte; it stays one argv[0], quoted in the unit. */
        Manifest *m = parse(HEAD "[model.b]\ndrv = " DRV "\nexec = /opt/my server/bin\n");
        assert_int_equal(m->n_models, 1);
        assert_string_equal(m->models[0].exec, "/opt/my server/bin");
        manifest_free(m);
}
static void test_exec_dotdot(void **s) {
        (void) s;
        assert_only_good_survives("[model.b]\ndrv = " DRV "\nexec = /usr/../bin/sh\n", 8, "is not an absolute, normalized");
}
static void test_value_with_tab(void **s) {
        (void) s;
        assert_only_good_survives("[model.b]\ndrv = " DRV "\nexec = /x\narg = a\tb\n", 9,
                                  "value of 'arg' is 'a\\x09b': control characters");
}
static void test_value_with_cr(void **s) {
        (void) s;
        assert_only_good_survives("[model.b]\ndrv = " DRV "\nexec = /x\narg = a\rb\n", 9,
                                  "value of 'arg' is 'a\\x0db': control characters");
}
static void test_value_with_escape_byte(void **s) {
        (void) s;
        assert_only_good_survives("[model.b]\ndrv = " DRV "\nexec = /x\nenvironment = A=\x1b[31m\n", 9,
                                  "control characters");
}
static void test_value_invalid_utf8(void **s) {
        (void) s;
        assert_only_good_survives("[model.b]\ndrv = " DRV "\nexec = /x\narg = \xc3\x28\n", 9, "invalid UTF-8");
}
static void test_value_overlong_utf8(void **s) {
        (void) s;
        assert_only_good_survives("[model.b]\ndrv = " DRV "\nexec = /x\narg = \xc0\xaf\n", 9, "invalid UTF-8");
}
static void test_value_specials_kept(void **s) {
        (void) s;
        Manifest *m = parse(HEAD "[model.b]\ndrv = " DRV "\nexec = /x\narg = 100% \"q\" 'x' \\ $HOME ${X}\n"
                                 "environment = P=%h$x\"\\\n");
        assert_int_equal(m->n_models, 1);
        assert_string_equal(m->models[0].args[0], "100% \"q\" 'x' \\ $HOME ${X}");
        assert_string_equal(m->models[0].env[0], "P=%h$x\"\\");
        manifest_free(m);
}
static void test_inline_comment_rejected(void **s) {
        (void) s;
        assert_only_good_survives("[model.b]\ndrv = " DRV "\nexec = /x\narg = a ; b\n", 9, "contains ' ;'");
}
static void test_bad_env_name(void **s) {
        (void) s;
        assert_only_good_survives("[model.b]\ndrv = " DRV "\nexec = /x\nenvironment = 1A=x\n", 9,
                                  "is not NAME=VALUE");
}
static void test_bad_numbers(void **s) {
        (void) s;
        assert_only_good_survives("[model.b]\ndrv = " DRV "\nexec = /x\ntimeout = -1\n", 9, "is not a number of seconds");
        assert_only_good_survives("[model.b]\ndrv = " DRV "\nexec = /x\nmax-silent-time = 99999999999999999999\n", 9,
                                  "is not a number of seconds");
}
static void test_bad_serve_options(void **s) {
        (void) s;
        assert_only_good_survives("[model.b]\ndrv = " DRV "\nexec = /x\nuser = root;rm\n", 9, "is not a valid user name");
        assert_only_good_survives("[model.b]\ndrv = " DRV "\nexec = /x\nmemory-max = 4 GB\n", 9, "memory-max");
        assert_only_good_survives("[model.b]\ndrv = " DRV "\nexec = /x\ncpu-quota = 2\n", 9, "cpu-quota");
        assert_only_good_survives("[model.b]\ndrv = " DRV "\nexec = /x\ndevice-allow = /etc/shadow r\n", 9,
                                  "device-allow");
        assert_only_good_survives("[model.b]\ndrv = " DRV "\nexec = /x\nbuilders-use-substitutes = maybe\n", 9,
                                  "is not true or false");
        assert_only_good_survives("[model.b]\ndrv = " DRV "\nexec = /x\nnotify = sometimes\n", 9,
                                  "notify 'sometimes' is not true or false");
}

static void test_unknown_key_warns(void **s) {
        (void) s;
        Manifest *m = parse(HEAD "[model.b]\ndrv = " DRV "\nexec = /x\ncolour = blue\n");
        assert_int_equal(m->n_models, 1);
        assert_diag(m, DIAG_WARNING, 6, "unknown key 'colour'");
        assert_int_equal(manifest_count_errors(m), 0);
        manifest_free(m);
}
static void test_unknown_section_warns(void **s) {
        (void) s;
        Manifest *m = parse(HEAD "[models.b]\ndrv = " DRV "\n" GOOD("a"));
        assert_int_equal(m->n_models, 1);
        assert_diag(m, DIAG_WARNING, 3, "unknown section ['models.b']");
        manifest_free(m);
}

static void test_long_line_rejects_file(void **s) {
        (void) s;
        char arg[301];
        memset(arg, 'x', 300);
        arg[300] = 0;
        _cleanup_free_ char *text = strjoin(HEAD, GOOD("a"), "arg = ", arg, "\n");
        Manifest *m = parse(text);
        assert_true(m->rejected);
        assert_int_equal(m->n_models, 0);
        assert_diag(m, DIAG_ERROR, 6, "line is 306 bytes long, the limit is 197");
        manifest_free(m);
}
static void test_line_at_limit_ok(void **s) {
        (void) s;
        char arg[192];
        memset(arg, 'y', 191);
        arg[191] = 0; /* "arg = " + 191 = 197 bytes */
        _cleanup_free_ char *text = strjoin(HEAD, GOOD("a"), "arg = ", arg, "\n");
        Manifest *m = parse(text);
        assert_false(m->rejected);
        assert_string_equal(m->models[0].args[0], arg);
        manifest_free(m);
}
static void test_indented_line_rejects_file(void **s) {
        (void) s;
        Manifest *m = parse(HEAD GOOD("a") "  arg = x\n");
        assert_true(m->rejected);
        assert_diag(m, DIAG_ERROR, 6, "continuation lines are not supported");
        manifest_free(m);
}
static void test_empty_file(void **s) {
        (void) s;
        Manifest *m = parse("");
        assert_true(m->rejected);
        assert_diag(m, DIAG_ERROR, 0, "missing '[deferred-builds]' section");
        manifest_free(m);
}
static void test_only_comments(void **s) {
        (void) s;
        Manifest *m = parse("# nothing\n; here\n\n");
        assert_true(m->rejected);
        manifest_free(m);
}
static void test_header_only(void **s) {
        (void) s;
        Manifest *m = parse(HEAD);
        assert_false(m->rejected);
        assert_int_equal(m->n_models, 0);
        assert_int_equal(m->n_diags, 0);
        manifest_free(m);
}
static void test_wrong_version(void **s) {
        (void) s;
        Manifest *m = parse("[deferred-builds]\nversion = 2\n" GOOD("a"));
        assert_true(m->rejected);
        assert_int_equal(m->n_models, 0);
        assert_diag(m, DIAG_ERROR, 2, "version 2 is not supported");
        manifest_free(m);
}
static void test_bad_generation(void **s) {
        (void) s;
        Manifest *m = parse(HEAD "generation = ../etc\n" GOOD("a"));
        assert_true(m->rejected);
        assert_diag(m, DIAG_ERROR, 3, "generation '../etc' must be");
        manifest_free(m);
}
static void test_binary_garbage(void **s) {
        (void) s;
        const char garbage[] = "\x7f"
                               "ELF\x02\x01\x01\x00\x00\x00\xff\xfe[\x01]=\n";
        Manifest *m = NULL;
        assert_int_equal(manifest_parse("g", garbage, sizeof garbage - 1, &m), 0);
        assert_true(m->rejected);
        assert_diag(m, DIAG_ERROR, 0, "NUL byte");
        manifest_free(m);
}
static void test_garbage_without_nul(void **s) {
        (void) s;
        Manifest *m = parse("\xff\xfe\x80 garbage without equals\n");
        assert_true(m->rejected);
        assert_diag(m, DIAG_ERROR, 1, "syntax error");
        manifest_free(m);
}
static void test_bom_and_crlf(void **s) {
        (void) s;
        Manifest *m = parse("\xEF\xBB\xBF[deferred-builds]\r\nversion = 1\r\n[model.a]\r\ndrv = " DRV "\r\nexec = /x\r\n");
        assert_false(m->rejected);
        assert_int_equal(m->n_models, 1);
        assert_string_equal(m->models[0].exec, "/x");
        manifest_free(m);
}

static void test_too_big_rejected(void **s) {
        (void) s;
        size_t n = 2 * 1024 * 1024;
        _cleanup_free_ char *big = malloc(n + 1);
        assert_non_null(big);
        memset(big, '#', n);
        big[n] = 0;
        Manifest *m = parse(big);
        assert_true(m->rejected);
        assert_diag(m, DIAG_ERROR, 0, "larger than 1048576 bytes");
        manifest_free(m);
}

static char *many_models(size_t n) {
        size_t cap = n * 100 + 64, len = 0;
        char *t = malloc(cap);
        len += (size_t) sprintf(t, "%s", HEAD);
        for (size_t i = 0; i < n; i++)
                len += (size_t) sprintf(t + len, "[model.m%zu]\ndrv=" DRV "\nexec=/x\n", i);
        return t;
}
static void test_10000_models_load(void **s) {
        (void) s;
        _cleanup_free_ char *t = many_models(10000);
        Manifest *m = parse(t);
        assert_false(m->rejected);
        assert_int_equal(m->n_models, 10000);
        assert_non_null(manifest_find(m, "m9999"));
        manifest_free(m);
}
static void test_20000_models_rejected(void **s) {
        (void) s;
        /* 20,000 minimal models fit in 1 MiB only barely: either cap may speak first. */
        _cleanup_free_ char *t = many_models(20000);
        Manifest *m = parse(t);
        assert_true(m->rejected);
        assert_int_equal(m->n_models, 0);
        if (strlen(t) > MANIFEST_MAX_BYTES)
                assert_diag(m, DIAG_ERROR, 0, "larger than 1048576 bytes");
        else
                assert_diag(m, DIAG_ERROR, 0, "more than 10000 models");
        manifest_free(m);
}

static void test_load_special_files(void **s) {
        (void) s;
        char dir[] = "/tmp/test-manifest-XXXXXX";
        assert_non_null(mkdtemp(dir));
        _cleanup_free_ char *fifo = strjoin(dir, "/fifo"), *dangling = strjoin(dir, "/dangling"),
                            *missing = strjoin(dir, "/missing");
        assert_int_equal(mkfifo(fifo, 0600), 0);
        assert_int_equal(symlink("/nonexistent/x", dangling), 0);

        Manifest *m = NULL;
        assert_int_equal(manifest_load(dir, &m), 0);
        assert_true(m->rejected);
        assert_diag(m, DIAG_ERROR, 0, "is a directory");
        manifest_free(m);

        m = NULL;
        assert_int_equal(manifest_load(fifo, &m), 0); /* must not block on the FIFO */
        assert_true(m->rejected);
        assert_diag(m, DIAG_ERROR, 0, "not a regular file");
        manifest_free(m);

        m = NULL;
        assert_int_equal(manifest_load(dangling, &m), -ENOENT);
        manifest_free(m);
        m = NULL;
        assert_int_equal(manifest_load(missing, &m), -ENOENT);
        manifest_free(m);

        unlink(fifo);
        unlink(dangling);
        rmdir(dir);
}

static void test_generation_from_store_path(void **s) {
        (void) s;
        /* Re-root the store so a temp file looks like a store path. */
        char dir[] = "/tmp/test-store-XXXXXX";
        assert_non_null(mkdtemp(dir));
        setenv("NIX_STORE_DIR", dir, 1);
        _cleanup_free_ char *path = strjoin(dir, "/1gdfjg3yr2hpz99mpgi876di58lslnjr-deferred-builds-manifest.ini");
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(HEAD, f);
        fclose(f);
        Manifest *m = NULL;
        assert_int_equal(manifest_load(path, &m), 0);
        assert_string_equal(m->generation, "1gdfjg3yr2hpz99mpgi876di58lslnjr-deferred-builds-manifest.ini");
        manifest_free(m);

        /* Through a link, as /etc/deferred-builds/manifest.ini is on NixOS. */
        _cleanup_free_ char *link = strjoin(dir, "/etc-manifest.ini");
        assert_int_equal(symlink(path, link), 0);
        m = NULL;
        assert_int_equal(manifest_load(link, &m), 0);
        assert_string_equal(m->generation, "1gdfjg3yr2hpz99mpgi876di58lslnjr-deferred-builds-manifest.ini");
        assert_string_equal(manifest_real_path(m), path);
        manifest_free(m);

        /* With "generation =" the path is resolved only when asked for (the activation
         * helper loads one manifest per generation and never needs it). */
        f = fopen(path, "w");
        assert_non_null(f);
        fputs(HEAD "generation = g1\n", f);
        fclose(f);
        m = NULL;
        assert_int_equal(manifest_load(link, &m), 0);
        assert_string_equal(m->generation, "g1");
        assert_null(m->real_path);
        assert_string_equal(manifest_real_path(m), path);
        manifest_free(m);

        /* Parsed from memory: nothing to resolve, the path is returned as given. */
        m = NULL;
        assert_int_equal(manifest_parse(path, HEAD, strlen(HEAD), &m), 0);
        assert_string_equal(m->generation, "local");
        assert_string_equal(manifest_real_path(m), path);
        manifest_free(m);

        unsetenv("NIX_STORE_DIR");
        unlink(link);
        unlink(path);
        rmdir(dir);
}

static void test_validators(void **s) {
        (void) s;
        assert_true(model_name_is_valid("a"));
        assert_true(model_name_is_valid("A-b_9"));
        assert_false(model_name_is_valid("a.b"));
        assert_false(model_name_is_valid("_a"));
        assert_true(drv_path_is_valid(DRV));
        assert_false(drv_path_is_valid("/nix/store/wvfqywd4bwvl3m6rrc9y3vca4k0piz57-.drv"));
        assert_false(store_path_is_valid("/nix/store/wvfqywd4bwvl3m6rrc9y3vca4k0piz57-"));
        assert_false(store_path_is_valid("/nix/store/wvfqywd4bwvl3m6rrc9y3vca4k0piz57-.x"));
        assert_true(absolute_path_is_valid("/a/b"));
        assert_false(absolute_path_is_valid("/a//b"));
        assert_false(absolute_path_is_valid("/a/./b"));
        assert_false(absolute_path_is_valid("/a/"));
        assert_true(string_is_printable_utf8("caf\xc3\xa9 \xf0\x9f\x98\x80"));
        assert_false(string_is_printable_utf8("\xed\xa0\x80")); /* surrogate */
        assert_false(string_is_printable_utf8("\xc2\x85"));     /* C1 NEL */
        assert_true(env_assignment_is_valid("_A1="));
        assert_false(env_assignment_is_valid("=x"));
        assert_true(memory_size_is_valid("512M"));
        assert_true(memory_size_is_valid("infinity"));
        assert_false(memory_size_is_valid("-1"));
        assert_true(user_name_is_valid("deferred-builds"));
        assert_false(user_name_is_valid("0day"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_minimal),
                cmocka_unit_test(test_full_model),
                cmocka_unit_test(test_sorted_output),
                cmocka_unit_test(test_name_with_slash),
                cmocka_unit_test(test_name_with_space),
                cmocka_unit_test(test_name_with_percent),
                cmocka_unit_test(test_name_with_dollar),
                cmocka_unit_test(test_name_with_utf8),
                cmocka_unit_test(test_name_leading_dot),
                cmocka_unit_test(test_name_leading_dash),
                cmocka_unit_test(test_name_dotdot),
                cmocka_unit_test(test_name_empty),
                cmocka_unit_test(test_name_64_ok_65_rejected),
                cmocka_unit_test(test_name_newline_in_section),
                cmocka_unit_test(test_duplicate_sections),
                cmocka_unit_test(test_duplicate_key),
                cmocka_unit_test(test_drv_outside_store),
                cmocka_unit_test(test_drv_relative),
                cmocka_unit_test(test_drv_dotdot),
                cmocka_unit_test(test_drv_short_hash),
                cmocka_unit_test(test_drv_bad_base32),
                cmocka_unit_test(test_drv_not_drv),
                cmocka_unit_test(test_drv_subpath),
                cmocka_unit_test(test_out_is_drv),
                cmocka_unit_test(test_missing_drv),
                cmocka_unit_test(test_missing_exec),
                cmocka_unit_test(test_exec_relative),
                cmocka_unit_test(test_exec_with_args),
                cmocka_unit_test(test_exec_dotdot),
                cmocka_unit_test(test_value_with_tab),
                cmocka_unit_test(test_value_with_cr),
                cmocka_unit_test(test_value_with_escape_byte),
                cmocka_unit_test(test_value_invalid_utf8),
                cmocka_unit_test(test_value_overlong_utf8),
                cmocka_unit_test(test_value_specials_kept),
                cmocka_unit_test(test_inline_comment_rejected),
                cmocka_unit_test(test_bad_env_name),
                cmocka_unit_test(test_bad_numbers),
                cmocka_unit_test(test_bad_serve_options),
                cmocka_unit_test(test_unknown_key_warns),
                cmocka_unit_test(test_unknown_section_warns),
                cmocka_unit_test(test_long_line_rejects_file),
                cmocka_unit_test(test_line_at_limit_ok),
                cmocka_unit_test(test_indented_line_rejects_file),
                cmocka_unit_test(test_empty_file),
                cmocka_unit_test(test_only_comments),
                cmocka_unit_test(test_header_only),
                cmocka_unit_test(test_wrong_version),
                cmocka_unit_test(test_bad_generation),
                cmocka_unit_test(test_binary_garbage),
                cmocka_unit_test(test_garbage_without_nul),
                cmocka_unit_test(test_bom_and_crlf),
                cmocka_unit_test(test_too_big_rejected),
                cmocka_unit_test(test_10000_models_load),
                cmocka_unit_test(test_20000_models_rejected),
                cmocka_unit_test(test_load_special_files),
                cmocka_unit_test(test_generation_from_store_path),
                cmocka_unit_test(test_validators),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
