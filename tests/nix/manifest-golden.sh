#!/usr/bin/env bash
# The manifest text that nixos-module/manifest.nix writes for a fixture set of models is
# exactly tests/nix/expected/*.ini (format v1, docs/DESIGN.md). The fixture covers every key,
# sorting by name, the three ways to give the program, an empty argument and a
# content-addressed model (no out line).
#
# Regenerate after an intended format change with UPDATE_GOLDEN=1 and review the diff.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/nix/helpers.bash
scratch_dir

check_golden() { # check_golden NAME EXPR
        local name=$1 expr=$2 expected=tests/nix/expected/$1.ini got
        got=$SCRATCH/$name.ini
        if ! nix_raw_expr "($expr).text" >"$got" 2>"$SCRATCH/$name.err"; then
                tap_result 1 "manifest text for $name evaluates" "$(cat "$SCRATCH/$name.err")"
                return
        fi
        if [ "${UPDATE_GOLDEN:-}" = 1 ]; then
                cp "$got" "$expected"
                diag "updated $expected"
        fi
        local d
        d=$(diff -u "$expected" "$got" 2>&1)
        tap_result $? "manifest text for $name is exactly $expected" "$d"
        is "$(nix_raw_expr "builtins.toJSON ($expr).errors")" "[]" "fixture $name has no validation errors"
}

fixture='(import ./tests/nix/fixtures/models.nix { })'
check_golden golden "let f = $fixture; in import ./nixos-module/manifest.nix { models = f.golden f; generation = \"test-gen-1\"; }"
check_golden empty "import ./nixos-module/manifest.nix { models = { }; }"

# The same text when the module's option names are used for messages: naming never changes
# the output.
a=$(nix_raw_expr "let f = $fixture; in (import ./nixos-module/manifest.nix { models = f.golden f; generation = \"test-gen-1\"; optionPrefix = \"services.deferred-builds.models\"; drvOption = \"model\"; }).text")
is "$a" "$(cat tests/nix/expected/golden.ini)" "optionPrefix and drvOption change messages only, not the text"

# Every line fits inih's buffer and no line has trailing whitespace (it would be stripped).
long=$(awk 'length($0) > 197' tests/nix/expected/golden.ini)
is "$long" "" "no golden line is longer than 197 bytes"
trail=$(grep -nE '[[:space:]]$' tests/nix/expected/golden.ini)
is "$trail" "" "no golden line ends in whitespace"

# The out line holds the model's output path and the drv line its .drv, as Nix computes them.
drv=$(nix_raw_expr "$fixture.alpha.drvPath")
out=$(nix_raw_expr "$fixture.alpha.outPath")
like "$(cat tests/nix/expected/golden.ini)" "drv = $drv" "alpha's drv line is its .drv path"
like "$(cat tests/nix/expected/golden.ini)" "out = $out" "alpha's out line is its output path"
weights=$(nix_raw_expr "$fixture.beta.weights.outPath")
like "$(cat tests/nix/expected/golden.ini)" "out = $weights" "beta's out line is the path of the output it names (weights)"
ca=$(sed -n '/^\[model.ca-model\]/,/^$/p' tests/nix/expected/golden.ini)
like "$ca" "drv = /nix/store/[0-9a-z]{32}-ca-model.drv" "the content-addressed model has its drv line"
is "$(printf '%s\n' "$ca" | grep -c '^out = ')" 0 "a content-addressed model has no out line"

# Without an output attribute the model serves the output its drv attribute selects.
sel=$(nix_raw_expr "let f = $fixture; in (import ./nixos-module/manifest.nix { models.m = { drv = f.beta.weights; serve.exec = \"/x\"; }; }).text")
like "$sel" "output = weights" "drv = pkgs.foo.weights (no output attribute) serves the weights output"
like "$sel" "out = $weights" "and its out line is the weights output path"

# The C side reads what the Nix side writes: the generator's check mode accepts both files.
gen=${ABS_BUILD:-$PWD/build}/deferred-builds-generator
for f in golden empty; do
        if [ -x "$gen" ]; then
                out=$("$gen" --check "tests/nix/expected/$f.ini" 2>&1)
                tap_result $? "deferred-builds-generator --check accepts expected/$f.ini" "$out"
        else
                skip "deferred-builds-generator --check accepts expected/$f.ini" "$gen not built (make)"
        fi
done
if [ -x "$gen" ]; then
        is "$("$gen" --check tests/nix/expected/golden.ini 2>&1)" "configuration OK (4 models)" "the generator loads all 4 golden models (none skipped)"
else
        skip "the generator loads all 4 golden models (none skipped)" "$gen not built (make)"
fi

tap_done
