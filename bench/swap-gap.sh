#!/usr/bin/env bash
# bench/swap-gap.sh: what a client sees of a retrain swap, on the booted system (tests/lib/
# booted.sh), with FastAPI under Debian's uvicorn and a ready-url: SWAPS retrains (default
# 3) without a socket, then SWAPS with `listen =` (systemd holds the socket). A client asks
# every 10 ms, a new connection a request, each with a 30 s timeout. Per case: requests,
# failed requests, the longest run of failures (from the first failed request's start to
# the next answered one's start) and the longest answer. Then uvicorn, hypercorn and
# gunicorn restarted on a socket without systemd (tests/lib/system-fixtures/restart.py).
#
#   bench/swap-gap.sh                 prints "KEY<TAB>VALUE" lines (make bench records them)
#   SWAPS=5 RESTARTS=500 bench/swap-gap.sh
# Needs root and the booted base (built once, cached). Run it alone: it boots a container
# and measures timings, which another booted suite on the same cores would distort.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
TOP=$PWD
SWAPS=${SWAPS:-3}
. tests/lib/tap.sh >/dev/null
. tests/lib/system.sh

models() { # models ID SOCKET
        printf '{ app = { id = "%s"; port = 8150; epochs = 1; server = "uvicorn"; socket = %s; }; }' "$1" "$2"
}

# one_case NAME SOCKET: boots, serves A, swaps SWAPS times under the client, powers off.
one_case() {
        local name=$1 socket=$2 top i id log
        booted_boot >/dev/null || { echo "# $name: the system did not boot" >&2; return 1; }
        top=$(system_build --arg models "$(models A "$socket")")
        system_switch "$top" >/dev/null
        wait_state 120 deferred-serve@app.service active || { echo "# $name: A never served" >&2; booted_poweroff; return 1; }
        booted_sh systemd-run --quiet --unit=dbx-bench-client --property=Type=exec \
                /usr/bin/python3 /opt/dbx-test/client.py "http://127.0.0.1:8150/predict?x=1" 0.01 30 600 /run/dbx-client.log
        for i in $(seq 1 "$SWAPS"); do
                id=S$i
                top=$(system_build --arg models "$(models "$id" "$socket")")
                sleep 1
                system_switch "$top" >/dev/null
                wait_for 120 booted_sh sh -c "tail -n 1 /run/dbx-client.log | awk '{ exit \$3 != \"$id\" }'" ||
                        echo "# $name: swap $i: the client never saw $id" >&2
        done
        sleep 1
        booted_sh systemctl stop dbx-bench-client.service
        log=$(booted_sh cat /run/dbx-client.log)
        booted_poweroff
        printf '%s\n' "$log" | awk -v k="swap.$name" -v swaps="$SWAPS" '
                { n++; if ($2 > maxlat) maxlat = $2 }
                $3 ~ /^FAIL/ { f++; if (!inrun) { inrun = 1; from = $1 }; last = $1 + $2; next }
                inrun { gap = $1 - from; if (gap > maxgap) maxgap = gap; inrun = 0 }
                END {
                        if (inrun) { gap = last - from; if (gap > maxgap) maxgap = gap }
                        printf "%s.swaps\t%d\n%s.requests\t%d\n%s.failed\t%d\n", k, swaps, k, n, k, f
                        printf "%s.gap_ms\t%.0f\n%s.max_latency_ms\t%.0f\n", k, maxgap * 1000, k, maxlat * 1000
                }'
}

# restarts: each server restarted RESTARTS times (default 200) on one socket that a plain
# process holds, no systemd involved: what the server's own shutdown drops (docs/manifest.md).
restarts() {
        local server
        booted_boot >/dev/null || { echo "# restarts: the system did not boot" >&2; return 1; }
        for server in uvicorn hypercorn gunicorn; do
                booted_sh /usr/bin/python3 /opt/dbx-test/restart.py "$server" "${RESTARTS:-200}" 8151
        done
        booted_poweroff
}

one_case nosocket false
one_case socket true
restarts
