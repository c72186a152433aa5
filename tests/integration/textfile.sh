#!/usr/bin/env bash
# The shipped deferred-builds-metrics.service and .timer on a real systemd 252 user manager:
# the timer runs the service at once and then every interval; the service writes
# DIR/deferred-builds.prom for node-exporter's textfile collector, a new whole file each
# time (a new inode: written beside and renamed), in the Prometheus text format, and the
# file follows the models' states.
#
# Scenarios: timer (the file at once, then a new one each interval), follows (the file
# follows good to serving, then ready), missing_folder (the service fails); each
# on a manager, runtime, state and textfile folder of its own (harness_fresh_manager). Run
# some alone (a nix-daemon must answer; tests/run starts one):
#   ABS_BUILD=$PWD/build/san tests/integration/textfile.sh [SCENARIO...]   (e.g. follows)
set -u
: "${TOP:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$TOP/tests/lib/tap.sh"
. "$TOP/tests/lib/harness.sh"
. "$TOP/tests/lib/nixd.sh"
harness_enter "$@"

. "$TOP/tests/integration/fixtures/cli/lib.sh"
cli_require "textfile integration"
# Below the harness's private /run, as a real one is outside the home folders (ProtectHome=).
TF=/run/textfile-collector
PROM="$TF/deferred-builds.prom"

DRV_GOOD=$(drv good)
ok "fixture instantiated" test -e "$DRV_GOOD"

# The folder and the scope of this harness; a 1 s interval instead of a minute (an empty
# assignment resets every trigger of a timer: the one at start is given again).
mkdir -p "$UNITDIR/deferred-builds-metrics.service.d" "$UNITDIR/deferred-builds-metrics.timer.d"
printf '[Service]\nEnvironment=DEFERRED_BUILDS_TEXTFILE_DIR=%s\nEnvironment=DEFERRED_BUILDS_SCOPE=user\n' "$TF" \
        >"$UNITDIR/deferred-builds-metrics.service.d/90-test.conf"
printf '[Timer]\nOnUnitActiveSec=\nOnActiveSec=1s\nOnUnitActiveSec=1s\nAccuracySec=100ms\n' >"$UNITDIR/deferred-builds-metrics.timer.d/90-test.conf"
log_dropins
mkdir -p "$XDG_CONFIG_HOME/systemd/user"
ln -sf /dev/null "$XDG_CONFIG_HOME/systemd/user/deferred-builds-reconcile.service"

# state_in FILE MODEL: the model's state in a Prometheus text file (the real parser).
cat >"$HARNESS_TMP/state_in.py" <<'PY'
import sys
from prometheus_client.parser import text_string_to_metric_families
for f in text_string_to_metric_families(open(sys.argv[1]).read()):
    for s in f.samples:
        if s.name == "deferred_builds_model_state" and s.labels["model"] == sys.argv[2]:
            print(s.labels["deferred_builds_model_state"])
PY
state_in() { /usr/bin/python3 "$HARNESS_TMP/state_in.py" "$1" "$2" 2>/dev/null; }
state_is() { [ "$(state_in "$PROM" "$1")" = "$2" ]; }
export -f state_in state_is
export PROM

# fresh_textfile: a manager of the scenario's own on fresh state, with good in the
# manifest and an empty textfile folder; the timer not started yet.
fresh_textfile() {
        harness_fresh_manager "$SERVED"
        rm -rf "$TF"
        mkdir -p "$TF"
        manifest t1 good "$DRV_GOOD"
        harness_start || tap_bail "the user manager starts"
}
timer_status() { systemctl --user status --no-pager deferred-builds-metrics.timer deferred-builds-metrics.service 2>&1 | sed "s/^/# /"; }
# timer_writes: starts the timer and checks that it wrote the file at once.
timer_writes() {
        systemctl --user start deferred-builds-metrics.timer
        ok "it wrote the file at once" wait_for 10 test -s "$PROM" || timer_status
}

scenario_timer() {
        local ino1
        fresh_textfile
        is "$(unit_prop deferred-builds-metrics.service Type)" oneshot "the service is a oneshot"
        systemctl --user start deferred-builds-metrics.timer
        is "$(systemctl --user is-active deferred-builds-metrics.timer)" active "the timer is active"
        ok "it wrote the file at once" wait_for 10 test -s "$PROM" || timer_status
        is "$(state_in "$PROM" good)" pending "the file says good is pending"
        is "$(stat -c %a "$PROM")" 644 "world-readable"
        ok "it has no OpenMetrics-only line (node-exporter would drop the file)" sh -c "! grep -qE '^# (EOF|UNIT)|^# TYPE [^ ]+ (stateset|info)\$' '$PROM'"

        ino1=$(stat -c %i "$PROM")
        ok "the timer runs it again within its interval: a new file" wait_for 10 sh -c "[ \"\$(stat -c %i '$PROM')\" != $ino1 ]"
        is "$(unit_prop deferred-builds-metrics.service Result)" success "the service succeeded"
}

scenario_follows() {
        fresh_textfile
        timer_writes
        "$DB" realise --wait good >/dev/null 2>&1
        is "$?" 0 "good is trained and served"
        ok "the file follows: good is serving" wait_for 10 bash -c "state_is good serving"
        systemctl --user stop deferred-serve@good.service
        ok "and follows again: good is ready once its server stopped" wait_for 10 bash -c "state_is good ready"
        is "$(ls -A "$TF")" "deferred-builds.prom" "no temporary file is left in the folder"
}

scenario_missing_folder() {
        diag "a missing folder fails the service"
        fresh_textfile
        timer_writes
        rm -rf "$TF"
        ok "the service fails" wait_for 10 sh -c "[ \"\$(systemctl --user show -P Result deferred-builds-metrics.service)\" = exit-code ]"
}

run_scenarios "$@"
