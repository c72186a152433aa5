# shellcheck shell=bash
# Waiting for an event instead of a fixed time.

# wait_for SECONDS COMMAND...: polls every 100 ms until COMMAND succeeds; 1 after SECONDS.
wait_for() {
        local limit=$1
        shift
        local end=$((SECONDS + limit))
        while [ $SECONDS -le $end ]; do
                "$@" >/dev/null 2>&1 && return 0
                sleep 0.1
        done
        return 1
}
