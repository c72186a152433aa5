#!/usr/bin/env bash
# System generations on a booted system, switched the way NixOS switches: a retrain while
# a client polls, a rollback that trains nothing even after a garbage collection, pruning
# a deleted generation lets the collector free its model, and a removed model is stopped.
#
#   tests/system/generations.sh [SCENARIO...]
cd "$(dirname "$0")/../.." || exit 1
TOP=$PWD
. tests/lib/tap.sh
. tests/lib/system.sh

scenario_retrain_while_polling() {
        local a b log shape fails
        a=$(system_build --arg models '{ linreg = { id = "A"; port = 8090; epochs = 1; }; }')
        system_switch "$a"
        wait_predict 60 8090 A
        tap_result $? "model A is served"
        local pid_a
        pid_a=$(booted_prop deferred-serve@linreg.service MainPID)
        poll_start 8090
        b=$(system_build --arg models '{ linreg = { id = "B"; port = 8090; epochs = 3; epochSeconds = 2; }; }')
        system_switch "$b"
        is "$?" 0 "the switch to B succeeds (${SWITCH_SECONDS}s)"
        is "$(unit_state deferred-retrain@linreg.service)" activating "B trains in the background"
        is "$(predict 8090)" A "A keeps serving while B trains"
        wait_predict 90 8090 B
        tap_result $? "B is served once trained"
        poll_until 10 B
        log=$(poll_stop)
        shape=$(printf '%s\n' "$log" | runs)
        like "$shape" '^A( FAIL)? B$' "the client saw A, then B, never A after B (answers: $shape)"
        fails=$(printf '%s\n' "$log" | grep -c FAIL)
        diag "swap gap: $fails failed polls of $(printf '%s\n' "$log" | wc -l) (100 ms apart)"
        local pid_b
        pid_b=$(booted_prop deferred-serve@linreg.service MainPID)
        [ "$pid_b" != "$pid_a" ]
        tap_result $? "the server was restarted onto B"
        is "$(booted_sh readlink -f /run/deferred-builds/models/linreg)" "$(manifest_value "$b" linreg out)" "the published link names B"
}

scenario_rollback_trains_nothing() {
        local a b stamp
        a=$(system_build --arg models '{ linreg = { id = "A"; port = 8091; epochs = 1; }; }')
        system_switch "$a"
        wait_predict 60 8091 A
        b=$(system_build --arg models '{ linreg = { id = "B"; port = 8091; epochs = 1; }; }')
        system_switch "$b"
        wait_predict 60 8091 B
        tap_result $? "B replaced A"
        stamp=$(build_stamp "$(manifest_value "$a" linreg drv)")
        like "$stamp" '^[0-9]+\.[0-9]+$' "A's build log records when it was built"
        ok "a garbage collection runs" booted_sh nix-store --gc
        booted_sh test -e "$(manifest_value "$a" linreg out)"
        tap_result $? "A's model survives the collection: its generation still exists"
        system_rollback
        is "$?" 0 "the rollback switch succeeds"
        wait_predict 30 8091 A
        tap_result $? "after the rollback A is served again"
        is "$(build_stamp "$(manifest_value "$a" linreg drv)")" "$stamp" "A was not trained again"
        # A server can answer before its unit is active: readiness runs after it starts.
        wait_state 10 deferred-serve@linreg.service active
        like "$(booted_sh deferred-builds status)" "linreg +serving" "status says serving"
}

scenario_deleted_generation_is_collected() {
        local a b out_a
        a=$(system_build --arg models '{ linreg = { id = "A"; port = 8092; epochs = 1; }; }')
        out_a=$(manifest_value "$a" linreg out)
        system_switch "$a"
        wait_predict 60 8092 A
        b=$(system_build --arg models '{ linreg = { id = "B"; port = 8092; epochs = 1; }; }')
        system_switch "$b"
        wait_predict 60 8092 B
        system_delete_generations 1
        ok "deferred-builds prune drops the deleted generation's roots" booted_sh deferred-builds prune
        ok "a garbage collection runs" booted_sh nix-store --gc
        like "$out_a" '^/nix/store/' "A's output is known ($out_a)"
        not_ok_expected "the deleted generation's model is collected" booted_sh test -e "$out_a"
        booted_sh test -e "$(manifest_value "$b" linreg out)"
        tap_result $? "the live generation's model is kept"
        is "$(predict 8092)" B "B still answers"
}

scenario_removed_model_is_stopped() {
        local both one pid
        both=$(system_build --arg models '{ linreg = { id = "A"; port = 8093; epochs = 1; }; extra = { id = "E"; port = 8094; epochs = 1; }; }')
        system_switch "$both"
        wait_predict 60 8093 A && wait_predict 60 8094 E
        tap_result $? "two models are served"
        pid=$(booted_prop deferred-serve@linreg.service MainPID)
        one=$(system_build --arg models '{ linreg = { id = "A"; port = 8093; epochs = 1; }; }')
        system_switch "$one"
        is "$?" 0 "the switch without 'extra' succeeds"
        wait_state 20 deferred-serve@extra.service inactive
        tap_result $? "the removed model's server is stopped"
        not_ok_expected "its published link is removed" booted_sh test -e /run/deferred-builds/models/extra
        is "$(booted_prop deferred-serve@linreg.service MainPID)" "$pid" "the other model's server was not restarted"
        is "$(predict 8093)" A "and still answers"
}

booted_scenarios \
        scenario_retrain_while_polling \
        scenario_rollback_trains_nothing \
        scenario_deleted_generation_is_collected \
        scenario_removed_model_is_stopped
