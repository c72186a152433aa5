#!/usr/bin/env bash
# deferred-ready against real HTTP servers (Debian's python3 http.server on 127.0.0.1):
# it returns once the URL answers 2xx, not before; fails at once when the server exits;
# refuses URLs outside the grammar; and does nothing without a URL.
#
# Scenarios: late_bind, server_exits, mainpid_gone, mainpid_invalid, bad_urls, no_url; each
# with a port and servers of its own, stopped when it ends. Run some alone:
#   ABS_BUILD=$PWD/build/san tests/integration/ready.sh [SCENARIO...]   (e.g. server_exits)
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
: "${ABS_BUILD:=$PWD/build}"
READY=$ABS_BUILD/deferred-ready
tap_require_built deferred-ready
tmp=$(mktemp -d)
pids=()
stop_servers() {
        local p
        for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
        for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
        pids=()
}
trap 'stop_servers; rm -rf "$tmp"' EXIT

# serve PORT DELAY STATUS: a server that binds after DELAY seconds and answers STATUS.
serve() {
        /usr/bin/python3 -c '
import http.server, sys, time
time.sleep(float(sys.argv[2]))
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(int(sys.argv[3])); self.end_headers()
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()' "$@" &
        pids+=($!)
}
# fresh PORT: the scenario's port (none of its servers bound it yet) and an empty log.
fresh() {
        port=$((20000 + RANDOM % 20000))
        : >"$tmp/err"
}

scenario_late_bind() {
        local srv start took
        fresh
        serve "$port" 1.5 200
        srv=${pids[-1]}
        start=$(date +%s.%N)
        "$READY" --pid "$srv" "http://127.0.0.1:$port/health" 2>"$tmp/err"
        is "$?" 0 "ready once a server that binds after 1.5 s answers 200"
        took=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { print (b - a >= 1.4 && b - a < 3) ? "yes" : b - a }')
        is "$took" yes "it returned after the bind (1.4-3 s), not before"
        like "$(cat "$tmp/err")" "answered 200 after [0-9.]+ s" "and said so"
        stop_servers
}

scenario_server_exits() {
        local srv
        fresh
        serve "$port" 0 503
        srv=${pids[-1]}
        ( sleep 1; kill "$srv" ) &
        timeout 10 "$READY" --pid "$srv" "http://localhost:$port/" 2>"$tmp/err"
        is "$?" 1 "a server answering 503 that then exits: exit 1"
        like "$(cat "$tmp/err")" "exited before .* answered 2xx \(last: HTTP status 503\)" "naming its last answer"
        wait $! 2>/dev/null
        stop_servers
}

scenario_mainpid_gone() {
        fresh
        timeout 5 env MAINPID=999999999 "$READY" "http://127.0.0.1:$port/" 2>/dev/null
        is "$?" 1 "a server (MAINPID) that is already gone: exit 1 at once"
}

scenario_mainpid_invalid() {
        fresh
        MAINPID=12x "$READY" "http://127.0.0.1:$port/" 2>/dev/null
        is "$?" 64 "a MAINPID that is no process id: usage error"
}

scenario_bad_urls() {
        local u
        for u in https://127.0.0.1/ http://example.org/ "http://127.0.0.1:99999/" "http://[::1]/a b"; do
                "$READY" "$u" 2>/dev/null
                is "$?" 64 "refuses $u"
        done
}

scenario_no_url() {
        DEFERRED_READY_URL="" "$READY"
        is "$?" 0 "no URL: exit 0 at once"
}

run_scenarios "$@"
