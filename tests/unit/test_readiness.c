/* SPDX-License-Identifier: MIT */
/* ready-url, start-timeout and listen: the grammars (netaddr.h), the manifest keys and the
 * unit text the generator writes for them. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"
#include "netaddr.h"
#include "unitfile.h"
#include "util.h"

#define DRV "/nix/store/wvfqywd4bwvl3m6rrc9y3vca4k0piz57-tiny-model.drv"
#define HEAD "[deferred-builds]\nversion = 1\n"
#define MODEL(lines) HEAD "[model.m]\ndrv = " DRV "\nexec = /bin/serve\n" lines

static Manifest *parse(const char *text) {
        Manifest *m = NULL;
        assert_int_equal(manifest_parse("test.ini", text, strlen(text), &m), 0);
        assert_non_null(m);
        return m;
}

/* The one model is skipped with an error on one of its key lines that contains needle. */
static void assert_rejected(const char *text, const char *needle) {
        Manifest *m = parse(text);
        assert_int_equal(m->n_models, 0);
        bool found = false;
        for (size_t i = 0; i < m->n_diags; i++)
                found = found || (m->diags[i].level == DIAG_ERROR && m->diags[i].line >= 6 &&
                                  strstr(m->diags[i].message, needle));
        if (!found)
                for (size_t i = 0; i < m->n_diags; i++)
                        print_message("  diag: line %u: %s\n", m->diags[i].line, m->diags[i].message);
        assert_true(found);
        manifest_free(m);
}

static void test_ready_url_grammar(void **s) {
        (void) s;
        static const char *const good[] = {
                "http://127.0.0.1:8080/health", "http://127.0.0.1/", "http://127.0.0.1", "http://localhost:1/x",
                "http://[::1]:8000/v1/models", "http://10.0.0.1:65535/a?b=c&d=%2F", "http://[::ffff:127.0.0.1]:80/",
        };
        static const char *const bad[] = {
                "https://127.0.0.1/", "http://example.com/", "http://127.0.0.1:0/", "http://127.0.0.1:65536/",
                "http://127.0.0.1:080/", "http://127.1/", "http://[::1]/x#frag", "http://127.0.0.1/a b",
                "http://127.0.0.1/%zz", "http://[fe80::1%eth0]/", "http://127.0.0.1:/", "http://user@127.0.0.1/",
                "http://127.0.0.1x/", "HTTP://127.0.0.1/", "", "http://",
        };
        for (size_t i = 0; i < ELEMENTSOF(good); i++)
                if (!ready_url_is_valid(good[i]))
                        fail_msg("'%s' refused", good[i]);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                if (ready_url_is_valid(bad[i]))
                        fail_msg("'%s' accepted", bad[i]);
}

static void test_ready_url_parts(void **s) {
        (void) s;
        ReadyUrl u;
        char a[INET6_ADDRSTRLEN];
        assert_int_equal(ready_url_parse("http://localhost:8080/health?deep=1", &u), 0);
        assert_int_equal(u.family, AF_INET);
        assert_string_equal(inet_ntop(AF_INET, &u.addr.in, a, sizeof a), "127.0.0.1");
        assert_int_equal(u.port, 8080);
        assert_string_equal(u.host, "localhost:8080");
        assert_string_equal(u.path, "/health?deep=1");
        assert_int_equal(ready_url_parse("http://[::1]", &u), 0);
        assert_int_equal(u.family, AF_INET6);
        assert_int_equal(u.port, 80);
        assert_string_equal(u.host, "[::1]");
        assert_string_equal(u.path, "/");
}

static void test_listen_grammar(void **s) {
        (void) s;
        static const char *const good[] = {
                "8080", "127.0.0.1:8080", "0.0.0.0:1", "[::1]:65535", "[::]:80", "/run/model.sock", "/run/a_b-c.d/s",
        };
        static const char *const bad[] = {
                "0", "65536", "08080", "127.0.0.1", "127.0.0.1:", "localhost:8080", "[::1]", "[::1]8080",
                "[fe80::1%eth0]:80", "::1:80", "run/x.sock", "/run/x sock", "/run/%i.sock", "/run/../x",
                "vsock:2:80", "@abstract",
                "127.0.0.1:80 ", "",
        };
        for (size_t i = 0; i < ELEMENTSOF(good); i++)
                if (!listen_address_is_valid(good[i]))
                        fail_msg("'%s' refused", good[i]);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                if (listen_address_is_valid(bad[i]))
                        fail_msg("'%s' accepted", bad[i]);
        /* At the edge: 107 bytes is sun_path's room, 108 is not. */
        char p[LISTEN_UNIX_PATH_MAX + 2] = "/";
        memset(p + 1, 'a', LISTEN_UNIX_PATH_MAX - 1);
        assert_true(listen_address_is_valid(p));
        p[LISTEN_UNIX_PATH_MAX] = 'a';
        assert_false(listen_address_is_valid(p));
}

/* What the kernel did with two listening TCP sockets (SO_REUSEADDR, as systemd binds them,
 * net.ipv6.bindv6only=0), and the same path twice. */
static void test_listen_collisions(void **s) {
        (void) s;
        static const struct {
                const char *a, *b;
                bool collide;
        } cases[] = {
                { "8080", "8080", true },
                { "8080", "[::]:8080", true },
                { "8080", "127.0.0.1:8080", true },
                { "8080", "0.0.0.0:8080", true },
                { "8080", "[::1]:8080", true },
                { "[::]:8080", "127.0.0.1:8080", true },
                { "0.0.0.0:8080", "127.0.0.1:8080", true },
                { "127.0.0.1:8080", "127.0.0.1:8080", true },
                { "[::1]:8080", "[::]:8080", true },
                { "[::ffff:127.0.0.1]:8080", "127.0.0.1:8080", true },
                { "[::ffff:0.0.0.0]:8080", "127.0.0.1:8080", true },
                { "/run/m.sock", "/run/m.sock", true },
                { "8080", "8081", false },
                { "127.0.0.1:8080", "127.0.0.2:8080", false },
                { "[::1]:8080", "127.0.0.1:8080", false },
                { "[::1]:8080", "0.0.0.0:8080", false },
                { "[::ffff:127.0.0.1]:8080", "[::1]:8080", false },
                { "[::1]:8080", "[::2]:8080", false },
                { "/run/m.sock", "/run/n.sock", false },
                { "/run/8080", "8080", false },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                ListenAddress a, b;
                assert_int_equal(listen_address_parse(cases[i].a, &a), 0);
                assert_int_equal(listen_address_parse(cases[i].b, &b), 0);
                if (listen_addresses_collide(&a, &b) != cases[i].collide ||
                    listen_addresses_collide(&b, &a) != cases[i].collide)
                        fail_msg("'%s' and '%s': expected %s", cases[i].a, cases[i].b,
                                 cases[i].collide ? "a collision" : "both to bind");
        }
}

#define TWO(a, b)                                                                                                   \
        HEAD "[model.a]\ndrv = " DRV "\nexec = /bin/serve\nlisten = " a "\n\n"                                        \
             "[model.b]\ndrv = " DRV "\nexec = /bin/serve\nlisten = " b "\n"

/* An error on line that contains message. */
static bool has_error(const Manifest *m, unsigned line, const char *message) {
        for (size_t i = 0; i < m->n_diags; i++)
                if (m->diags[i].level == DIAG_ERROR && m->diags[i].line == line &&
                    strstr(m->diags[i].message, message))
                        return true;
        for (size_t i = 0; i < m->n_diags; i++)
                print_message("  diag: line %u: %s\n", m->diags[i].line, m->diags[i].message);
        return false;
}

static void test_listen_collision_skips_both(void **s) {
        (void) s;
        Manifest *m = parse(TWO("8080", "127.0.0.1:8080"));
        assert_int_equal(m->n_models, 0);
        assert_true(has_error(m, 3,
                              "listen '8080' cannot be bound while model 'b' (line 8) listens on '127.0.0.1:8080' "
                              "('8080' listens on port 8080 of every IPv6 and IPv4 address); give each model its "
                              "own address or port"));
        assert_true(has_error(m, 8,
                              "listen '127.0.0.1:8080' cannot be bound while model 'a' (line 3) listens on '8080' "
                              "('8080' listens on port 8080 of every IPv6 and IPv4 address); give each model its "
                              "own address or port"));
        manifest_free(m);

        m = parse(TWO("/run/m.sock", "/run/m.sock"));
        assert_int_equal(m->n_models, 0);
        assert_true(has_error(m, 8,
                              "listen '/run/m.sock' cannot be bound while model 'a' (line 3) listens on "
                              "'/run/m.sock' (the same socket path); give each model its own address or port"));
        manifest_free(m);

        m = parse(TWO("0.0.0.0:9000", "[::ffff:10.0.0.1]:9000"));
        assert_int_equal(m->n_models, 0);
        assert_true(has_error(m, 3,
                              "listen '0.0.0.0:9000' cannot be bound while model 'b' (line 8) listens on "
                              "'[::ffff:10.0.0.1]:9000' ('0.0.0.0:9000' listens on port 9000 of every IPv4 "
                              "address); give each model its own address or port"));
        manifest_free(m);

        /* What binds side by side loads. */
        m = parse(TWO("127.0.0.1:8080", "[::1]:8080"));
        assert_int_equal(m->n_models, 2);
        manifest_free(m);
        m = parse(TWO("8080", "8081"));
        assert_int_equal(m->n_models, 2);
        manifest_free(m);
}

static void test_listen_collision_within_one_model(void **s) {
        (void) s;
        Manifest *m = parse(MODEL("listen = 8080\nlisten = [::]:8080\n"));
        assert_int_equal(m->n_models, 0);
        assert_int_equal(m->n_diags, 1);
        assert_true(has_error(m, 3,
                              "model 'm': listen '8080' and listen '[::]:8080' cannot both be bound (the same "
                              "address and port); keep one, ignoring model"));
        manifest_free(m);
}

/* A model skipped for another reason binds nothing, so it takes no address from another. */
static void test_listen_of_a_skipped_model_is_free(void **s) {
        (void) s;
        const char *text = HEAD "[model.a]\ndrv = " DRV "\nexec = /bin/serve\nlisten = 8080\nbogus-drv = x\n"
                                "start-timeout = 0\n\n[model.b]\ndrv = " DRV "\nexec = /bin/serve\nlisten = 8080\n";
        Manifest *m = parse(text);
        assert_int_equal(m->n_models, 1);
        assert_string_equal(m->models[0].name, "b");
        manifest_free(m);
}

/* Many servers on one port: every one collides with the wildcard, none with another. */
static void test_listen_collisions_at_scale(void **s) {
        (void) s;
        _cleanup_free_ char *text = NULL;
        size_t n = 0;
        FILE *f = open_memstream(&text, &n);
        assert_non_null(f);
        fputs(HEAD, f);
        for (int i = 0; i < 2000; i++)
                fprintf(f, "[model.m%d]\ndrv = " DRV "\nexec = /bin/serve\nlisten = 127.0.%d.%d:8080\n", i, i / 250,
                        i % 250 + 1);
        fputs("[model.wild]\ndrv = " DRV "\nexec = /bin/serve\nlisten = 0.0.0.0:8080\n", f);
        assert_int_equal(fclose(f), 0);
        Manifest *m = parse(text);
        assert_int_equal(m->n_models, 0);
        manifest_free(m);
        text[n - strlen("[model.wild]\ndrv = " DRV "\nexec = /bin/serve\nlisten = 0.0.0.0:8080\n")] = 0;
        m = parse(text);
        assert_int_equal(m->n_models, 2000);
        manifest_free(m);
}

static void test_keys_parsed(void **s) {
        (void) s;
        Manifest *m = parse(MODEL("ready-url = http://127.0.0.1:8080/health\nstart-timeout = 1800\n"
                                  "listen = 127.0.0.1:8080\nlisten = [::1]:8080\n"));
        assert_int_equal(m->n_models, 1);
        const Model *md = &m->models[0];
        assert_string_equal(md->ready_url, "http://127.0.0.1:8080/health");
        assert_true(md->has_start_timeout);
        assert_false(md->start_timeout_infinity);
        assert_int_equal(md->start_timeout, 1800);
        assert_int_equal(md->n_listen, 2);
        assert_string_equal(md->listen[1], "[::1]:8080");
        manifest_free(m);

        m = parse(MODEL("start-timeout = infinity\n"));
        assert_int_equal(m->n_models, 1);
        assert_true(m->models[0].start_timeout_infinity);
        manifest_free(m);
}

static void test_bad_keys_skip_the_model(void **s) {
        (void) s;
        assert_rejected(MODEL("ready-url = https://127.0.0.1/health\n"), "is not a readiness URL");
        assert_rejected(MODEL("start-timeout = 0\n"), "start-timeout '0' is not a number of seconds");
        assert_rejected(MODEL("start-timeout = 5min\n"), "start-timeout '5min'");
        assert_rejected(MODEL("start-timeout = 3153600001\n"), "start-timeout");
        assert_rejected(MODEL("listen = localhost:8080\n"), "listen 'localhost:8080' is not an address");
        assert_rejected(MODEL("listen = 8080\nlisten = 8080\n"), "is given twice");
        Manifest *m = parse(MODEL("ready-url = http://127.0.0.1/\nready-url = http://127.0.0.1/\n"));
        assert_int_equal(m->n_models, 0);
        manifest_free(m);
}

static void test_unit_text(void **s) {
        (void) s;
        Manifest *m = parse(MODEL("ready-url = http://127.0.0.1:8080/h%41\nstart-timeout = 120\nlisten = 8080\n"
                                  "listen = /run/m.sock\n"));
        assert_int_equal(m->n_models, 1);
        _cleanup_free_ char *serve = NULL, *sock = NULL;
        assert_int_equal(unit_serve_dropin(&m->models[0], SCOPE_USER, "/m.ini", &serve), 0);
        assert_non_null(strstr(serve, "[Unit]\nSourcePath=/m.ini\nRequires=deferred-serve@m.socket\n"
                                      "After=deferred-serve@m.socket\n\n[Service]\n"));
        /* '%' doubled: Environment= expands specifiers. */
        assert_non_null(strstr(serve, "Environment=\"DEFERRED_READY_URL=http://127.0.0.1:8080/h%%41\"\n"));
        assert_non_null(strstr(serve, "TimeoutStartSec=120\nSockets=deferred-serve@m.socket\n"));
        assert_int_equal(unit_socket_dropin(&m->models[0], "/m.ini", &sock), 0);
        assert_string_equal(sock, "# Automatically generated by deferred-builds-generator\n\n[Unit]\nSourcePath=/m.ini\n\n"
                                  "[Socket]\nListenStream=8080\nListenStream=/run/m.sock\n");
        /* Each setting changes what reconcile compares with the running server. */
        char with[SERVE_SETTINGS_LEN + 1], without[SERVE_SETTINGS_LEN + 1];
        assert_int_equal(unit_serve_settings(&m->models[0], SCOPE_USER, with), 0);
        Model copy = m->models[0];
        copy.n_listen = 0;
        assert_int_equal(unit_serve_settings(&copy, SCOPE_USER, without), 0);
        assert_string_not_equal(with, without);
        /* So does each address: a running server keeps the descriptors it was passed. */
        copy = m->models[0];
        copy.n_listen = 1;
        assert_int_equal(unit_serve_settings(&copy, SCOPE_USER, without), 0);
        assert_string_not_equal(with, without);
        copy = m->models[0];
        copy.start_timeout = 121;
        assert_int_equal(unit_serve_settings(&copy, SCOPE_USER, without), 0);
        assert_string_not_equal(with, without);
        manifest_free(m);
}

static void test_no_readiness_writes_nothing_new(void **s) {
        (void) s;
        Manifest *m = parse(MODEL(""));
        _cleanup_free_ char *serve = NULL;
        assert_int_equal(unit_serve_dropin(&m->models[0], SCOPE_USER, "/m.ini", &serve), 0);
        assert_null(strstr(serve, "READY_URL"));
        assert_null(strstr(serve, "TimeoutStartSec"));
        assert_null(strstr(serve, "socket"));
        manifest_free(m);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_ready_url_grammar),
                cmocka_unit_test(test_ready_url_parts),
                cmocka_unit_test(test_listen_grammar),
                cmocka_unit_test(test_listen_collisions),
                cmocka_unit_test(test_listen_collision_skips_both),
                cmocka_unit_test(test_listen_collision_within_one_model),
                cmocka_unit_test(test_listen_of_a_skipped_model_is_free),
                cmocka_unit_test(test_listen_collisions_at_scale),
                cmocka_unit_test(test_keys_parsed),
                cmocka_unit_test(test_bad_keys_skip_the_model),
                cmocka_unit_test(test_unit_text),
                cmocka_unit_test(test_no_readiness_writes_nothing_new),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
