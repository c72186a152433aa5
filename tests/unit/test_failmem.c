/* SPDX-License-Identifier: MIT */
/* The failure memory: a failed build is remembered below the state dir, read back as it was
 * written, forgotten on request, and a missing memory reads as "no failure". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "failmem.h"
#include "tmpdir.h"
#include "util.h"

#define DRV "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-model-a.drv"

static ModelStatus failed(const char *model) {
        ModelStatus st = { .state = MODEL_STATE_FAILED, .started = 1700000000, .finished = 1700000060 };
        snprintf(st.model, sizeof st.model, "%s", model);
        snprintf(st.drv, sizeof st.drv, DRV);
        snprintf(st.error, sizeof st.error, "build of model %s failed: epoch 1/2: simulated failure", model);
        return st;
}

static void test_nothing_remembered(void **state) {
        ModelStatus st;
        assert_int_equal(failmem_read(*state, "linreg", &st), -ENOENT);
        /* Forgetting what was never remembered is fine. */
        assert_int_equal(failmem_forget(*state, "linreg"), 0);
}

static void test_remember_read_forget(void **state) {
        ModelStatus in = failed("linreg"), out;
        assert_int_equal(failmem_remember(*state, &in), 0);
        assert_int_equal(failmem_read(*state, "linreg", &out), 0);
        assert_int_equal(out.state, MODEL_STATE_FAILED);
        assert_string_equal(out.drv, DRV);
        assert_string_equal(out.error, in.error);
        /* Another model has nothing remembered. */
        assert_int_equal(failmem_read(*state, "other", &out), -ENOENT);
        assert_int_equal(failmem_forget(*state, "linreg"), 0);
        assert_int_equal(failmem_read(*state, "linreg", &out), -ENOENT);
}

static void test_remember_replaces(void **state) {
        ModelStatus a = failed("linreg"), b = failed("linreg"), out;
        snprintf(b.drv, sizeof b.drv, "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-model-b.drv");
        assert_int_equal(failmem_remember(*state, &a), 0);
        assert_int_equal(failmem_remember(*state, &b), 0);
        assert_int_equal(failmem_read(*state, "linreg", &out), 0);
        assert_string_equal(out.drv, b.drv);
}

static void test_bad_names_refused(void **state) {
        ModelStatus st = failed("../x");
        assert_int_equal(failmem_remember(*state, &st), -EINVAL);
        assert_int_equal(failmem_forget(*state, "../x"), -EINVAL);
        assert_int_equal(failmem_read(*state, "../x", &st), -EINVAL);
}

static void test_state_dir_missing(void **state) {
        char path[512];
        ModelStatus st;
        snprintf(path, sizeof path, "%s/absent", (char *) *state);
        assert_int_equal(failmem_read(path, "linreg", &st), -ENOENT);
        assert_int_equal(failmem_forget(path, "linreg"), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_nothing_remembered, setup_dir, teardown_dir),
                cmocka_unit_test_setup_teardown(test_remember_read_forget, setup_dir, teardown_dir),
                cmocka_unit_test_setup_teardown(test_remember_replaces, setup_dir, teardown_dir),
                cmocka_unit_test_setup_teardown(test_bad_names_refused, setup_dir, teardown_dir),
                cmocka_unit_test_setup_teardown(test_state_dir_missing, setup_dir, teardown_dir),
        };
        return cmocka_run_group_tests_name("failmem", tests, NULL, NULL);
}
