#!/usr/bin/env bash
# deferred-builds history on real GC roots: models trained by the real deferred-realise
# through the real nix-daemon into STATE/roots/GEN/NAME (nix-store --add-root), in a
# system root with three NixOS-like generations (profile links to toplevels carrying a
# manifest), one current after a rollback:
#   - every generation still on disk is listed, newest first, current and booted marked;
#   - each model shows the output its generation's root keeps, and which one is served;
#   - a generation never realised shows its wanted output and no root;
#   - deleting a generation's profile drops it; a removed root shows as gone.
#
# Scenarios: json, table, deleted, usage; each on a system root, state and runtime folder
# of its own (the models trained again for it: a cheap realise once the store has them).
# Run some alone (a nix-daemon must answer; tests/run starts one):
#   ABS_BUILD=$PWD/build/san tests/integration/history.sh [SCENARIO...]   (e.g. deleted)
set -u
: "${TOP:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$TOP/tests/lib/tap.sh"
. "$TOP/tests/lib/nixd.sh"
: "${ABS_BUILD:=$TOP/build}"

nixd_require "history integration"
tap_require_built deferred-builds deferred-realise
T=$(mktemp -d "${TMPDIR:-/tmp}/deferred-builds-history.XXXXXX")
trap 'rm -rf "$T"' EXIT
DB="$ABS_BUILD/deferred-builds"
REALISE="$ABS_BUILD/deferred-realise"
NONCE="$(date +%s%N)-$$"
export NIX_REMOTE=daemon
export DEFERRED_BUILDS_STATE_DIR=$T/state DEFERRED_BUILDS_RUNTIME_DIR=$T/run DEFERRED_BUILDS_SYSTEM_ROOT=$T/sys
export DEFERRED_BUILDS_MANIFEST=$T/sys/etc/deferred-builds/manifest.ini
unset DEFERRED_BUILDS_SCOPE
mkdir -p "$T/drv-roots"

# drv NAME VARIANT -> a .drv of the CLI fixture, rooted for the length of the suite.
drv() {
        local root="$T/drv-roots/$1-$2"
        nix-instantiate "$TOP/tests/integration/fixtures/cli/model.nix" --argstr name "$1" --argstr nonce "$NONCE" \
                --argstr variant "$2" --add-root "$root" >/dev/null 2>&1 && readlink "$root"
}
outpath() { nix-store --query --outputs "$1"; }
M1=$(drv m 1) M2=$(drv m 2) O1=$(drv other 1)
ok "fixtures instantiated" test -e "$M1" -a -e "$M2" -a -e "$O1"
OUT_M1=$(outpath "$M1") OUT_M2=$(outpath "$M2") OUT_O1=$(outpath "$O1")

# toplevel N GEN [NAME DRV]...: a system toplevel whose manifest has generation GEN.
toplevel() {
        local n=$1 gen=$2
        shift 2
        mkdir -p "$T/tops/$n/deferred-builds"
        {
                printf '[deferred-builds]\nversion = 1\ngeneration = %s\n' "$gen"
                while [ $# -ge 2 ]; do
                        printf '\n[model.%s]\ndrv = %s\nout = %s\nsubstituters =\nexec = /bin/sleep\narg = infinity\n' \
                                "$1" "$2" "$(outpath "$2")"
                        shift 2
                done
        } >"$T/tops/$n/deferred-builds/manifest.ini"
        ln -sfn "$T/tops/$n" "$T/sys/nix/var/nix/profiles/system-$n-link"
}
realise_in() { # realise_in N MODEL: what the realise unit of system N runs
        DEFERRED_BUILDS_MANIFEST=$T/tops/$1/deferred-builds/manifest.ini "$REALISE" realise "$2" >>"$T/realise.log" 2>&1
}
# three_systems: a fresh system root with three generations. Switch to 1 and train, to 2
# and train, boot 3 (never trained), roll back to 2; each step checked.
three_systems() {
        rm -rf "$T/state" "$T/run" "$T/sys" "$T/tops" "$T/realise.log"
        mkdir -p "$T/state" "$T/run" "$T/sys/nix/var/nix/profiles" "$T/sys/run" "$T/sys/etc/deferred-builds"
        toplevel 1 g1 m "$M1" other "$O1"
        toplevel 2 g2 m "$M2" other "$O1"
        toplevel 3 g3 m "$M2"
        realise_in 1 m && realise_in 1 other
        tap_result $? "generation 1's models are trained" "$(tail -n 5 "$T/realise.log")"
        realise_in 2 m && realise_in 2 other
        tap_result $? "generation 2's models are trained" "$(tail -n 5 "$T/realise.log")"
        ln -sfn "$T/tops/3" "$T/sys/run/booted-system"
        ln -sfn "$T/tops/2" "$T/sys/run/current-system"
        ln -sfn "$T/tops/2/deferred-builds/manifest.ini" "$DEFERRED_BUILDS_MANIFEST"
        is "$(readlink -f "$T/run/models/m")" "$OUT_M2" "m serves generation 2's output"
}
# q PYTHON: runs PYTHON with d, the JSON in $out (the caller's history --json).
q() { printf '%s' "$out" | /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); $1"; }
# row SYSTEM MODEL -> "out rooted served"
row() { q "g=[g for g in d if g['system']=='$1'][0]; m=[m for m in g['models'] if m['name']=='$2'][0]; print(m['out'], m['rooted'], m['served'])"; }

scenario_json() {
        local out
        three_systems
        out=$("$DB" history --json 2>"$T/err")
        is "$?" 0 "history --json exits 0"
        is "$(q 'print(" ".join("%s:%s:%s:%s" % (g["system"], g["generation"], g["current"], g["booted"]) for g in d))')" \
                "system-3-link:g3:False:True system-2-link:g2:True:False system-1-link:g1:False:False" \
                "every generation on disk, newest first; current and booted marked; the /etc manifest is not repeated"
        is "$(row system-2-link m)" "$OUT_M2 True True" "generation 2 (current): m's root keeps v2, and it is served"
        is "$(row system-2-link other)" "$OUT_O1 True True" "generation 2: other is served from its root"
        is "$(row system-1-link m)" "$OUT_M1 True False" "generation 1: m's root keeps v1, not served"
        is "$(row system-1-link other)" "$OUT_O1 True False" "generation 1: other has the same output, but its root is not the one served"
        is "$(row system-3-link m)" "$OUT_M2 False False" "generation 3, never trained: the wanted output, no root"
        is "$(q 'print(sum(m["served"] for g in d for m in g["models"]))')" 2 "exactly one served entry per served model"
        like "$(q 'print([g for g in d if g["system"]=="system-1-link"][0]["models"][0]["root"])')" "^$T/state/roots/g1/m$" \
                "the root is STATE/roots/GEN/NAME"
}

scenario_table() {
        local out rc
        three_systems
        out=$("$DB" history 2>&1)
        rc=$?
        diag "$out"
        is "$rc" 0 "history exits 0"
        like "$out" "^SYSTEM +GENERATION +MODEL +ROOT +SERVED +OUTPUT" "the table's header"
        like "$out" $'\nsystem-3-link \\(booted\\) +g3 +m +no +no +[a-z0-9]{7}…-dbcli-m-' "the booted generation, not trained"
        like "$out" $'\nsystem-2-link \\(current\\) +g2 +m +yes +yes +[a-z0-9]{7}…-dbcli-m-' "the current one, served"
        like "$out" $'\n +other +yes +yes ' "its second model on the next row"
}

scenario_deleted() {
        local out
        diag "deleting generation 1, removing a root"
        three_systems
        rm "$T/sys/nix/var/nix/profiles/system-1-link"
        out=$("$DB" history --json 2>/dev/null)
        is "$(q 'print(" ".join(g["system"] for g in d))')" "system-3-link system-2-link" "a deleted generation is no longer listed"
        rm "$T/state/roots/g2/m"
        out=$("$DB" history --json 2>/dev/null)
        is "$(row system-2-link m)" "$OUT_M2 False False" "a removed root: not rooted, not served, the wanted output shown"
}

scenario_usage() {
        local out
        "$DB" history extra >/dev/null 2>&1
        is "$?" 64 "history takes no operands"
        out=$("$DB" history --help)
        is "$?/$(printf '%s\n' "$out" | head -1)" "0/Usage: deferred-builds history [--json]" "history --help"
}

run_scenarios "$@"
