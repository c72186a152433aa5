#!/usr/bin/env bash
# Alerts (on-failure = UNIT) on a real systemd 252 user manager, with trainings really run
# through the real nix-daemon: the units a model names are started by systemd's OnFailure=
#   - when its training fails (realise), and when its retrain fails;
#   - when its server fails for good (after Restart= gave up);
#   - not when a training succeeds;
#   - not while an infrastructure failure (exit 75) is retried by Restart=, only once the
#     start limit gives up.
# The alert unit records the failed unit's name (%n passed as its instance).
#
# One scenario each, from a fresh state (no model unit run, no alert recorded):
#   on_failure_set training_succeeds training_fails tempfail_retried server_fails
#   retrain_fails
# The fixtures are instantiated and the user manager started once. Run one alone (a
# nix-daemon must answer; tests/run starts one):
#   ABS_BUILD=$PWD/build/san tests/integration/alerts.sh NAME    (or scenario_NAME)
set -u
: "${TOP:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$TOP/tests/lib/tap.sh"
. "$TOP/tests/lib/harness.sh"
. "$TOP/tests/lib/nixd.sh"
harness_enter "$@"

. "$TOP/tests/integration/fixtures/cli/lib.sh"
cli_require "alerts integration"
ALERTS="$HARNESS_TMP/alerts"
: >"$ALERTS"

DRV_GOOD=$(drv good)
DRV_BAD=$(drv bad 1 0 fail)
DRV_GOOD2=$(drv good 2 0 fail)
DRV_FLAKY=$(drv flaky)
DRV_SERVER=$(drv server)
ok "fixtures instantiated" test -e "$DRV_GOOD" -a -e "$DRV_BAD" -a -e "$DRV_GOOD2" -a -e "$DRV_FLAKY" -a -e "$DRV_SERVER"

# alerting NAME DRV [EXEC]: a model section that names the alert unit for its failures.
alerting() {
        printf '\n[model.%s]\ndrv = %s\nsubstituters =\non-failure = alert@%%n.service\n' "$1" "$2"
        if [ -n "${3:-}" ]; then
                printf 'exec = %s\n' "$3"
        else
                printf 'exec = %s\narg = %s\n' "$TOP/tests/integration/fixtures/cli/serve.sh" "$SERVED"
        fi
}
# write_manifest GOOD_DRV NAME...: a manifest of those models (good with GOOD_DRV).
write_manifest() {
        local good=$1 m
        shift
        {
                printf '[deferred-builds]\nversion = 1\ngeneration = a1\n'
                for m in "$@"; do
                        case $m in
                        good) alerting good "$good" ;;
                        bad) alerting bad "$DRV_BAD" ;;
                        flaky) alerting flaky "$DRV_FLAKY" ;;
                        server) alerting server "$DRV_SERVER" /bin/false ;;
                        quiet) model quiet "$DRV_BAD" ;;
                        esac
                done
        } >"$DEFERRED_BUILDS_MANIFEST.tmp" && mv "$DEFERRED_BUILDS_MANIFEST.tmp" "$DEFERRED_BUILDS_MANIFEST"
}
ALL="good bad flaky server quiet"
# shellcheck disable=SC2086 # ALL is a list of words
write_manifest "$DRV_GOOD" $ALL

# The alert: a oneshot that appends its instance (the failed unit) to $ALERTS.
mkdir -p "$UNITDIR"
cat >"$UNITDIR/alert@.service" <<UNIT
[Service]
Type=oneshot
ExecStart=/bin/sh -c 'echo "\$1" >>"$ALERTS"' alert %i
UNIT
# flaky: the daemon unreachable, so realise gives up with 75 at once; systemd retries it
# every 2 s, and gives up after 3 starts (the shipped limits are 30 s and 5 an hour).
mkdir -p "$UNITDIR/deferred-realise@flaky.service.d" "$UNITDIR/deferred-serve@server.service.d"
printf '[Unit]\nStartLimitIntervalSec=10min\nStartLimitBurst=3\n[Service]\nEnvironment=NIX_REMOTE=unix:///nonexistent/socket\nEnvironment=DEFERRED_BUILDS_RETRY_BUDGET=0\nRestartSec=2s\n' \
        >"$UNITDIR/deferred-realise@flaky.service.d/90-test.conf"
# server: /bin/false as the server; systemd restarts it quickly here, 3 times at most.
printf '[Unit]\nStartLimitIntervalSec=10min\nStartLimitBurst=3\n[Service]\nRestartSec=200ms\n' \
        >"$UNITDIR/deferred-serve@server.service.d/90-test.conf"
log_dropins
mkdir -p "$XDG_CONFIG_HOME/systemd/user"
ln -sf /dev/null "$XDG_CONFIG_HOME/systemd/user/deferred-builds-reconcile.service"
harness_start || tap_bail "the user manager starts"

alerts_for() { grep -cx "$1" "$ALERTS"; }
# fresh GOOD_DRV NAME...: a scenario's start: no model unit running or failed (their
# start limits reset), no state or runtime file, no alert recorded, and a manifest of
# those models, loaded.
fresh() {
        harness_fresh || tap_bail "the user manager settles between scenarios"
        : >"$ALERTS"
        write_manifest "$@"
        harness_reload
}
# alerts_told EXPECTED WHAT: once no job is left, every alert the scenario raised, sorted,
# on one line, is EXPECTED.
alerts_told() {
        wait_for 10 harness_idle
        is "$(sort "$ALERTS" | tr '\n' ' ')" "$1" "the alerts, all told: $2"
}

# shellcheck disable=SC2086 # ALL is a list of words
scenario_on_failure_set() {
        fresh "$DRV_GOOD" $ALL
        ok "the manifest is valid" "$DB" check
        is "$(unit_prop deferred-realise@bad.service OnFailure)" "alert@deferred-realise@bad.service.service" \
                "the realise unit of a model with on-failure has OnFailure= (%n expanded)"
        is "$(unit_prop deferred-realise@quiet.service OnFailure)" "" "a model without on-failure has none"
}

scenario_training_succeeds() {
        fresh "$DRV_GOOD" good
        diag "a training that succeeds alerts nobody"
        "$DB" realise --wait good >/dev/null 2>&1
        is "$?" 0 "good is trained and served"
        is "$(unit_prop deferred-realise@good.service OnFailure)" "alert@deferred-realise@good.service.service" \
                "good has OnFailure= too"
        alerts_told "" "none for good's training"
}

scenario_training_fails() {
        fresh "$DRV_GOOD" bad quiet
        diag "a training that fails starts the alert"
        "$DB" realise --wait bad >/dev/null 2>&1
        is "$?" 1 "bad's training fails"
        ok "the alert ran for deferred-realise@bad.service" wait_for 10 sh -c "grep -qx 'deferred-realise@bad.service' '$ALERTS'"
        is "$(alerts_for deferred-realise@bad.service)" 1 "once"
        "$DB" realise --wait quiet >/dev/null 2>&1
        is "$?" 1 "quiet's training fails too"
        alerts_told "deferred-realise@bad.service " "bad's training, none for quiet"
}

scenario_tempfail_retried() {
        fresh "$DRV_GOOD" flaky
        diag "exit 75 is retried by Restart=; the alert waits until systemd gives up"
        systemctl --user start --no-block deferred-realise@flaky.service
        ok "flaky failed with 75 and waits for its restart" wait_for 20 sh -c \
                "[ \"\$(systemctl --user show -P SubState deferred-realise@flaky.service)\" = auto-restart ]"
        is "$(unit_prop deferred-realise@flaky.service ExecMainStatus)" 75 "its exit status is 75"
        is "$(alerts_for deferred-realise@flaky.service)" 0 "no alert while systemd retries"
        ok "flaky was restarted" wait_for 20 sh -c "[ \"\$(systemctl --user show -P NRestarts deferred-realise@flaky.service)\" -ge 1 ]"
        is "$(alerts_for deferred-realise@flaky.service)" 0 "still no alert after a restart"
        ok "systemd gives up on flaky" wait_for 60 sh -c "[ \"\$(systemctl --user show -P ActiveState deferred-realise@flaky.service)\" = failed ]"
        ok "then the alert runs" wait_for 10 sh -c "grep -qx 'deferred-realise@flaky.service' '$ALERTS'"
        is "$(alerts_for deferred-realise@flaky.service)" 1 "once, after $(unit_prop deferred-realise@flaky.service NRestarts) restarts ($(unit_prop deferred-realise@flaky.service Result))"
        alerts_told "deferred-realise@flaky.service " "flaky's training, once systemd gave up"
}

scenario_server_fails() {
        fresh "$DRV_GOOD" server
        diag "a server that fails for good starts the alert"
        "$DB" realise server >/dev/null 2>&1
        ok "server's unit fails after its restarts" wait_for 60 sh -c "[ \"\$(systemctl --user show -P ActiveState deferred-serve@server.service)\" = failed ]"
        ok "the alert ran for deferred-serve@server.service" wait_for 10 sh -c "grep -qx 'deferred-serve@server.service' '$ALERTS'"
        is "$(alerts_for deferred-serve@server.service)" 1 "once, not per restart ($(unit_prop deferred-serve@server.service NRestarts) restarts)"
        is "$(alerts_for deferred-realise@server.service)" 0 "its training, which succeeded, did not alert"
        alerts_told "deferred-serve@server.service " "the server, not its training"
}

scenario_retrain_fails() {
        fresh "$DRV_GOOD" good
        diag "a retrain that fails starts the alert; the old model keeps serving"
        "$DB" realise --wait good >/dev/null 2>&1
        is "$?" 0 "good is trained and served"
        write_manifest "$DRV_GOOD2" good
        harness_reload
        "$DB" reconcile >/dev/null 2>&1
        ok "the retrain of good fails" wait_for 30 sh -c "[ \"\$(systemctl --user show -P ActiveState deferred-retrain@good.service)\" = failed ]"
        ok "the alert ran for deferred-retrain@good.service" wait_for 10 sh -c "grep -qx 'deferred-retrain@good.service' '$ALERTS'"
        is "$(serve_state good)" active "good still serves its previous model"
        alerts_told "deferred-retrain@good.service " "the retrain, not good's first training"
}

run_scenarios "$@"
