#!/usr/bin/env bash
# deferred-builds, the operator CLI, against a real systemd user manager and real
# derivations built by the real nix-daemon (tests/lib/harness.sh): every subcommand, its
# output, its --json (parsed), its exit codes.
#
# One scenario per case, each from a fresh state (derivations of its own, so nothing
# another scenario built is in the store; no model unit run; no state or runtime file):
#   usage check list no_manager pending realise_queues realise_wait realise_fails
#   reconcile restart retrain logs journal json_text removed roots scope thousand_models
# They run in that order (SCENARIOS below): the user manager is started once, by pending,
# the first that needs one (no_manager, run after one, stops it; the next that needs one
# starts it again). Run one or a few alone (a nix-daemon must answer; tests/run starts one):
#   ABS_BUILD=$PWD/build/san tests/integration/cli.sh NAME...    (or scenario_NAME)
set -u
: "${TOP:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$TOP/tests/lib/tap.sh"
. "$TOP/tests/lib/harness.sh"
. "$TOP/tests/lib/nixd.sh"
harness_enter "$@"

. "$TOP/tests/integration/fixtures/cli/lib.sh"
cli_require "cli integration"
SUITE_NONCE=$CLI_NONCE

# run CMD...: sets $out (stdout and stderr) and $rc
run() {
        out=$("$@" 2>&1)
        rc=$?
}
# runo CMD...: sets $out (stdout only), $err (stderr) and $rc
runo() {
        out=$("$@" 2>"$HARNESS_TMP/stderr")
        rc=$?
        err=$(cat "$HARNESS_TMP/stderr")
}

# fixtures NAME...: derivations of models NAME in DRV_ALPHA, DRV_BETA, DRV_BROKEN and
# DRV_NEVER (alpha's output in OUT_ALPHA), under a nonce of the scenario's own: no output
# an earlier scenario built is in the store, so every training really runs. beta trains
# for 25 s (beta=SECONDS: for that long), broken fails, alpha and never train at once.
FIXTURES=0
fixtures() {
        local m v drvs=()
        FIXTURES=$((FIXTURES + 1))
        CLI_NONCE="$SUITE_NONCE-$FIXTURES"
        for m in "$@"; do
                case $m in
                alpha) DRV_ALPHA=$(drv alpha) && OUT_ALPHA=$(outpath "$DRV_ALPHA") ;;
                beta) DRV_BETA=$(drv beta 1 25) ;;
                beta=*) DRV_BETA=$(drv beta 1 "${m#beta=}") ;;
                broken) DRV_BROKEN=$(drv broken 1 0 fail) ;;
                never) DRV_NEVER=$(drv never) ;;
                *) tap_bail "model $m has a fixture" ;;
                esac
                v=DRV_${m%%=*}
                v=${v^^}
                drvs+=("${!v}")
        done
        ok "fixtures instantiated (nonce $CLI_NONCE)" ls -d -- "${drvs[@]}"
}
# manifest_of GENERATION NAME...: a manifest of models NAME (as fixtures takes them) with
# their DRV_NAME derivations.
manifest_of() {
        local gen=$1 m v a=()
        shift
        for m in "$@"; do
                m=${m%%=*}
                v=DRV_${m^^}
                a+=("$m" "${!v}")
        done
        manifest "$gen" "${a[@]}"
}

# Unit output goes to files; reconcile is masked, so each scenario decides what starts.
log_dropins
mkdir -p "$XDG_CONFIG_HOME/systemd/user"
ln -sf /dev/null "$XDG_CONFIG_HOME/systemd/user/deferred-builds-reconcile.service"
MANAGER_UP=0
manager_up() { # starts the user manager unless it runs
        [ "$MANAGER_UP" = 1 ] && return 0
        harness_start || tap_bail "the user manager starts"
        MANAGER_UP=1
}
manager_down() { # stops the user manager with every unit it ran; empties state and runtime
        # shellcheck disable=SC2119 # no folder of its own to empty
        harness_fresh_manager
        MANAGER_UP=0
}

# fresh_manifest NAME...: the start of a scenario that needs no manager: its own
# fixtures of models NAME, in a manifest of generation g1.
fresh_manifest() {
        fixtures "$@"
        manifest_of g1 "$@"
}
# fresh NAME...: the start of a scenario with the user manager: no model unit running or
# failed (their start limits reset), no state or runtime file, and its own fixtures of
# models NAME in a manifest of generation g1, loaded.
fresh() {
        manager_up
        harness_fresh || tap_bail "the user manager settles between scenarios"
        fresh_manifest "$@"
        harness_reload
}

# Steps more than one scenario takes, each with its result.
alpha_served() {
        local said
        said=$("$DB" realise --wait alpha 2>&1)
        tap_result $? "alpha is trained and served by hand (realise --wait)" "$said"
}
broken_fails() {
        local said
        said=$("$DB" realise --wait broken 2>&1)
        [ $? = 1 ]
        tap_result $? "broken's training fails (realise --wait exits 1)" "$said"
}
beta_trains() { # after beta's realise: its training runs and printed its line
        ok "beta trains" wait_for 10 sh -c "$DB status --json beta | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(d[0][\"state\"] != \"training\" or not d[0][\"progress\"] or d[0][\"progress\"][\"last_line\"] != \"epoch 1/1 of beta v1\")'"
}

# ---------------------------------------------------------------------------------------
scenario_usage() {
        fresh_manifest alpha beta broken
        diag "usage"
        local v
        run "$DB" --help
        is "$rc" 0 "--help exits 0"
        like "$out" "^Usage: deferred-builds \[--user\|--system\] COMMAND" "--help shows the usage"
        for v in status list realise restart logs check roots prune reconcile; do
                run "$DB" "$v" --help
                is "$rc/$(printf '%s\n' "$out" | head -1 | cut -d' ' -f1-3)" "0/Usage: deferred-builds $v" "$v --help"
        done
        run "$DB"
        is "$rc" 64 "no command: exit 64"
        run "$DB" frobnicate
        is "$rc" 64 "unknown command: exit 64"
        like "$out" "unknown command 'frobnicate'" "unknown command is named"
        run "$DB" status --bogus
        is "$rc" 64 "unknown option: exit 64"
        like "$out" "status: unknown option '--bogus'; see 'deferred-builds status --help'" "unknown option is named"
        run "$DB" logs -n
        is "$rc" 64 "missing option value: exit 64"
        like "$out" "option '-n' needs a value" "missing value is named"
        run "$DB" realise
        is "$rc" 64 "realise without NAME: exit 64"
        run "$DB" realise 'bad name!'
        is "$rc" 64 "invalid model name: exit 64"
        like "$out" "'bad name!' is not a model name" "invalid name is explained"
        run "$DB" list extra
        is "$rc" 64 "list with an operand: exit 64"
}

# ---------------------------------------------------------------------------------------
scenario_check() {
        fresh_manifest alpha beta broken
        diag "check"
        local bad="$HARNESS_TMP/bad.ini"
        run "$DB" check
        is "$rc/$out" "0/configuration OK (3 models)" "check: the manifest is OK"
        printf '[deferred-builds]\nversion = 1\n\n[model.good]\ndrv = %s\nexec = /bin/true\n\n[model.bad]\ndrv = /tmp/x.drv\nexec = /bin/true\n' \
                "$DRV_ALPHA" >"$bad"
        run "$DB" check "$bad"
        is "$rc" 1 "check: a model with errors exits 1"
        like "$out" "^$bad:9: error: model 'bad': drv '/tmp/x.drv' is not a derivation in the store" "check: file:line diagnostic"
        like "$out" "1 model would be skipped, 1 loaded" "check: says what would happen"
        printf '[deferred-builds]\nversion = 2\n' >"$bad"
        run "$DB" check "$bad"
        is "$rc" 1 "check: a rejected file exits 1"
        like "$out" "^$bad:2: error: manifest format version 2 is not supported" "check: says why it is rejected"
        like "$out" "rejected: no model would be loaded" "check: says nothing would load"
        printf '[deferred-builds]\nversion = 1\ncolour = blue\n' >"$bad"
        run "$DB" check "$bad"
        is "$rc" 0 "check: warnings only exit 0"
        like "$out" "^$bad:3: warning: unknown key 'colour'" "check: the warning has its line"
        like "$out" "configuration OK \(0 models\)" "check: and the file is OK"
        run "$DB" check "$HARNESS_TMP/nonexistent.ini"
        is "$rc" 66 "check: a missing file exits 66"
        like "$out" "nonexistent.ini: error: cannot read: No such file or directory" "check: names the file"
}

# ---------------------------------------------------------------------------------------
scenario_list() {
        fresh_manifest alpha beta broken
        diag "list"
        runo "$DB" list
        is "$rc/${out//$'\n'/ }" "0/alpha beta broken" "list: one name per line, sorted"
        runo "$DB" list --json
        is "$(printf '%s' "$out" | json 'print(",".join(d))')" "alpha,beta,broken" "list --json: an array of names"
        DEFERRED_BUILDS_MANIFEST="$HARNESS_TMP/nonexistent.ini" run "$DB" list
        is "$rc" 66 "list: no manifest exits 66"
        like "$out" "No manifest at $HARNESS_TMP/nonexistent.ini" "list: says where it looked"
}

# ---------------------------------------------------------------------------------------
scenario_no_manager() {
        manager_down
        fresh_manifest alpha beta broken
        diag "no manager"
        run "$DB" status
        is "$rc" 69 "status without a manager exits 69"
        like "$out" "Failed to connect to the user service manager at /run/user/0/systemd/private: .*Is it running\?" \
                "names the socket and the fix"
        run env -u XDG_RUNTIME_DIR "$DB" status
        is "$rc" 69 "status without XDG_RUNTIME_DIR exits 69"
        like "$out" "XDG_RUNTIME_DIR is not set" "and says why"
}

# ---------------------------------------------------------------------------------------
scenario_pending() {
        fresh alpha beta broken
        diag "a real manager; nothing started (reconcile masked, so this suite decides)"
        runo "$DB" status
        is "$rc" 0 "status exits 0"
        like "$out" "^NAME +STATE +SINCE +PROGRESS +DRV +OUT +ERROR" "status: table header"
        like "$out" "alpha +pending +- +- +[a-z0-9]{7}…-dbcli-alpha-" "status: a model never started is pending"
        runo "$DB" status --json
        is "$(printf '%s' "$out" | json 'print(len(d), *[x["state"] for x in d])')" "3 pending pending pending" "status --json: three pending models"
        is "$(printf '%s' "$out" | json 'print(d[0]["name"], d[0]["drv"], d[0]["since"], d[0]["progress"], d[0]["error"])')" \
                "alpha $DRV_ALPHA None None None" "status --json: fields of a pending model"
        runo "$DB" status nosuch
        is "$rc" 66 "status of an unknown model exits 66"
        like "$err" "Model nosuch is not in the manifest" "and names it"
}

# ---------------------------------------------------------------------------------------
scenario_realise_queues() {
        fresh alpha beta broken
        diag "realise queues the training and returns"
        runo "$DB" realise beta
        is "$rc" 0 "realise beta exits 0"
        like "$out" "Queued deferred-realise@beta.service" "realise: says what it queued"
        unlike "$(unit_prop deferred-realise@beta.service ActiveState)" "^active$" \
                "realise returns before beta's 25 s training has finished"
        beta_trains
        runo "$DB" status beta
        like "$out" "beta +training +[0-9]+s ago +0/1 epoch 1/1 of beta v1 " "status: training row with progress"
        is "$(printf '%s\n' "$out" | grep -c .)" 2 "status NAME shows only that model"
        runo "$DB" status --json beta
        is "$(printf '%s' "$out" | json 'p=d[0]["progress"]; print(d[0]["state"], p["done"], p["expected"], d[0]["units"]["realise"], d[0]["since"] > 0)')" \
                "training 0 1 activating/start True" "status --json: training fields"
}

# ---------------------------------------------------------------------------------------
scenario_realise_wait() {
        fresh alpha beta broken
        diag "realise --wait trains and serves; a realised model is only served"
        runo "$DB" realise --wait alpha
        is "$rc" 0 "realise --wait alpha exits 0"
        like "$out" "deferred-realise@alpha.service finished" "realise --wait: reports the result"
        like "$out" "model alpha is ready: $OUT_ALPHA" "realise --wait: names the output"
        like "$out" "deferred-serve@alpha.service started: model alpha is served" "realise --wait: ends with the model served"
        runo "$DB" status --json alpha
        is "$(printf '%s' "$out" | json 'print(d[0]["state"], d[0]["out"], d[0]["units"]["realise"])')" \
                "serving $OUT_ALPHA active/exited" "status: alpha is served after a realise by hand"
        systemctl --user stop deferred-serve@alpha.service
        runo "$DB" realise alpha
        is "$rc" 0 "realise of a realised model exits 0"
        like "$out" "already realised: model alpha is ready" "and says there is nothing to build"
        like "$out" "Queued deferred-serve@alpha.service;" "and queues only its server"
        ok "which serves it again" wait_for 10 is_active deferred-serve@alpha.service active
}

# ---------------------------------------------------------------------------------------
scenario_realise_fails() {
        fresh alpha beta broken
        diag "realise --wait of a failing model; realise retries it"
        local first
        runo "$DB" realise --wait broken
        is "$rc" 1 "realise --wait of a failing model exits 1"
        like "$err" "deferred-realise@broken.service: job failed" "realise --wait: says the job failed"
        like "$err" "model broken: .*(training diverged|exit code 3)" "realise --wait: shows the error"
        runo "$DB" status --json broken
        is "$(printf '%s' "$out" | json 'print(d[0]["state"], d[0]["units"]["realise"])')" "failed failed/failed" "status: broken failed"
        like "$(printf '%s' "$out" | json 'print(d[0]["error"])')" "training diverged|exit code 3" "status --json: the error"
        runo "$DB" status broken
        like "$out" "broken +failed +[0-9]+s ago" "status: failed row"
        first=$(systemctl --user show -P ExecMainStartTimestampMonotonic deferred-realise@broken.service)
        runo "$DB" realise broken
        like "$out" "deferred-realise@broken.service failed before: retrying" "realise retries a failed model by hand"
        ok "the retry runs again" wait_for 20 sh -c "[ \"\$(systemctl --user show -P ExecMainStartTimestampMonotonic deferred-realise@broken.service)\" != $first ] && [ \"\$(systemctl --user show -P ActiveState deferred-realise@broken.service)\" = failed ]"
        runo "$DB" realise nosuch
        is "$rc" 66 "realise of an unknown model exits 66"
}

# ---------------------------------------------------------------------------------------
scenario_reconcile() {
        fresh alpha beta broken
        diag "reconcile starts the servers; status shows serving"
        local tty_out
        alpha_served
        broken_fails
        runo "$DB" reconcile
        is "$rc" 0 "reconcile exits 0"
        unlike "$out" "^starting alpha$" "reconcile leaves alpha, served since its realise by hand, alone"
        like "$out" "^leaving broken failed: same derivation failed before" "reconcile leaves broken failed"
        ok "alpha is served" wait_for 20 is_active deferred-serve@alpha.service active
        runo "$DB" status --json alpha
        is "$(printf '%s' "$out" | json 'print(d[0]["state"], d[0]["units"]["serve"], d[0]["retraining"], d[0]["status_drv"] == d[0]["drv"])')" \
                "serving active/running False True" "status --json: serving fields"
        runo "$DB" status
        like "$out" "alpha +serving +[0-9]+s ago +1/1 epoch 1/1 of alpha v1 +[a-z0-9]{7}…-dbcli-alpha-[^ ]+\.drv +[a-z0-9]{7}…-dbcli-alpha-[^ ]+ +-" \
                "status: serving row, with drv and out"
        unlike "$out" $'\e' "status: no colour when stdout is not a terminal"
        if command -v script >/dev/null; then
                tty_out=$(script -qec "$DB status" /dev/null 2>&1)
                like "$tty_out" $'\e\\[32mserving' "status: colour on a terminal"
                tty_out=$(NO_COLOR=1 script -qec "$DB status" /dev/null 2>&1)
                unlike "$tty_out" $'\e\\[' "status: no colour with NO_COLOR"
        else
                skip "colour on a terminal" "no script(1)"
                skip "no colour with NO_COLOR" "no script(1)"
        fi
}

# ---------------------------------------------------------------------------------------
scenario_restart() {
        fresh alpha beta broken
        diag "restart"
        local pid pid2
        alpha_served
        broken_fails
        pid=$(systemctl --user show -P MainPID deferred-serve@alpha.service)
        runo "$DB" restart alpha
        is "$rc/$out" "0/Restarted deferred-serve@alpha.service." "restart waits and reports"
        pid2=$(systemctl --user show -P MainPID deferred-serve@alpha.service)
        ok "a new server process runs ($pid -> $pid2)" test "$pid2" != "$pid" -a "$pid2" != 0
        runo "$DB" restart --no-block alpha
        is "$rc/$out" "0/Queued restart of deferred-serve@alpha.service." "restart --no-block queues"
        ok "and the restart happens" wait_for 10 sh -c "[ \"\$(systemctl --user show -P MainPID deferred-serve@alpha.service)\" != $pid2 ] && [ \"\$(systemctl --user show -P ActiveState deferred-serve@alpha.service)\" = active ]"
        runo "$DB" restart --if-active --no-block broken
        is "$rc/$out" "0/deferred-serve@broken.service is inactive: not restarted." "restart --if-active leaves a stopped server stopped"
        sleep 1
        is "$(serve_state broken)/$(realise_state broken)" "inactive/failed" "nothing was started for broken"
        runo "$DB" restart nosuch
        is "$rc" 66 "restart of an unknown model exits 66"
}

# ---------------------------------------------------------------------------------------
scenario_retrain() {
        fresh alpha beta broken
        diag "realise while serving retrains and swaps in"
        local pid
        alpha_served
        pid=$(systemctl --user show -P MainPID deferred-serve@alpha.service)
        runo "$DB" realise --wait alpha
        is "$rc" 0 "realise --wait of a served model exits 0"
        like "$out" "deferred-serve@alpha.service is serving alpha: starting deferred-retrain@alpha.service" "it uses the retrain unit"
        like "$out" "deferred-retrain@alpha.service finished" "and waits for it"
        ok "the server was restarted by the retrain" wait_for 10 sh -c "[ \"\$(systemctl --user show -P MainPID deferred-serve@alpha.service)\" != $pid ]"
}

# ---------------------------------------------------------------------------------------
scenario_logs() {
        fresh alpha beta broken never
        diag "logs without a journal: the status file"
        alpha_served
        "$DB" realise beta >/dev/null 2>&1
        beta_trains
        broken_fails
        runo "$DB" logs alpha
        is "$rc" 0 "logs exits 0 without a journal"
        like "$err" "No journal is available \(systemd-journald is not running\), so the log of model alpha was not recorded" \
                "logs: says there is no journal"
        like "$out" "Status file $RUNTIME/status/alpha:" "logs: falls back to the status file"
        like "$out" "state: +ready" "logs: shows the state"
        runo "$DB" logs beta
        like "$out" "last line: +epoch 1/1 of beta v1" "logs: shows the last build line"
        runo "$DB" logs -n 5 broken
        like "$out" "error: +.*(training diverged|exit code 3)" "logs: shows the last error"
        runo "$DB" logs never
        is "$rc" 1 "logs of a model that never ran exits 1"
        like "$err" "has not been realised yet" "and says so"
        run "$DB" logs 'x/y'
        is "$rc" 64 "logs of an invalid name exits 64"
}

# ---------------------------------------------------------------------------------------
scenario_journal() {
        fresh alpha broken
        diag "logs with a real journal: systemd-journald on this namespace's private /run"
        local journald follow t
        if [ ! -x /lib/systemd/systemd-journald ]; then
                for t in "journald runs" "another model's entries" "failure" "logs exits 0" "reads the journal" "format" \
                        "error" "only broken" "forged" "-n 1" "-f -n 0" "-f"; do
                        skip "logs with a journal: $t" "no /lib/systemd/systemd-journald"
                done
                return 0
        fi
        # Volatile storage below the private /run; nothing read from or sent to the host.
        mkdir -p /run/systemd/journald.conf.d
        printf '%s\n' "[Journal]" "Storage=volatile" "ReadKMsg=no" "ForwardToSyslog=no" "ForwardToKMsg=no" \
                "ForwardToConsole=no" "ForwardToWall=no" >/run/systemd/journald.conf.d/90-test.conf
        /lib/systemd/systemd-journald >"$HARNESS_TMP/journald.log" 2>&1 &
        journald=$!
        ok "journald runs" wait_for 10 test -S /run/systemd/journal/socket
        # Entries of another model, which logs broken must not show.
        alpha_served
        # broken's training is what runs again and again here: a failed training does not
        # start its server (a server restarted more than 5 times in 5 minutes would hit its
        # start limit).
        runo "$DB" realise --wait broken
        is "$rc" 1 "broken's training fails while the journal records"
        runo "$DB" logs broken
        is "$rc" 0 "logs exits 0"
        unlike "$err" "No journal" "logs reads the journal"
        like "$out" "^[A-Z][a-z]{2} [0-9 ][0-9] [0-9:]{8} deferred-realise\[[0-9]+\]: Realising model broken: " \
                "logs: TIME IDENTIFIER[PID]: MESSAGE, from broken's realise unit"
        like "$out" "deferred-realise\[[0-9]+\]: build of model broken failed: .*training diverged" "logs: the error"
        unlike "$out" "model (alpha|beta)" "logs: only broken's entries"
        # Any local process can send DEFERRED_MODEL= or UNIT=; only journald's own fields count.
        printf '%s\n' "MESSAGE=forged by another process" "DEFERRED_MODEL=broken" "UNIT=deferred-realise@broken.service" \
                "USER_UNIT=deferred-realise@broken.service" | logger --journald
        journalctl --sync 2>/dev/null
        runo "$DB" logs broken
        unlike "$out" "forged by another process" "logs: an entry that only claims to be broken's is not shown"
        runo "$DB" logs -n 1 broken
        is "$(printf '%s\n' "$out" | grep -c .)" 1 "logs -n 1 shows one entry"
        journalctl --sync 2>/dev/null # every entry sent so far is written: none arrives late
        timeout 60 "$DB" logs -f -n 0 broken >"$HARNESS_TMP/follow.out" 2>&1 &
        follow=$!
        sleep 1
        is "$(cat "$HARNESS_TMP/follow.out")" "" "logs -f -n 0 prints nothing old"
        runo "$DB" realise --wait broken
        ok "logs -f prints new entries as they come" wait_for 15 grep -q "Realising model broken" "$HARNESS_TMP/follow.out"
        kill "$follow" 2>/dev/null
        wait "$follow" 2>/dev/null
        kill "$journald"
        wait "$journald" 2>/dev/null
        rm -rf /run/systemd/journald.conf.d /run/systemd/journal /run/log/journal
}

# ---------------------------------------------------------------------------------------
scenario_json_text() {
        fresh alpha
        diag "JSON stays valid for any text"
        alpha_served
        sed -i 's/^last_line=.*/last_line=say "hi" \\ back\\slash, é ü 模型 ☃ \/ end/' "$RUNTIME/status/alpha"
        runo "$DB" status --json alpha
        ok "status --json is valid UTF-8 JSON" /usr/bin/python3 -c 'import json,sys; json.loads(sys.stdin.buffer.read().decode("utf-8", "strict"))' <<<"$out"
        is "$(printf '%s' "$out" | json 'print(d[0]["progress"]["last_line"])')" \
                'say "hi" \ back\slash, é ü 模型 ☃ / end' "quotes, backslashes, slashes and UTF-8 survive"
}

# ---------------------------------------------------------------------------------------
scenario_removed() {
        fresh alpha beta broken never
        diag "status of a model removed from the manifest whose server still runs"
        alpha_served
        "$DB" realise beta >/dev/null 2>&1
        beta_trains
        broken_fails
        manifest g1 beta "$DRV_BETA" broken "$DRV_BROKEN" never "$DRV_NEVER"
        harness_reload
        runo "$DB" status --json
        like "$(printf '%s' "$out" | json 'print(*[x["name"] + ":" + x["state"] for x in d])')" \
                "^beta:(training|serving) broken:failed never:pending alpha:removed$" "status: alpha is listed as removed"
        is "$(printf '%s' "$out" | json 'print(d[3]["drv"], d[3]["units"]["serve"])')" "None active/running" "removed: no drv, its server still runs"
}

# ---------------------------------------------------------------------------------------
# beta trains at once here: the roots of two finished trainings are what is looked at.
scenario_roots() {
        fresh alpha beta=0 broken
        diag "roots and prune"
        alpha_served
        "$DB" realise beta >/dev/null 2>&1
        broken_fails
        ok "beta finished training" wait_for 60 is_active deferred-realise@beta.service active
        runo "$DB" roots
        is "$rc" 0 "roots exits 0"
        like "$out" "^GENERATION +MODEL +LIVE +PUBLISHED +SIZE +TARGET" "roots: header"
        like "$out" "g1 +alpha +yes +yes +[0-9.]+[KMB]? +$OUT_ALPHA" "roots: alpha's root, live and published"
        like "$out" "2 roots, 2 live, 2 published" "roots: totals"
        runo "$DB" roots --json
        is "$(printf '%s' "$out" | json 'print(*sorted(x["generation"] + "/" + x["model"] + ":" + str(x["live"]) + ":" + str(x["published"]) for x in d))')" \
                "g1/alpha:True:True g1/beta:True:True" "roots --json: generation, model, live, published"
        is "$(printf '%s' "$out" | json 'print([x for x in d if x["model"] == "alpha"][0]["target"])')" "$OUT_ALPHA" "roots --json: target"

        # A new generation: alpha is rebuilt into it and its old root is no longer needed.
        manifest g2 alpha "$DRV_ALPHA" beta "$DRV_BETA" broken "$DRV_BROKEN"
        harness_reload
        runo "$DB" realise --wait alpha
        is "$rc" 0 "alpha is realised into generation g2"
        ok "alpha is published from g2" test "$(readlink "$RUNTIME/models/alpha")" = "$STATE/roots/g2/alpha"
        echo "not ours" >"$STATE/roots/g1/README"
        runo "$DB" roots --json
        is "$(printf '%s' "$out" | json 'print(*sorted(x["generation"] + "/" + x["model"] + ":" + str(x["live"]) + ":" + str(x["published"]) for x in d if x["model"] != "README"))')" \
                "g1/alpha:False:False g1/beta:True:True g2/alpha:True:True" "roots: g1/alpha is dead, g1/beta is kept by its published link"
        runo "$DB" prune --dry-run
        is "$rc" 0 "prune --dry-run exits 0"
        like "$out" "Would remove 1 root link and 0 generation folders; kept 2 roots; left 1 foreign entry alone" "prune --dry-run: counts"
        ok "prune --dry-run removed nothing" test -L "$STATE/roots/g1/alpha"
        runo "$DB" prune
        is "$rc" 0 "prune exits 0"
        like "$out" "Removed 1 root link and 0 generation folders; kept 2 roots; left 1 foreign entry alone" "prune: counts"
        ok "the dead root is gone" test ! -e "$STATE/roots/g1/alpha" -a ! -L "$STATE/roots/g1/alpha"
        ok "the published roots stay" test -L "$STATE/roots/g1/beta" -a -L "$STATE/roots/g2/alpha"
        ok "the foreign file stays" test -f "$STATE/roots/g1/README"
        is "$(readlink -f "$RUNTIME/models/alpha")" "$OUT_ALPHA" "alpha is still published"
}

# ---------------------------------------------------------------------------------------
scenario_scope() {
        fresh alpha
        diag "scope selection"
        alpha_served
        runo env -u DEFERRED_BUILDS_SCOPE "$DB" --user status alpha
        like "$out" "alpha +serving" "--user selects the user manager"
        runo env -u DEFERRED_BUILDS_SCOPE "$DB" status --user alpha
        like "$out" "alpha +serving" "--user also works after the command"
        run "$DB" --system status
        is "$rc" 69 "--system without a system manager exits 69"
        like "$out" "Failed to connect to the system service manager" "and says which manager"
}

# ---------------------------------------------------------------------------------------
scenario_thousand_models() {
        fresh alpha beta broken
        diag "1,000 models whose derivations are not built"
        local big="$HARNESS_TMP/big.ini"
        alpha_served
        "$DB" realise beta >/dev/null 2>&1
        beta_trains
        broken_fails
        # m0001 ... m1000, each with a drv path of its own (the number's digits as letters)
        {
                printf '[deferred-builds]\nversion = 1\ngeneration = big\n'
                awk 'BEGIN {
                        for (i = 1; i <= 1000; i++) {
                                s = sprintf("%032d", i)
                                h = ""
                                for (j = 1; j <= 32; j++) h = h substr("abcdfghijk", substr(s, j, 1) + 1, 1)
                                printf "\n[model.m%04d]\ndrv = /nix/store/%s-m%04d.drv\nexec = /bin/true\n", i, h, i
                        }
                }'
        } >"$big"
        local -x DEFERRED_BUILDS_MANIFEST="$big"
        runo "$DB" status
        is "$rc/$(printf '%s\n' "$out" | grep -c ' pending ')" "0/1000" "status shows 1,000 pending models"
        runo "$DB" status --json
        is "$(printf '%s' "$out" | json 'print(len([x for x in d if x["state"] == "pending"]), *sorted(x["name"] for x in d if x["state"] == "removed"))')" \
                "1000 alpha beta broken" "status --json: 1,000 pending models, and the running ones of the old manifest as removed"
        runo "$DB" reconcile --dry-run
        like "$out" "dry run, nothing done: 1000 started, .* \(1000 models in $big\)" "reconcile --dry-run plans 1,000 starts"
        like "$out" "^stopping alpha \(removed from manifest\)$" "and would stop the models of the old manifest"
        unlike "$(systemctl --user list-jobs --no-legend)" "m0001" "and starts nothing"
        is "$(serve_state alpha)" "active" "and stops nothing"
}

# How long status and reconcile take for 1,000 models is a benchmark: bench/systemd.sh.

# Unless scenarios are named, all run in this order: those that need no manager first, so
# that the one manager started serves every other.
SCENARIOS=(usage check list no_manager pending realise_queues realise_wait realise_fails
        reconcile restart retrain logs journal json_text removed roots scope thousand_models)
if [ $# -eq 0 ]; then
        [ "$(declare -F | awk '$3 ~ /^scenario_/ { print substr($3, 10) }' | sort)" = "$(printf '%s\n' "${SCENARIOS[@]}" | sort)" ] ||
                tap_bail "SCENARIOS names every scenario_ function once"
        set -- "${SCENARIOS[@]}"
fi
cli_scenarios "$@"
