/* SPDX-License-Identifier: MIT */
#include "sdproto.h"

#include <endian.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "util.h"

/* Fills sa from a $NOTIFY_SOCKET-style address. For a path the length covers the
 * terminating NUL; an abstract name ('@' turned into a leading NUL) is exactly its bytes,
 * with no NUL after it: the NUL would be part of the name. */
static int sockaddr_from_address(const char *address, struct sockaddr_un *sa, socklen_t *ret_len) {
        size_t l = strlen(address);

        *sa = (struct sockaddr_un){ .sun_family = AF_UNIX };
        if (address[0] == '/') {
                if (l >= sizeof sa->sun_path)
                        return -EINVAL;
                memcpy(sa->sun_path, address, l + 1);
                *ret_len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + l + 1);
                return 0;
        }
        if (address[0] == '@') {
                if (l < 2 || l > sizeof sa->sun_path)
                        return -EINVAL;
                memcpy(sa->sun_path + 1, address + 1, l - 1);
                *ret_len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + l);
                return 0;
        }
        /* Empty, relative, or another family (systemd also knows "vsock:CID:PORT", for a
         * manager on the other side of a VM boundary; a service's own manager is local). */
        return l == 0 ? -EINVAL : -EAFNOSUPPORT;
}

/* One datagram to an unconnected socket: created, sent with sendmsg(), closed. A datagram
 * is sent whole or not at all, so a short count cannot happen; it is checked anyway. */
static int send_datagram(const struct sockaddr_un *sa, socklen_t sa_len, struct iovec *iov, size_t n_iov) {
        struct msghdr mh = {
                .msg_name = (void *) sa,
                .msg_namelen = sa_len,
                .msg_iov = iov,
                .msg_iovlen = n_iov,
        };
        size_t size = 0;
        for (size_t i = 0; i < n_iov; i++)
                size += iov[i].iov_len;

        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL);
        if (n < 0)
                return -errno;
        if ((size_t) n != size)
                return -EIO;
        return 0;
}

int notify_send_to(const char *address, const char *state) {
        struct sockaddr_un sa;
        socklen_t sa_len;
        int r;

        if (!address || isempty(state))
                return -EINVAL;
        r = sockaddr_from_address(address, &sa, &sa_len);
        if (r < 0)
                return r;
        /* No credentials are attached: the kernel gives the manager our real PID, UID and
         * GID (it reads them with SO_PASSCRED), which is what it checks NotifyAccess= with. */
        struct iovec iov = { .iov_base = (void *) state, .iov_len = strlen(state) };
        r = send_datagram(&sa, sa_len, &iov, 1);
        return r < 0 ? r : 1;
}

int notify_send(const char *state) {
        const char *address = getenv("NOTIFY_SOCKET");
        if (!address)
                return 0;
        return notify_send_to(address, state);
}

/* journald's own rule for the names a client may send (journal_field_valid() without
 * the trusted '_' fields). */
static bool journal_field_name_valid(const char *name) {
        size_t l = strlen(name);
        if (l == 0 || l > 64 || name[0] == '_' || (name[0] >= '0' && name[0] <= '9'))
                return false;
        for (const char *p = name; *p; p++)
                if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_'))
                        return false;
        return true;
}

int journal_send_to(const char *socket_path, const JournalField *fields, size_t n_fields) {
        /* At most five pieces a field, pointing into the fields themselves: nothing is
         * copied or allocated. */
        struct iovec iov[JOURNAL_FIELDS_MAX * 5];
        uint64_t lengths[JOURNAL_FIELDS_MAX];
        size_t n_iov = 0;
        struct sockaddr_un sa;
        socklen_t sa_len;
        int r;

        if (!socket_path || socket_path[0] != '/' || n_fields == 0)
                return -EINVAL;
        if (n_fields > JOURNAL_FIELDS_MAX)
                return -E2BIG;
        r = sockaddr_from_address(socket_path, &sa, &sa_len);
        if (r < 0)
                return r;

        /* systemd's docs/JOURNAL_NATIVE_PROTOCOL.md: "NAME=value\n", or, for a value
         * containing '\n', "NAME\n", the value's length as a little-endian 64-bit
         * integer, the value and "\n". */
        for (size_t i = 0; i < n_fields; i++) {
                const char *name = fields[i].name, *value = fields[i].value;
                if (!name || !value || !journal_field_name_valid(name))
                        return -EINVAL;

                iov[n_iov++] = IOVEC_STR(name);
                if (strchr(value, '\n')) {
                        lengths[i] = htole64((uint64_t) strlen(value));
                        iov[n_iov++] = IOVEC_STR("\n");
                        iov[n_iov++] = (struct iovec){ .iov_base = &lengths[i], .iov_len = sizeof lengths[i] };
                } else
                        iov[n_iov++] = IOVEC_STR("=");
                iov[n_iov++] = IOVEC_STR(value);
                iov[n_iov++] = IOVEC_STR("\n");
        }
        return send_datagram(&sa, sa_len, iov, n_iov);
}
