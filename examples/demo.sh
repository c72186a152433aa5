#!/usr/bin/env bash
# make demo: deferred-builds end to end on this machine, with real components only.
#
#   1. a real nix-daemon (started if none answers, stopped afterwards);
#   2. a tiny real model (examples/model.nix: linear regression trained by dbx-train, with a
#      pause per epoch so that the training is visible) as a Nix derivation, and a manifest
#      built by the NixOS module's own manifest logic (nixos-module/manifest.nix);
#   3. a real systemd 252 user manager in private mount and PID namespaces, with this build's
#      generator and units installed: "deploying" returns at once while the model trains;
#   4. training progress through `deferred-builds status`, then the inference server
#      (dbx-serve) starting only after the build, and a real prediction over HTTP.
# Everything it starts dies with its PID namespace; the host keeps nothing but the Nix store
# paths it built (which the next `nix-store --gc` frees).
set -euo pipefail
ABS_BUILD=${1:-$(cd "$(dirname "$0")/.." && pwd)/build}
TOP=$(cd "$(dirname "$0")/.." && pwd)
export ABS_BUILD TOP
cd "$TOP"

if [ -z "${DB_DEMO_PARENT:-}" ]; then
        . tests/lib/nixd.sh
        nixd_ensure || { echo "demo: cannot start nix-daemon (is nix-bin installed? run 'make deps')" >&2; exit 1; }
        trap nixd_cleanup EXIT
        rc=0
        DB_DEMO_PARENT=1 bash "$0" "$ABS_BUILD" || rc=$?
        exit $rc
fi

. tests/lib/harness.sh
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'; }

run() {
        local port=$((20000 + RANDOM % 20000))
        local nonce
        nonce=$(date +%s)-$RANDOM
        local epochs=${DEMO_EPOCHS:-6} pause=${DEMO_EPOCH_SECONDS:-2}

        step "Declaring the model 'linreg' (a linear regression, a Nix derivation trained by dbx-train, ${epochs} epochs of ${pause}s)"
        cat >"$HARNESS_TMP/models.nix" <<EOF
let
  model = import $TOP/examples/model.nix {
    trainer = $ABS_BUILD/examples/dbx-train;
    epochs = $epochs;
    epochSeconds = $pause;
    id = "demo-$nonce";
  };
in
(import $TOP/nixos-module/manifest.nix {
  generation = "demo";
  bundle = import $TOP/nixos-module/bundle.nix {
    helper = builtins.path { path = $ABS_BUILD/deferred-realise; name = "deferred-realise"; };
    xz = "/usr/bin/xz";
  };
  models.linreg = {
    drv = model;
    serve.exec = "$ABS_BUILD/examples/dbx-serve";
    serve.args = [ "--listen" "127.0.0.1:$port" ];
    serve.notify = true;
  };
}).file
EOF
        local manifest
        manifest=$(nix-build --no-out-link "$HARNESS_TMP/models.nix" --option substituters '' 2>"$HARNESS_TMP/nix-build.log") ||
                { cat "$HARNESS_TMP/nix-build.log" >&2; return 1; }
        echo "manifest: $manifest"
        sed 's/^/    /' "$manifest"
        echo "Its closure holds the model's derivation bundle and training data, no .drv and not the model:"
        nix-store -qR "$manifest" | sed 's/^/    /'

        step "Deploying: the manifest goes live and the manager (re)loads"
        ln -sfn "$manifest" "$DEFERRED_BUILDS_MANIFEST"
        local t0=$EPOCHREALTIME
        harness_start
        # What nixos-rebuild switch does after the reload: restart the reconcile unit.
        systemctl --user restart deferred-builds-reconcile.service
        echo "deployment returned after $(elapsed "$t0") s; the manager says: $(systemctl --user is-system-running)"

        step "Training in the background (deferred-builds status, every 2 s)"
        local deadline=$((SECONDS + 120))
        while [ $SECONDS -lt $deadline ]; do
                "$ABS_BUILD/deferred-builds" --user status || true
                echo "    systemctl status text: $(systemctl --user show -P StatusText deferred-realise@linreg.service)"
                [ "$(systemctl --user is-active deferred-serve@linreg.service)" = active ] && break
                sleep 2
        done

        step "Served: deferred-serve@linreg.service started after the build"
        systemctl --user --no-pager status deferred-serve@linreg.service 2>/dev/null | head -n 6 | sed 's/^/    /'
        local answer=""
        for _ in $(seq 1 50); do
                answer=$(curl -fsS "http://127.0.0.1:$port/predict?x=2" 2>/dev/null) && break
                sleep 0.1
        done
        echo "curl http://127.0.0.1:$port/predict?x=2"
        echo "prediction: $answer"
        [ -n "$answer" ] || { echo "demo: no prediction from the server" >&2; return 1; }

        step "Cleaning up: stopping the manager; every process of the demo ends with its namespace"
}

harness_enter "$@"
run
