/* SPDX-License-Identifier: MIT */
/* sd_notify and the journal's native protocol without libsystemd: each test binds its own
 * AF_UNIX datagram socket, the way the service manager and journald do, and asserts the
 * exact bytes that arrive there, and who the kernel says sent them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "sdproto.h"
#include "util.h"

typedef struct Receiver {
        char dir[64];
        char path[96];
        int fd;
} Receiver;

static int bind_datagram(const struct sockaddr_un *sa, socklen_t len) {
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -1;
        /* What the service manager sets: the kernel then tells who sent each datagram. */
        if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &(int){ 1 }, sizeof(int)) < 0 ||
            bind(fd, (const struct sockaddr *) sa, len) < 0) {
                close(fd);
                return -1;
        }
        return fd;
}

/* A socket bound at a fresh path, DIR/socket. */
static int setup_receiver(void **state) {
        Receiver *r = calloc(1, sizeof *r);
        if (!r)
                return -1;
        /* $TMPDIR: /tmp may not exist in a build sandbox. A socket path has to fit in
         * 108 bytes, so a long one is not used. */
        const char *tmp = getenv("TMPDIR");
        if (isempty(tmp) || strlen(tmp) > 40)
                tmp = "/tmp";
        snprintf(r->dir, sizeof r->dir, "%s/test_sdproto.XXXXXX", tmp);
        if (!mkdtemp(r->dir))
                return -1;
        snprintf(r->path, sizeof r->path, "%s/socket", r->dir);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", r->path);
        r->fd = bind_datagram(&sa, sizeof sa);
        *state = r;
        return r->fd >= 0 ? 0 : -1;
}

static int teardown_receiver(void **state) {
        Receiver *r = *state;
        if (r->fd >= 0)
                close(r->fd);
        unlink(r->path);
        rmdir(r->dir);
        free(r);
        unsetenv("NOTIFY_SOCKET");
        return 0;
}

/* The one datagram that arrived (the sender has returned, so it is queued already), with
 * its sender's credentials; fails the test if a second one follows. Returns its size. */
static size_t receive_one(int fd, char *buf, size_t size, struct ucred *ret_ucred) {
        union {
                struct cmsghdr header;
                char buf[CMSG_SPACE(sizeof(struct ucred))];
        } control = {};
        struct iovec iov = { .iov_base = buf, .iov_len = size };
        struct msghdr mh = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = &control,
                .msg_controllen = sizeof control,
        };
        ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT);
        assert_true(n >= 0);
        assert_false(mh.msg_flags & MSG_TRUNC);
        struct cmsghdr *cmsg = CMSG_FIRSTHDR(&mh);
        assert_non_null(cmsg);
        assert_int_equal(cmsg->cmsg_type, SCM_CREDENTIALS);
        memcpy(ret_ucred, CMSG_DATA(cmsg), sizeof *ret_ucred);

        char extra;
        assert_int_equal(recv(fd, &extra, 1, MSG_DONTWAIT), -1);
        assert_int_equal(errno, EAGAIN);
        return (size_t) n;
}

static void assert_nothing_received(int fd) {
        char c;
        assert_int_equal(recv(fd, &c, 1, MSG_DONTWAIT), -1);
        assert_int_equal(errno, EAGAIN);
}

static char buf[64 * 1024];

/* ---- sd_notify ----------------------------------------------------------------------- */

static void test_notify_to_path_socket(void **state) {
        Receiver *r = *state;
        const char *status = "STATUS=realising alpha: /nix/store/0123456789abcdfghijklmnpqrsvwxyz-alpha.drv";
        struct ucred cred;

        assert_int_equal(setenv("NOTIFY_SOCKET", r->path, 1), 0);
        assert_int_equal(notify_send(status), 1);
        size_t n = receive_one(r->fd, buf, sizeof buf, &cred);
        assert_int_equal(n, strlen(status));
        assert_memory_equal(buf, status, n);
        /* NotifyAccess=main: the manager believes what the kernel says about the sender. */
        assert_int_equal(cred.pid, getpid());
        assert_int_equal(cred.uid, getuid());
        assert_int_equal(cred.gid, getgid());
}

static void test_notify_sends_several_assignments_in_one_datagram(void **state) {
        Receiver *r = *state;
        const char *s = "READY=1\nSTATUS=serving model m";
        struct ucred cred;

        assert_int_equal(notify_send_to(r->path, s), 1);
        size_t n = receive_one(r->fd, buf, sizeof buf, &cred);
        assert_int_equal(n, strlen(s));
        assert_memory_equal(buf, s, n);
}

static void test_notify_to_abstract_socket(void **state) {
        (void) state;
        char name[64];
        int len = snprintf(name, sizeof name, "deferred-builds-test-sdproto-%d", (int) getpid());
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        memcpy(sa.sun_path + 1, name, (size_t) len);
        /* The name is exactly its bytes: one more (a NUL) would be another name, and the
         * datagram would find no socket. */
        _cleanup_close_ int fd = bind_datagram(&sa, (socklen_t) (offsetof(struct sockaddr_un, sun_path) + 1 + len));
        assert_true(fd >= 0);

        char address[80];
        snprintf(address, sizeof address, "@%s", name);
        assert_int_equal(setenv("NOTIFY_SOCKET", address, 1), 0);
        assert_int_equal(notify_send("STATUS=ready alpha"), 1);
        struct ucred cred;
        size_t n = receive_one(fd, buf, sizeof buf, &cred);
        assert_int_equal(n, strlen("STATUS=ready alpha"));
        assert_memory_equal(buf, "STATUS=ready alpha", n);
        assert_int_equal(cred.pid, getpid());
        unsetenv("NOTIFY_SOCKET");
}

static void test_notify_without_manager_is_a_no_op(void **state) {
        Receiver *r = *state;
        assert_int_equal(unsetenv("NOTIFY_SOCKET"), 0);
        assert_int_equal(notify_send("STATUS=anything"), 0);
        assert_nothing_received(r->fd);
}

static void test_notify_rejects_bad_addresses(void **state) {
        Receiver *r = *state;
        char longest[sizeof ((struct sockaddr_un *) 0)->sun_path + 2];

        assert_int_equal(notify_send_to("", "STATUS=x"), -EINVAL);
        assert_int_equal(notify_send_to("@", "STATUS=x"), -EINVAL);
        assert_int_equal(notify_send_to("run/notify", "STATUS=x"), -EAFNOSUPPORT);
        assert_int_equal(notify_send_to("vsock:2:1234", "STATUS=x"), -EAFNOSUPPORT);
        assert_int_equal(notify_send_to(r->path, ""), -EINVAL);
        assert_int_equal(notify_send_to(r->path, NULL), -EINVAL);
        assert_int_equal(notify_send_to(NULL, "STATUS=x"), -EINVAL);

        /* A path fills sun_path with its NUL: 107 bytes fit, 108 do not. */
        memset(longest, 'a', sizeof longest);
        longest[0] = '/';
        longest[107] = 0;
        assert_int_equal(notify_send_to(longest, "STATUS=x"), -ENOENT);
        longest[107] = 'a';
        longest[108] = 0;
        assert_int_equal(notify_send_to(longest, "STATUS=x"), -EINVAL);
        /* An abstract name has no NUL: '@' and 107 bytes fit, 108 do not. */
        longest[0] = '@';
        assert_int_equal(notify_send_to(longest, "STATUS=x"), -ECONNREFUSED);
        longest[108] = 'a';
        longest[109] = 0;
        assert_int_equal(notify_send_to(longest, "STATUS=x"), -EINVAL);

        /* Through the environment the same errors come back (the caller ignores them). */
        assert_int_equal(setenv("NOTIFY_SOCKET", "notify", 1), 0);
        assert_int_equal(notify_send("STATUS=x"), -EAFNOSUPPORT);
        assert_nothing_received(r->fd);
}

static void test_notify_to_missing_or_dead_socket(void **state) {
        Receiver *r = *state;
        char missing[160];
        snprintf(missing, sizeof missing, "%s/missing", r->dir);
        assert_int_equal(notify_send_to(missing, "STATUS=x"), -ENOENT);

        /* The socket file stays when its manager is gone. */
        close(r->fd);
        r->fd = -1;
        assert_int_equal(notify_send_to(r->path, "STATUS=x"), -ECONNREFUSED);
}

/* ---- the journal --------------------------------------------------------------------- */

#define DRV "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-alpha.drv"
#define OUT "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-alpha"

static void test_journal_entry_exact_bytes(void **state) {
        Receiver *r = *state;
        const JournalField fields[] = {
                { "MESSAGE", "Model alpha is ready: " OUT "." },
                { "PRIORITY", "6" },
                { "SYSLOG_IDENTIFIER", "deferred-realise" },
                { "DEFERRED_MODEL", "alpha" },
                { "DEFERRED_DRV", DRV },
                { "DEFERRED_OUT", OUT },
                { "DEFERRED_GENERATION", "" },
                { "EQUALS_IN_VALUE", "a=b=c" },
        };
        static const char expected[] = "MESSAGE=Model alpha is ready: " OUT ".\n"
                                       "PRIORITY=6\n"
                                       "SYSLOG_IDENTIFIER=deferred-realise\n"
                                       "DEFERRED_MODEL=alpha\n"
                                       "DEFERRED_DRV=" DRV "\n"
                                       "DEFERRED_OUT=" OUT "\n"
                                       "DEFERRED_GENERATION=\n"
                                       "EQUALS_IN_VALUE=a=b=c\n";
        struct ucred cred;

        assert_int_equal(journal_send_to(r->path, fields, ELEMENTSOF(fields)), 0);
        size_t n = receive_one(r->fd, buf, sizeof buf, &cred);
        assert_int_equal(n, sizeof expected - 1);
        assert_memory_equal(buf, expected, n);
        assert_int_equal(cred.pid, getpid());
}

static void test_journal_multi_line_values_are_length_prefixed(void **state) {
        Receiver *r = *state;
        const JournalField fields[] = {
                { "MESSAGE", "build of model broken failed:\nerror: builder failed\n" }, /* 52 bytes */
                { "PRIORITY", "3" },
                { "JUST_A_NEWLINE", "\n" },
        };
        /* NAME, '\n', the length as a little-endian 64-bit integer, the value, '\n'. */
        static const char expected[] = "MESSAGE\n"
                                       "\x34\0\0\0\0\0\0\0"
                                       "build of model broken failed:\nerror: builder failed\n"
                                       "\n"
                                       "PRIORITY=3\n"
                                       "JUST_A_NEWLINE\n"
                                       "\x01\0\0\0\0\0\0\0"
                                       "\n"
                                       "\n";
        struct ucred cred;

        assert_int_equal(strlen(fields[0].value), 0x34);
        assert_int_equal(journal_send_to(r->path, fields, ELEMENTSOF(fields)), 0);
        size_t n = receive_one(r->fd, buf, sizeof buf, &cred);
        assert_int_equal(n, sizeof expected - 1);
        assert_memory_equal(buf, expected, n);
}

static void test_journal_rejects_invalid_fields(void **state) {
        Receiver *r = *state;
        static const char *const bad_names[] = {
                "",
                "message",        /* lower case */
                "_PID",           /* trusted: journald adds those itself */
                "1ST",            /* starts with a digit */
                "MY FIELD",       /* space */
                "A=B",            /* '=' would end the name */
                "A\nB",           /* '\n' would start the binary form */
                "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", /* 65 */
        };
        for (size_t i = 0; i < ELEMENTSOF(bad_names); i++) {
                const JournalField fields[] = { { "MESSAGE", "m" }, { bad_names[i], "v" } };
                assert_int_equal(journal_send_to(r->path, fields, ELEMENTSOF(fields)), -EINVAL);
        }
        const JournalField null_name[] = { { NULL, "v" } };
        assert_int_equal(journal_send_to(r->path, null_name, 1), -EINVAL);
        const JournalField null_value[] = { { "MESSAGE", NULL } };
        assert_int_equal(journal_send_to(r->path, null_value, 1), -EINVAL);
        assert_int_equal(journal_send_to(r->path, null_value, 0), -EINVAL);
        JournalField many[JOURNAL_FIELDS_MAX + 1];
        for (size_t i = 0; i < ELEMENTSOF(many); i++)
                many[i] = (JournalField){ "MESSAGE", "m" };
        assert_int_equal(journal_send_to(r->path, many, ELEMENTSOF(many)), -E2BIG);
        assert_nothing_received(r->fd);

        /* 64 bytes is the longest name journald accepts. */
        const JournalField longest[] = { { "A234567890123456789012345678901234567890123456789012345678901234", "v" } };
        assert_int_equal(strlen(longest[0].name), 64);
        assert_int_equal(journal_send_to(r->path, longest, 1), 0);
        struct ucred cred;
        size_t n = receive_one(r->fd, buf, sizeof buf, &cred);
        assert_int_equal(n, 64 + 3);
}

static void test_journal_without_journald(void **state) {
        Receiver *r = *state;
        const JournalField fields[] = { { "MESSAGE", "m" } };
        char missing[160];

        snprintf(missing, sizeof missing, "%s/journal/socket", r->dir);
        assert_int_equal(journal_send_to(missing, fields, 1), -ENOENT);
        assert_int_equal(journal_send_to("run/journal/socket", fields, 1), -EINVAL);
        assert_int_equal(journal_send_to("@journal", fields, 1), -EINVAL);
        close(r->fd);
        r->fd = -1;
        assert_int_equal(journal_send_to(r->path, fields, 1), -ECONNREFUSED);
}

static void test_journal_entry_too_large_for_one_datagram(void **state) {
        Receiver *r = *state;
        /* Far above any socket send buffer (the default is about 200 KiB). */
        size_t size = 16 * 1024 * 1024;
        _cleanup_free_ char *big = malloc(size + 1);
        assert_non_null(big);
        memset(big, 'x', size);
        big[size] = 0;
        const JournalField fields[] = { { "MESSAGE", big }, { "PRIORITY", "6" } };

        assert_int_equal(journal_send_to(r->path, fields, ELEMENTSOF(fields)), -EMSGSIZE);
        assert_nothing_received(r->fd);

        /* Nothing is left behind: the next entry goes through as usual. */
        const JournalField small[] = { { "MESSAGE", "after" } };
        assert_int_equal(journal_send_to(r->path, small, 1), 0);
        struct ucred cred;
        size_t n = receive_one(r->fd, buf, sizeof buf, &cred);
        assert_int_equal(n, strlen("MESSAGE=after\n"));
        assert_memory_equal(buf, "MESSAGE=after\n", n);
}

#define RECEIVER_TEST(f) cmocka_unit_test_setup_teardown(f, setup_receiver, teardown_receiver)

int main(void) {
        const struct CMUnitTest tests[] = {
                RECEIVER_TEST(test_notify_to_path_socket),
                RECEIVER_TEST(test_notify_sends_several_assignments_in_one_datagram),
                RECEIVER_TEST(test_notify_to_abstract_socket),
                RECEIVER_TEST(test_notify_without_manager_is_a_no_op),
                RECEIVER_TEST(test_notify_rejects_bad_addresses),
                RECEIVER_TEST(test_notify_to_missing_or_dead_socket),
                RECEIVER_TEST(test_journal_entry_exact_bytes),
                RECEIVER_TEST(test_journal_multi_line_values_are_length_prefixed),
                RECEIVER_TEST(test_journal_rejects_invalid_fields),
                RECEIVER_TEST(test_journal_without_journald),
                RECEIVER_TEST(test_journal_entry_too_large_for_one_datagram),
        };
        return cmocka_run_group_tests_name("sdproto", tests, NULL, NULL);
}
