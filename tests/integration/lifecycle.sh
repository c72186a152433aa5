#!/usr/bin/env bash
# The product working end to end, on a real nix-daemon and a real systemd user manager,
# with the real example trainer and HTTP inference server:
#   - a 60 s training never blocks the target or the manager's start-up ("running");
#   - progress in StatusText changes over time; serve starts only after the build;
#   - the served model answers a prediction over HTTP;
#   - retrain without downtime: a client polling every 100 ms sees only old answers, then
#     only new ones, with failures only inside the restart window (measured);
#   - a manager restart serves again without rebuilding;
#   - GC keeps every rooted model; pruning a deleted generation lets GC collect its model;
#   - a model removed from the manifest is stopped.
# The training takes 60 s (the acceptance figure): 6 epochs of 10 s.
#
# One scenario each, from a fresh state (no model unit run, no state or runtime file, an
# empty manifest), in this order by default:
#   deploy retrain manager_restart rollback gc removed
# The manifests are built and the user manager started once. deploy starts with model A
# unbuilt and trains it; the others serve the models they need first, which trains them
# only if no scenario before did (run alone, a scenario that needs A takes a minute more).
# gc collects A, so it runs after the scenarios that need A. Run one alone (a nix-daemon
# must answer; tests/run starts one):
#   ABS_BUILD=$PWD/build/san tests/integration/lifecycle.sh NAME    (or scenario_NAME)
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/harness.sh
harness_enter "$@"

PORT=$((20000 + RANDOM % 20000))
NONCE=$(date +%s)-$RANDOM
TRAIN_EPOCHS=6
TRAIN_PAUSE=10
CLI="$ABS_BUILD/deferred-builds"
# Roots that keep the models trained so far between scenarios (a scenario's fresh state
# has none of the product's roots), so that a concurrent nix-store --gc does not make a
# later scenario train them again.
HOLD="$HARNESS_TMP/hold"
mkdir -p "$HOLD"

# manifest_for ID EPOCHS PAUSE GENERATION [MODELNAME]: builds the model's .drv and a
# manifest (with the module's own manifest.nix); echoes the manifest path.
manifest_for() {
        local id=$1 epochs=$2 pause=$3 gen=$4 name=${5:-linreg}
        cat >"$HARNESS_TMP/m-$id.nix" <<EOF
let
  model = import $TOP/examples/model.nix {
    trainer = $ABS_BUILD/examples/dbx-train;
    epochs = $epochs;
    epochSeconds = $pause;
    id = "$id-$NONCE";
  };
in
(import $TOP/nixos-module/manifest.nix {
  generation = "$gen";
  bundle = import $TOP/nixos-module/bundle.nix {
    helper = builtins.path { path = $ABS_BUILD/deferred-realise; name = "deferred-realise"; };
    xz = "/usr/bin/xz";
  };
  models.$name = {
    drv = model;
    serve.exec = "$ABS_BUILD/examples/dbx-serve";
    serve.args = [ "--listen" "127.0.0.1:$PORT" ];
    serve.notify = true;
  };
}).file
EOF
        # Rooted (-o): the GC steps below must not take the manifests and their bundle.
        nix-build -o "$HARNESS_TMP/manifest-$id" "$HARNESS_TMP/m-$id.nix" --option substituters '' 2>>"$HARNESS_TMP/nix.log"
}
model_out() { sed -n 's/^out = //p' "$1" | head -n 1; }
predict_id() { curl -fsS --max-time 1 "http://127.0.0.1:$PORT/predict?x=1" 2>/dev/null | sed -n 's/.*"model":"\([^"]*\)".*/\1/p'; }
now() { echo "$EPOCHREALTIME"; }
secs_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }'; }
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }
answers() { [ "$(predict_id)" = "$1" ]; } # answers ID: the server answers with model ID
server_answers() { [ -n "$(curl -fsS --max-time 1 "http://127.0.0.1:$PORT/predict?x=2")" ]; }
unit_is() { [ "$(unit_prop "$1" "$2")" = "$3" ]; }  # unit_is UNIT PROPERTY VALUE
unit_not() { [ "$(unit_prop "$1" "$2")" != "$3" ]; } # unit_not UNIT PROPERTY VALUE
has_status_text() { [ -n "$(unit_prop "$1" StatusText)" ]; }
manager_running() { [ "$(systemctl --user is-system-running)" = running ]; }
use_manifest() { ln -sfn "$1" "$DEFERRED_BUILDS_MANIFEST"; }

MA=$(manifest_for A $TRAIN_EPOCHS "$TRAIN_PAUSE" gen-A)
tap_result $? "manifest for model A builds without training it" || { tap_done; exit 1; }
OUT_A=$(model_out "$MA")
ok "the manifest's closure holds no .drv" sh -c "! nix-store -qR '$MA' | grep -q '\.drv$'"
ok "and holds the model's bundle" sh -c "nix-store -qR '$MA' | grep -q -- '-dbx-model.*-bundle$'"
MB=$(manifest_for B 3 1 gen-B)
tap_result $? "manifest for model B builds"
OUT_B=$(model_out "$MB")
EMPTY="$HARNESS_TMP/empty.ini"
printf '[deferred-builds]\nversion = 1\ngeneration = gen-empty\n' >"$EMPTY"

# fresh: a scenario's start: the user manager running with the empty manifest, no model
# unit running or failed, no state or runtime file.
fresh() {
        use_manifest "$EMPTY"
        if [ -n "$HARNESS_MGR_PID" ]; then
                harness_fresh || tap_bail "the user manager settles between scenarios"
                harness_reload
        else
                # shellcheck disable=SC2119 # no folder of its own to empty
                harness_fresh_manager
                harness_start || tap_bail "the user manager starts"
        fi
}
# serve_gen ID MANIFEST: switches to MANIFEST as a scenario's setup and reports whether
# the server answers with model ID (after training it, if it is not built yet).
serve_gen() {
        use_manifest "$2"
        harness_reload
        systemctl --user restart deferred-builds-reconcile.service
        wait_for $((TRAIN_EPOCHS * TRAIN_PAUSE + 90)) answers "$1-$NONCE"
        tap_result $? "setup: generation $1 serves model $1" "$("$CLI" --user status 2>&1)" || return 1
        nix-store --add-root "$HOLD/$1" --realise "$(model_out "$2")" >/dev/null 2>&1
}

# ---------------------------------------------------------------------------------------
# Deploy: the manager starts with the generator; reconcile queues the model after start-up.
scenario_deploy() {
        # shellcheck disable=SC2119 # no folder of its own to empty
        harness_fresh_manager
        rm -f "$HOLD/A"
        [ ! -e "$OUT_A" ] || nix-store --delete "$OUT_A" >/dev/null 2>&1
        use_manifest "$MA"
        not_ok_expected "the model's output does not exist yet (deploying did not train)" test -e "$OUT_A"
        harness_start || tap_bail "the user manager starts"
        wait_for 20 unit_is deferred-realise@linreg.service ActiveState activating
        local t0 took s1 s2 t_realised t_serve answer y
        t0=$(now)
        systemctl --user start default.target
        systemctl --user restart deferred-builds-reconcile.service
        took=$(secs_since "$t0")
        is "$(systemctl --user show -P ActiveState deferred-realise@linreg.service)" activating \
                "starting the default target and re-running reconcile (what a switch does) return while the model trains (took ${took}s)"
        wait_for 10 manager_running
        tap_result $? "the manager reaches 'running' while the model trains" "state: $(systemctl --user is-system-running)"
        wait_for 10 unit_is deferred-realise@linreg.service ActiveState activating
        tap_result $? "realise is activating (training)"
        is "$(systemctl --user is-active deferred-serve@linreg.service)" inactive "serve has not started during the training"

        wait_for 20 has_status_text deferred-realise@linreg.service
        s1=$(unit_prop deferred-realise@linreg.service StatusText)
        sleep $((TRAIN_PAUSE * 2 + 1))
        s2=$(unit_prop deferred-realise@linreg.service StatusText)
        like "$s1" "linreg" "StatusText shows progress: $s1"
        [ -n "$s2" ] && [ "$s1" != "$s2" ]
        tap_result $? "StatusText changes over time" "first:  $s1" "later:  $s2"
        is "$(systemctl --user is-active deferred-serve@linreg.service)" inactive "serve still waits while realise runs"

        wait_for $((TRAIN_EPOCHS * TRAIN_PAUSE + 90)) unit_is deferred-serve@linreg.service ActiveState active
        tap_result $? "serve becomes active after the training"
        is "$(unit_prop deferred-serve@linreg.service Type)" notify "serve is Type=notify: active only once the server said READY=1"
        t_realised=$(unit_prop deferred-realise@linreg.service ExecMainExitTimestampMonotonic)
        t_serve=$(unit_prop deferred-serve@linreg.service ExecMainStartTimestampMonotonic)
        [ -n "$t_realised" ] && [ -n "$t_serve" ] && [ "$t_serve" -ge "$t_realised" ]
        tap_result $? "serve started after realise finished ($t_realised <= $t_serve)"
        wait_for 10 server_answers
        answer=$(curl -fsS --max-time 2 "http://127.0.0.1:$PORT/predict?x=2")
        like "$answer" "\"model\":\"A-$NONCE\"" "the server answers a prediction from the trained model A: $answer"
        ok "model A's output exists now" test -e "$OUT_A"
        y=$(printf '%s' "$answer" | sed -n 's/.*"y":\([-0-9.e+]*\).*/\1/p')
        awk -v y="$y" 'BEGIN { exit !(y > 7 && y < 9) }'
        tap_result $? "the prediction is a real fit of y = 3x + 2 (y(2) = $y, expected about 8)"
        nix-store --add-root "$HOLD/A" --realise "$OUT_A" >/dev/null 2>&1
}

# ---------------------------------------------------------------------------------------
# Retrain without downtime: B replaces A while a client polls every 100 ms.
scenario_retrain() {
        fresh
        serve_gen A "$MA" || return
        local poller seq fails
        : >"$HARNESS_TMP/answers"
        (
                end=$((SECONDS + 90))
                while [ $SECONDS -lt $end ]; do
                        r=$(predict_id)
                        echo "${r:-FAIL}" >>"$HARNESS_TMP/answers"
                        sleep 0.1
                done
        ) &
        poller=$!
        sleep 1
        use_manifest "$MB"
        harness_reload
        systemctl --user restart deferred-builds-reconcile.service
        wait_for 60 sh -c "tail -n 1 '$HARNESS_TMP/answers' | grep -q 'B-$NONCE'"
        tap_result $? "after reconcile the server answers with model B"
        sleep 2
        kill "$poller" 2>/dev/null
        wait "$poller" 2>/dev/null
        seq=$(uniq "$HARNESS_TMP/answers" | tr '\n' ' ')
        diag "answer sequence (collapsed): $seq"
        like "$seq" "^(A-$NONCE )+(FAIL )*(B-$NONCE )+$" "answers go A...A, then B...B, with no A after B"
        fails=$(grep -c FAIL "$HARNESS_TMP/answers")
        diag "failed requests during the swap: $fails (x 100 ms = restart window)"
        [ "$fails" -le 20 ]
        tap_result $? "failures only in the restart window ($fails polls, at most 20 = 2 s allowed)"
        is "$(systemctl --user is-active deferred-serve@linreg.service)" active "serve is active after the swap"
}

# ---------------------------------------------------------------------------------------
# The manager restarts: the model serves again without a rebuild.
scenario_manager_restart() {
        fresh
        serve_gen B "$MB" || return
        local t0 took
        harness_stop
        t0=$(now)
        harness_start
        wait_for 30 unit_is deferred-serve@linreg.service ActiveState active
        tap_result $? "after a manager restart serve is active again"
        took=$(secs_since "$t0")
        lt "$took" 10
        tap_result $? "and fast (${took}s): the realise step found the output, no retraining"
        wait_for 10 answers "B-$NONCE"
        tap_result $? "it serves model B"
}

# ---------------------------------------------------------------------------------------
# Rollback to generation A, then forward to B again: both models are still rooted, so each
# switch is a swap with no training (a training takes TRAIN_EPOCHS x TRAIN_PAUSE seconds).
scenario_rollback() {
        fresh
        serve_gen A "$MA" || return
        serve_gen B "$MB" || return
        local step id m t0 took
        for step in "A $MA" "B $MB"; do
                read -r id m <<<"$step"
                use_manifest "$m"
                harness_reload
                t0=$(now)
                systemctl --user restart deferred-builds-reconcile.service
                wait_for 20 answers "$id-$NONCE"
                tap_result $? "switch to generation $id: the server answers with model $id" \
                        "$("$CLI" --user status 2>&1)" "$("$CLI" --user reconcile --dry-run 2>&1)" \
                        "$(systemctl --user show -p ActiveState -p Result -p NRestarts deferred-retrain@linreg.service deferred-serve@linreg.service 2>&1)" \
                        "$(cat "$XDG_RUNTIME_DIR/deferred-builds/status/linreg" 2>&1)"
                took=$(secs_since "$t0")
                lt "$took" 5
                tap_result $? "and without training (${took}s, a training takes $((TRAIN_EPOCHS * TRAIN_PAUSE))s)"
        done
}

# ---------------------------------------------------------------------------------------
# GC: rooted models survive; after prune (gen-A is not the current manifest's generation and
# is not published), GC collects A and keeps B.
scenario_gc() {
        fresh
        serve_gen A "$MA" || return
        serve_gen B "$MB" || return
        # Only the product's roots may keep the models from here on.
        rm -f "$HOLD/A" "$HOLD/B"
        nix-store --gc >/dev/null 2>&1
        ok "nix-store --gc keeps model A (still rooted by generation gen-A)" test -e "$OUT_A"
        ok "nix-store --gc keeps model B (rooted and published)" test -e "$OUT_B"
        "$CLI" --user prune >"$HARNESS_TMP/prune.log" 2>&1
        tap_result $? "deferred-builds prune succeeds" "$(cat "$HARNESS_TMP/prune.log")"
        nix-store --gc >/dev/null 2>&1
        not_ok_expected "after prune + GC model A is collected" test -e "$OUT_A"
        ok "after prune + GC model B stays" test -e "$OUT_B"
}

# ---------------------------------------------------------------------------------------
# Removed from the manifest: reconcile stops it.
scenario_removed() {
        fresh
        serve_gen B "$MB" || return
        use_manifest "$EMPTY"
        harness_reload
        systemctl --user restart deferred-builds-reconcile.service
        wait_for 15 unit_not deferred-serve@linreg.service ActiveState active
        tap_result $? "a model removed from the manifest is stopped by reconcile"
}

if [ $# -eq 0 ]; then
        set -- deploy retrain manager_restart rollback gc removed
        # The order above must name every scenario.
        [ "$(printf '%s\n' "$@" | sort)" = "$(declare -F | awk '$3 ~ /^scenario_/ { print substr($3, 10) }' | sort)" ] ||
                tap_bail "the default order names every scenario_ function"
fi
run_scenarios "$@"
