/* SPDX-License-Identifier: MIT */
/* Logging to stderr: plain lines, or lines with their syslog level ("<4>...") when stderr is
 * the journal stream that $JOURNAL_STREAM names, so that journald files warnings and errors
 * at their priority; control bytes in a message (a terminal escape in a file name) are
 * written as \xNN. Each case runs in a child: the check is made once per process. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

/* Runs the logging calls in a child whose stderr is a temp file, with JOURNAL_STREAM set to
 * that file's identity (STREAM_JOURNAL), to another one (STREAM_OTHER) or unset; returns
 * what the child wrote. */
typedef enum { STREAM_UNSET, STREAM_JOURNAL, STREAM_OTHER } Stream;

static char *run_child(Stream stream) {
        char path[] = "/tmp/test-log-XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        unlink(path);

        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                struct stat st;
                char value[64];
                if (dup2(fd, STDERR_FILENO) < 0 || fstat(STDERR_FILENO, &st) < 0)
                        _exit(100);
                if (stream == STREAM_UNSET)
                        unsetenv("JOURNAL_STREAM");
                else {
                        snprintf(value, sizeof value, "%llu:%llu", (unsigned long long) st.st_dev,
                                 (unsigned long long) st.st_ino + (stream == STREAM_OTHER ? 1 : 0));
                        setenv("JOURNAL_STREAM", value, 1);
                }
                log_warning("careful: %s", "substituter ignored");
                log_error_errno(-ENOENT, "Failed to open %s: %m", "/x");
                log_info("fine");
                log_warning("name %s, link %s", "a\033]0;pwned\007b", "x\r\xc2\x9by");
                log_debug("not shown at the default level");
                fflush(stderr);
                _exit(log_stderr_is_journal() == (stream == STREAM_JOURNAL) ? 0 : 101);
        }
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);

        char *text = NULL;
        size_t size = 0;
        /* The child's writes moved the offset we share with it. */
        assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
        assert_int_equal(read_full_fd(fd, 1 << 16, &text, &size), 0);
        close(fd);
        return text;
}

static void test_journal_stream_gets_levels(void **state) {
        (void) state;
        _cleanup_free_ char *text = run_child(STREAM_JOURNAL);
        assert_string_equal(text, "<4>careful: substituter ignored\n"
                                  "<3>Failed to open /x: No such file or directory\n"
                                  "<6>fine\n"
                                  "<4>name a\\x1b]0;pwned\\x07b, link x\\x0d\\xc2\\x9by\n");
}

static void test_plain_stderr_has_no_prefix(void **state) {
        (void) state;
        _cleanup_free_ char *unset = run_child(STREAM_UNSET);
        assert_string_equal(unset, "careful: substituter ignored\n"
                                   "Failed to open /x: No such file or directory\n"
                                   "fine\n"
                                   "name a\\x1b]0;pwned\\x07b, link x\\x0d\\xc2\\x9by\n");
        /* A JOURNAL_STREAM inherited from a parent whose stderr was the journal, while ours
         * is now elsewhere: plain lines. */
        _cleanup_free_ char *other = run_child(STREAM_OTHER);
        assert_string_equal(other, unset);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_journal_stream_gets_levels),
                cmocka_unit_test(test_plain_stderr_has_no_prefix),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
