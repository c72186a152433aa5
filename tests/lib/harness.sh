# shellcheck shell=bash
# A real systemd 252 user manager in private mount and PID namespaces,
# with this build's generator installed as a user generator and its units in the manager's
# runtime unit path. Nothing leaks to the host: /run is a private tmpfs, and every process
# started here dies with the namespace when the suite's shell (its PID 1) exits.
#
# Use:   . tests/lib/harness.sh; harness_enter "$@"   (re-executes the suite in namespaces)
#        harness_start      start the manager (environment: DEFERRED_BUILDS_* set before)
#        harness_reload     daemon-reload (runs the generator again)
#        harness_stop       stop the manager and wait for it
#        harness_fresh      no model unit running or failed, no state or runtime file:
#                           what a scenario starts from (then it writes its manifest)
# Never starts systemd --system; only stops processes it started.

: "${TOP:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${ABS_BUILD:=$TOP/build}"
export TOP ABS_BUILD
. "$TOP/tests/lib/wait.sh"

harness_enter() {
        if [ -z "${DB_HARNESS_NS:-}" ]; then
                export DB_HARNESS_NS=1
                exec unshare --mount --propagation private --pid --fork --mount-proc \
                        bash "$0" "$@"
        fi
        mount -t tmpfs -o mode=0755 tmpfs /run
        mkdir -p /run/systemd/system /run/user/0 /run/systemd/user-generators
        chmod 0700 /run/user/0
        export XDG_RUNTIME_DIR=/run/user/0
        export NIX_REMOTE=daemon
        HARNESS_TMP=$(mktemp -d "${TMPDIR:-/tmp}/deferred-builds-test.XXXXXX")
        export HARNESS_TMP
        export DEFERRED_BUILDS_STATE_DIR="$HARNESS_TMP/state"
        export DEFERRED_BUILDS_MANIFEST="$HARNESS_TMP/manifest.ini"
        export XDG_CONFIG_HOME="$HARNESS_TMP/config"
        mkdir -p "$XDG_CONFIG_HOME"
        trap harness_exit EXIT
}

harness_exit() {
        local rc=$?
        harness_stop
        if [ -n "${HARNESS_KEEP:-}" ]; then
                echo "# kept $HARNESS_TMP" >&2
        else
                rm -rf "$HARNESS_TMP"
        fi
        exit $rc
}

harness_install() {
        install -m 0755 "$ABS_BUILD/deferred-builds-generator" /run/systemd/user-generators/
        mkdir -p /run/user/0/systemd/user
        find "$ABS_BUILD/units-local" -maxdepth 1 -type f -exec cp {} /run/user/0/systemd/user/ \;
}

HARNESS_MGR_PID=""
harness_start() {
        harness_install
        /lib/systemd/systemd --user >"$HARNESS_TMP/manager.log" 2>&1 &
        HARNESS_MGR_PID=$!
        local st
        for _ in $(seq 1 200); do
                st=$(systemctl --user is-system-running 2>/dev/null) || true
                case "$st" in running | degraded | starting) return 0 ;; esac
                sleep 0.05
        done
        echo "# user manager did not come up: ${st:-no answer}" >&2
        sed 's/^/# /' "$HARNESS_TMP/manager.log" >&2
        return 1
}

harness_reload() {
        systemctl --user daemon-reload
}

harness_stop() {
        [ -n "$HARNESS_MGR_PID" ] || return 0
        timeout 30 systemctl --user exit >/dev/null 2>&1 || true
        for _ in $(seq 1 300); do
                kill -0 "$HARNESS_MGR_PID" 2>/dev/null || break
                sleep 0.1
        done
        kill -KILL "$HARNESS_MGR_PID" 2>/dev/null || true
        wait "$HARNESS_MGR_PID" 2>/dev/null || true
        HARNESS_MGR_PID=""
}


unit_prop() { # unit_prop UNIT PROPERTY
        systemctl --user show -P "$2" "$1" 2>/dev/null
}

# harness_idle: whether the manager has no job queued or running.
harness_idle() {
        [ -z "$(systemctl --user list-jobs --no-legend 2>/dev/null)" ]
}

# harness_fresh: stops every deferred-* unit, waits for the jobs that queues (OnFailure=
# alerts among them) to finish, forgets failed units and their start limits, and empties
# the state and runtime dirs (roots, failure memory, status files, published models).
# Returns 1 when the manager does not settle.
harness_fresh() {
        local rt=${DEFERRED_BUILDS_RUNTIME_DIR:-$XDG_RUNTIME_DIR/deferred-builds}
        systemctl --user stop 'deferred-*' >/dev/null 2>&1
        wait_for 60 harness_idle || return 1
        systemctl --user reset-failed
        [ -d "$DEFERRED_BUILDS_STATE_DIR" ] && find "$DEFERRED_BUILDS_STATE_DIR" -mindepth 1 -delete
        [ -d "$rt" ] && find "$rt" -mindepth 1 -delete
        return 0
}

# harness_fresh_manager [DIR...]: for a scenario that starts a manager of its own (so that
# the generator reads the manifest it writes): stops the manager with every unit it ran,
# and removes the runtime and state dirs and each DIR (emptied and made again).
harness_fresh_manager() {
        local rt=${DEFERRED_BUILDS_RUNTIME_DIR:-$XDG_RUNTIME_DIR/deferred-builds} d
        harness_stop
        rm -rf "$rt" "$DEFERRED_BUILDS_STATE_DIR"
        for d in "$@"; do
                rm -rf "$d" && mkdir -p "$d"
        done
}
