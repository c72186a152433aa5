#!/usr/bin/env bash
# deferred-builds status tells the truth, against a real systemd user manager and real
# Nix builds whose builder is Debian's python3 (tests/lib/harness.sh): a Python exception's
# type and message, a stopped training and retrain, a silent one, a machine waiting for an
# unreachable cache, a retrain's progress, and the exit codes monitoring reads.
#
# One scenario each, from a fresh state (no model unit run, no state or runtime file):
#   pending python_exception silent progress_bar stopped offline exit_codes retrain_progress
# The fixtures are instantiated and the user manager started once. Run one alone (a
# nix-daemon must answer; tests/run starts one):
#   ABS_BUILD=$PWD/build/san tests/integration/status.sh NAME    (or scenario_NAME)
set -u
: "${TOP:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$TOP/tests/lib/tap.sh"
. "$TOP/tests/lib/harness.sh"
. "$TOP/tests/lib/nixd.sh"
harness_enter "$@"

. "$TOP/tests/integration/fixtures/cli/lib.sh"
cli_require "status integration"
if [ ! -x /usr/bin/python3 ]; then
        skip "status integration" "no /usr/bin/python3 for the builders"
        tap_done
        exit 0
fi
PY_FIXTURE="$TOP/tests/integration/fixtures/status/py.nix"

# pydrv NAME [VARIANT [SECONDS [fail]]] -> a .drv path, rooted for the suite's length.
pydrv() {
        local a=(--argstr name "$1" --argstr nonce "$CLI_NONCE" --argstr variant "${2:-1}" --argstr seconds "${3:-0}")
        [ "${4:-}" = fail ] && a+=(--arg fail true)
        [ "${4:-}" = bar ] && a+=(--arg bar true)
        local root="$HARNESS_TMP/drv-roots/py-$1-${2:-1}-${3:-0}-${4:-ok}"
        nix-instantiate "$PY_FIXTURE" "${a[@]}" --add-root "$root" >/dev/null 2>&1 && readlink "$root"
}
# st [ARGS...]: deferred-builds status ARGS, stdout in $out, exit status in $rc
st() {
        out=$("$DB" status "$@" 2>"$HARNESS_TMP/stderr")
        rc=$?
}
json_of() { # json_of NAME EXPR: EXPR of NAME's status --json object (as x)
        "$DB" status --json "$1" 2>/dev/null | json "x=d[0]; print($2)"
}

diag "instantiating fixtures (nonce $CLI_NONCE)"
DRV_ALPHA=$(pydrv alpha)
DRV_ALPHA2=$(pydrv alpha 2 40)
DRV_PYFAIL=$(pydrv pyfail 1 0 fail)
DRV_SLOW=$(pydrv slow 1 40)
DRV_OFFLINE=$(pydrv offline)
DRV_OFFLINE2=$(pydrv offline 2)
DRV_BAR=$(pydrv bar 1 40 bar)
ok "fixtures instantiated" test -e "$DRV_ALPHA" -a -e "$DRV_ALPHA2" -a -e "$DRV_PYFAIL" -a -e "$DRV_SLOW" -a -e "$DRV_OFFLINE" -a -e "$DRV_OFFLINE2" -a -e "$DRV_BAR"
# write_manifest NAME[=DRV]...: a manifest of those models; alpha, pyfail, slow, bar and
# offline have their fixture's drv unless another is given. offline: its only cache
# refuses connections, as on a machine without network.
write_manifest() {
        local m name drv
        {
                printf '[deferred-builds]\nversion = 1\ngeneration = g1\n'
                for m in "$@"; do
                        name=${m%%=*}
                        case $name in
                        alpha) drv=$DRV_ALPHA ;;
                        pyfail) drv=$DRV_PYFAIL ;;
                        slow) drv=$DRV_SLOW ;;
                        bar) drv=$DRV_BAR ;;
                        offline) drv=$DRV_OFFLINE ;;
                        esac
                        [ "$m" = "$name" ] || drv=${m#*=}
                        if [ "$name" = offline ]; then
                                model offline "$drv" | sed 's|^substituters =$|substituters = http://127.0.0.1:9|'
                        else
                                model "$name" "$drv"
                        fi
                done
        } >"$DEFERRED_BUILDS_MANIFEST.tmp" && mv "$DEFERRED_BUILDS_MANIFEST.tmp" "$DEFERRED_BUILDS_MANIFEST"
}
# fresh NAME[=DRV]...: a scenario's start: no model unit running or failed, no state or
# runtime file, and a manifest of those models, loaded.
fresh() {
        harness_fresh || tap_bail "the user manager settles between scenarios"
        write_manifest "$@"
        harness_reload
}
write_manifest alpha pyfail slow bar offline
log_dropins
mkdir -p "$XDG_CONFIG_HOME/systemd/user"
ln -sf /dev/null "$XDG_CONFIG_HOME/systemd/user/deferred-builds-reconcile.service"
harness_start || tap_bail "the user manager starts"

# Steps more than one scenario takes, each with its result.
pyfail_fails() {
        "$DB" realise --wait pyfail >"$HARNESS_TMP/pyfail.out" 2>&1
        is "$?" 1 "realise --wait of the failing model exits 1"
}
slow_trains() {
        systemctl --user start --no-block deferred-realise@slow.service
        ok "slow trains and printed its first epoch" wait_for 30 sh -c "[ \"\$($DB status --json slow | python3 -c 'import json,sys; x=json.load(sys.stdin)[0]; print(x[\"state\"], (x[\"progress\"] or {}).get(\"last_line\"))')\" = 'training epoch 1/2 of slow v1' ]"
}
offline_builds() {
        ok "then the daemon gives up on the cache and builds" wait_for 60 sh -c "[ \"\$(systemctl --user show -P ActiveState deferred-realise@offline.service)\" = active ]"
}

# ---------------------------------------------------------------------------------------
scenario_pending() {
        fresh alpha pyfail slow bar offline
        diag "nothing started: every model pending, exit 0"
        st
        is "$rc" 0 "status of pending models exits 0"
        is "$(printf '%s\n' "$out" | grep -cE '^(alpha|pyfail|slow|offline|bar) +pending ')" 5 "five pending rows"
}

# ---------------------------------------------------------------------------------------
scenario_python_exception() {
        fresh pyfail
        diag "a Python exception: its type and message in status, exit 2"
        pyfail_fails
        st pyfail
        is "$rc" 2 "status of a failed model exits 2"
        like "$out" "pyfail +failed +[0-9]+s ago .*ValueError: learning rate 10\.0 makes the loss of pyfail diverge to nan" \
                "the table's error shows the exception's type and message"
        local err
        err=$(json_of pyfail 'x["error"]')
        like "$err" "^build of model pyfail failed: builder for '[^']*' failed with exit code 1: .*File \"<string>\", line [0-9]+, in step \| ValueError: learning rate 10\.0 makes the loss of pyfail diverge to nan\. Not retrying" \
                "status --json: the headline, the traceback's frames and its last line, whole"
        unlike "$err" "For full logs|Traceback \(most recent" "and nothing that says nothing"
        is "$(printf '%s' "$err" | grep -o 'failed' | wc -l)" 2 "'failed' twice: the model's build and Nix's builder, no phrase repeated"
}

# ---------------------------------------------------------------------------------------
scenario_silent() {
        fresh slow
        diag "a training silent for longer than --silent-after"
        slow_trains
        st slow
        is "$rc" 0 "a training with recent output exits 0 (default --silent-after is 600 s)"
        ok "after 3 s without output it is silent" wait_for 20 sh -c "$DB status --silent-after=3 slow >/dev/null; [ \$? = 3 ]"
        st --silent-after=3 slow
        is "$rc" 3 "status of a silent training exits 3"
        like "$out" "slow +silent +[0-9]+s ago +silent for [0-9]+ s, last: epoch 1/2 of slow v1" "the row says for how long, and the last line"
        is "$("$DB" status --json --silent-after=3 slow | json 'x=d[0]; print(x["state"], x["detail"].startswith("silent for "), x["error"])')" \
                "silent True None" "status --json: state silent, detail, no error"
        st --silent-after=0 slow
        is "$rc/$(printf '%s\n' "$out" | awk '$1 == "slow" {print $2}')" "0/training" "--silent-after=0: never silent"
        local run_bad
        run_bad=$("$DB" status --silent-after=soon 2>&1)
        is "$?" 64 "--silent-after= takes a number"
        like "$run_bad" "--silent-after= takes a number of seconds" "and says so"
}

# ---------------------------------------------------------------------------------------
scenario_progress_bar() {
        fresh bar
        diag "a carriage-return progress bar: its last state, not the redraws"
        systemctl --user start --no-block deferred-realise@bar.service
        ok "the bar's line reached status" wait_for 30 sh -c "$DB status --json bar | grep -q '10/10'"
        is "$(json_of bar 'x["state"], x["progress"]["last_line"]')" "training epoch 1/2 of bar: 100%|##########| 10/10" \
                "status --json: the bar as last drawn"
        st bar
        like "$out" "bar +training .*epoch 1/2 of bar: 100%\|##########\| 10/10" "the table shows the bar's last state"
        unlike "$out" " 90%" "and none of its earlier redraws"
        systemctl --user stop deferred-realise@bar.service
}

# ---------------------------------------------------------------------------------------
scenario_stopped() {
        fresh slow
        diag "a stopped training"
        slow_trains
        systemctl --user stop deferred-realise@slow.service
        st slow
        is "$rc" 3 "status of a stopped training exits 3"
        like "$out" "slow +stopped +[0-9]+s ago .*stopped by SIGTERM before the build of [^ ]+ finished; deferred-builds realise slow resumes it" \
                "the row says stopped, by what, and how to resume"
        like "$(json_of slow 'x["state"], x["units"]["realise"]')" "^stopped (None|inactive/dead)$" "status --json: stopped, the unit stopped cleanly"
}

# ---------------------------------------------------------------------------------------
scenario_offline() {
        fresh offline
        diag "an offline machine: waiting for a cache, with its reason"
        systemctl --user start --no-block deferred-realise@offline.service
        ok "offline waits for its cache" wait_for 20 sh -c "[ \"\$($DB status --json offline | python3 -c 'import json,sys; print(json.load(sys.stdin)[0][\"state\"])')\" = waiting ]"
        st offline
        is "$rc" 0 "waiting for a cache is no failure: exit 0"
        like "$out" "offline +waiting +[0-9]+s ago +waiting for a cache .* unable to download 'http://127\.0\.0\.1:9/nix-cache-info': Couldn't connect to server \(7\); retrying in [0-9]+ ms$" \
                "the row names the cache and why"
        like "$(json_of offline 'x["detail"]')" "^waiting for a cache: unable to download 'http://127\.0\.0\.1:9/nix-cache-info'" "status --json: the detail"
        like "$(systemctl --user show -P StatusText deferred-realise@offline.service)" \
                "^waiting for a cache offline: unable to download 'http://127\.0\.0\.1:9/nix-cache-info'" "systemctl status says it too"
        offline_builds
        is "$(json_of offline 'x["state"], x["detail"]')" "ready None" "and the wait is over"
}

# ---------------------------------------------------------------------------------------
# offline is a derivation of its own here: the offline scenario needs its output unbuilt.
scenario_exit_codes() {
        fresh pyfail slow "offline=$DRV_OFFLINE2"
        diag "exit codes of several models: a failure outranks a stop"
        pyfail_fails
        slow_trains
        systemctl --user stop deferred-realise@slow.service
        systemctl --user start --no-block deferred-realise@offline.service
        offline_builds
        st
        is "$rc" 2 "status of all: pyfail failed, slow stopped: exit 2"
        st slow offline
        is "$rc" 3 "status of slow and offline: exit 3"
        st offline
        is "$rc" 0 "status of offline alone: exit 0"
}

# ---------------------------------------------------------------------------------------
scenario_retrain_progress() {
        fresh alpha
        diag "a retrain's progress is where the operator looks"
        "$DB" realise --wait alpha >/dev/null 2>&1
        ok "alpha is served" wait_for 20 is_active deferred-serve@alpha.service active
        local serve_pid
        serve_pid=$(systemctl --user show -P MainPID deferred-serve@alpha.service)
        write_manifest "alpha=$DRV_ALPHA2"
        harness_reload
        "$DB" reconcile >"$HARNESS_TMP/reconcile.out" 2>&1
        like "$(cat "$HARNESS_TMP/reconcile.out")" "^retraining alpha \(drv changed\)$" "reconcile retrains alpha"
        ok "the retrain printed its first epoch" wait_for 30 sh -c "$DB status --json alpha | grep -q 'epoch 1/2 of alpha v2'"
        st alpha
        is "$rc" 0 "a retraining model exits 0"
        like "$out" "alpha +serving +[0-9]+s ago +retraining 0/1 epoch 1/2 of alpha v2" "status NAME shows the retrain's progress"
        is "$(json_of alpha 'x["state"], x["retraining"], x["progress"]["last_line"]')" "serving True epoch 1/2 of alpha v2" \
                "status --json: serving, retraining, the new build's last line"
        like "$(systemctl --user show -P StatusText deferred-retrain@alpha.service)" "^training alpha: 0/1 derivations built, .*last: epoch 1/2 of alpha v2" \
                "deferred-retrain@alpha carries the same progress"
        ok "a silent retrain is silent" wait_for 20 sh -c "$DB status --silent-after=2 alpha >/dev/null; [ \$? = 3 ]"
        st --silent-after=2 alpha
        like "$out" "alpha +silent +[0-9]+s ago +retraining: silent for [0-9]+ s, last: epoch 1/2 of" "and says so, as a retrain"
        systemctl --user stop deferred-retrain@alpha.service
        st alpha
        is "$rc" 3 "a stopped retrain exits 3"
        like "$out" "alpha +stopped +.*the previous model keeps serving: stopped by SIGTERM before the build of [^ ]+ finished; deferred-builds realise alpha resumes it" \
                "status: stopped, the previous model serving, how to resume"
        is "$(printf '%s\n' "$out" | grep -o 'keeps serving' | wc -l)" 1 "said once"
        is "$(systemctl --user show -P ActiveState deferred-serve@alpha.service)/$(systemctl --user show -P MainPID deferred-serve@alpha.service)" \
                "active/$serve_pid" "the old server kept serving"
        "$DB" reconcile >"$HARNESS_TMP/reconcile2.out" 2>&1
        like "$(cat "$HARNESS_TMP/reconcile2.out")" "^leaving alpha serving its previous model: its retrain was stopped before it finished; run deferred-builds realise alpha to resume it$" \
                "reconcile leaves the stopped retrain alone, and says why"
        is "$(systemctl --user show -P ActiveState deferred-retrain@alpha.service)" "inactive" "and starts no retrain"
}

cli_scenarios "$@"
