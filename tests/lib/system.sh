# shellcheck shell=bash
# What the booted-system suites (tests/system/) share: the booted system, the switch
# driver, and probes of a model's state inside the container.
#
#   . tests/lib/system.sh   (in a suite, after tests/lib/tap.sh)
. "$TOP/tests/lib/booted.sh"
. "$TOP/tests/lib/switch.sh"

# manifest_value TOPLEVEL MODEL KEY: a key of MODEL's section in TOPLEVEL's manifest.
manifest_value() {
        booted_sh awk -v s="[model.$2]" -v k="$3" '
                /^\[/ { in_s = ($0 == s); next }
                in_s && index($0, k " = ") == 1 { print substr($0, length(k) + 4); exit }' \
                "$1/deferred-builds/manifest.ini"
}

# predict PORT: the model id the server on 127.0.0.1:PORT answers with, or nothing.
predict() {
        booted_sh curl -fsS --max-time 2 "http://127.0.0.1:$1/predict?x=1" 2>/dev/null |
                sed -n 's/.*"model": *"\([^"]*\)".*/\1/p'
}

# build_stamp DRV: when Nix last wrote DRV's build log (changes only when it is built).
build_stamp() {
        local d=${1#/nix/store/}
        booted_sh stat -c %Y.%Z "/nix/var/log/nix/drvs/${d:0:2}/${d:2}.bz2" 2>/dev/null
}

unit_state() { booted_sh systemctl is-active "$1" 2>/dev/null; }

unit_state_is() { [ "$(unit_state "$1")" = "$2" ]; }
predicts() { [ "$(predict "$1")" = "$2" ]; }

# wait_state SECONDS UNIT STATE
wait_state() { wait_for "$1" unit_state_is "$2" "$3"; }

# wait_predict SECONDS PORT ID: until the server on PORT answers with model ID.
wait_predict() { wait_for "$1" predicts "$2" "$3"; }

# main_uid UNIT: the user id the unit's main process runs as.
main_uid() {
        local pid
        pid=$(booted_prop "$1" MainPID)
        [ -n "$pid" ] && [ "$pid" != 0 ] || return 1
        booted_sh awk '/^Uid:/ { print $2 }' "/proc/$pid/status"
}

# poll_start PORT: a client in the container asking every 100 ms (at most 10 minutes),
# one line per request: the model id, or FAIL.
poll_start() {
        booted_sh systemd-run --quiet --unit=dbx-test-poll --property=Type=exec sh -c "
                for i in \$(seq 1 6000); do
                        id=\$(curl -fsS --max-time 1 'http://127.0.0.1:$1/predict?x=1' 2>/dev/null | sed -n 's/.*\"model\": *\"\\([^\"]*\\)\".*/\\1/p')
                        echo \${id:-FAIL} >>/run/dbx-test-poll.log
                        sleep 0.1
                done"
}
# poll_until SECONDS ID: until the client's last answer is ID.
poll_until() {
        booted_wait "$1" sh -c "tail -n 1 /run/dbx-test-poll.log | grep -qx '$2'"
}
poll_stop() {
        booted_sh systemctl stop dbx-test-poll.service
        booted_sh cat /run/dbx-test-poll.log
}
# The answers with repeats folded: "A FAIL B" for A...A FAIL FAIL B...B.
runs() { uniq | tr '\n' ' ' | sed 's/ $//'; }
