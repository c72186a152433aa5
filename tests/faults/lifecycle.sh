#!/usr/bin/env bash
# Fault cases on the real user manager and nix-daemon (issue "Reliability and security"):
#  3. two daemon-reloads in a row during a long training: the training is not restarted;
#  4. the training's builder killed with SIGKILL: realise failed with a clear status, no
#     restart storm;
#  6. nix-store --gc racing realise (GC_LOOPS times, 10 by default, 100 with LONG=1): no
#     serve ever starts on a missing path, no root lost after success;
# 10. the manager restarted mid-training: the training runs again and completes;
# 11. the status file corrupted or truncated: status reads it as unknown, realise rewrites it;
# 14. the runtime file system full while writing the status file: the previous one intact;
# 15. the server crashes repeatedly: restart limits hold, realise is not re-run (the test
#     restarts it sooner than the shipped RestartSec, under the shipped start limit).
#
# One scenario each, from a fresh state (no model unit run or failed, no state or runtime
# file, a manifest of only the models it uses; reloads and manager_restart, which watch a
# training, begin with their model unbuilt), in this order by default:
#   reloads (3) sigkill (4) crash_loop (15) corrupt_status (11) full_runtime (14)
#   manager_restart (10) gc_race (6)
# The fixtures are instantiated (crash_loop's model built) and the user manager started
# once. corrupt_status and full_runtime use the model reloads trains (run alone, they
# train it, 12 s); gc_race runs last, as its collections would take it. Run one alone (a
# nix-daemon must answer; tests/run starts one):
#   ABS_BUILD=$PWD/build/san tests/faults/lifecycle.sh NAME    (or scenario_NAME)
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/harness.sh
harness_enter "$@"

NONCE=$(date +%s)-$RANDOM
# Builders run as nixbld users: give them a place to record each start.
chmod 0711 "$HARNESS_TMP"
MARK=$HARNESS_TMP/marks
mkdir -m 1777 "$MARK"
GC_LOOPS=${GC_LOOPS:-$([ -n "${LONG:-}" ] && echo 100 || echo 10)}
RUNTIME=$XDG_RUNTIME_DIR/deferred-builds
STATE=$DEFERRED_BUILDS_STATE_DIR
CLI="$ABS_BUILD/deferred-builds"
# Roots that keep the models built so far between scenarios (a scenario's fresh state has
# none of the product's roots), so that a concurrent nix-store --gc does not make a later
# scenario build them again.
HOLD=$HARNESS_TMP/hold
mkdir -p "$HOLD"

# drv NAME SECONDS [EXTRA]: a model whose builder sleeps SECONDS and records each start.
# EXTRA is put before mkdir: "kill -KILL \$\$; " makes the builder SIGKILL itself (the
# builder runs under nix-daemon, outside this suite's PID namespace, so the suite cannot
# signal it; an OOM kill looks the same to Nix).
drv() {
        cat >"$HARNESS_TMP/$1.nix" <<EOF
builtins.derivation {
  name = "fault-$1";
  system = builtins.currentSystem;
  builder = "/bin/sh";
  nonce = "$NONCE";
  args = [ "-c" "echo start >> $MARK/$1.starts; echo epoch 1/2; /bin/sleep $2; echo epoch 2/2; ${3:-}/bin/mkdir \$out; echo $1 > \$out/model" ];
}
EOF
        # Rooted, so that the GC steps below cannot take the .drv; prints the root, hence readlink.
        readlink "$(nix-instantiate --add-root "$HARNESS_TMP/$1.drv" --indirect "$HARNESS_TMP/$1.nix" 2>/dev/null)"
}
# manifest [NAME DRV SERVE_EXEC SERVE_ARG]...
manifest() {
        {
                printf '[deferred-builds]\nversion = 1\ngeneration = faults\n'
                while [ $# -ge 4 ]; do
                        printf '\n[model.%s]\ndrv = %s\nexec = %s\narg = %s\n' "$1" "$2" "$3" "$4"
                        shift 4
                done
        } >"$DEFERRED_BUILDS_MANIFEST"
}
starts() { [ -f "$MARK/$1.starts" ] && wc -l <"$MARK/$1.starts" || echo 0; }
active() { systemctl --user show -P ActiveState "$1"; }
unit_is() { [ "$(unit_prop "$1" "$2")" = "$3" ]; } # unit_is UNIT PROPERTY VALUE
# unit_settled UNIT: UNIT is active or failed.
unit_settled() { unit_is "$1" ActiveState active || unit_is "$1" ActiveState failed; }
out_of() { nix-store -q --outputs "$1"; }
# unbuilt NAME DRV: NAME's builder has not run and DRV's output does not exist, as before
# the suite's first build; returns 1 when the output cannot be deleted.
unbuilt() {
        local out
        out=$(out_of "$2") || return 1
        rm -f "$MARK/$1.starts" "$HOLD/$1"
        [ ! -e "$out" ] || nix-store --delete "$out" >/dev/null 2>&1
        [ ! -e "$out" ]
}
hold() { nix-store --add-root "$HOLD/$1" --realise "$(out_of "$2")" >/dev/null 2>&1; } # hold NAME DRV
# fresh [NAME DRV SERVE_EXEC SERVE_ARG]...: a scenario's start: the manager running, no
# model unit running or failed, no state or runtime file, a manifest of those models, loaded.
fresh() {
        if [ -z "$HARNESS_MGR_PID" ]; then
                harness_start || tap_bail "the user manager starts"
        fi
        harness_fresh || tap_bail "the user manager settles between scenarios"
        manifest "$@"
        harness_reload
}

D_LONG=$(drv long 12)
D_KILL=$(drv killed 1 'kill -KILL \$\$; ')
D_CRASH=$(drv crash 0)
D_RESTART=$(drv restart 6)
ok "fixtures instantiated" test -e "$D_LONG" -a -e "$D_KILL" -a -e "$D_CRASH" -a -e "$D_RESTART"
# crash_loop's model is built here, once and held: its server's crashes are the case, not
# its build, which would wait for the unreachable default cache first.
nix-store --realise "$D_CRASH" --add-root "$HOLD/crash" --option substituters '' >/dev/null 2>&1
ok "crash_loop's model is built, once" test "$(starts crash)" = 1 -a -e "$(out_of "$D_CRASH")/model"
# The server of gc_race refuses to start without its model.
# shellcheck disable=SC2016 # expanded by the server's sh
printf '#!/bin/sh\ntest -e "$DEFERRED_MODEL_PATH/model" || exit 1\nexec /bin/sleep infinity\n' >"$HARNESS_TMP/serve-check.sh"
# crash: systemd restarts its server after 200 ms instead of the shipped 2 s, so that the
# shipped start limit (5 starts in 5 min) is reached in a second, not in ten.
mkdir -p "$XDG_CONFIG_HOME/systemd/user/deferred-serve@crash.service.d"
printf '[Service]\nRestartSec=200ms\n' >"$XDG_CONFIG_HOME/systemd/user/deferred-serve@crash.service.d/90-test.conf"
# Each start of crash's realise unit adds a line to MARK/crash.realise-runs.
mkdir -p "$XDG_CONFIG_HOME/systemd/user/deferred-realise@crash.service.d"
printf '[Service]\nExecStartPre=/bin/sh -c "echo run >>%s/crash.realise-runs"\n' "$MARK" \
        >"$XDG_CONFIG_HOME/systemd/user/deferred-realise@crash.service.d/90-test.conf"
manifest
harness_start || tap_bail "the user manager starts"

# ---------------------------------------------------------------------------------------
# 3. Two reloads during the training.
scenario_reloads() {
        fresh long "$D_LONG" /bin/sleep infinity
        unbuilt long "$D_LONG" || tap_result 1 "3: setup: long is unbuilt" || return
        systemctl --user start deferred-realise@long.service --no-block
        wait_for 20 test -f "$MARK/long.starts"
        harness_reload
        harness_reload
        sleep 1
        is "$(active deferred-realise@long.service)" activating "3: after two daemon-reloads the training is still running"
        wait_for 60 unit_is deferred-realise@long.service ActiveState active
        tap_result $? "3: and it completes"
        is "$(starts long)" 1 "3: the builder ran exactly once (the reloads did not restart it)"
        hold long "$D_LONG"
}

# ---------------------------------------------------------------------------------------
# 4. The builder killed with SIGKILL.
scenario_sigkill() {
        fresh killed "$D_KILL" /bin/sleep infinity
        systemctl --user start deferred-realise@killed.service --no-block
        wait_for 30 unit_is deferred-realise@killed.service ActiveState failed
        tap_result $? "4: a SIGKILLed training leaves realise failed"
        is "$(unit_prop deferred-realise@killed.service ExecMainStatus)" 65 "4: as a build failure (exit 65)"
        like "$(grep '^error=' "$RUNTIME/status/killed")" "signal|killed|failed" "4: the status file says why: $(grep '^error=' "$RUNTIME/status/killed")"
        sleep 3
        is "$(unit_prop deferred-realise@killed.service NRestarts)" 0 "4: no restart storm"
}

# ---------------------------------------------------------------------------------------
# 15. The server crashes repeatedly.
scenario_crash_loop() {
        fresh crash "$D_CRASH" /bin/false x
        rm -f "$MARK/crash.realise-runs"
        local nr
        systemctl --user start deferred-serve@crash.service --no-block
        wait_for 60 unit_is deferred-serve@crash.service ActiveState failed
        tap_result $? "15: a crashing server ends failed (start limit)"
        like "$(unit_prop deferred-serve@crash.service Result)" "start-limit-hit|exit-code" "15: result $(unit_prop deferred-serve@crash.service Result)"
        nr=$(unit_prop deferred-serve@crash.service NRestarts)
        # StartLimitBurst=5: five starts; NRestarts also counts the sixth, refused, attempt.
        [ "$nr" -le 6 ]
        tap_result $? "15: restarts bounded by the start limit (NRestarts $nr, burst 5)"
        is "$(starts crash)" 1 "15: the model was not trained again by the crashes"
        is "$(wc -l <"$MARK/crash.realise-runs" 2>/dev/null || echo 0)" 1 \
                "15: realise ran once, not again for each restart of the server"
        is "$(active deferred-realise@crash.service)" active "15: realise stays active"
}

# long_realised: long's realise run (training it if no scenario before did), as a
# scenario's setup; reports whether it is active with its status file written.
long_realised() {
        systemctl --user start deferred-realise@long.service --no-block
        wait_for 60 unit_is deferred-realise@long.service ActiveState active
        tap_result $? "setup: long is realised" "$(cat "$RUNTIME/status/long" 2>&1)" || return 1
        hold long "$D_LONG"
}

# ---------------------------------------------------------------------------------------
# 11. Corrupt and truncated status files.
scenario_corrupt_status() {
        fresh long "$D_LONG" /bin/sleep infinity
        long_realised || return
        local out rc
        printf 'state=ready\nmodel=long\ndrv=/nix/st' >"$RUNTIME/status/long"
        out=$("$CLI" --user status --json long 2>&1)
        rc=$?
        is "$rc" 0 "11: status survives a truncated status file"
        like "$out" '"long"' "11: and still lists the model"
        head -c 300 /dev/urandom >"$RUNTIME/status/long"
        "$CLI" --user status long >/dev/null 2>&1
        is "$?" 0 "11: status survives a garbage status file"
        systemctl --user restart deferred-realise@long.service
        wait_for 30 unit_is deferred-realise@long.service ActiveState active
        like "$(cat "$RUNTIME/status/long")" "state=ready" "11: the next realise rewrites it whole"
}

# ---------------------------------------------------------------------------------------
# 14. Full runtime file system while writing the status file: the old one stays intact.
scenario_full_runtime() {
        fresh long "$D_LONG" /bin/sleep infinity
        long_realised || return
        cp "$RUNTIME/status/long" "$HARNESS_TMP/status.before"
        mkdir -p "$HARNESS_TMP/tiny"
        if mount -t tmpfs -o size=4k,nr_inodes=16 tmpfs "$HARNESS_TMP/tiny"; then
                mkdir -p "$HARNESS_TMP/tiny/status" "$HARNESS_TMP/tiny/models"
                cp "$HARNESS_TMP/status.before" "$HARNESS_TMP/tiny/status/long"
                # Fill it up.
                dd if=/dev/zero of="$HARNESS_TMP/tiny/fill" bs=1k count=64 2>/dev/null || true
                DEFERRED_BUILDS_SCOPE=user DEFERRED_BUILDS_RUNTIME_DIR="$HARNESS_TMP/tiny" \
                        "$ABS_BUILD/deferred-realise" realise long >"$HARNESS_TMP/full.log" 2>&1
                diag "realise with a full runtime dir exited $?"
                like "$(cat "$HARNESS_TMP/full.log")" "No space left on device" "14: realise reports that it could not write its status"
                cmp -s "$HARNESS_TMP/status.before" "$HARNESS_TMP/tiny/status/long"
                tap_result $? "14: the previous status file is intact"
                is "$(find "$HARNESS_TMP/tiny" -name '.#*' | wc -l)" 0 "14: no temp file left behind"
                umount "$HARNESS_TMP/tiny"
        else
                skip "14: full runtime file system" "cannot mount a tmpfs"
        fi
}

# ---------------------------------------------------------------------------------------
# 10. The manager restarted mid-training: it runs again and completes.
scenario_manager_restart() {
        fresh long "$D_LONG" /bin/sleep infinity restart "$D_RESTART" /bin/sleep infinity
        unbuilt restart "$D_RESTART" || tap_result 1 "10: setup: restart is unbuilt" || return
        systemctl --user start deferred-serve@restart.service --no-block
        wait_for 20 test -f "$MARK/restart.starts"
        harness_stop
        harness_start
        wait_for 60 unit_is deferred-serve@restart.service ActiveState active
        tap_result $? "10: after a manager restart mid-training the model trains again and serves"
        ok "10: its output exists" test -e "$(readlink -f "$RUNTIME/models/restart")/model"
}

# ---------------------------------------------------------------------------------------
# 6. nix-store --gc racing realise. The server refuses to start without its model.
scenario_gc_race() {
        fresh
        local lost=0 badserve=0 i D gc
        for i in $(seq 1 "$GC_LOOPS"); do
                D=$(drv "race$i" 0)
                manifest "race$i" "$D" /bin/sh "$HARNESS_TMP/serve-check.sh"
                harness_reload
                (for _ in 1 2 3; do nix-store --gc >/dev/null 2>&1; done) &
                gc=$!
                systemctl --user start "deferred-serve@race$i.service" --no-block
                wait_for 60 unit_settled "deferred-serve@race$i.service"
                wait "$gc"
                [ "$(active "deferred-serve@race$i.service")" = active ] || badserve=$((badserve + 1))
                nix-store --gc >/dev/null 2>&1
                [ -e "$(readlink "$STATE/roots/faults/race$i")" ] || lost=$((lost + 1))
                systemctl --user stop "deferred-serve@race$i.service" "deferred-realise@race$i.service"
        done
        is "$badserve" 0 "6: $GC_LOOPS realises racing nix-store --gc: every server found its model"
        is "$lost" 0 "6: no rooted output was collected after success"
}

if [ $# -eq 0 ]; then
        set -- reloads sigkill crash_loop corrupt_status full_runtime manager_restart gc_race
        # The order above must name every scenario.
        [ "$(printf '%s\n' "$@" | sort)" = "$(declare -F | awk '$3 ~ /^scenario_/ { print substr($3, 10) }' | sort)" ] ||
                tap_bail "the default order names every scenario_ function"
fi
run_scenarios "$@"
