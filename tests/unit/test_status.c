/* SPDX-License-Identifier: MIT */
/* The status file: what deferred-realise writes is what the CLI reads back; values are
 * sanitised and bounded; corrupt or truncated files read as UNKNOWN with -EBADMSG. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "fileio.h"
#include "status.h"
#include "tmpdir.h"
#include "util.h"

#define DRV "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-model-a.drv"
#define OUT "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-model-a"

static ModelStatus sample(void) {
        ModelStatus st = { .state = MODEL_STATE_TRAINING };
        snprintf(st.model, sizeof st.model, "resnet-small");
        snprintf(st.drv, sizeof st.drv, DRV);
        snprintf(st.out, sizeof st.out, OUT);
        snprintf(st.generation, sizeof st.generation, "gen-42");
        snprintf(st.root, sizeof st.root, "/var/lib/deferred-builds/roots/gen-42/resnet-small");
        st.started = 1700000000;
        st.finished = 0;
        st.done = 2;
        st.expected = 5;
        snprintf(st.last_line, sizeof st.last_line, "epoch 3/10 loss=0.42");
        st.attempts = 3;
        return st;
}

static const char sample_text[] = "state=training\n"
                                  "model=resnet-small\n"
                                  "drv=" DRV "\n"
                                  "out=" OUT "\n"
                                  "generation=gen-42\n"
                                  "root=/var/lib/deferred-builds/roots/gen-42/resnet-small\n"
                                  "started=1700000000\n"
                                  "finished=0\n"
                                  "progress=2/5\n"
                                  "last_line=epoch 3/10 loss=0.42\n"
                                  "error=\n"
                                  "last_output=0\n"
                                  "waiting=\n"
                                  "attempts=3\n";

static char *read_status_text(const char *dir, const char *model) {
        char path[512];
        snprintf(path, sizeof path, "%s/status/%s", dir, model);
        char *text = NULL;
        size_t size = 0;
        if (read_full_file(path, 1 << 20, &text, &size) < 0)
                return NULL;
        return text;
}

static void write_raw(const char *dir, const char *model, const char *text, size_t len) {
        char path[512];
        snprintf(path, sizeof path, "%s/status", dir);
        assert_int_equal(mkdir_p(path, 0755), 0);
        snprintf(path, sizeof path, "%s/status/%s", dir, model);
        assert_int_equal(write_file_atomic(path, text, len, 0644, 0), 0);
}

static void test_state_names_round_trip(void **state) {
        (void) state;
        for (int s = 0; s < _MODEL_STATE_MAX; s++)
                assert_int_equal(model_state_from_string(model_state_to_string((ModelState) s)), s);
        assert_string_equal(model_state_to_string(MODEL_STATE_READY), "ready");
        assert_string_equal(model_state_to_string(MODEL_STATE_SUBSTITUTING), "substituting");
        assert_int_equal(model_state_from_string("READY"), MODEL_STATE_UNKNOWN);
        assert_int_equal(model_state_from_string(""), MODEL_STATE_UNKNOWN);
        assert_int_equal(model_state_from_string(NULL), MODEL_STATE_UNKNOWN);
        assert_string_equal(model_state_to_string((ModelState) 99), "unknown");
}

static void test_write_exact_text(void **state) {
        const char *dir = *state;
        ModelStatus st = sample();
        assert_int_equal(status_write(dir, &st), 0);
        _cleanup_free_ char *text = read_status_text(dir, "resnet-small");
        assert_non_null(text);
        assert_string_equal(text, sample_text);

        char path[512];
        struct stat sb;
        snprintf(path, sizeof path, "%s/status/resnet-small", dir);
        assert_int_equal(stat(path, &sb), 0);
        assert_int_equal(sb.st_mode & 07777, 0644);
}

static void test_round_trip(void **state) {
        const char *dir = *state;
        ModelStatus st = sample(), back;
        st.state = MODEL_STATE_FAILED;
        st.finished = 1700000123;
        snprintf(st.error, sizeof st.error, "builder for '%s' failed with exit code 1", DRV);
        assert_int_equal(status_write(dir, &st), 0);
        assert_int_equal(status_read(dir, "resnet-small", &back), 0);
        assert_memory_equal(&st, &back, sizeof st);

        /* Rewriting replaces the whole file. */
        st.state = MODEL_STATE_READY;
        st.error[0] = 0;
        st.done = st.expected = 5;
        assert_int_equal(status_write(dir, &st), 0);
        assert_int_equal(status_read(dir, "resnet-small", &back), 0);
        assert_int_equal(back.state, MODEL_STATE_READY);
        assert_string_equal(back.error, "");
        assert_int_equal(back.done, 5);
}

static void test_sanitises_control_characters(void **state) {
        const char *dir = *state;
        ModelStatus st = sample(), back;
        snprintf(st.last_line, sizeof st.last_line, "line one\nstate=ready\r\x1b[31mred\x7f");
        snprintf(st.error, sizeof st.error, "tab\there\xc2\x85" "c1 and bad utf8 \xff\xfe ok \xc3\xa9t\xc3\xa9");
        assert_int_equal(status_write(dir, &st), 0);

        _cleanup_free_ char *text = read_status_text(dir, "resnet-small");
        assert_non_null(text);
        /* Still exactly fourteen lines: an embedded newline never starts a key. */
        size_t lines = 0;
        for (const char *p = text; *p; p++)
                lines += *p == '\n';
        assert_int_equal(lines, 14);
        assert_non_null(strstr(text, "last_line=line one?state=ready??[31mred?\n"));
        assert_non_null(strstr(text, "error=tab?here?c1 and bad utf8 ?? ok \xc3\xa9t\xc3\xa9\n"));

        assert_int_equal(status_read(dir, "resnet-small", &back), 0);
        assert_int_equal(back.state, MODEL_STATE_TRAINING);
        assert_string_equal(back.last_line, "line one?state=ready??[31mred?");
}

static void test_truncates_long_text_at_character_boundary(void **state) {
        const char *dir = *state;
        ModelStatus st = sample(), back;
        /* 'é' is two bytes: 150 of them are 300 bytes, cut to at most 200 on a boundary. */
        char *p = st.last_line;
        memset(st.last_line, 0, sizeof st.last_line);
        for (int i = 0; i < 100; i++, p += 2)
                memcpy(p, "\xc3\xa9", 2);
        /* A field filled to the brim with no NUL must not be over-read. */
        memset(st.error, 'e', sizeof st.error);
        assert_int_equal(status_write(dir, &st), 0);
        assert_int_equal(status_read(dir, "resnet-small", &back), 0);
        assert_int_equal(strlen(back.last_line), 200);
        assert_int_equal(strlen(back.error), STATUS_ERROR_MAX);

        /* An odd limit: the reader cuts a longer line (another writer) before a split char. */
        char text[2048];
        char longline[600];
        memset(longline, 0, sizeof longline);
        longline[0] = 'x';
        for (int i = 0; i < 150; i++)
                memcpy(longline + 1 + 2 * i, "\xc3\xa9", 2);
        snprintf(text, sizeof text, "%.*slast_line=%s\nerror=\nattempts=1\n",
                 (int) (strstr(sample_text, "last_line=") - sample_text), sample_text, longline);
        assert_int_equal(status_parse(text, strlen(text), &back), 0);
        assert_int_equal(strlen(back.last_line), 199); /* 'x' + 99 complete characters */
}

/* A stopped build, its last output time and what it waits for survive a write; a file of
 * an older writer, without those keys, still reads. */
static void test_stopped_waiting_last_output(void **state) {
        const char *dir = *state;
        ModelStatus st = sample(), back;
        st.state = MODEL_STATE_STOPPED;
        st.last_output = 1700000123;
        snprintf(st.waiting, sizeof st.waiting, "unable to download 'http://c/nix-cache-info': refused; retrying");
        assert_int_equal(status_write(dir, &st), 0);
        assert_int_equal(status_read(dir, "resnet-small", &back), 0);
        assert_int_equal(back.state, MODEL_STATE_STOPPED);
        assert_int_equal(back.last_output, 1700000123);
        assert_string_equal(back.waiting, st.waiting);

        char old[sizeof sample_text];
        snprintf(old, sizeof old, "%.*sattempts=3\n", (int) (strstr(sample_text, "last_output=") - sample_text),
                 sample_text);
        assert_int_equal(status_parse(old, strlen(old), &back), 0);
        assert_int_equal(back.last_output, 0);
        assert_string_equal(back.waiting, "");
        assert_int_equal(back.attempts, 3);
        assert_int_equal(status_parse("state=stopped\n", 14, &back), -EBADMSG); /* still needs every other key */
}

static void test_truncated_file(void **state) {
        (void) state;
        ModelStatus st;
        size_t n = strlen(sample_text);
        /* Every proper prefix is rejected: cut mid-line (no final newline) or at a line
         * boundary (a key is missing). */
        for (size_t i = 0; i < n; i++) {
                memset(&st, 0x55, sizeof st);
                assert_int_equal(status_parse(sample_text, i, &st), -EBADMSG);
                assert_int_equal(st.state, MODEL_STATE_UNKNOWN);
                assert_string_equal(st.model, "");
                assert_int_equal(st.attempts, 0);
                assert_non_null(strstr(st.error, "status file is corrupt or truncated"));
        }
        assert_int_equal(status_parse(sample_text, n, &st), 0);

        /* Cut at the last line boundary: attempts is missing. */
        size_t cut = (size_t) (strstr(sample_text, "attempts=") - sample_text);
        assert_int_equal(status_parse(sample_text, cut, &st), -EBADMSG);
        assert_string_equal(st.error, "status file is corrupt or truncated: missing key 'attempts'");
        /* Cut mid-line. */
        assert_int_equal(status_parse(sample_text, n - 1, &st), -EBADMSG);
        assert_string_equal(st.error, "status file is corrupt or truncated: the last line has no newline");
}

static void check_corrupt(const char *from, const char *to, const char *expected_error) {
        char text[2048];
        const char *at = strstr(sample_text, from);
        assert_non_null(at);
        snprintf(text, sizeof text, "%.*s%s%s", (int) (at - sample_text), sample_text, to, at + strlen(from));
        ModelStatus st;
        assert_int_equal(status_parse(text, strlen(text), &st), -EBADMSG);
        assert_int_equal(st.state, MODEL_STATE_UNKNOWN);
        assert_string_equal(st.error, expected_error);
}

static void test_corrupt_values(void **state) {
        (void) state;
        const char *p = "status file is corrupt or truncated: ";
        char e[256];
#define CORRUPT(from, to, why)                                   \
        do {                                                     \
                snprintf(e, sizeof e, "%s%s", p, why);           \
                check_corrupt(from, to, e);                      \
        } while (0)
        CORRUPT("state=training", "state=sleeping", "unknown value of 'state'");
        CORRUPT("state=training", "state=", "unknown value of 'state'");
        CORRUPT("state=training", "state=unknown", "unknown value of 'state'");
        CORRUPT("model=resnet-small", "model=../etc", "invalid value of 'model'");
        CORRUPT("started=1700000000", "started=-1", "not a number: 'started'");
        CORRUPT("finished=0", "finished=0x10", "not a number: 'finished'");
        CORRUPT("finished=0", "finished=99999999999999999999999", "not a number: 'finished'");
        CORRUPT("progress=2/5", "progress=25", "not DONE/EXPECTED: 'progress'");
        CORRUPT("progress=2/5", "progress=2/", "not DONE/EXPECTED: 'progress'");
        CORRUPT("attempts=3", "attempts=4294967296", "not a number: 'attempts'");
        CORRUPT("attempts=3", "attempts= 3", "not a number: 'attempts'");
        CORRUPT("error=\n", "garbage line\n", "a line has no '='");
        CORRUPT("error=\n", "error=\nstate=ready\n", "repeated key 'state'");
        CORRUPT("out=", "out=/nix/store/" /* 256+ bytes */
                        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                "over-long value of 'out'");
#undef CORRUPT
}

static void test_binary_and_empty(void **state) {
        (void) state;
        ModelStatus st;
        assert_int_equal(status_parse("", 0, &st), -EBADMSG);
        assert_string_equal(st.error, "status file is corrupt or truncated: the file is empty");
        assert_int_equal(status_parse(NULL, 0, &st), -EBADMSG);

        char text[sizeof sample_text];
        memcpy(text, sample_text, sizeof sample_text);
        text[20] = 0;
        assert_int_equal(status_parse(text, sizeof sample_text - 1, &st), -EBADMSG);
        assert_string_equal(st.error, "status file is corrupt or truncated: it contains a NUL byte");
        assert_int_equal(st.state, MODEL_STATE_UNKNOWN);

        /* Random bytes never crash the parser and never parse. */
        unsigned seed = 12345;
        for (int round = 0; round < 2000; round++) {
                unsigned char junk[300];
                size_t len = (size_t) (rand_r(&seed) % sizeof junk);
                for (size_t i = 0; i < len; i++)
                        junk[i] = (unsigned char) rand_r(&seed);
                assert_int_equal(status_parse((const char *) junk, len, &st), -EBADMSG);
                assert_int_equal(st.state, MODEL_STATE_UNKNOWN);
        }
}

static void test_unknown_keys_ignored(void **state) {
        (void) state;
        char text[2048];
        snprintf(text, sizeof text, "future_key=whatever\n%s=no key\nx%0100d=long key\n%s", "", 0, sample_text);
        ModelStatus st;
        assert_int_equal(status_parse(text, strlen(text), &st), 0);
        assert_int_equal(st.state, MODEL_STATE_TRAINING);
        assert_int_equal(st.done, 2);
        assert_int_equal(st.expected, 5);
        assert_string_equal(st.root, "/var/lib/deferred-builds/roots/gen-42/resnet-small");
}

static void test_read_missing_and_bad_files(void **state) {
        const char *dir = *state;
        ModelStatus st;
        assert_int_equal(status_read(dir, "absent", &st), -ENOENT);
        assert_int_equal(status_read(dir, "../etc", &st), -EINVAL);

        write_raw(dir, "cut", sample_text, 40);
        assert_int_equal(status_read(dir, "cut", &st), -EBADMSG);
        assert_int_equal(st.state, MODEL_STATE_UNKNOWN);

        /* A directory or a huge file in its place is not a status file. */
        char path[512];
        snprintf(path, sizeof path, "%s/status/adir", dir);
        assert_int_equal(mkdir(path, 0755), 0);
        assert_int_equal(status_read(dir, "adir", &st), -EBADMSG);
        static char big[100000];
        memset(big, 'a', sizeof big);
        write_raw(dir, "big", big, 100000);
        assert_int_equal(status_read(dir, "big", &st), -EBADMSG);
        assert_string_equal(st.error, "status file is corrupt or truncated: it is not a small regular file");
}

static void test_write_rejects_bad_model_and_creates_dir(void **state) {
        const char *dir = *state;
        ModelStatus st = sample();
        snprintf(st.model, sizeof st.model, "../../etc/passwd");
        assert_int_equal(status_write(dir, &st), -EINVAL);
        st.model[0] = 0;
        assert_int_equal(status_write(dir, &st), -EINVAL);

        /* The runtime dir itself may not exist yet: status_write creates it. */
        char sub[512];
        snprintf(sub, sizeof sub, "%s/run/deferred-builds", dir);
        st = sample();
        assert_int_equal(status_write(sub, &st), 0);
        ModelStatus back;
        assert_int_equal(status_read(sub, "resnet-small", &back), 0);
        assert_string_equal(back.generation, "gen-42");

        /* Something that is not a directory in the way is an error, not a crash. */
        char blocker[512];
        snprintf(blocker, sizeof blocker, "%s/blocked", dir);
        assert_int_equal(write_file_atomic(blocker, "x", 1, 0644, 0), 0);
        assert_int_equal(status_write(blocker, &st), -ENOTDIR);
}

static void test_no_temp_files_left(void **state) {
        const char *dir = *state;
        ModelStatus st = sample();
        for (int i = 0; i < 50; i++) {
                st.done = (unsigned long long) i;
                assert_int_equal(status_write(dir, &st), 0);
        }
        char path[512];
        snprintf(path, sizeof path, "%s/status", dir);
        _cleanup_closedir_ DIR *d = opendir(path);
        assert_non_null(d);
        int n = 0;
        for (struct dirent *de; (de = readdir(d));)
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        n++;
        assert_int_equal(n, 1);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_state_names_round_trip),
                cmocka_unit_test_setup_teardown(test_stopped_waiting_last_output, setup_dir, teardown_dir),
                cmocka_unit_test_setup_teardown(test_write_exact_text, setup_dir, teardown_dir),
                cmocka_unit_test_setup_teardown(test_round_trip, setup_dir, teardown_dir),
                cmocka_unit_test_setup_teardown(test_sanitises_control_characters, setup_dir, teardown_dir),
                cmocka_unit_test_setup_teardown(test_truncates_long_text_at_character_boundary, setup_dir,
                                                teardown_dir),
                cmocka_unit_test(test_truncated_file),
                cmocka_unit_test(test_corrupt_values),
                cmocka_unit_test(test_binary_and_empty),
                cmocka_unit_test(test_unknown_keys_ignored),
                cmocka_unit_test_setup_teardown(test_read_missing_and_bad_files, setup_dir, teardown_dir),
                cmocka_unit_test_setup_teardown(test_write_rejects_bad_model_and_creates_dir, setup_dir, teardown_dir),
                cmocka_unit_test_setup_teardown(test_no_temp_files_left, setup_dir, teardown_dir),
        };
        return cmocka_run_group_tests_name("status", tests, NULL, NULL);
}
