#!/usr/bin/env bash
# Deploying on a booted system (systemd as PID 1, journald, Debian's nix-daemon.service),
# with the project installed by `make install PREFIX=/usr`, switched the way NixOS switches:
# the switch returns while the model trains, the server starts only after the build, the
# journal has the model's fields, and failures end without a restart loop.
#
#   tests/system/deploy.sh [SCENARIO...]
cd "$(dirname "$0")/../.." || exit 1
TOP=$PWD
. tests/lib/tap.sh
. tests/lib/system.sh

scenario_switch_returns_while_training() {
        local top out
        top=$(system_build --arg models '{ linreg = { id = "A"; port = 8080; epochs = 4; epochSeconds = 2; }; }')
        ok "a system with a model builds" test -n "$top"
        out=$(manifest_value "$top" linreg out)
        not_ok_expected "building the system did not train the model" booted_sh test -e "$out"
        is "$(booted_sh sh -c "nix-store -qR '$top' | grep -c '\.drv\$'")" 0 "the system closure holds no .drv (the model's bundle instead)"
        system_switch "$top"
        is "$?" 0 "the switch succeeds, with no failed unit (${SWITCH_FAILED:-none})"
        is "$(unit_state deferred-realise@linreg.service)" activating \
                "the switch returned (after ${SWITCH_SECONDS}s) while the model still trains"
        booted_wait 10 sh -c '[ "$(systemctl is-system-running)" = running ] && [ "$(systemctl is-active deferred-realise@linreg.service)" = activating ]'
        tap_result $? "the system is 'running' while the model trains" "$(booted_sh systemctl is-system-running)"
        is "$(unit_state deferred-serve@linreg.service)" inactive "the server has not started during the training"
        booted_wait 10 sh -c 'systemctl show -P StatusText deferred-realise@linreg.service | grep -q "^training linreg: .*epoch"'
        tap_result $? "StatusText shows the training's progress" "$(booted_prop deferred-realise@linreg.service StatusText)"
        wait_state 60 deferred-serve@linreg.service active
        tap_result $? "the server starts once the model is trained"
        local built started
        built=$(booted_prop deferred-realise@linreg.service ActiveEnterTimestampMonotonic)
        started=$(booted_prop deferred-serve@linreg.service ExecMainStartTimestampMonotonic)
        [ "${started:-0}" -ge "${built:-1}" ]
        tap_result $? "the server started after the build finished" "realise active at $built, serve started at $started"
        wait_predict 10 8080 A
        tap_result $? "the server answers with the trained model"
        # A server can answer before its unit is active: readiness runs after it starts.
        wait_state 10 deferred-serve@linreg.service active
        like "$(booted_sh deferred-builds status)" "linreg +serving" "deferred-builds status says serving"
        booted_sh test -e "$out"
        tap_result $? "the model's output is in the store"
        is "$(booted_sh readlink -f /run/deferred-builds/models/linreg)" "$out" "the published link names the trained output"
}

scenario_journal_has_model_fields() {
        local top drv out gen
        top=$(system_build --arg models '{ linreg = { id = "J"; port = 8081; epochs = 1; }; }')
        drv=$(manifest_value "$top" linreg drv)
        out=$(manifest_value "$top" linreg out)
        system_switch "$top"
        wait_state 60 deferred-serve@linreg.service active
        tap_result $? "the model is served"
        booted_sh journalctl --sync
        local j
        j=$(booted_sh journalctl -o export DEFERRED_MODEL=linreg _SYSTEMD_UNIT=deferred-realise@linreg.service)
        printf '%s\n' "$j" | grep -qxF "DEFERRED_DRV=$drv"
        tap_result $? "journald holds DEFERRED_DRV= for the realise unit's lines"
        printf '%s\n' "$j" | grep -qxF "DEFERRED_OUT=$out"
        tap_result $? "journald holds DEFERRED_OUT="
        gen=$(printf '%s\n' "$j" | sed -n 's/^DEFERRED_GENERATION=//p' | head -n 1)
        booted_sh test -L "/var/lib/deferred-builds/roots/$gen/linreg"
        tap_result $? "DEFERRED_GENERATION= names the generation whose GC root holds the model ($gen)"
        like "$(booted_sh deferred-builds logs -n 200 linreg)" "Realising model linreg" "deferred-builds logs reads the realise lines from journald"
        unlike "$(booted_sh journalctl -q -o cat -u deferred-realise@linreg.service)" "GC Warning" \
                "nix-store's collector does not warn about the sandbox's hidden /proc/stat"
        like "$(booted_sh deferred-builds logs -n 200 linreg)" "dbx-serve: serving model J" "deferred-builds logs includes the server's lines"
}

scenario_failed_build_no_restart_loop() {
        local top
        top=$(system_build --arg models '{ linreg = { id = "F"; port = 8082; epochs = 2; failAtEpoch = 1; }; }')
        system_switch "$top"
        wait_state 60 deferred-realise@linreg.service failed
        tap_result $? "a build that fails leaves the realise unit failed"
        is "$(booted_prop deferred-realise@linreg.service ExecMainStatus)" 65 "it ends with exit status 65 (build failure)"
        is "$(booted_prop deferred-realise@linreg.service SubState)" failed "it is not waiting to restart"
        is "$(booted_prop deferred-realise@linreg.service NRestarts)" 0 "it was not restarted"
        is "$(unit_state deferred-serve@linreg.service)" inactive "the server was not started"
        like "$(booted_sh deferred-builds status)" "linreg +failed" "deferred-builds status says failed"
}

# Debian without NixOS (docs/debian.md): a manifest in place, daemon-reload, reconcile.
manual_manifest() { # DRV OUT PORT
        booted_sh sh -c "mkdir -p /etc/deferred-builds && cat >/etc/deferred-builds/manifest.ini" <<EOF2
[deferred-builds]
version = 1
generation = manual-1

[model.linreg]
drv = $1
out = $2
exec = /opt/dbx-test/dbx-serve
arg = --listen
arg = 127.0.0.1:$3
notify = true
EOF2
}

scenario_missing_drv() {
        manual_manifest /nix/store/00000000000000000000000000000000-missing.drv \
                /nix/store/00000000000000000000000000000000-missing 8083
        booted_sh systemctl daemon-reload
        booted_sh deferred-builds reconcile >/dev/null
        wait_state 30 deferred-realise@linreg.service failed
        tap_result $? "a model whose .drv is not in the store fails"
        is "$(booted_prop deferred-realise@linreg.service ExecMainStatus)" 69 "with exit status 69"
        is "$(booted_prop deferred-realise@linreg.service NRestarts)" 0 "and is not restarted"
        like "$(booted_sh deferred-builds logs -n 50 linreg)" "00000000000000000000000000000000-missing.drv" "the journal names the missing .drv"
}

scenario_debian_manifest_by_hand() {
        local drv out
        drv=$(booted_sh nix-instantiate --option substituters '' /opt/dbx-test/examples/model.nix \
                --arg trainer /opt/dbx-test/dbx-train --argstr id M 2>/dev/null)
        out=$(booted_sh nix-store -q --outputs "$drv")
        ok "a model's .drv is instantiated by hand" test -n "$out"
        manual_manifest "$drv" "$out" 8084
        ok "deferred-builds check accepts the hand-written manifest" booted_sh deferred-builds check
        booted_sh systemctl daemon-reload
        ok "deferred-builds reconcile queues the model" booted_sh deferred-builds reconcile
        wait_predict 60 8084 M
        tap_result $? "the model is trained and served on Debian, without NixOS"
        local uid
        uid=$(booted_sh id -u deferred-builds)
        like "$(booted_sh id -nG deferred-builds)" "(^| )nix-users( |$)" "the realise user is in Debian's nix-users group, which may use the daemon socket"
        ok "the GC root is owned by the realise user" booted_sh sh -c "[ \"\$(stat -c %u /var/lib/deferred-builds/roots/manual-1/linreg)\" = $uid ]"
        # An older generation's root, as a previous manifest would have left it.
        booted_sh sh -c "mkdir -p /var/lib/deferred-builds/roots/manual-0 && nix-store --add-root /var/lib/deferred-builds/roots/manual-0/linreg --indirect -r '$out'" >/dev/null
        ok "deferred-builds prune runs without NixOS's profiles" booted_sh deferred-builds prune
        not_ok_expected "it removed the other generation's root" booted_sh test -e /var/lib/deferred-builds/roots/manual-0
        ok "it kept the current manifest's root" booted_sh test -L /var/lib/deferred-builds/roots/manual-1/linreg
}

scenario_daemon_down_then_back() {
        local top
        top=$(system_build --arg models '{ linreg = { id = "D"; port = 8085; epochs = 1; }; }')
        booted_sh systemctl mask --runtime --now nix-daemon.socket nix-daemon.service >/dev/null 2>&1
        system_switch "$top"
        booted_wait 20 sh -c 'systemctl show -P StatusText deferred-realise@linreg.service | grep -q "waiting for nix-daemon"'
        tap_result $? "with the daemon down, realise waits and says so" "$(booted_prop deferred-realise@linreg.service StatusText)"
        booted_sh systemctl unmask --runtime nix-daemon.socket nix-daemon.service >/dev/null 2>&1
        booted_sh systemctl start nix-daemon.socket
        wait_predict 60 8085 D
        tap_result $? "once the daemon is back, the model is trained and served"
        is "$(booted_prop deferred-realise@linreg.service NRestarts)" 0 "realise rode it out without a unit restart"
}

# A content-addressed model through the daemon: its output path is known only once built,
# so the manifest names none and the server finds the model through the published link.
scenario_content_addressed_model() {
        local top out
        booted_sh sh -c 'echo "experimental-features = ca-derivations" >>/etc/nix/nix.conf && systemctl stop nix-daemon.socket nix-daemon.service && systemctl start nix-daemon.socket'
        top=$(system_build --arg models '{ linreg = { id = "CA"; port = 8086; epochs = 1; contentAddressed = true; }; }')
        ok "a system with a content-addressed model builds" test -n "$top"
        is "$(manifest_value "$top" linreg out)" "" "its manifest names no output path"
        is "$(booted_sh sh -c "nix-store -qR '$top' | grep -c '\.drv\$'")" 0 "the system closure holds no .drv"
        system_switch "$top"
        wait_predict 60 8086 CA
        tap_result $? "it is trained through nix-daemon and served" "$(booted_sh deferred-builds status linreg)"
        out=$(booted_sh readlink -f /run/deferred-builds/models/linreg)
        like "$out" '^/nix/store/[a-z0-9]{32}-dbx-model$' "the published link resolves to its output ($out)"
        like "$(booted_sh nix-store -q --hash "$out" 2>/dev/null)" '^sha256:' "the output is a valid store path"
}

booted_scenarios \
        scenario_switch_returns_while_training \
        scenario_journal_has_model_fields \
        scenario_failed_build_no_restart_loop \
        scenario_missing_drv \
        scenario_debian_manifest_by_hand \
        scenario_daemon_down_then_back \
        scenario_content_addressed_model
