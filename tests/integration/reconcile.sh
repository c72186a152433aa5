#!/usr/bin/env bash
# deferred-builds reconcile against a real systemd user manager and real derivations
# built by the real nix-daemon (tests/lib/harness.sh). Proves the lifecycle claims of
# docs/DESIGN.md: boot reaches "running" while a model trains, serve starts only after
# its training finished, new models start, removed ones stop and are unpublished, a
# changed model is retrained while the old one keeps serving and is then swapped in, a
# failed derivation is not retried until it changes, and reconcile never waits.
#
# One scenario each, from a fresh state (no model unit run or failed; no state, runtime or
# served file) with a manifest of only the models it needs:
#   boot           reconcile at start-up waits for it; a server starts after its training
#   added_removed  a new model starts (--dry-run starts nothing); a removed one stops
#   foreign_links  reconcile unpublishes only the exact link realise made
#   retrain        a changed model retrains while the old one serves, then is swapped in
#   failures       a failed derivation is not retried until it changes; an unreadable
#                  manifest changes nothing
#   long_training  reconcile never waits; a training restarts or stops with the manifest
#   control        without --wait-startup, a queued training holds start-up
# boot and control start a user manager of their own (they prove what start-up does);
# the others share one (started with reconcile's start-up run masked when none runs).
# The fixtures are instantiated once. Run one alone (a nix-daemon must answer; tests/run
# starts one):
#   ABS_BUILD=$PWD/build/san tests/integration/reconcile.sh NAME    (or scenario_NAME)
set -u
: "${TOP:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$TOP/tests/lib/tap.sh"
. "$TOP/tests/lib/harness.sh"
. "$TOP/tests/lib/nixd.sh"
harness_enter "$@"

. "$TOP/tests/integration/fixtures/cli/lib.sh"
cli_require "reconcile integration"

mono() { systemctl --user show -P "$2" "$1"; }
pid_of() { systemctl --user show -P MainPID "deferred-serve@$1.service"; }

diag "instantiating fixtures (nonce $CLI_NONCE)"
# DRV_X=$(drv SPEC) for each X, the nix-instantiate runs side by side.
declare -A SPECS=([SLOW]="slow 1 12" [QUICK]="quick" [STEADY]="steady" [FRESH]="fresh"
        [SLOW1]="slow 1" [SLOW2]="slow 2 8" [BROKEN]="broken 1 0 fail" [FIXED]="broken 2"
        [LONG]="long 1 30" [LONG2]="long 2 30" [CTL]="control 1 8")
pids=()
for v in "${!SPECS[@]}"; do
        # shellcheck disable=SC2086 # a spec is drv's arguments
        drv ${SPECS[$v]} >"$HARNESS_TMP/drv-$v" &
        pids+=($!)
done
wait "${pids[@]}"
for v in "${!SPECS[@]}"; do
        read -r "DRV_$v" <"$HARNESS_TMP/drv-$v"
done
OUT_SLOW=$(outpath "$DRV_SLOW")
OUT_SLOW1=$(outpath "$DRV_SLOW1")
OUT_SLOW2=$(outpath "$DRV_SLOW2")
OUT_FIXED=$(outpath "$DRV_FIXED")
ok "fixtures instantiated" test -e "$DRV_SLOW" -a -e "$DRV_QUICK" -a -e "$DRV_STEADY" -a -e "$DRV_FRESH" \
        -a -e "$DRV_SLOW1" -a -e "$DRV_SLOW2" -a -e "$DRV_BROKEN" -a -e "$DRV_FIXED" -a -e "$DRV_LONG" \
        -a -e "$DRV_LONG2" -a -e "$DRV_CTL"

log_dropins
# Another part of start-up that takes 2 s, as on a real host: reconcile runs while the
# manager is still "starting". slow_boot links it into the next start-up.
printf '[Service]\nType=oneshot\nExecStart=/bin/sleep 2\n' >"$UNITDIR/slow-boot.service"
SLOW_BOOT="$UNITDIR/default.target.wants/slow-boot.service"
slow_boot() { mkdir -p "${SLOW_BOOT%/*}" && ln -sf ../slow-boot.service "$SLOW_BOOT"; }
NOWAIT="$UNITDIR/deferred-builds-reconcile.service.d/95-test-nowait.conf"
MASK="$XDG_CONFIG_HOME/systemd/user/deferred-builds-reconcile.service"

LOG_MARK=0
# begin_scenario: what every scenario's start has besides the manager's: no file a server
# wrote, and the units' log read from here on (units_log).
begin_scenario() {
        find "$SERVED" -mindepth 1 -delete
        LOG_MARK=$(stat -c %s "$HARNESS_TMP/units.log" 2>/dev/null || echo 0)
}
units_log() { tail -c +$((LOG_MARK + 1)) "$HARNESS_TMP/units.log" 2>/dev/null; }
# fresh: a scenario's start on the shared manager, started (reconcile's start-up run
# masked, so it starts no model) when none runs.
fresh() {
        if [ -z "$HARNESS_MGR_PID" ]; then
                # shellcheck disable=SC2119 # no folder of its own to empty
                harness_fresh_manager
                rm -f "$DEFERRED_BUILDS_MANIFEST"
                mkdir -p "${MASK%/*}"
                ln -sfn /dev/null "$MASK"
                harness_start || tap_bail "the user manager starts"
                # shellcheck disable=SC2016 # sh -c expands it
                wait_for 10 sh -c '[ "$(systemctl --user is-system-running)" = running ]' ||
                        tap_bail "the user manager finishes starting up"
        else
                harness_fresh || tap_bail "the user manager settles between scenarios"
        fi
        begin_scenario
}
# fresh_manager: a scenario's start for one that starts a manager of its own: none runs,
# reconcile runs at start-up as shipped, without the boot and reconcile test drop-ins.
fresh_manager() {
        # shellcheck disable=SC2119 # no folder of its own to empty
        harness_fresh_manager
        rm -f "$MASK" "$SLOW_BOOT" "$NOWAIT"
        begin_scenario
}
all_served() { # all_served NAME...: whether each NAME's server is active
        local n
        for n in "$@"; do is_active "deferred-serve@$n.service" active || return 1; done
}
# up NAME DRV...: a manifest of those models, loaded, reconciled, and each served.
up() {
        local names=() a=("$@")
        while [ $# -ge 2 ]; do
                names+=("$1")
                shift 2
        done
        manifest g1 "${a[@]}"
        harness_reload
        "$DB" reconcile >/dev/null 2>&1
        ok "${names[*]} served to begin with" wait_for 30 all_served "${names[@]}"
}

# reconcile_timed [ARGS...]: deferred-builds reconcile ARGS; its output in $out, how long it
# took in $took (ms).
reconcile_timed() {
        local start
        start=$(date +%s%N)
        out=$("$DB" reconcile "$@" 2>&1)
        took=$((($(date +%s%N) - start) / 1000000))
}

# ---------------------------------------------------------------------------------------
scenario_boot() {
        fresh_manager
        diag "boot: the generator links reconcile into default.target; it waits for start-up"
        manifest g1 slow "$DRV_SLOW" quick "$DRV_QUICK"
        slow_boot
        harness_start || tap_bail "the user manager starts"
        # Reconcile polls the manager's state every 200 ms, so slow starts training a moment
        # after start-up finished: wait for both, then look at both at once.
        # shellcheck disable=SC2016 # sh -c expands it
        wait_for 10 sh -c '[ "$(systemctl --user is-system-running)" = running ] &&
                [ "$(systemctl --user show -P ActiveState deferred-realise@slow.service)" = activating ]'
        local slow_then sysstate serve_then boot_done slow_started finish trained served
        slow_then=$(realise_state slow)
        sysstate=$(systemctl --user is-system-running)
        serve_then=$(serve_state slow)
        is "$sysstate/$slow_then" "running/activating" "the manager is 'running' while slow still trains"
        ok "slow still trains after that" is_active deferred-realise@slow.service activating
        # shellcheck disable=SC2016 # sh -c expands it
        ok "reconcile ran in the default target, and exited successfully" \
                wait_for 5 sh -c '[ "$(systemctl --user show -P Result deferred-builds-reconcile.service)" = success ] &&
                        [ "$(systemctl --user show -P ActiveState deferred-builds-reconcile.service)" = inactive ]'
        like "$(units_log)" "Waiting for the manager to finish start-up" "reconcile waited for start-up"
        like "$(units_log)" "starting slow" "reconcile said it starts slow"
        boot_done=$(systemctl --user show -P ActiveEnterTimestampMonotonic slow-boot.service)
        slow_started=$(mono deferred-realise@slow.service InactiveExitTimestampMonotonic)
        ok "slow's training started after the rest of start-up finished ($slow_started > $boot_done)" \
                test "$slow_started" -gt "$boot_done"
        unlike "$serve_then" "^(active|activating)$" "slow's server is not started while slow trains (it was '$serve_then')"
        ok "quick is served" wait_for 30 is_active deferred-serve@quick.service active
        ok "slow is served once its training finished" wait_for 60 is_active deferred-serve@slow.service active
        finish=$(systemctl --user show -P FinishTimestampMonotonic)
        trained=$(mono deferred-realise@slow.service ActiveEnterTimestampMonotonic)
        served=$(mono deferred-serve@slow.service ExecMainStartTimestampMonotonic)
        diag "start-up finished at ${finish} us, slow trained at ${trained} us, its server started at ${served} us"
        ok "start-up finished before the training did (finished $finish < trained $trained)" test "$finish" -gt 0 -a "$finish" -lt "$trained"
        ok "slow's server started only after its training finished ($served >= $trained)" test "$served" -ge "$trained"
        is "$(cat "$SERVED/slow" 2>/dev/null)" "$OUT_SLOW" "slow's server loaded the trained model"
        is "$(systemctl --user is-system-running)" "running" "the manager is still 'running' (nothing failed)"

        diag "--wait-startup on a running manager does not wait"
        local took out
        reconcile_timed --wait-startup=5 --dry-run
        ok "--wait-startup returns at once on a running manager (${took} ms)" test "$took" -lt 1000
        unlike "$out" "Waiting for the manager" "and does not say it waits"
        out=$("$DB" reconcile --wait-startup=abc 2>&1)
        is "$?" 64 "--wait-startup=abc is a usage error"
}

# ---------------------------------------------------------------------------------------
scenario_added_removed() {
        fresh
        up steady "$DRV_STEADY" quick "$DRV_QUICK"
        diag "a new model is started; --dry-run changes nothing"
        manifest g1 steady "$DRV_STEADY" quick "$DRV_QUICK" fresh "$DRV_FRESH"
        harness_reload
        local out rc
        out=$("$DB" reconcile --dry-run 2>&1)
        like "$out" "^starting fresh$" "dry run names the new model"
        like "$out" "dry run, nothing done: 1 started" "dry run summary"
        sleep 1
        is "$(serve_state fresh)" "inactive" "dry run started nothing"
        out=$("$DB" reconcile 2>&1)
        rc=$?
        is "$rc" 0 "reconcile exits 0"
        like "$out" "^starting fresh$" "reconcile starts the new model"
        like "$out" "^1 started, 0 retrained, 0 rebuilt, 0 restarted, 0 stopped, 0 left failed, 2 unchanged \(3 models in " "summary counts"
        ok "fresh is served" wait_for 30 is_active deferred-serve@fresh.service active
        out=$("$DB" reconcile 2>&1)
        like "$out" "^0 started, 0 retrained, 0 rebuilt, 0 restarted, 0 stopped, 0 left failed, 3 unchanged" "a second reconcile has nothing to do"
        is "$(state_of deferred-builds.target)" "active" "deferred-builds.target is active"

        diag "a removed model is stopped and unpublished"
        ok "quick is published" test -L "$RUNTIME/models/quick"
        local quick_root
        quick_root=$(readlink "$RUNTIME/models/quick")
        manifest g1 steady "$DRV_STEADY" fresh "$DRV_FRESH"
        harness_reload
        out=$("$DB" reconcile 2>&1)
        like "$out" "^stopping quick \(removed from manifest\)$" "reconcile stops quick"
        like "$out" "1 stopped" "summary counts the stop"
        ok "quick's server stopped" wait_for 10 sh -c "[ \"\$(systemctl --user show -P ActiveState deferred-serve@quick.service)\" != active ]"
        ok "quick's realise unit stopped" wait_for 10 sh -c "[ \"\$(systemctl --user show -P ActiveState deferred-realise@quick.service)\" != active ]"
        ok "quick's published link is gone" test ! -e "$RUNTIME/models/quick" -a ! -L "$RUNTIME/models/quick"
        ok "quick's GC root is left to prune" test -L "$quick_root"
        is "$(serve_state steady)/$(serve_state fresh)" "active/active" "the other models keep serving"
}

# ---------------------------------------------------------------------------------------
scenario_foreign_links() {
        fresh
        up steady "$DRV_STEADY"
        diag "reconcile removes only its own symlink"
        local out
        mkdir -p "$RUNTIME/models"
        echo "not a link" >"$RUNTIME/models/stranger"
        ln -sfn /etc/hostname "$RUNTIME/models/elsewhere"
        out=$("$DB" reconcile 2>&1)
        ok "a regular file in RUNTIME/models is left alone" test -f "$RUNTIME/models/stranger"
        ok "a link pointing outside the roots is left alone" test -L "$RUNTIME/models/elsewhere"
        like "$out" "Leaving .*/models/elsewhere alone: it points to /etc/hostname" "and reconcile says why"
        rm -f "$RUNTIME/models/stranger" "$RUNTIME/models/elsewhere"

        diag "only the exact link realise publishes is ours, and RUNTIME/models is never followed"
        ln -sfn "$DEFERRED_BUILDS_STATE_DIR/roots/../../escape" "$RUNTIME/models/dotdot"
        ln -sfn "$DEFERRED_BUILDS_STATE_DIR/roots/g1/steady" "$RUNTIME/models/borrowed"
        ln -sfn "$DEFERRED_BUILDS_STATE_DIR/roots/g1/sub/gone" "$RUNTIME/models/gone"
        out=$("$DB" reconcile 2>&1)
        ok "a link that only starts with STATE/roots/ is left alone" test -L "$RUNTIME/models/dotdot"
        ok "a link to another model's root is left alone" test -L "$RUNTIME/models/borrowed"
        ok "a link one folder too deep is left alone" test -L "$RUNTIME/models/gone"
        like "$out" "Leaving .*/models/borrowed alone: it points to .*/roots/g1/steady, not to .*/roots/GENERATION/borrowed" \
                "and reconcile names the rule"
        rm -f "$RUNTIME/models/dotdot" "$RUNTIME/models/borrowed" "$RUNTIME/models/gone"
        mv "$RUNTIME/models" "$RUNTIME/models.real"
        ln -s models.real "$RUNTIME/models"
        ln -sfn "$DEFERRED_BUILDS_STATE_DIR/roots/g1/gone" "$RUNTIME/models.real/gone"
        out=$("$DB" reconcile 2>&1)
        ok "a removed model's link behind a symlinked RUNTIME/models is not removed" test -L "$RUNTIME/models.real/gone"
        like "$out" "Refusing .*/models: not a directory" "and reconcile refuses the symlink"
}

# ---------------------------------------------------------------------------------------
scenario_retrain() {
        fresh
        up slow "$DRV_SLOW1" fresh "$DRV_FRESH"
        diag "a changed model is retrained while the old one keeps serving, then swapped in"
        local old_pid new_pid took out st
        old_pid=$(pid_of slow)
        manifest g1 slow "$DRV_SLOW2" fresh "$DRV_FRESH"
        harness_reload
        reconcile_timed
        like "$out" "^retraining slow \(drv changed\)$" "reconcile retrains slow"
        ok "reconcile returned at once (${took} ms) while slow retrains" test "$took" -lt 1000
        ok "the retrain unit runs" wait_for 5 is_active deferred-retrain@slow.service activating
        sleep 2
        is "$(serve_state slow)/$(pid_of slow)" "active/$old_pid" "the old server keeps serving, same process, during the retrain"
        is "$(readlink -f "$RUNTIME/models/slow")" "$OUT_SLOW1" "the old model is still published during the retrain"
        st=$("$DB" status --json slow 2>&1)
        is "$(printf '%s' "$st" | json 'print(d[0]["state"], d[0]["retraining"])')" "serving True" "status: serving while retraining"
        is "$(printf '%s' "$st" | json 'print(d[0]["out"])')" "$OUT_SLOW1" "status: OUT is the model still served"
        out=$("$DB" reconcile 2>&1)
        like "$out" "0 retrained, 0 rebuilt, 0 restarted, 0 stopped, 0 left failed, 2 unchanged" "reconcile during the retrain does not start it again"
        ok "the retrain finishes" wait_for 60 sh -c "[ \"\$(systemctl --user show -P ActiveState deferred-retrain@slow.service)\" = inactive ] && [ \"\$(systemctl --user show -P Result deferred-retrain@slow.service)\" = success ]"
        ok "the new model is published" wait_for 10 sh -c "[ \"\$(readlink -f $RUNTIME/models/slow)\" = $OUT_SLOW2 ]"
        ok "the server was restarted and loaded the new model" wait_for 15 sh -c "[ \"\$(cat $SERVED/slow 2>/dev/null)\" = $OUT_SLOW2 ]"
        new_pid=$(pid_of slow)
        ok "a new server process serves ($old_pid -> $new_pid)" test "$new_pid" != "$old_pid" -a "$new_pid" != 0
        is "$(serve_state slow)" "active" "slow is served"
        is "$(statusfield slow drv)/$(statusfield slow state)" "$DRV_SLOW2/ready" "the status file names the new derivation"
        out=$("$DB" reconcile 2>&1)
        like "$out" "0 retrained, 0 rebuilt, 0 restarted, 0 stopped, 0 left failed, 2 unchanged" "after the swap, nothing left to do"
}

# ---------------------------------------------------------------------------------------
scenario_failures() {
        fresh
        diag "a failed derivation is left alone until it changes"
        local out first_run attempts st
        manifest g1 steady "$DRV_STEADY" fresh "$DRV_FRESH" broken "$DRV_BROKEN"
        harness_reload
        out=$("$DB" reconcile 2>&1)
        like "$out" "^starting broken$" "reconcile starts broken"
        ok "broken's training fails" wait_for 30 is_active deferred-realise@broken.service failed
        first_run=$(mono deferred-realise@broken.service ExecMainStartTimestampMonotonic)
        attempts=$(statusfield broken attempts)
        out=$("$DB" reconcile 2>&1)
        like "$out" "^leaving broken failed: same derivation failed before; run deferred-builds realise broken to retry$" \
                "reconcile leaves it failed and says how to retry"
        like "$out" "1 left failed" "summary counts it"
        "$DB" reconcile >/dev/null 2>&1
        sleep 3
        is "$(realise_state broken)" "failed" "broken is still failed"
        is "$(mono deferred-realise@broken.service ExecMainStartTimestampMonotonic)" "$first_run" "its training did not run again"
        is "$(statusfield broken attempts)" "$attempts" "the status file counts no new attempt"
        is "$(serve_state steady)/$(serve_state fresh)" "active/active" "the others keep serving"
        st=$("$DB" status --json broken)
        is "$(printf '%s' "$st" | json 'print(d[0]["state"])')" "failed" "status says failed"
        like "$(printf '%s' "$st" | json 'print(d[0]["error"])')" "training diverged|exit code 3|failed" "status shows the error"

        manifest g1 steady "$DRV_STEADY" fresh "$DRV_FRESH" broken "$DRV_FIXED"
        harness_reload
        out=$("$DB" reconcile 2>&1)
        like "$out" "^starting broken \(drv changed since it failed\)$" "a changed derivation is tried again"
        ok "the fixed model is served" wait_for 30 is_active deferred-serve@broken.service active
        is "$(cat "$SERVED/broken" 2>/dev/null)" "$OUT_FIXED" "and it serves the new derivation"

        diag "an unreadable manifest changes nothing"
        local rc
        printf '[deferred-builds]\nversion = 7\n' >"$DEFERRED_BUILDS_MANIFEST"
        out=$("$DB" reconcile 2>&1)
        rc=$?
        is "$rc" 66 "reconcile exits 66 for a rejected manifest"
        like "$out" "Nothing was started or stopped" "and says nothing changed"
        is "$(serve_state steady)/$(serve_state fresh)/$(serve_state broken)" "active/active/active" "every model keeps serving"
}

# ---------------------------------------------------------------------------------------
scenario_long_training() {
        fresh
        diag "reconcile never waits for a training"
        local took out
        manifest g1 fresh "$DRV_FRESH" long "$DRV_LONG"
        harness_reload
        reconcile_timed
        like "$out" "^starting long$" "reconcile starts long"
        ok "reconcile returned in ${took} ms (< 1 s) while a 30 s training runs" test "$took" -lt 1000
        ok "long trains" wait_for 5 is_active deferred-realise@long.service activating
        ok "long's status file says training" wait_for 10 sh -c "grep -q '^state=training' $RUNTIME/status/long"
        is "$(serve_state long)" "inactive" "long's server waits for its training"
        is "$(job_of deferred-serve@long.service)" "start" "its start job is queued"

        diag "a training of a derivation the manifest no longer names is restarted"
        manifest g1 fresh "$DRV_FRESH" long "$DRV_LONG2"
        harness_reload
        reconcile_timed
        like "$out" "^restarting the training of long \(drv changed\)$" "reconcile restarts the training"
        ok "and returns at once (${took} ms)" test "$took" -lt 1000
        ok "the training of the new derivation runs" wait_for 15 sh -c "grep -qx 'drv=$DRV_LONG2' $RUNTIME/status/long && grep -q '^state=training' $RUNTIME/status/long"
        is "$(realise_state long)" "activating" "long trains again"
        is "$(job_of deferred-serve@long.service)" "start" "its server still waits for it"

        diag "removing a model that is training stops the training"
        manifest g1 fresh "$DRV_FRESH"
        harness_reload
        out=$("$DB" reconcile 2>&1)
        like "$out" "^stopping long \(removed from manifest\)$" "reconcile stops long"
        ok "long's training stopped" wait_for 15 sh -c "[ \"\$(systemctl --user show -P ActiveState deferred-realise@long.service)\" != activating ]"
        ok "long's server start job is gone" wait_for 5 sh -c "! systemctl --user list-jobs --no-legend --plain deferred-serve@long.service | grep -q ."
        is "$(serve_state long)" "inactive" "long was never served"
}

# ---------------------------------------------------------------------------------------
scenario_control() {
        fresh_manager
        diag "control: without --wait-startup the same boot stays 'starting' for the whole training"
        manifest g2 control "$DRV_CTL"
        slow_boot
        mkdir -p "${NOWAIT%/*}"
        printf '[Service]\nExecStart=\nExecStart=%s reconcile\n' "$DB" >"$NOWAIT"
        harness_start || tap_bail "the user manager starts"
        ok "control trains" wait_for 10 is_active deferred-realise@control.service activating
        sleep 3
        is "$(realise_state control)/$(systemctl --user is-system-running)" "activating/starting" \
                "without waiting, the queued training holds the manager in 'starting'"
        ok "control is served once trained" wait_for 60 is_active deferred-serve@control.service active
        is "$(systemctl --user is-system-running)" "running" "and only then does start-up finish"
}

# All of them: boot first and control last, so that the others use the manager boot
# leaves running instead of starting one more.
if [ $# -eq 0 ]; then
        mapfile -t middle < <(declare -F | awk '$3 ~ /^scenario_/ && $3 != "scenario_boot" && $3 != "scenario_control" { print substr($3, 10) }')
        set -- boot "${middle[@]}" control
fi
cli_scenarios "$@"
