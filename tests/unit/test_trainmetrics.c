/* SPDX-License-Identifier: MIT */
/* Training metrics from a model's output: the convention's object is read in order, and
 * every deviation (a string value, a nested object, a bad name, a duplicate, NaN-like
 * numbers, trailing bytes, an oversized or non-regular file) drops the whole file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tmpdir.h"
#include "trainmetrics.h"
#include "util.h"

static int parse(const char *text, TrainMetrics *m) {
        const char *why = NULL;
        int r = train_metrics_parse(text, strlen(text), m, &why);
        if (r < 0)
                assert_non_null(why);
        return r;
}

static void test_flat_object_in_order(void **state) {
        (void) state;
        TrainMetrics m;
        assert_int_equal(parse(" {\"loss\": 0.054205, \"epochs\":5,\"w\":-3e-2,\n\"_b2\":1E3}\n", &m), 0);
        assert_int_equal(m.n, 4);
        assert_string_equal(m.v[0].name, "loss");
        assert_true(m.v[0].value > 0.0542 && m.v[0].value < 0.0543);
        assert_string_equal(m.v[1].name, "epochs");
        assert_true(m.v[1].value == 5.0);
        assert_true(m.v[2].value == -0.03);
        assert_string_equal(m.v[3].name, "_b2");
        assert_true(m.v[3].value == 1000.0);
        assert_int_equal(parse("{}", &m), 0);
        assert_int_equal(m.n, 0);
}

static void test_deviations_drop_the_file(void **state) {
        (void) state;
        static const char *const bad[] = {
                "",
                "[1]",
                "{\"loss\":\"0.1\"}",
                "{\"loss\":{\"a\":1}}",
                "{\"loss\":[1]}",
                "{\"loss\":true}",
                "{\"loss\":null}",
                "{\"loss\":NaN}",
                "{\"loss\":1e999}",
                "{\"loss\":-1e400}",
                "{\"loss\":1,}",
                "{\"loss\":1",
                "{\"loss\" 1}",
                "{\"loss\":1} x",
                "{\"loss\":1}{}",
                "{\"1loss\":1}",
                "{\"lo ss\":1}",
                "{\"lo\\\"ss\":1}",
                "{\"\":1}",
                "{\"loss\":1,\"loss\":2}",
                "{\"a23456789012345678901234567890123456789012345678901234567890123456\":1}",
                "{\"loss\":01}",
                "{\"loss\":.5}",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                TrainMetrics m = { .n = 7 };
                if (parse(bad[i], &m) != -EBADMSG)
                        fail_msg("accepted: %s", bad[i]);
                assert_int_equal(m.n, 0);
        }
}

static void test_at_most_64(void **state) {
        (void) state;
        char buf[4096];
        size_t n = 0;
        TrainMetrics m;
        n += (size_t) snprintf(buf + n, sizeof buf - n, "{");
        for (int i = 0; i < TRAIN_METRICS_MAX; i++)
                n += (size_t) snprintf(buf + n, sizeof buf - n, "%s\"m%d\":%d", i ? "," : "", i, i);
        snprintf(buf + n, sizeof buf - n, "}");
        assert_int_equal(parse(buf, &m), 0);
        assert_int_equal(m.n, TRAIN_METRICS_MAX);
        snprintf(buf + n, sizeof buf - n, ",\"one_more\":1}");
        assert_int_equal(parse(buf, &m), -EBADMSG);
}

static void write_at(const char *dir, const char *rel, const char *text, size_t len) {
        char path[512];
        snprintf(path, sizeof path, "%s/nix-support", dir);
        mkdir(path, 0755);
        snprintf(path, sizeof path, "%s/%s", dir, rel);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        assert_int_equal(fwrite(text, 1, len, f), len);
        fclose(f);
}

static void test_read_from_an_output(void **state) {
        const char *dir = *state;
        TrainMetrics m;
        assert_int_equal(train_metrics_read(dir, &m), -ENOENT);
        const char *t = "{\"loss\":0.25}";
        write_at(dir, TRAIN_METRICS_PATH, t, strlen(t));
        assert_int_equal(train_metrics_read(dir, &m), 0);
        assert_int_equal(m.n, 1);
        assert_true(m.v[0].value == 0.25);

        /* Over the size limit: white space is valid JSON, so only the bound refuses it. */
        char *big = malloc(TRAIN_METRICS_MAX_BYTES + 16);
        assert_non_null(big);
        memset(big, ' ', TRAIN_METRICS_MAX_BYTES + 16);
        memcpy(big, t, strlen(t));
        write_at(dir, TRAIN_METRICS_PATH, big, TRAIN_METRICS_MAX_BYTES + 16);
        free(big);
        assert_int_equal(train_metrics_read(dir, &m), -EFBIG);
        assert_int_equal(m.n, 0);

        /* A FIFO in its place neither hangs the reader nor counts as metrics. */
        char path[512];
        snprintf(path, sizeof path, "%s/" TRAIN_METRICS_PATH, dir);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(mkfifo(path, 0644), 0);
        assert_int_equal(train_metrics_read(dir, &m), -EBADMSG);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_flat_object_in_order),
                cmocka_unit_test(test_deviations_drop_the_file),
                cmocka_unit_test(test_at_most_64),
                cmocka_unit_test_setup_teardown(test_read_from_an_output, setup_dir, teardown_dir),
        };
        return cmocka_run_group_tests_name("trainmetrics", tests, NULL, NULL);
}
