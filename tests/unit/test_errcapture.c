/* SPDX-License-Identifier: MIT */
/* What an operator reads of a failed or waiting build: Nix's multi-line error in one line
 * that keeps the cause (src/lib/errtext.c), a cache the daemon retries, and progress bars
 * redrawn with carriage returns (src/lib/nixlog.c). The "@nix" lines are real output of Nix
 * 2.8.0 through nix-daemon, captured for these tests; "synthetic" marks the others. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "errtext.h"
#include "nixlog.h"
#include "statusline.h"
#include "util.h"

static int feed(NixProgress *p, const char *line) {
        return nixlog_feed(p, line, strlen(line));
}

/* A builder that is Debian's /usr/bin/python3 raising an exception after three epochs. */
static const char python_failure[] =
        "@nix {\"action\":\"msg\",\"column\":null,\"file\":null,\"level\":0,\"line\":null,\"msg\":\"\\u001b[31;1merror:"
        "\\u001b[0m builder for '\\u001b[35;1m/nix/store/73d65riad027ja71a1ya148a7ki9lvbj-pyfail-1796162815204923392"
        ".drv\\u001b[0m' failed with exit code 1;\\n       last 7 log lines:\\n       > epoch 1/10 loss=1.000\\n       "
        "> epoch 2/10 loss=0.500\\n       > epoch 3/10 loss=0.333\\n       > Traceback (most recent call last):\\n   "
        "    >   File \\\"<string>\\\", line 6, in <module>\\n       >   File \\\"<string>\\\", line 5, in train\\n       "
        "> ValueError: learning rate 10.0 makes the loss diverge to nan after 3 epochs\\n       For full logs, run "
        "'\\u001b[1mnix log /nix/store/73d65riad027ja71a1ya148a7ki9lvbj-pyfail-1796162815204923392.drv\\u001b[0m'.\","
        "\"raw_msg\":\"builder for ...\"}";

#define PY_EXC "ValueError: learning rate 10.0 makes the loss diverge to nan after 3 epochs"

static void test_python_exception_survives(void **state) {
        (void) state;
        NixProgress p;
        nixlog_init(&p);
        assert_int_equal(feed(&p, python_failure), 1);
        assert_string_equal(p.error,
                            "builder for '/nix/store/73d65riad027ja71a1ya148a7ki9lvbj-pyfail-1796162815204923392.drv' "
                            "failed with exit code 1: File \"<string>\", line 6, in <module> | File \"<string>\", "
                            "line 5, in train | " PY_EXC);
        assert_int_equal(nixlog_classify(&p), NIX_FAILURE_BUILD);
}

/* Each quoted line is kept whole or left out: never half a line. */
static void test_long_log_keeps_whole_lines(void **state) {
        (void) state;
        char msg[8192], out[NIXLOG_ERROR_MAX + 8];
        int n = snprintf(msg, sizeof msg,
                         "error: builder for '/nix/store/x-m.drv' failed with exit code 1;\n"
                         "       last 10 log lines:\n");
        for (int i = 0; i < 9; i++)
                n += snprintf(msg + n, sizeof msg - (size_t) n, "       > line %d %s\n", i,
                              "................................................................................");
        n += snprintf(msg + n, sizeof msg - (size_t) n,
                      "       > RuntimeError: CUDA out of memory\n"
                      "       For full logs, run 'nix log /nix/store/x-m.drv'.");
        nix_error_summarize(msg, (size_t) n, out, sizeof out);
        assert_true(strlen(out) < sizeof out);
        assert_true(endswith(out, " | RuntimeError: CUDA out of memory"));
        assert_non_null(startswith(out, "error: builder for '/nix/store/x-m.drv' failed with exit code 1: line "));
        assert_null(strstr(out, "For full logs"));
        assert_null(strstr(out, "\xe2\x80\xa6")); /* nothing cut */
        /* The lines kept are the last ones, in order, each whole. */
        assert_non_null(strstr(out, "line 8 ......"));
        assert_null(strstr(out, "line 0 "));
        for (const char *s = strstr(out, ": line ") + 2; s; s = strstr(s, " | ")) {
                s += startswith(s, " | ") ? 3 : 0;
                if (startswith(s, "RuntimeError"))
                        break;
                assert_int_equal(strcspn(s, "|"), strlen("line 0 ") + 80 + 1);
        }
}

/* A cause longer than the budget: the headline gives way first (keeping a third), marked. */
static void test_overlong_cause(void **state) {
        (void) state;
        char msg[4096], out[401], cause[700];
        memset(cause, 'x', sizeof cause - 1);
        cause[sizeof cause - 1] = 0;
        int n = snprintf(msg, sizeof msg,
                         "error: builder for '/nix/store/x-m.drv' failed with exit code 1;\n"
                         "       last 2 log lines:\n       > Traceback (most recent call last):\n       > "
                         "KeyError: %s",
                         cause);
        size_t l = nix_error_summarize(msg, (size_t) n, out, sizeof out);
        assert_int_equal(l, strlen(out));
        assert_true(l <= 400);
        assert_non_null(startswith(out, "error: builder for"));
        assert_non_null(strstr(out, ": KeyError: xxx"));
        assert_true(endswith(out, "\xe2\x80\xa6"));
}

static void test_plain_errors_unchanged(void **state) {
        (void) state;
        char out[401];
        const char m[] = "error: cannot connect to socket at '/nix/var/nix/daemon-socket/socket': Connection refused";
        nix_error_summarize(m, strlen(m), out, sizeof out);
        assert_string_equal(out, m);
        /* Continuation lines outside a quoted log join the headline. */
        const char h[] = "error: hash mismatch in fixed-output derivation '/nix/store/a.drv':\n         specified: "
                         "sha256-AAA\n            got:    sha256-BBB";
        nix_error_summarize(h, strlen(h), out, sizeof out);
        assert_string_equal(out,
                            "error: hash mismatch in fixed-output derivation '/nix/store/a.drv': specified: "
                            "sha256-AAA got: sha256-BBB");
        /* Not a traceback: the last non-blank line is the cause. (synthetic) */
        const char s[] = "error: builder for '/nix/store/b.drv' failed with exit code 3;\nlast 3 log lines:\n> "
                         "epoch 1\n> training diverged: loss is nan\n>\nFor full logs, run 'nix log'.";
        nix_error_summarize(s, strlen(s), out, sizeof out);
        assert_string_equal(out,
                            "error: builder for '/nix/store/b.drv' failed with exit code 3: epoch 1 | training "
                            "diverged: loss is nan");
}

/* An offline machine: the daemon retries its cache, then gives up on it and builds. */
static const char cache_retry[] =
        "@nix {\"action\":\"msg\",\"level\":0,\"msg\":\"\\u001b[35;1mwarning:\\u001b[0m \\u001b[31;1merror:\\u001b[0m "
        "unable to download 'http://127.0.0.1:9/nix-cache-info': Couldn't connect to server (7); retrying in 350 "
        "ms\"}";
static const char cache_given_up[] =
        "@nix {\"action\":\"msg\",\"level\":0,\"msg\":\"\\u001b[35;1mwarning:\\u001b[0m unable to download "
        "'http://127.0.0.1:9/nix-cache-info': Couldn't connect to server (7)\"}";

static void test_waiting_for_a_cache(void **state) {
        (void) state;
        NixProgress p;
        char line[512];
        nixlog_init(&p);
        assert_int_equal(feed(&p, cache_retry), 1);
        assert_string_equal(p.waiting,
                            "unable to download 'http://127.0.0.1:9/nix-cache-info': Couldn't connect to "
                            "server (7); retrying in 350 ms");
        assert_int_equal(p.n_errors, 0);
        assert_int_equal(nixlog_classify(&p), NIX_FAILURE_NONE);
        status_line_format(&p, "m", 3, line, sizeof line);
        assert_string_equal(line,
                            "waiting for a cache m: unable to download 'http://127.0.0.1:9/nix-cache-info': "
                            "Couldn't connect to server (7); retrying in 350 ms, 3s elapsed");
        assert_int_equal(feed(&p, cache_retry), 0); /* the same again: no change */
        assert_int_equal(feed(&p, cache_given_up), 1);
        assert_string_equal(p.waiting, "");

        /* A build that starts ends the wait. */
        assert_int_equal(feed(&p, cache_retry), 1);
        feed(&p,
             "@nix {\"action\":\"start\",\"fields\":[\"/nix/store/q-m.drv\",\"\",1,1],\"id\":7,\"level\":3,"
             "\"parent\":0,\"text\":\"building '/nix/store/q-m.drv'\",\"type\":105}");
        assert_string_equal(p.waiting, "");
        status_line_format(&p, "m", 3, line, sizeof line);
        assert_non_null(startswith(line, "training m: "));
        /* A cache retried while something builds keeps nothing waiting. */
        assert_int_equal(feed(&p, cache_retry), 0);
        assert_string_equal(p.waiting, "");
        /* An unrelated warning is no wait. */
        nixlog_init(&p);
        assert_int_equal(feed(&p,
                              "@nix {\"action\":\"msg\",\"level\":1,\"msg\":\"warning: you did not specify "
                              "'--add-root'\"}"),
                         0);
        assert_string_equal(p.waiting, "");
}

/* tqdm: Nix hands a line over at its newline, with the redraws in it when they reach the
 * client (the last state, real Nix 2.8 output), and the CR-separated states otherwise. */
static void test_progress_bar_latest_state(void **state) {
        (void) state;
        NixProgress p;
        nixlog_init(&p);
        assert_int_equal(feed(&p, "@nix {\"action\":\"result\",\"fields\":[\"epoch 1 start\"],\"id\":77,\"type\":101}"),
                         1);
        assert_int_equal(p.n_log_lines, 1);
        assert_int_equal(feed(&p,
                              "@nix {\"action\":\"result\",\"fields\":[\" 50%|####  | 50/100\"],\"id\":77,"
                              "\"type\":101}"),
                         1);
        assert_string_equal(p.last_line, "50%|####  | 50/100");
        /* synthetic: the redraws themselves, and the cursor-up tqdm writes for nested bars */
        assert_int_equal(feed(&p,
                              "@nix {\"action\":\"result\",\"fields\":[\"\\r  0%|          | 0/100\\r 45%|####"
                              "      | 45/100 [00:04<00:05, 9.9it/s]\\u001b[A\\r\"],\"id\":77,\"type\":101}"),
                         1);
        assert_string_equal(p.last_line, "45%|####      | 45/100 [00:04<00:05, 9.9it/s]");
        /* A blank line is output too (the build is alive), but shows nothing new. */
        assert_int_equal(feed(&p, "@nix {\"action\":\"result\",\"fields\":[\"\"],\"id\":77,\"type\":101}"), 0);
        assert_int_equal(p.n_log_lines, 4);
        assert_string_equal(p.last_line, "45%|####      | 45/100 [00:04<00:05, 9.9it/s]");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_python_exception_survives),
                cmocka_unit_test(test_long_log_keeps_whole_lines),
                cmocka_unit_test(test_overlong_cause),
                cmocka_unit_test(test_plain_errors_unchanged),
                cmocka_unit_test(test_waiting_for_a_cache),
                cmocka_unit_test(test_progress_bar_latest_state),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
