#!/usr/bin/env bash
# Readiness, start timeouts and socket activation on the booted system, with FastAPI under
# Debian's uvicorn (tests/lib/system-fixtures/app.py) and the same model under gunicorn
# (wsgi.py); neither sends READY=1:
# - with ready-url the server counts as serving only once /health answers, and a retrain
#   swap is done only then;
# - with listen = systemd holds the socket across the swap: a client asking every 10 ms
#   through a retrain sees no failed request with gunicorn; uvicorn, at its shutdown,
#   closes a connection it has accepted but not yet read, so the failure it may add is
#   checked to be that, and nothing else (docs/manifest.md, servers and their restarts);
# - start-timeout is applied: a load longer than it is stopped (the >90 s load that a
#   longer timeout allows is tests/long/start-timeout.sh).
# The gap without a socket is measured, not asserted: bench/swap-gap.sh.
#
#   tests/system/readiness.sh [SCENARIO...]
cd "$(dirname "$0")/../.." || exit 1
TOP=$PWD
. tests/lib/tap.sh
. tests/lib/system.sh

# client_start PORT SECONDS: the fixture client in the container, every 10 ms, each request
# with a 30 s timeout (longer than any swap here), one line per request.
client_start() {
        booted_sh rm -f /run/dbx-client.log
        booted_sh systemd-run --quiet --unit=dbx-test-client --property=Type=exec \
                /usr/bin/python3 /opt/dbx-test/client.py "http://127.0.0.1:$1/predict?x=1" 0.01 30 "$2" /run/dbx-client.log
}
client_last_is() { [ "$(booted_sh tail -n 1 /run/dbx-client.log | awk '{ print $3 }')" = "$1" ]; }
client_stop() {
        booted_sh systemctl stop dbx-test-client.service 2>/dev/null
        booted_sh cat /run/dbx-client.log
}
model_state() { booted_sh deferred-builds status --json "$1" | sed -n 's/.*"state": *"\([^"]*\)".*/\1/p' | head -n 1; }
health_answers() { booted_sh curl -fsS --max-time 2 "http://127.0.0.1:$1/health" >/dev/null 2>&1; }

scenario_ready_url_gates_serving() {
        local a
        a=$(system_build --arg models '{ app = { id = "A"; port = 8140; epochs = 1; server = "uvicorn"; env = { LOAD_SECONDS = "4"; }; }; }')
        system_switch "$a"
        wait_state 60 deferred-realise@app.service active
        # The server runs but loads for 4 s: activating, not serving, and /health not up.
        wait_for 10 booted_sh sh -c 'systemctl show -P ExecMainPID deferred-serve@app.service | grep -qv "^0$"'
        is "$(unit_state deferred-serve@app.service)" activating "while the app loads, the serve unit is activating"
        [ "$(model_state app)" != serving ]
        tap_result $? "and deferred-builds status does not say serving" "state $(model_state app)"
        not_ok_expected "and /health does not answer yet" health_answers 8140
        wait_state 30 deferred-serve@app.service active
        ok "once active, /health answers at once" health_answers 8140
        is "$(model_state app)" serving "and status says serving"
        like "$(booted_sh journalctl -b -q -o cat -u deferred-serve@app.service)" \
                'http://127.0.0.1:8140/health answered 200 after [0-9.]+ s' "the journal says when it answered"
}

scenario_swap_waits_for_readiness() {
        local a b
        a=$(system_build --arg models '{ app = { id = "A"; port = 8141; epochs = 1; server = "uvicorn"; env = { LOAD_SECONDS = "3"; }; }; }')
        system_switch "$a"
        wait_state 90 deferred-serve@app.service active
        b=$(system_build --arg models '{ app = { id = "B"; port = 8141; epochs = 1; server = "uvicorn"; env = { LOAD_SECONDS = "3"; }; }; }')
        system_switch "$b"
        wait_state 10 deferred-retrain@app.service activating
        wait_state 120 deferred-retrain@app.service inactive
        # The retrain unit ends only after the restarted server answered: B at once.
        is "$(predict 8141)" B "when the retrain swap is done, the new server already answers with B"
        is "$(unit_state deferred-serve@app.service)" active "and the serve unit is active"
        is "$(booted_prop deferred-retrain@app.service Result)" success "the retrain unit succeeded"
}

# holds_systemd_socket PORT: the one socket listening on 127.0.0.1:PORT is open in PID 1
# and in the server's main process.
holds_systemd_socket() {
        # shellcheck disable=SC2016 # expanded in the container
        booted_sh sh -c 'ino=$(awk -v a="0100007F:$1" '\''$2 == a && $4 == "0A" { print $10 }'\'' /proc/net/tcp) &&
                [ -n "$ino" ] && pid=$(systemctl show -P MainPID deferred-serve@app.service) &&
                ls -l "/proc/$pid/fd" | grep -qF "socket:[$ino]" && ls -l /proc/1/fd | grep -qF "socket:[$ino]"' \
                sh "$(printf %04X "$1")"
}

# socket_swap SERVER PORT EXTRA: serves A under SERVER with its socket from systemd, swaps
# to B under the client; sets $log (the client's lines), $n and $fails.
socket_swap() {
        local a b model='app = { id = "%s"; port = %s; epochs = 1; server = "%s"; socket = true; %s env = { LOAD_SECONDS = "2"; }; };'
        # shellcheck disable=SC2059 # the model's template
        a=$(system_build --arg models "{ $(printf "$model" A "$2" "$1" "$3") }")
        system_switch "$a"
        wait_state 90 deferred-serve@app.service active
        is "$(unit_state deferred-serve@app.socket)" active "$1: the socket unit is active with the server"
        ok "$1 listens on the socket systemd holds" holds_systemd_socket "$2"
        client_start "$2" 300
        wait_for 20 client_last_is A
        # shellcheck disable=SC2059
        b=$(system_build --arg models "{ $(printf "$model" B "$2" "$1" "$3") }")
        system_switch "$b"
        wait_for 120 client_last_is B
        sleep 1 # B answers for a while after the swap, too
        log=$(client_stop)
        n=$(printf '%s\n' "$log" | wc -l)
        fails=$(printf '%s\n' "$log" | grep -c FAIL)
        diag "$1 socket swap: $n requests, $fails failed, longest answer" \
                "$(printf '%s\n' "$log" | awk '$2 > m { m = $2 } END { printf "%.3f", m }') s"
        printf '%s\n' "$log" | grep FAIL | head -n 20 | sed 's/^/#   failed: /'
        is "$(printf '%s\n' "$log" | awk '$3 !~ /^FAIL/ { print $3 }' | uniq | tr '\n' ' ')" "A B " \
                "$1: the client saw A, then B"
        is "$(unit_state deferred-serve@app.socket)" active "$1: the socket stayed active"
}

scenario_socket_swap_fails_no_request() {
        local log n fails
        socket_swap gunicorn 8142 ""
        is "$fails" 0 "no request failed through the swap ($n requests)"
}

# uvicorn's shutdown closes the connections it holds no request of, including one it has
# just accepted whose request is still unread: that client gets a reset. A connection the
# socket refused, or reset before any server accepted it, would be ours: the trace log
# names each connection uvicorn accepted by the client's port.
scenario_uvicorn_socket_swap_fails_only_its_own() {
        local log n fails journal line port others=0
        socket_swap uvicorn 8146 "trace = true;"
        journal=$(booted_sh journalctl -b -q -o cat -u deferred-serve@app.service)
        while read -r line; do
                port=${line##* }
                if [[ "$line" != *" FAIL:ConnectionResetError "* ]] ||
                        ! grep -q "127.0.0.1:$port - HTTP connection made" <<<"$journal" ||
                        grep -q "127.0.0.1:$port - ASGI" <<<"$journal"; then
                        diag "not uvicorn's own: $line"
                        others=$((others + 1))
                fi
        done < <(printf '%s\n' "$log" | grep FAIL)
        is "$others" 0 "every failed request ($fails of $n) is one uvicorn accepted and closed unread"
}

scenario_removed_model_stops_socket() {
        local a none
        a=$(system_build --arg models '{ app = { id = "A"; port = 8143; epochs = 1; server = "uvicorn"; socket = true; }; }')
        system_switch "$a"
        wait_state 90 deferred-serve@app.service active
        none=$(system_build --arg models '{ other = { id = "O"; port = 8144; epochs = 1; }; }')
        system_switch "$none"
        wait_state 30 deferred-serve@app.socket inactive
        tap_result $? "the removed model's socket is stopped"
        not_ok_expected "and nothing listens on its port" booted_sh curl -fsS --max-time 2 http://127.0.0.1:8143/health
}

scenario_start_timeout_applied() {
        local a
        a=$(system_build --arg models '{ app = { id = "A"; port = 8145; epochs = 1; server = "uvicorn"; startTimeout = 3; env = { LOAD_SECONDS = "30"; }; }; }')
        system_switch "$a"
        wait_state 60 deferred-realise@app.service active
        is "$(booted_prop deferred-serve@app.service TimeoutStartUSec)" 3s "start-timeout = 3 is TimeoutStartSec=3"
        wait_for 20 booted_sh sh -c 'systemctl show -P Result deferred-serve@app.service | grep -qx timeout'
        tap_result $? "a load longer than the start timeout is stopped (Result=timeout)"
}

booted_scenarios \
        scenario_ready_url_gates_serving \
        scenario_swap_waits_for_readiness \
        scenario_socket_swap_fails_no_request \
        scenario_uvicorn_socket_swap_fails_only_its_own \
        scenario_removed_model_stops_socket \
        scenario_start_timeout_applied
