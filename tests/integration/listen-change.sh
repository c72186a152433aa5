#!/usr/bin/env bash
# A model's listen = addresses change while its socket runs (a switch: new drop-in, then a
# daemon-reload), against a real systemd user manager and real sockets. The manager gives
# the running socket the new Listen= but binds none of the new addresses; reconcile sees
# an address systemd reports that nothing listens on, and restarts the socket with its
# server. Addresses only removed need no new socket: the server, which still holds
# them, restarts for its settings alone.
#
# One scenario each, from a fresh state (no model unit run, no state or runtime file):
#   held moved added removed
# The fixture is instantiated and the user manager started once. Run one alone (a
# nix-daemon must answer; tests/run starts one):
#   ABS_BUILD=$PWD/build/san tests/integration/listen-change.sh NAME    (or scenario_NAME)
set -u
: "${TOP:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$TOP/tests/lib/tap.sh"
. "$TOP/tests/lib/harness.sh"
. "$TOP/tests/lib/nixd.sh"
harness_enter "$@"

. "$TOP/tests/integration/fixtures/cli/lib.sh"
cli_require "listen-change integration"

P1=$((20000 + RANDOM % 10000))
P2=$((P1 + 1))
P3=$((P1 + 2))
sock_manifest() { # sock_manifest ADDRESS...
        {
                printf '[deferred-builds]\nversion = 1\ngeneration = g1\n'
                model sock "$DRV"
                for a in "$@"; do printf 'listen = %s\n' "$a"; done
        } >"$DEFERRED_BUILDS_MANIFEST.tmp" && mv "$DEFERRED_BUILDS_MANIFEST.tmp" "$DEFERRED_BUILDS_MANIFEST"
}
# Whether a TCP connection to HOST PORT is accepted (the kernel completes it for a
# listening socket, whether or not the server accepts it yet).
connects() { /usr/bin/python3 -c 'import socket,sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 1)' "$1" "$2" 2>/dev/null; }
refused() { ! connects "$@"; }
listen_prop() { systemctl --user show -P Listen deferred-serve@sock.socket; }

SOCKPATH=$XDG_RUNTIME_DIR/listen-change.sock

DRV=$(drv sock)
ok "fixture instantiated" test -e "$DRV"
# No model yet: each scenario writes its own manifest and starts sock.
printf '[deferred-builds]\nversion = 1\ngeneration = g1\n' >"$DEFERRED_BUILDS_MANIFEST"
log_dropins
harness_start || tap_bail "the user manager starts"

# served_on ADDRESS...: a scenario's start: no model unit running or failed, no state,
# runtime file or AF_UNIX socket left, then sock served with a socket on the ADDRESSes,
# started the way a boot starts it (the reconcile service), and the reconcile finished.
served_on() {
        harness_fresh || tap_bail "the user manager settles between scenarios"
        rm -f "$SOCKPATH"
        sock_manifest "$@"
        harness_reload
        systemctl --user start deferred-builds-reconcile.service
        ok "sock is served" wait_for 60 is_active deferred-serve@sock.service active
        wait_for 30 is_active deferred-builds-reconcile.service inactive
}

# ---------------------------------------------------------------------------------------
scenario_held() {
        diag "a served model with a socket on 127.0.0.1:$P1"
        served_on "127.0.0.1:$P1"
        is "$(state_of deferred-serve@sock.socket)" "active" "its socket runs"
        ok "127.0.0.1:$P1 accepts connections" connects 127.0.0.1 "$P1"
        out=$("$DB" reconcile 2>&1)
        like "$out" "^0 started, 0 retrained, 0 rebuilt, 0 restarted, 0 stopped, 0 left failed, 1 unchanged" \
                "a socket that holds its addresses is left alone"
}

# ---------------------------------------------------------------------------------------
scenario_moved() {
        diag "listen changes to 127.0.0.1:$P2 and the manager reloads"
        served_on "127.0.0.1:$P1"
        local pid_before sock_id_before
        pid_before=$(systemctl --user show -P MainPID deferred-serve@sock.service)
        sock_id_before=$(systemctl --user show -P InvocationID deferred-serve@sock.socket)
        sock_manifest "127.0.0.1:$P2"
        harness_reload
        is "$(listen_prop)" "127.0.0.1:$P2 (Stream)" "systemd reports the new address for the running socket"
        ok "but nothing listens on 127.0.0.1:$P2" refused 127.0.0.1 "$P2"
        out=$("$DB" reconcile --dry-run 2>&1)
        like "$out" "^restarting the socket of sock and its server \(its listen addresses changed" "dry run names the socket"
        like "$out" "dry run, nothing done: 0 started, 0 retrained, 0 rebuilt, 1 restarted" "dry run summary"
        is "$(systemctl --user show -P InvocationID deferred-serve@sock.socket)" "$sock_id_before" "dry run restarted nothing"
        out=$("$DB" reconcile 2>&1)
        is "$?" 0 "reconcile exits 0"
        like "$out" "^restarting the socket of sock and its server \(its listen addresses changed; a running socket binds new ones only when restarted\)$" \
                "reconcile says it restarts the socket and the server"
        like "$out" "^0 started, 0 retrained, 0 rebuilt, 1 restarted, 0 stopped, 0 left failed, 0 unchanged" "summary counts the restart"
        unlike "$out" "restarting the server of sock" "and no separate server restart"
        ok "127.0.0.1:$P2 accepts connections" wait_for 10 connects 127.0.0.1 "$P2"
        ok "the server restarted" wait_for 30 sh -c "[ \"\$(systemctl --user show -P MainPID deferred-serve@sock.service)\" != $pid_before ] &&
                [ \"\$(systemctl --user show -P ActiveState deferred-serve@sock.service)\" = active ]"
        ok "the socket is a new one" test "$(systemctl --user show -P InvocationID deferred-serve@sock.socket)" != "$sock_id_before"
        ok "127.0.0.1:$P1 is closed" refused 127.0.0.1 "$P1"
        out=$("$DB" reconcile 2>&1)
        like "$out" "^0 started, 0 retrained, 0 rebuilt, 0 restarted, 0 stopped, 0 left failed, 1 unchanged" \
                "a second reconcile has nothing to do"
}

# ---------------------------------------------------------------------------------------
scenario_added() {
        diag "IPv6 and AF_UNIX addresses are added next to the one held"
        served_on "127.0.0.1:$P2"
        sock_manifest "127.0.0.1:$P2" "[::1]:$P3" "$SOCKPATH"
        harness_reload
        out=$("$DB" reconcile 2>&1)
        like "$out" "^restarting the socket of sock and its server" "new addresses restart the socket"
        ok "[::1]:$P3 accepts connections" wait_for 10 connects ::1 "$P3"
        ok "$SOCKPATH accepts connections" wait_for 10 /usr/bin/python3 -c \
                'import socket,sys; s=socket.socket(socket.AF_UNIX); s.settimeout(1); s.connect(sys.argv[1])' "$SOCKPATH"
        ok "127.0.0.1:$P2 still does" connects 127.0.0.1 "$P2"
        ok "sock is served again" wait_for 30 is_active deferred-serve@sock.service active
        # The kernel's tcp6 and unix tables read back as the addresses systemd reports.
        out=$("$DB" reconcile 2>&1)
        like "$out" "^0 started, 0 retrained, 0 rebuilt, 0 restarted, 0 stopped, 0 left failed, 1 unchanged" \
                "then reconcile has nothing to do"
}

# ---------------------------------------------------------------------------------------
scenario_removed() {
        diag "addresses are removed: the socket keeps the other, the server restarts for its settings"
        served_on "127.0.0.1:$P2" "[::1]:$P3" "$SOCKPATH"
        local sock_id_before
        sock_id_before=$(systemctl --user show -P InvocationID deferred-serve@sock.socket)
        sock_manifest "127.0.0.1:$P2"
        harness_reload
        out=$("$DB" reconcile 2>&1)
        unlike "$out" "restarting the socket" "no socket restart"
        like "$out" "^restarting the server of sock \(its settings changed\)$" "the server restarts"
        is "$(systemctl --user show -P InvocationID deferred-serve@sock.socket)" "$sock_id_before" "the socket is the same"
        ok "127.0.0.1:$P2 accepts connections" connects 127.0.0.1 "$P2"
        ok "[::1]:$P3, which the old server held, is closed once it restarted" wait_for 10 refused ::1 "$P3"
}

cli_scenarios "$@"
