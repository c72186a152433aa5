#!/usr/bin/env bash
# The manifest built by real Nix holds no .drv and no model output in its closure: building
# it finishes at once and does not train (build) the model, whose builder never ends, and
# exportReferencesGraph (closureInfo: VM tests, images) over it builds. With bundles, a model
# with input derivations and a data source has its .drv closure in the bundle, compressed
# (byte for byte what `nix-store --export` writes), and its data source in the closure.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/nix/helpers.bash
scratch_dir

fx=tests/nix/fixtures/closure.nix
alpha_drv=$(nix_raw "$fx" alpha.drvPath)
alpha_out=$(nix_raw "$fx" alpha.outPath)
beta_drv=$(nix_raw "$fx" beta.drvPath)
beta_out=$(nix_raw "$fx" beta.outPath)
beta_weights=$(nix_raw "$fx" beta.weights.outPath)
serve=$(nix_raw "$fx" serveScript)

# The models must not exist before: otherwise "not built" below would prove nothing.
not_ok_expected "model alpha's output is not in the store before the test" nix-store --check-validity "$alpha_out"
not_ok_expected "model beta's weights are not in the store before the test" nix-store --check-validity "$beta_weights"

start=$EPOCHREALTIME
timeout 120 nix-build "$fx" -A manifest -o "$SCRATCH/manifest" >"$SCRATCH/build.out" 2>"$SCRATCH/build.err"
rc=$?
secs=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", b - a }')
tap_result "$rc" "nix-build of the manifest succeeds" "exit $rc" "$(cat "$SCRATCH/build.err")"
ok "building the manifest took ${secs}s, well under the 120 s a model build would have hung for" test "$secs" -lt 60

m=$(readlink -f "$SCRATCH/manifest")
like "$m" "^/nix/store/[0-9a-z]{32}-deferred-builds-manifest\.ini$" "the manifest's store name is <hash>-deferred-builds-manifest.ini (its generation identity)"
is "$(cat "$m")" "$(nix_raw "$fx" text)" "the built file is exactly the evaluated text"

closure=$(nix-store -qR "$m")
unlike "$closure" '\.drv$' "the manifest's closure holds no .drv"
like "$(cat "$m")" "drv = $alpha_drv" "the manifest names model alpha's .drv (as text)"
like "$(cat "$m")" "drv = $beta_drv" "the manifest names model beta's .drv (as text)"
like "$closure" "^$serve$" "the serve program's store path is in the closure (that is fine)"
unlike "$closure" "^$alpha_out$" "model alpha's output is not in the manifest's closure"
unlike "$closure" "^($beta_out|$beta_weights)$" "no output of model beta is in the manifest's closure"
unlike "$closure" "^/nix/store/[0-9a-z]{32}-(alpha|beta)-model(-weights)?$" "no model output of any name is in the closure"
like "$(cat "$m")" "out = $alpha_out" "the manifest still names alpha's output path (as text)"

not_ok_expected "model alpha was not built (its output is not valid)" nix-store --check-validity "$alpha_out"
not_ok_expected "model beta was not built (its weights are not valid)" nix-store --check-validity "$beta_weights"

# closureInfo (NixOS VM tests, disk and ISO images) and forbiddenDependenciesRegexes:
# exportReferencesGraph over the manifest. With a .drv in the closure Nix would add its
# outputs and fail ("path ... is not valid") while the model is untrained.
out=$(timeout 120 nix-build "$fx" -A graph --no-out-link 2>&1)
rc=$?
tap_result "$rc" "exportReferencesGraph over the manifest builds while the models are untrained" "$out"
graph=$(tail -n 1 <<<"$out")
like "$(cat "$graph" 2>/dev/null)" "^$m$" "the graph lists the manifest"
unlike "$(cat "$graph" 2>/dev/null)" '\.drv$|-(alpha|beta)-model' "and no .drv and no model output"
not_ok_expected "and building it did not build model alpha either" nix-store --check-validity "$alpha_out"

# A serve argument holding the model's output: the file refuses before any build.
out=$(timeout 120 nix-build "$fx" -A bad --no-out-link 2>&1)
rc=$?
ok "a manifest whose serve arguments hold the model's output refuses to build" test "$rc" -ne 0
like "$out" "models.alpha.serve.args \(element 1\) depends on the output of this model's derivation" "the refusal names the model and the option"
not_ok_expected "and model alpha was not built" nix-store --check-validity "$alpha_out"

# ---- bundles: a model with input derivations and a data source ----------------------------
helper=${ABS_BUILD:-$PWD/build}/deferred-realise
if [ ! -x "$helper" ]; then
        skip "bundles" "no $helper (make BUILD=... all)"
        tap_done
        exit
fi
bx=tests/integration/fixtures/bundle.nix
nonce="closure-$(date +%s%N)-$$"
bargs=(--argstr helper "$helper" --argstr nonce "$nonce" --arg hang true)
braw() { nix eval --impure --raw --expr "(import ./$bx { helper = \"$helper\"; nonce = \"$nonce\"; hang = true; }).$1"; }
model_drv=$(braw model.drvPath)
model_out=$(braw model.outPath)
prep_out=$(braw prep.outPath)
data=$(braw data)
timeout 120 nix-build "$bx" "${bargs[@]}" -A manifest -o "$SCRATCH/bmanifest" >"$SCRATCH/b.out" 2>"$SCRATCH/b.err"
rc=$?
tap_result "$rc" "a manifest with bundles builds (the model's builder never ends: it is not built)" "$(cat "$SCRATCH/b.err")"
bm=$(readlink -f "$SCRATCH/bmanifest")
bundle=$(sed -n 's/^bundle = //p' "$bm")
like "$bundle" "^/nix/store/[0-9a-z]{32}-bundle-model-$nonce-v1-bundle$" "the manifest names the model's bundle"
like "$(cat "$bm")" "drv = $model_drv" "and its .drv, as text"
bclosure=$(nix-store -qR "$bm")
unlike "$bclosure" '\.drv$' "the closure of everything the manifest adds holds no .drv"
like "$bclosure" "^$bundle$" "it holds the bundle"
like "$bclosure" "^$data$" "and the training data, a source of the model's derivation"
unlike "$bclosure" "^($model_out|$prep_out)$" "and no output of the model or of its input derivation"
like "$(cat "$bundle/sources")" "^$data$" "the bundle's sources list the data"
is "$(cat "$bundle/format")" "deferred-builds-bundle 1 nix-export xz" "the bundle says its format"
# No .drv hash is visible to Nix's reference scanner in the compressed stream.
hashes=$(nix-store -qR "$model_drv" | grep '\.drv$' | sed 's|^/nix/store/||; s|-.*||')
is "$(grep -c . <<<"$hashes")" 3 "the model's .drv closure is 3 derivations (model, tokenizer, prep)"
found=0
for h in $hashes; do grep -aq "$h" "$bundle/drvs.xz" && found=$((found + 1)); done
is "$found" 0 "no .drv store hash appears in the compressed stream"
xz -dc "$bundle/drvs.xz" >"$SCRATCH/stream"
# shellcheck disable=SC2046 # one argument per path
nix-store --export $(nix-store -qR "$model_drv" | grep '\.drv$') >"$SCRATCH/export"
ok "decompressed, the stream is byte for byte what nix-store --export writes for the .drv closure" \
        cmp "$SCRATCH/stream" "$SCRATCH/export"
out=$(timeout 120 nix-build "$bx" "${bargs[@]}" -A graph --no-out-link 2>&1)
tap_result $? "exportReferencesGraph over the manifest with bundles builds" "$out"
not_ok_expected "the model was not built" nix-store --check-validity "$model_out"
not_ok_expected "nor its input derivation" nix-store --check-validity "$prep_out"

tap_done
