#!/usr/bin/env bash
# deferred-ready against real HTTP servers (Debian's python3 http.server on 127.0.0.1):
# it returns once the URL answers 2xx, not before; fails at once when the server exits;
# refuses URLs outside the grammar; and does nothing without a URL.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
READY=$ABS_BUILD/deferred-ready
tmp=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$tmp"' EXIT

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
port=$((20000 + RANDOM % 20000))

serve "$port" 1.5 200
srv=${pids[-1]}
start=$(date +%s.%N)
"$READY" --pid "$srv" "http://127.0.0.1:$port/health" 2>"$tmp/err"
is "$?" 0 "ready once a server that binds after 1.5 s answers 200"
took=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { print (b - a >= 1.4 && b - a < 3) ? "yes" : b - a }')
is "$took" yes "it returned after the bind (1.4-3 s), not before"
like "$(cat "$tmp/err")" "answered 200 after [0-9.]+ s" "and said so"
kill "$srv"

serve $((port + 1)) 0 503
srv=${pids[-1]}
( sleep 1; kill "$srv" ) &
timeout 10 "$READY" --pid "$srv" "http://localhost:$((port + 1))/" 2>"$tmp/err"
is "$?" 1 "a server answering 503 that then exits: exit 1"
like "$(cat "$tmp/err")" "exited before .* answered 2xx \(last: HTTP status 503\)" "naming its last answer"

timeout 5 env MAINPID=999999999 "$READY" "http://127.0.0.1:$port/" 2>/dev/null
is "$?" 1 "a server (MAINPID) that is already gone: exit 1 at once"
MAINPID=12x "$READY" "http://127.0.0.1:$port/" 2>/dev/null
is "$?" 64 "a MAINPID that is no process id: usage error"
for u in https://127.0.0.1/ http://example.org/ "http://127.0.0.1:99999/" "http://[::1]/a b"; do
        "$READY" "$u" 2>/dev/null
        is "$?" 64 "refuses $u"
done
DEFERRED_READY_URL="" "$READY"
is "$?" 0 "no URL: exit 0 at once"
tap_done
