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
# 15. the server crashes repeatedly: restart limits hold, realise is not re-run.
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

D_LONG=$(drv long 12)
D_KILL=$(drv killed 1 'kill -KILL \$\$; ')
D_CRASH=$(drv crash 0)
manifest long "$D_LONG" /bin/sleep infinity killed "$D_KILL" /bin/sleep infinity crash "$D_CRASH" /bin/false x
harness_start
systemctl --user start deferred-realise@long.service --no-block

# 3. Two reloads during the training.
wait_for 20 test -f "$MARK/long.starts"
harness_reload
harness_reload
sleep 1
is "$(active deferred-realise@long.service)" activating "3: after two daemon-reloads the training is still running"
wait_for 60 sh -c '[ "$(systemctl --user show -P ActiveState deferred-realise@long.service)" = active ]'
tap_result $? "3: and it completes"
is "$(starts long)" 1 "3: the builder ran exactly once (the reloads did not restart it)"

# 4. The builder killed with SIGKILL.
systemctl --user start deferred-realise@killed.service --no-block
wait_for 30 sh -c '[ "$(systemctl --user show -P ActiveState deferred-realise@killed.service)" = failed ]'
tap_result $? "4: a SIGKILLed training leaves realise failed"
is "$(unit_prop deferred-realise@killed.service ExecMainStatus)" 65 "4: as a build failure (exit 65)"
like "$(grep '^error=' "$RUNTIME/status/killed")" "signal|killed|failed" "4: the status file says why: $(grep '^error=' "$RUNTIME/status/killed")"
sleep 3
is "$(unit_prop deferred-realise@killed.service NRestarts)" 0 "4: no restart storm"

# 15. The server crashes repeatedly.
systemctl --user start deferred-serve@crash.service --no-block
wait_for 60 sh -c '[ "$(systemctl --user show -P ActiveState deferred-serve@crash.service)" = failed ]'
tap_result $? "15: a crashing server ends failed (start limit)"
like "$(unit_prop deferred-serve@crash.service Result)" "start-limit-hit|exit-code" "15: result $(unit_prop deferred-serve@crash.service Result)"
nr=$(unit_prop deferred-serve@crash.service NRestarts)
# StartLimitBurst=5: five starts; NRestarts also counts the sixth, refused, attempt.
[ "$nr" -le 6 ]
tap_result $? "15: restarts bounded by the start limit (NRestarts $nr, burst 5)"
is "$(starts crash)" 1 "15: realise was not re-run by the crashes"
is "$(active deferred-realise@crash.service)" active "15: realise stays active"

# 11. Corrupt and truncated status files.
printf 'state=ready\nmodel=long\ndrv=/nix/st' >"$RUNTIME/status/long"
out=$("$CLI" --user status --json long 2>&1)
rc=$?
is "$rc" 0 "11: status survives a truncated status file"
like "$out" '"long"' "11: and still lists the model"
head -c 300 /dev/urandom >"$RUNTIME/status/long"
"$CLI" --user status long >/dev/null 2>&1
is "$?" 0 "11: status survives a garbage status file"
systemctl --user restart deferred-realise@long.service
wait_for 30 sh -c '[ "$(systemctl --user show -P ActiveState deferred-realise@long.service)" = active ]'
like "$(cat "$RUNTIME/status/long")" "state=ready" "11: the next realise rewrites it whole"

# 14. Full runtime file system while writing the status file: the old one stays intact.
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

# 10. The manager restarted mid-training: it runs again and completes.
D_RESTART=$(drv restart 6)
manifest long "$D_LONG" /bin/sleep infinity restart "$D_RESTART" /bin/sleep infinity
harness_reload
systemctl --user start deferred-serve@restart.service --no-block
wait_for 20 test -f "$MARK/restart.starts"
harness_stop
harness_start
wait_for 60 sh -c '[ "$(systemctl --user show -P ActiveState deferred-serve@restart.service)" = active ]'
tap_result $? "10: after a manager restart mid-training the model trains again and serves"
ok "10: its output exists" test -e "$(readlink -f "$RUNTIME/models/restart")/model"

# 6. nix-store --gc racing realise. The server refuses to start without its model.
printf '#!/bin/sh\ntest -e "$DEFERRED_MODEL_PATH/model" || exit 1\nexec /bin/sleep infinity\n' >"$HARNESS_TMP/serve-check.sh"
lost=0 badserve=0
for i in $(seq 1 "$GC_LOOPS"); do
        D=$(drv "race$i" 0)
        manifest "race$i" "$D" /bin/sh "$HARNESS_TMP/serve-check.sh"
        harness_reload
        ( for _ in 1 2 3; do nix-store --gc >/dev/null 2>&1; done ) &
        gc=$!
        systemctl --user start "deferred-serve@race$i.service" --no-block
        wait_for 60 sh -c "s=\$(systemctl --user show -P ActiveState deferred-serve@race$i.service); [ \"\$s\" = active ] || [ \"\$s\" = failed ]"
        wait "$gc"
        [ "$(active "deferred-serve@race$i.service")" = active ] || badserve=$((badserve + 1))
        nix-store --gc >/dev/null 2>&1
        [ -e "$(readlink "$STATE/roots/faults/race$i")" ] || lost=$((lost + 1))
        systemctl --user stop "deferred-serve@race$i.service" "deferred-realise@race$i.service"
done
is "$badserve" 0 "6: $GC_LOOPS realises racing nix-store --gc: every server found its model"
is "$lost" 0 "6: no rooted output was collected after success"
tap_done
