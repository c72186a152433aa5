/* SPDX-License-Identifier: MIT */
/* The two systemd client protocols deferred-realise speaks, written out here instead of
 * linking libsystemd: loading libsystemd and the libraries it pulls in (libcap, libgcrypt,
 * libgpg-error, liblzma, libzstd, liblz4) cost more at every start than the whole rest of
 * deferred-realise before it runs nix-store (docs/BENCHMARKS.md). Both protocols are
 * documented and stable:
 *
 *   sd_notify(3)     one datagram of "KEY=VALUE" lines to the AF_UNIX socket named by
 *                    $NOTIFY_SOCKET (a path, or "@name" in the abstract namespace)
 *   journal entries  one datagram of fields to /run/systemd/journal/socket, in the format
 *                    of systemd's docs/JOURNAL_NATIVE_PROTOCOL.md
 *
 * Every function returns 0 or a positive count on success and -errno on failure. */
#pragma once

#include <stddef.h>

#define JOURNAL_SOCKET_PATH "/run/systemd/journal/socket"
#define JOURNAL_FIELDS_MAX 32

/* Sends state ("STATUS=...", lines separated by '\n') as one datagram to address, given in
 * the format of $NOTIFY_SOCKET: an absolute path, or '@' and an abstract socket name.
 * Returns 1 when sent; -EINVAL for an empty or over-long address or an empty state,
 * -EAFNOSUPPORT for an address that is neither (such as systemd's "vsock:"), and the error
 * of socket()/sendto() otherwise (-ENOENT: no such socket, -ECONNREFUSED: nobody reads it). */
int notify_send_to(const char *address, const char *state);

/* notify_send_to($NOTIFY_SOCKET, state). Returns 0 without sending when $NOTIFY_SOCKET is
 * unset (the program was not started by a service manager), else as notify_send_to(). */
int notify_send(const char *state);

typedef struct JournalField {
        /* A journal field name: 1 to 64 of A-Z, 0-9 and '_', not starting with a digit or
         * with '_' (journald reserves those for the fields it adds itself). */
        const char *name;
        /* Any text, "" included; a value containing '\n' is sent in the length-prefixed
         * form, so multi-line messages stay one entry. */
        const char *value;
} JournalField;

/* Sends one journal entry made of n_fields fields as one datagram to the journal's native
 * socket at socket_path (JOURNAL_SOCKET_PATH; tests pass their own). Returns 0 when sent;
 * -EINVAL for no fields, a NULL value or an invalid field name, -E2BIG for more than
 * JOURNAL_FIELDS_MAX fields (nothing is sent then);
 * -ENOENT/-ECONNREFUSED when no journald listens there; -EMSGSIZE when the entry does not
 * fit in one datagram (above the socket's send buffer, about 200 KiB by default), which the
 * caller handles like any other failure: by logging the message elsewhere. */
int journal_send_to(const char *socket_path, const JournalField *fields, size_t n_fields);
