#!/usr/bin/env bash
# deferred-builds-activate at the scale it meets on a busy machine: 50 generations of 100
# or 200 models. It keeps every root of a live generation, prunes the roots of deleted
# ones, and keeps a root of a deleted generation that a published link still names. What
# each case costs in system calls is a benchmark: bench/activation-syscalls.sh.
#
# The store is a fake one (NIX_STORE_DIR, which validate.c honours for tests): no Nix needed.
# Run alone:  ABS_BUILD=$PWD/build tests/integration/activation-scale.sh
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
TOP=$PWD
: "${ABS_BUILD:=$TOP/build}"
# shellcheck source=tests/lib/tap.sh
. "$TOP/tests/lib/tap.sh"
# shellcheck source=tests/lib/roots-fixture.sh
. "$TOP/tests/lib/roots-fixture.sh"

BIN="$ABS_BUILD/deferred-builds-activate"
[ -x "$BIN" ] || tap_bail "$BIN is built" "run: make $BIN"
if ! command -v perl >/dev/null; then
        skip "activation at scale" "perl is not installed (tests/lib/deps.sh installs it)"
        tap_done
        exit 0
fi
T=$(fx_scratch activation-scale) || tap_bail "a scratch folder"
trap 'rm -rf "$T"' EXIT
fx_init "$T" 50
export DEFERRED_BUILDS_SYSTEM_ROOT=$FX_SYS

# activate: one activation; prints "EXIT:STDOUT:ROOTS LEFT" (stderr is kept in $T/err).
activate() {
        local out rc
        out=$("$BIN" --state-dir "$FX_STATE" --runtime-dir "$FX_RUN" 2>"$T/err")
        rc=$?
        echo "$rc:$out:$(fx_links)"
}

scenario_all_live() {
        fx_systems 1
        fx_roots 0 50
        is "$(activate)" "0::0" "50 live systems, an empty roots folder: exit 0, nothing to say"
        fx_roots 100 50
        is "$(activate)" "0::5000" "100 models x 50 live generations: nothing pruned"
        fx_roots 200 50
        is "$(activate)" "0::10000" "200 models x 50 live generations: nothing pruned"
}

scenario_half_deleted() {
        fx_systems 26
        fx_roots 0 50
        is "$(activate)" "0::0" "25 live systems, an empty roots folder: exit 0, nothing to say"
        fx_roots 100 50
        is "$(activate)" "0:deferred-builds: pruned 2500 roots of 25 deleted generations, kept 2500:2500" \
                "25 of 50 generations deleted: their 2500 roots pruned, the 2500 live ones kept"
        fx_roots 200 50
        is "$(activate)" "0:deferred-builds: pruned 5000 roots of 25 deleted generations, kept 5000:5000" \
                "with 200 models a generation: 5000 pruned, 5000 kept"
}

scenario_published_in_deleted() {
        fx_systems 26
        fx_roots 100 1
        is "$(activate)" "0:deferred-builds: pruned 2400 roots of 25 deleted generations, kept 2600:2600" \
                "the 100 roots published from deleted generation g1 are kept, the other 2400 pruned"
        ok "every published root of g1 is still there" test "$(find "$FX_STATE/roots/g1" -type l | wc -l)" = 100
}

run_scenarios "$@"
