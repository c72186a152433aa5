#!/usr/bin/env bash
# Restarts of the whole booted system: a reboot with a trained model serves it again
# without training, and a manager re-exec in the middle of a training neither restarts nor
# loses it.
#
#   tests/system/reboot.sh [SCENARIO...]
cd "$(dirname "$0")/../.." || exit 1
TOP=$PWD
. tests/lib/tap.sh
. tests/lib/system.sh

scenario_reboot_serves_without_training() {
        local top stamp
        top=$(system_build --arg models '{ linreg = { id = "R"; port = 8100; epochs = 1; }; }')
        system_switch "$top"
        wait_predict 60 8100 R
        tap_result $? "the model is trained and served"
        stamp=$(build_stamp "$(manifest_value "$top" linreg drv)")
        like "$stamp" '^[0-9]+\.[0-9]+$' "its build log records when it was built"
        booted_reboot
        tap_result $? "the system reboots"
        wait_predict 60 8100 R
        tap_result $? "after the reboot the model is served again"
        is "$(build_stamp "$(manifest_value "$top" linreg drv)")" "$stamp" "it was not trained again"
        is "$(booted_sh systemctl is-system-running)" running "the rebooted system is running"
}

scenario_reexec_during_training() {
        local top pid
        top=$(system_build --arg models '{ linreg = { id = "X"; port = 8101; epochs = 3; epochSeconds = 2; }; }')
        system_switch "$top"
        wait_state 10 deferred-realise@linreg.service activating
        tap_result $? "the model trains"
        pid=$(booted_prop deferred-realise@linreg.service MainPID)
        ok "the manager re-executes itself" booted_sh systemctl daemon-reexec
        is "$(unit_state deferred-realise@linreg.service)" activating "the training goes on after the re-exec"
        is "$(booted_prop deferred-realise@linreg.service MainPID)" "$pid" "in the same process"
        wait_predict 60 8101 X
        tap_result $? "the model is served once trained"
        is "$(booted_prop deferred-realise@linreg.service NRestarts)" 0 "realise was never restarted"
}

booted_scenarios \
        scenario_reboot_serves_without_training \
        scenario_reexec_during_training
