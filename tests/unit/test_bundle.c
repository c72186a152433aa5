/* SPDX-License-Identifier: MIT */
/* Derivation bundles (src/lib/bundle.c): the references a .drv declares, the export
 * stream written for one entry (exact bytes), and the checks the import makes before
 * anything reaches nix-store --import: every entry a .drv, every byte accounted for. The
 * stream's equality with `nix-store --export` is tested with real Nix in
 * tests/nix/manifest-closure.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <limits.h>

#include "bundle.h"
#include "util.h"

#define P(h, n) "/nix/store/" h "-" n
#define H1 "0123456789abcdfghijklmnpqrsvwxyz"
#define H2 "zyxwvsrqpnmlkjihgfdcba9876543210"
#define H3 "00000000000000000000000000000000"

static const char drv_text[] = "Derive([(\"out\",\"" P(H1, "m") "\",\"\",\"\")],"
                               "[(\"" P(H2, "prep.drv") "\",[\"out\",\"dev\"]),(\"" P(H3, "tok.drv") "\",[\"out\"])],"
                               "[\"" P(H3, "data.txt") "\",\"" P(H2, "builder.sh") "\"],"
                               "\"x86_64-linux\",\"/bin/sh\",[\"-c\",\"echo \\\"]\\\" > $out\"],"
                               "[(\"out\",\"" P(H1, "m") "\")])";

static void test_references(void **state) {
        (void) state;
        _cleanup_strv_free_ char **refs = NULL;
        size_t n = 0;
        assert_int_equal(drv_parse_references(drv_text, strlen(drv_text), &refs, &n), 0);
        assert_int_equal(n, 4);
        assert_string_equal(refs[0], P(H2, "prep.drv"));
        assert_string_equal(refs[1], P(H3, "tok.drv"));
        assert_string_equal(refs[2], P(H3, "data.txt"));
        assert_string_equal(refs[3], P(H2, "builder.sh"));
}

static void test_references_none(void **state) {
        (void) state;
        static const char t[] = "Derive([(\"out\",\"" P(H1, "m") "\",\"\",\"\")],[],[],\"x\",\"/bin/sh\",[],[])";
        _cleanup_strv_free_ char **refs = NULL;
        size_t n = 0;
        assert_int_equal(drv_parse_references(t, strlen(t), &refs, &n), 0);
        assert_int_equal(n, 0);
}

static void test_references_rejects(void **state) {
        (void) state;
        static const char *const bad[] = {
                "",
                "Derive(",
                "DrvWithVersion(\"xp-dyn-drv\",[],[],[],\"x\")",
                "Derive([],[(\"/nix/store/x.drv\",[\"out\"])],[],\"x\",\"b\",[],[])", /* not a store path */
                "Derive([],[],[\"" P(H1, "a") "\"",                                  /* cut off */
                "Derive([],[],[\"" P(H1, "a\\\"b") "\"],\"x\",\"b\",[],[])",          /* an escape in a path */
                "Derive([(\"out\"],[],[],\"x\",\"b\",[],[])",                        /* unbalanced */
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_strv_free_ char **refs = NULL;
                size_t n = 0;
                assert_int_equal(drv_parse_references(bad[i], strlen(bad[i]), &refs, &n), -EBADMSG);
        }
}

/* One entry for a 3-byte file with one reference, as Nix's exportPath writes it. */
static void test_stream_exact(void **state) {
        (void) state;
        static const char path[] = P(H1, "a.drv");
        char *refs[] = { (char *) P(H2, "src") };
        Buf b = { 0 };
        assert_int_equal(bundle_stream_add(&b, path, "abc", 3, refs, 1), 0);
        assert_int_equal(bundle_stream_finish(&b), 0);

        Buf want = { 0 };
        const char *strs[] = { "nix-archive-1", "(", "type", "regular", "contents", "abc", ")" };
        char pad[8] = { 0 };
#define U64(v)                                                                                                         \
        do {                                                                                                           \
                uint64_t x_ = (v);                                                                                     \
                for (int i_ = 0; i_ < 8; i_++)                                                                         \
                        want.data[want.len++] = (char) (x_ >> (8 * i_));                                               \
        } while (0)
#define STR(s)                                                                                                         \
        do {                                                                                                           \
                size_t l_ = strlen(s);                                                                                 \
                U64(l_);                                                                                               \
                memcpy(want.data + want.len, s, l_);                                                                   \
                want.len += l_;                                                                                        \
                memcpy(want.data + want.len, pad, (8 - l_ % 8) % 8);                                                   \
                want.len += (8 - l_ % 8) % 8;                                                                          \
        } while (0)
        want.data = calloc(1, 4096);
        assert_non_null(want.data);
        U64(1);
        for (size_t i = 0; i < ELEMENTSOF(strs); i++)
                STR(strs[i]);
        U64(0x4558494e);
        STR(path);
        U64(1);
        STR(refs[0]);
        STR("");
        U64(0);
        U64(0);
        assert_int_equal(b.len, want.len);
        assert_memory_equal(b.data, want.data, want.len);

        size_t n = 0;
        char last[PATH_MAX];
        assert_int_equal(bundle_stream_check(b.data, b.len, &n, last), 0);
        assert_int_equal(n, 1);
        assert_string_equal(last, path);
        buf_done(&b);
        free(want.data);
}

static void test_stream_sorts_references(void **state) {
        (void) state;
        char *refs[] = { (char *) P(H2, "z"), (char *) P(H1, "a") };
        Buf b = { 0 };
        assert_int_equal(bundle_stream_add(&b, P(H3, "x.drv"), "", 0, refs, 2), 0);
        const char *first = memmem(b.data, b.len, P(H1, "a"), strlen(P(H1, "a")));
        const char *second = memmem(b.data, b.len, P(H2, "z"), strlen(P(H2, "z")));
        assert_non_null(first);
        assert_non_null(second);
        assert_true(first < second);
        assert_string_equal(refs[0], P(H2, "z")); /* the caller's array is left alone */
        buf_done(&b);
}

static void test_stream_check_rejects(void **state) {
        (void) state;
        size_t n;
        Buf b = { 0 };
        /* Not a .drv: the import must never bring in other store content as root. */
        assert_int_equal(bundle_stream_add(&b, P(H1, "glibc-2.40"), "x", 1, NULL, 0), 0);
        assert_int_equal(bundle_stream_finish(&b), 0);
        assert_int_equal(bundle_stream_check(b.data, b.len, &n, NULL), -EBADMSG);
        buf_done(&b);

        assert_int_equal(bundle_stream_add(&b, P(H1, "a.drv"), "Derive()", 8, NULL, 0), 0);
        assert_int_equal(bundle_stream_finish(&b), 0);
        assert_int_equal(bundle_stream_check(b.data, b.len, &n, NULL), 0);
        /* Every cut is refused, and so are trailing bytes and a flipped byte anywhere in
         * the framing. */
        for (size_t cut = 0; cut < b.len; cut++)
                assert_int_equal(bundle_stream_check(b.data, cut, &n, NULL), -EBADMSG);
        char *longer = malloc(b.len + 8);
        assert_non_null(longer);
        memcpy(longer, b.data, b.len);
        memset(longer + b.len, 0, 8);
        assert_int_equal(bundle_stream_check(longer, b.len + 8, &n, NULL), -EBADMSG);
        free(longer);
        size_t contents = (size_t) ((const char *) memmem(b.data, b.len, "Derive()", 8) - b.data);
        size_t name = (size_t) ((const char *) memmem(b.data, b.len, H1 "-a", 34) - b.data);
        for (size_t i = 0; i < b.len; i++) {
                /* The file's own bytes may be anything; a flipped hash character may still
                 * make a valid path name. */
                if ((i >= contents && i < contents + 8) || (i >= name && i < name + 32))
                        continue;
                b.data[i] ^= 0x01;
                assert_int_equal(bundle_stream_check(b.data, b.len, &n, NULL), -EBADMSG);
                b.data[i] ^= 0x01;
        }
        buf_done(&b);

        /* An empty stream imports nothing: refused too. */
        assert_int_equal(bundle_stream_finish(&b), 0);
        assert_int_equal(bundle_stream_check(b.data, b.len, &n, NULL), -EBADMSG);
        buf_done(&b);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_references),
                cmocka_unit_test(test_references_none),
                cmocka_unit_test(test_references_rejects),
                cmocka_unit_test(test_stream_exact),
                cmocka_unit_test(test_stream_sorts_references),
                cmocka_unit_test(test_stream_check_rejects),
        };
        return cmocka_run_group_tests_name("bundle", tests, NULL, NULL);
}
