# shellcheck shell=bash
# Starts a nix-daemon when none answers, and stops only the one this process started.
NIXD_PID=""
nixd_alive() {
        NIX_REMOTE=daemon timeout 10 nix-store --check-validity --print-invalid \
                /nix/store/00000000000000000000000000000000-probe >/dev/null 2>&1
}
nixd_ensure() {
        command -v nix-daemon >/dev/null || return 1
        if nixd_alive; then return 0; fi
        mkdir -p /nix/var/nix/daemon-socket
        nix-daemon >"${TMPDIR:-/tmp}/deferred-builds-nix-daemon.log" 2>&1 &
        NIXD_PID=$!
        for _ in $(seq 1 100); do
                nixd_alive && return 0
                sleep 0.1
        done
        return 1
}
# nixd_require WHAT: a suite that needs Nix skips WHAT (one result, the plan, exit 0) when
# no nix-daemon answers.
nixd_require() {
        if ! command -v nix-instantiate >/dev/null || ! nixd_alive; then
                skip "$1" "no nix-daemon answering (run through tests/run, or nixd_ensure)"
                tap_done
                exit 0
        fi
}
nixd_cleanup() {
        if [ -n "$NIXD_PID" ]; then
                kill "$NIXD_PID" 2>/dev/null
                wait "$NIXD_PID" 2>/dev/null
                NIXD_PID=""
        fi
}
