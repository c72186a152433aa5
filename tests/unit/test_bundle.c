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
#include "sha256.h"
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

/* Two real derivations as Nix 2.8 wrote them (nix-instantiate of
 *   derivation { name = "t"; system = "x86_64-linux"; builder = "/bin/sh"; }
 * and of "u", which depends on "t" and on builtins.toFile "src.txt" "data"). */
#define T_DRV "/nix/store/7qvrnr4kah64ilyxh4b734malr3ls6mr-t.drv"
#define T_OUT "/nix/store/dlgx39nxvfzm7nvzmjkk4gdbn22n5nmr-t"
#define U_DRV "/nix/store/d476qkkyj6bahijqx3jc29bbr2zz3dck-u.drv"
#define U_OUT "/nix/store/k57ijrfv4crmkkf9kslrqb9k8xvrh42q-u"
#define SRC "/nix/store/8nrpvp1knq263g0djygkd08qh93rxxkk-src.txt"
static const char t_text[] = "Derive([(\"out\",\"" T_OUT "\",\"\",\"\")],[],[],\"x86_64-linux\",\"/bin/sh\",[],"
                             "[(\"builder\",\"/bin/sh\"),(\"name\",\"t\"),(\"out\",\"" T_OUT "\"),"
                             "(\"system\",\"x86_64-linux\")])";
static const char u_text[] = "Derive([(\"out\",\"" U_OUT "\",\"\",\"\")],[(\"" T_DRV "\",[\"out\"])],[\"" SRC "\"],"
                             "\"x86_64-linux\",\"/bin/sh\",[],[(\"builder\",\"/bin/sh\"),(\"dep\",\"" T_OUT "\"),"
                             "(\"name\",\"u\"),(\"out\",\"" U_OUT "\"),(\"src\",\"" SRC "\"),"
                             "(\"system\",\"x86_64-linux\")])";

static void real_stream(Buf *b) {
        _cleanup_strv_free_ char **refs = NULL;
        size_t n = 0;
        assert_int_equal(drv_parse_references(u_text, strlen(u_text), &refs, &n), 0);
        assert_int_equal(n, 2);
        assert_int_equal(bundle_stream_add(b, T_DRV, t_text, strlen(t_text), NULL, 0), 0);
        assert_int_equal(bundle_stream_add(b, U_DRV, u_text, strlen(u_text), refs, n), 0);
        assert_int_equal(bundle_stream_finish(b), 0);
}

/* The store paths Nix gave them are the ones their contents and references name. */
static void test_stream_check_real(void **state) {
        (void) state;
        Buf b = { 0 };
        real_stream(&b);
        size_t n = 0;
        char last[PATH_MAX];
        assert_int_equal(bundle_stream_check(b.data, b.len, &n, last), 0);
        assert_int_equal(n, 2);
        assert_string_equal(last, U_DRV);
        buf_done(&b);
}

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

        /* Well formed, but "abc" is not what that path names: refused. */
        size_t n = 0;
        assert_int_equal(bundle_stream_check(b.data, b.len, &n, NULL), -EBADMSG);
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

        real_stream(&b);
        assert_int_equal(bundle_stream_check(b.data, b.len, &n, NULL), 0);
        /* Every cut is refused, and so are trailing bytes and a flipped bit anywhere: in
         * the framing, in a path, in a reference, in a file's contents. */
        for (size_t cut = 0; cut < b.len; cut++)
                assert_int_equal(bundle_stream_check(b.data, cut, &n, NULL), -EBADMSG);
        char *longer = malloc(b.len + 8);
        assert_non_null(longer);
        memcpy(longer, b.data, b.len);
        memset(longer + b.len, 0, 8);
        assert_int_equal(bundle_stream_check(longer, b.len + 8, &n, NULL), -EBADMSG);
        free(longer);
        for (size_t i = 0; i < b.len; i++) {
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

static void hex(const uint8_t h[static SHA256_SIZE], char out[static 65]) {
        for (int i = 0; i < SHA256_SIZE; i++)
                snprintf(out + 2 * i, 3, "%02x", h[i]);
}

/* FIPS 180-4 examples, and a message fed in pieces across block boundaries. */
static void test_sha256(void **state) {
        (void) state;
        uint8_t h[SHA256_SIZE];
        char x[65];
        sha256("", 0, h);
        hex(h, x);
        assert_string_equal(x, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        sha256("abc", 3, h);
        hex(h, x);
        assert_string_equal(x, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        static const char two[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
        sha256(two, strlen(two), h);
        hex(h, x);
        assert_string_equal(x, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
        Sha256 s;
        sha256_init(&s);
        for (size_t i = 0; i < strlen(two); i += 7)
                sha256_update(&s, two + i, strlen(two) - i < 7 ? strlen(two) - i : 7);
        sha256_final(&s, h);
        hex(h, x);
        assert_string_equal(x, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_sha256),
                cmocka_unit_test(test_references),
                cmocka_unit_test(test_references_none),
                cmocka_unit_test(test_references_rejects),
                cmocka_unit_test(test_stream_exact),
                cmocka_unit_test(test_stream_check_real),
                cmocka_unit_test(test_stream_sorts_references),
                cmocka_unit_test(test_stream_check_rejects),
        };
        return cmocka_run_group_tests_name("bundle", tests, NULL, NULL);
}
