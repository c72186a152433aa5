#!/usr/bin/env bash
# The generator under a real systemd 252 user manager: after start and after every
# daemon-reload, each model's two units are loaded from the shipped templates plus the
# generated drop-ins, linked by Requires=/After=, PartOf= deferred-builds.target (which
# wants none of them: reconcile starts them); a bad model is absent and the good ones
# present. Also: the generator opens no socket and executes nothing (strace).
#
# One scenario each, from a fresh state (no model unit running or failed, no state or
# runtime file, a manifest of its own):
#   boot               a manager started on a manifest with a bad model: the units it loads,
#                      and the realise units reconcile started, failed on their missing .drv
#   reload             a model added and one removed, picked up at daemon-reload
#   rejected_manifest  a manifest the generator rejects keeps no unit, and the manager's log
#                      says why
#   no_manifest        a manifest that vanishes, then comes back
#   strace             the generator alone under strace
# boot starts a manager of its own; the others reload the running one (starting one when
# run alone). Run one alone:
#   ABS_BUILD=$PWD/build/san tests/integration/generator.sh NAME    (or scenario_NAME)
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/harness.sh
harness_enter "$@"

DRV=/nix/store/wvfqywd4bwvl3m6rrc9y3vca4k0piz57-tiny-model.drv
write_manifest() { # write_manifest NAME...   ("bad" names get a bad drv)
        {
                printf '[deferred-builds]\nversion = 1\ngeneration = gen-test\n'
                for n in "$@"; do
                        case $n in
                        bad*) printf '\n[model.%s]\ndrv = /tmp/not-in-store.drv\nexec = /bin/sleep\n' "$n" ;;
                        *) printf '\n[model.%s]\ndrv = %s\nexec = /bin/sleep\narg = infinity\n' "$n" "$DRV" ;;
                        esac
                done
        } >"$DEFERRED_BUILDS_MANIFEST.tmp"
        mv "$DEFERRED_BUILDS_MANIFEST.tmp" "$DEFERRED_BUILDS_MANIFEST"
}
# fresh NAME...: a scenario's start on the running manager (started when there is none):
# no model unit running or failed, no state or runtime file, a manifest of those models,
# loaded.
fresh() {
        if [ -z "$HARNESS_MGR_PID" ]; then
                write_manifest "$@"
                harness_start || tap_bail "the user manager starts"
                return
        fi
        harness_fresh || tap_bail "the user manager settles between scenarios"
        write_manifest "$@"
        harness_reload
}

# has_dropin NAME: the model's serve unit carries the generated drop-in.
has_dropin() { unit_prop "deferred-serve@$1.service" DropInPaths | grep -q "deferred-serve@$1.service.d/50-deferred-builds-model.conf"; }
unit_failed() { [ "$(unit_prop "deferred-realise@$1.service" ActiveState)" = failed ]; }

scenario_boot() {
        local m failed
        # shellcheck disable=SC2119 # it empties no folder besides the state and runtime ones
        harness_fresh_manager
        write_manifest alpha bad-one beta
        harness_start
        tap_result $? "user manager starts with the generator installed" || return
        ok "alpha has its generated drop-in" has_dropin alpha
        ok "beta has its generated drop-in" has_dropin beta
        not_ok_expected "the bad model has none" has_dropin bad-one
        is "$(unit_prop deferred-builds.target Wants)" "" "the target wants no model unit (a switch restarting it must not retry failed trainings)"
        for m in alpha beta; do
                is "$(unit_prop deferred-serve@$m.service LoadState)" loaded "serve unit of $m is loaded"
                is "$(unit_prop deferred-realise@$m.service LoadState)" loaded "realise unit of $m is loaded"
                like "$(unit_prop deferred-serve@$m.service Requires)" "(^| )deferred-realise@$m.service( |$)" "serve of $m Requires= its realise unit"
                like "$(unit_prop deferred-serve@$m.service After)" "(^| )deferred-realise@$m.service( |$)" "serve of $m is After= its realise unit"
                like "$(unit_prop deferred-serve@$m.service ExecStart)" "path=/bin/sleep ; argv\[\]=/bin/sleep infinity" "serve of $m runs the manifest's command"
                like "$(unit_prop deferred-serve@$m.service Environment)" "DEFERRED_MODEL_PATH=/run/user/0/deferred-builds/models/$m" "serve of $m gets its model path"
                unlike "$(unit_prop deferred-realise@$m.service DropInPaths)" "deferred-realise@$m.service.d" "realise of $m is the template as shipped (no per-model file to load)"
                like "$(unit_prop deferred-realise@$m.service DropInPaths)" "deferred-realise@.service.d/40-deferred-builds-manifest.conf" "realise of $m gets the manifest's template drop-in"
                like "$(unit_prop deferred-realise@$m.service Environment)" "DEFERRED_BUILDS_SCOPE=user" "realise of $m runs in user scope"
                is "$(unit_prop deferred-realise@$m.service Type)" oneshot "realise of $m is a oneshot"
                is "$(unit_prop deferred-realise@$m.service RemainAfterExit)" yes "realise of $m remains active after it exits"
                like "$(unit_prop deferred-serve@$m.service SourcePath)" "manifest.ini$" "serve of $m names the manifest as SourcePath="
                like "$(unit_prop deferred-serve@$m.service PartOf)" "deferred-builds.target" "serve of $m is PartOf= the target"
                like "$(unit_prop deferred-serve@$m.service LogExtraFields)" "DEFERRED_MODEL=$m" "serve of $m logs with DEFERRED_MODEL=$m"
        done
        is "$(unit_prop deferred-serve@bad-one.service ExecStart)" "" "the bad model has no serve command (its drop-in was not written)"
        unlike "$(unit_prop deferred-builds.target After)" "deferred-(serve|realise)@" "the target is not ordered after any model unit (never waits for training)"
        like "$(unit_prop default.target Wants)" "deferred-builds-reconcile.service" "the default target wants the reconcile unit"
        unlike "$(unit_prop default.target Wants)" "deferred-builds.target|deferred-(serve|realise)@" "the default target pulls no model unit into the boot transaction"
        # The models name a .drv that is not in the store: reconcile started them at boot and
        # their realise units failed with 69 (".drv missing") once nix-store found no
        # substituter with it (an unreachable binary cache takes seconds); nothing else may
        # have failed.
        wait_for 60 unit_failed alpha
        wait_for 60 unit_failed beta
        failed=$(systemctl --user --failed --no-legend --plain | awk '{ print $1 }' | sort | tr '\n' ' ')
        is "$failed" "deferred-realise@alpha.service deferred-realise@beta.service " "only the realise units of models with a missing .drv failed"
        is "$(unit_prop deferred-realise@alpha.service ExecMainStatus)" 69 "realise of a missing .drv exits 69"
}

# A new manifest: beta removed, gamma added; the manager picks it up at daemon-reload.
scenario_reload() {
        fresh alpha bad-one beta
        ok "(beta has its drop-in before)" has_dropin beta
        write_manifest alpha gamma
        harness_reload
        ok "after daemon-reload the added model has its drop-in" has_dropin gamma
        not_ok_expected "and the removed one has none" has_dropin beta
        is "$(unit_prop deferred-serve@beta.service ExecStart)" "" "the removed model's serve unit lost its command"
        like "$(unit_prop deferred-serve@gamma.service Requires)" "deferred-realise@gamma.service" "the added model is wired up"
}

# A manifest the generator must reject keeps nothing.
scenario_rejected_manifest() {
        local logged
        fresh alpha
        ok "(alpha has its drop-in before)" has_dropin alpha
        logged=$(stat -c %s "$HARNESS_TMP/manager.log")
        printf '[deferred-builds]\nversion = 1\nnot an ini line\n' >"$DEFERRED_BUILDS_MANIFEST"
        harness_reload
        not_ok_expected "a rejected manifest yields no model units" has_dropin alpha
        like "$(tail -c +$((logged + 1)) "$HARNESS_TMP/manager.log")" "manifest.ini:3: syntax error" \
                "the rejection reaches the manager's log with file and line"
}

# The manifest vanishes: no units, no error; a valid one again brings its models back.
scenario_no_manifest() {
        fresh alpha
        ok "(alpha has its drop-in before)" has_dropin alpha
        rm -f "$DEFERRED_BUILDS_MANIFEST"
        harness_reload
        not_ok_expected "no manifest: no model units" has_dropin alpha
        write_manifest alpha
        harness_reload
        ok "(a valid manifest again brings alpha back)" has_dropin alpha
}

# strace: no socket, no exec, no fork. The generator runs alone, on a manifest and into an
# output folder of its own.
scenario_strace() {
        local d="$HARNESS_TMP/strace" calls
        if ! command -v strace >/dev/null; then
                skip "strace: no socket, no exec" "strace not installed"
                return
        fi
        rm -rf "$d" && mkdir -p "$d/out"
        DEFERRED_BUILDS_MANIFEST="$d/manifest.ini" write_manifest alpha beta
        DEFERRED_BUILDS_MANIFEST="$d/manifest.ini" SYSTEMD_SCOPE=user ASAN_OPTIONS=detect_leaks=0 \
                strace -f -qq -o "$d/strace.log" -e trace=%network,execve,execveat,fork,vfork,clone,clone3 \
                "$ABS_BUILD/deferred-builds-generator" "$d/out" 2>/dev/null
        ok "the generator wrote alpha's and beta's drop-ins" \
                test -f "$d/out/deferred-serve@alpha.service.d/50-deferred-builds-model.conf" -a \
                -f "$d/out/deferred-serve@beta.service.d/50-deferred-builds-model.conf"
        calls=$(grep -cvE '^[0-9]+ +(\+\+\+|---)' "$d/strace.log")
        is "$calls" 1 "strace: the generator makes exactly one traced call (its own execve)"
        unlike "$(cat "$d/strace.log")" "socket\(|connect\(|clone|fork" "strace: no socket, connect, fork or clone"
}

run_scenarios "$@"
