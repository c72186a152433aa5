#!/usr/bin/env bash
# What NixOS switches do to models, on the booted system: a failed training is not retried
# by later switches (each runs reset-failed), a change of the server's settings alone
# reaches the server, a crashed server is retried once its settings change, a reboot in
# the middle of a retrain keeps the previous model serving, and a realise by hand ends
# with the model served.
#
#   tests/system/switching.sh [SCENARIO...]
cd "$(dirname "$0")/../.." || exit 1
TOP=$PWD
. tests/lib/tap.sh
. tests/lib/system.sh

realise_runs() { # how many times realise started for MODEL in this boot
        booted_sh journalctl -b -q -o cat -u "deferred-realise@$1.service" | grep -c "^Realising model $1:"
}

scenario_failed_build_survives_switches() {
        local bad other good i
        bad=$(system_build --arg models '{ linreg = { id = "F"; port = 8120; epochs = 2; failAtEpoch = 1; }; }')
        system_switch "$bad"
        wait_state 60 deferred-realise@linreg.service failed
        tap_result $? "the training fails"
        # Later switches change something else: another model comes and goes.
        for i in 1 2 3 4 5; do
                other=$(system_build --arg models "{ linreg = { id = \"F\"; port = 8120; epochs = 2; failAtEpoch = 1; }; m$i = { id = \"O$i\"; port = $((8130 + i)); epochs = 1; }; }")
                system_switch "$other"
                wait_predict 60 $((8130 + i)) "O$i"
        done
        booted_sh systemctl is-active --quiet deferred-realise@linreg.service
        is "$(realise_runs linreg)" 1 "five later switches did not train the failed model again"
        like "$(booted_sh deferred-builds status linreg)" "linreg +failed" "status still says failed"
        booted_reboot
        tap_result $? "the system reboots"
        booted_wait 30 sh -c '[ "$(systemctl is-active deferred-builds-reconcile.service)" = inactive ] && [ "$(systemctl show -P ExecMainStatus deferred-builds-reconcile.service)" = 0 ] && [ "$(systemctl show -P ExecMainExitTimestampMonotonic deferred-builds-reconcile.service)" != 0 ]'
        tap_result $? "reconcile ran at boot"
        is "$(realise_runs linreg)" 0 "the reboot did not train the failed model again"
        like "$(booted_sh deferred-builds status linreg)" "linreg +failed" "status says failed after the reboot"
        ok "deferred-builds realise retries it by hand" booted_sh deferred-builds realise linreg
        booted_wait 60 sh -c '[ "$(systemctl is-active deferred-realise@linreg.service)" = failed ]'
        is "$(realise_runs linreg)" 1 "the retry by hand trained it once more"
        good=$(system_build --arg models '{ linreg = { id = "G"; port = 8120; epochs = 1; }; }')
        system_switch "$good"
        wait_predict 60 8120 G
        tap_result $? "a new derivation for it is trained and served"
}

scenario_serve_only_change_applied() {
        local a b pid
        a=$(system_build --arg models '{ linreg = { id = "A"; port = 8121; epochs = 1; env = { MODE = "one"; }; }; }')
        system_switch "$a"
        wait_predict 60 8121 A
        pid=$(booted_prop deferred-serve@linreg.service MainPID)
        b=$(system_build --arg models '{ linreg = { id = "A"; port = 8121; epochs = 1; env = { MODE = "two"; }; }; }')
        system_switch "$b"
        booted_wait 20 sh -c "pid=\$(systemctl show -P MainPID deferred-serve@linreg.service); [ \"\$pid\" != $pid ] && [ \"\$pid\" != 0 ] && tr '\\0' '\\n' </proc/\$pid/environ | grep -qx MODE=two"
        tap_result $? "one switch restarts the server with its new environment"
        wait_predict 20 8121 A
        tap_result $? "the same model serves again"
        is "$(realise_runs linreg)" 1 "the model was not trained again"
}

scenario_crashed_server_retried_on_change() {
        local bad good
        # dbx-serve exits at once when its port is taken: port 1 needs privileges.
        bad=$(system_build --arg models '{ linreg = { id = "C"; port = 1; epochs = 1; }; }')
        system_switch "$bad"
        wait_state 60 deferred-serve@linreg.service failed
        tap_result $? "a server that cannot start ends failed"
        good=$(system_build --arg models '{ linreg = { id = "C"; port = 8122; epochs = 1; }; }')
        system_switch "$good"
        wait_predict 30 8122 C
        tap_result $? "the switch with a fixed server starts it"
}

scenario_reboot_during_retrain_keeps_serving() {
        local a b shape
        a=$(system_build --arg models '{ linreg = { id = "A"; port = 8123; epochs = 1; }; }')
        system_switch "$a"
        wait_predict 60 8123 A
        b=$(system_build --arg models '{ linreg = { id = "B"; port = 8123; epochs = 10; epochSeconds = 2; }; }')
        system_switch "$b"
        wait_state 10 deferred-retrain@linreg.service activating
        tap_result $? "B trains while A serves"
        booted_reboot
        tap_result $? "the system reboots during the retrain"
        poll_start 8123
        wait_predict 30 8123 A
        tap_result $? "after the reboot A serves while B trains"
        is "$(unit_state deferred-retrain@linreg.service)" activating "B trains again, in the retrain unit"
        # A server can answer before its unit is active: readiness runs after it starts.
        wait_state 10 deferred-serve@linreg.service active
        like "$(booted_sh deferred-builds status linreg)" "linreg +serving" "status says serving"
        wait_predict 90 8123 B
        tap_result $? "B is swapped in once trained"
        poll_until 10 B
        shape=$(poll_stop | runs)
        like "$shape" '^(FAIL )?A( FAIL)? B$' "from its first answer on, the client saw A, then B (answers: $shape)"
}

scenario_realise_by_hand_serves() {
        local top
        top=$(system_build --arg models '{ linreg = { id = "H"; port = 8124; epochs = 1; }; }')
        # An occupied GC root (a regular file) makes realise stop with 73, untouched.
        local gen
        gen=$(booted_sh sh -c "basename \$(readlink -f $top/deferred-builds/manifest.ini)")
        booted_sh install -d -o deferred-builds -g deferred-builds /var/lib/deferred-builds
        booted_sh runuser -u deferred-builds -- sh -c "mkdir -p /var/lib/deferred-builds/roots/$gen && echo x >/var/lib/deferred-builds/roots/$gen/linreg"
        system_switch "$top"
        wait_state 30 deferred-realise@linreg.service failed
        is "$(booted_prop deferred-realise@linreg.service ExecMainStatus)" 73 "realise stops at an occupied GC root"
        booted_sh rm "/var/lib/deferred-builds/roots/$gen/linreg"
        ok "deferred-builds realise --wait succeeds once it is cleared" booted_sh timeout 60 deferred-builds realise --wait linreg
        wait_predict 20 8124 H
        tap_result $? "and the model is then served"
}

# docs/operations.md "Removing deferred-builds": what is left after disabling the module,
# and how to free it.
scenario_cleanup_after_disabling() {
        local top out empty
        top=$(system_build --arg models '{ linreg = { id = "Z"; port = 8125; epochs = 1; }; }')
        out=$(manifest_value "$top" linreg out)
        system_switch "$top"
        wait_predict 60 8125 Z
        # A system without the module: no manifest at all.
        empty=$(booted_sh sh -c "nix-build --no-out-link --option substituters '' -E 'derivation { name = \"nixos-system-empty\"; system = builtins.currentSystem; builder = \"/bin/sh\"; args = [ \"-c\" \"/bin/mkdir \$out\" ]; }'" 2>/dev/null)
        booted_sh nix-env -p "$SWITCH_PROFILE" --set "$empty" >/dev/null 2>&1
        # What the switch does to units whose files went away with the package.
        booted_sh systemctl stop deferred-builds.target
        booted_sh rm -f /etc/deferred-builds/manifest.ini
        booted_sh systemctl daemon-reload
        is "$(unit_state deferred-serve@linreg.service)" inactive "without the module the server is stopped"
        system_delete_generations old
        booted_sh nix-store --gc >/dev/null 2>&1
        booted_sh test -e "$out"
        tap_result $? "the model's GC root still keeps it after a collection"
        ok "deferred-builds roots lists what is left" booted_sh sh -c 'deferred-builds roots | grep -q linreg'
        booted_sh sh -c 'rm -rf /var/lib/deferred-builds /run/deferred-builds'
        ok "after removing the state and runtime folders a collection runs" booted_sh nix-store --gc
        not_ok_expected "the model is collected" booted_sh test -e "$out"
}

booted_scenarios \
        scenario_failed_build_survives_switches \
        scenario_serve_only_change_applied \
        scenario_crashed_server_retried_on_change \
        scenario_reboot_during_retrain_keeps_serving \
        scenario_realise_by_hand_serves \
        scenario_cleanup_after_disabling
