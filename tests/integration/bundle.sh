#!/usr/bin/env bash
# Derivation bundles with the real Nix and real nix-daemons (docs/DESIGN.md "Derivation
# bundles"): a system closure with no .drv still lets every model be trained.
#
#   On the shared daemon: manifests for models with input derivations and a data source are
#   built (with their bundles, never the models); their closures hold no .drv. A model
#   without a bundle has its .drv put into a signed file:// cache (nix copy --derivation).
#
#   Then, in a private mount namespace whose /nix is a second, empty store with a
#   nix-daemon of its own (as tests/integration/scale-out.sh makes a builder machine), only
#   those closures are imported: no .drv at all. There:
#   A. realise without the import finds the .drv missing and asks for a retry (75);
#      `deferred-realise import` (as root, what ExecStartPre=+ runs) restores the .drvs
#      from the bundle and roots them; realise then trains the model and drops that root;
#   B. rollback: after a garbage collection took generation 1's output and every .drv,
#      generation 1 is trained again from its bundle;
#   C. a garbage collector running in a loop while a model is imported and trained takes
#      nothing it needs;
#   D. a model with no bundle whose .drv is missing gets it from the file:// cache
#      (today's pre-check refused with 69), and is trained;
#   E. with neither a bundle nor a cache that has it: 69, with a message that says so.
#
# Needs root (the import, the mount namespace, the second daemon). Every process started
# here is stopped by its PID; the shared store keeps only what its GC may take.
set -u
: "${TOP:=$(cd "$(dirname "$0")/../.." && pwd)}"
cd "$TOP" || exit 1
. tests/lib/tap.sh
TAP_N=${BUNDLE_TAP_N:-0}
ABS_BUILD=${ABS_BUILD:-$TOP/build}
REALISE=$ABS_BUILD/deferred-realise
FX=$TOP/tests/integration/fixtures/bundle.nix

poll() { # poll SECONDS COMMAND...
        local end=$((SECONDS + $1))
        shift
        while [ $SECONDS -le $end ]; do
                "$@" >/dev/null 2>&1 && return 0
                sleep 0.1
        done
        return 1
}
is_valid() { nix-store --check-validity "$1" >/dev/null 2>&1; }

if [ -z "${BUNDLE_INNER:-}" ]; then
        # ---- on the shared daemon ------------------------------------------------------
        . tests/lib/nixd.sh
        if [ "$(id -u)" != 0 ]; then
                skip "bundle suite" "needs root (nix-store --import, a mount namespace, a second nix-daemon)"
                tap_done
                exit 0
        fi
        if ! nixd_alive; then
                skip "bundle suite" "no nix-daemon answering (run through tests/run)"
                tap_done
                exit 0
        fi
        export NIX_REMOTE=daemon NIX_CONFIG="substituters =
experimental-features = nix-command"
        T=$(mktemp -d "${TMPDIR:-/tmp}/deferred-builds-bundle.XXXXXX") || exit 1
        chmod 0755 "$T"
        touch "$T/marker"
        chmod 0666 "$T/marker"
        cleanup() {
                local rc=$?
                rm -rf "$T/gcroots"
                # What this suite built on the shared store (bundles, manifests, .drvs).
                # shellcheck disable=SC2046
                [ -s "$T/clean" ] && nix-store --delete $(sort -u "$T/clean") >/dev/null 2>&1
                if [ -n "${BUNDLE_KEEP:-}" ]; then echo "# kept $T" >&2; else rm -rf "$T"; fi
                exit $rc
        }
        trap cleanup EXIT
        NONCE="$(date +%s%N)-$$"
        mkdir -p "$T/gcroots" "$T/keys"
        nix-store --generate-binary-cache-key bundle-test-1 "$T/keys/sk" "$T/keys/pk" || exit 1
        build() { # build NAME ATTR [nix-build args] -> store path, rooted in $T/gcroots
                local name=$1 attr=$2
                shift 2
                nix-build "$FX" -A "$attr" --argstr helper "$REALISE" --argstr nonce "$NONCE" \
                        --argstr marker "$T/marker" -o "$T/gcroots/$name" "$@" >/dev/null 2>>"$T/build.log" || return 1
                readlink "$T/gcroots/$name" | tee -a "$T/clean"
        }
        drv_of() { sed -n 's/^drv = //p' "$1"; }

        M1=$(build m1 manifest --argstr version 1)
        M2=$(build m2 manifest --argstr version 2)
        M3=$(build m3 manifest --argstr version 3 --argstr pause 3)
        MNB=$(build mnb manifestNoBundle --argstr version nb)
        MNONE=$(build mnone manifestNoBundle --argstr version none)
        ok "manifests for four models (and their bundles) build on the shared daemon" \
                test -n "$M1" -a -n "$M2" -a -n "$M3" -a -n "$MNB" -a -n "$MNONE"
        [ -n "$M1" ] && [ -n "$M2" ] && [ -n "$M3" ] && [ -n "$MNB" ] && [ -n "$MNONE" ] || {
                diag "$(tail -n 20 "$T/build.log")"
                tap_done
                exit 1
        }
        for m in "$M1" "$M2" "$M3" "$MNB" "$MNONE"; do
                nix-store -qR "$(drv_of "$m")" >>"$T/clean"
                nix-store -q --referrers "$(drv_of "$m")" >>"$T/clean"
        done
        closure=$(nix-store -qR "$M1" "$M2" "$M3" "$MNB" "$MNONE")
        unlike "$closure" '\.drv$' "the manifests' closure (all the module adds to a system) holds no .drv"
        like "$closure" '-bundle-model-.*-v1-bundle$' "and holds generation 1's bundle"
        like "$closure" '-bundle-data\.txt$' "and the training data, a source of the models' derivations"
        unlike "$(nix-store -qR "$MNB")" '-bundle$' "a manifest built without bundles references none"

        # The .drv of the model without a bundle, in a signed file:// cache: .drv closure only.
        out=$(nix copy --derivation --to "file://$T/cache?secret-key=$T/keys/sk" "$(drv_of "$MNB")" 2>&1)
        tap_result $? "nix copy --derivation puts the .drv closure into a file:// cache" "$out"
        like "$(ls "$T/cache")" '\.narinfo' "the cache has narinfo files"

        nix-store --export $(nix-store -qR "$M1" "$M2" "$M3" "$MNB" "$MNONE") >"$T/closure.export"
        ok "the closures export ($(stat -c %s "$T/closure.export") bytes)" test -s "$T/closure.export"
        printf '%s\n' "$M1" "$M2" "$M3" "$MNB" "$MNONE" >"$T/manifests"

        # ---- into the second store -----------------------------------------------------
        mkdir -p "$T/store2/nix"
        # shellcheck disable=SC2016 # $1 and $@ are the inner shell's
        unshare --mount --propagation private sh -c 'mount --bind "$1" /nix && shift && exec "$@"' sh \
                "$T/store2/nix" env BUNDLE_INNER="$T" BUNDLE_TAP_N="$TAP_N" BUNDLE_TAP_FAILED="$TAP_FAILED" \
                ABS_BUILD="$ABS_BUILD" TOP="$TOP" "$0"
        exit $?
fi

# ---- inside the namespace: /nix is the second store -----------------------------------
T=$BUNDLE_INNER
TAP_FAILED=${BUNDLE_TAP_FAILED:-0}
unset NIX_REMOTE
export NIX_CONFIG="substituters ="
DAEMON_PID="" GC_PID=""
cleanup_inner() {
        local rc=$?
        [ -n "$GC_PID" ] && kill "$GC_PID" 2>/dev/null && wait "$GC_PID" 2>/dev/null
        [ -n "$DAEMON_PID" ] && kill "$DAEMON_PID" 2>/dev/null && wait "$DAEMON_PID" 2>/dev/null
        exit $rc
}
trap cleanup_inner EXIT
mapfile -t MS <"$T/manifests"
M1=${MS[0]} M2=${MS[1]} M3=${MS[2]} MNB=${MS[3]} MNONE=${MS[4]}
drv_of() { sed -n 's/^drv = //p' "$1"; }
out_of() { sed -n 's/^out = //p' "$1"; }

ok "the second store is empty" test ! -e /nix/store
# No build users: they are shared with the host's daemon, which kills whatever runs as a
# build user it hands out (another store's build, or this one's).
NIX_CONFIG="substituters =
build-users-group =
trusted-public-keys = $(cat "$T/keys/pk")
experimental-features = nix-command" nix-daemon >"$T/daemon2.log" 2>&1 &
DAEMON_PID=$!
export NIX_REMOTE=daemon
poll 20 nix-store --check-validity --print-invalid /nix/store/00000000000000000000000000000000-probe
tap_result $? "a nix-daemon of its own answers on the second store" "$(tail -n 5 "$T/daemon2.log")"

nix-store --import <"$T/closure.export" >/dev/null 2>"$T/import.log"
tap_result $? "only the manifests' closures are imported into it" "$(cat "$T/import.log")"
# Rooted as system profiles root their generations.
for i in "${!MS[@]}"; do nix-store --add-root "$T/gcroots2-$i" --realise "${MS[$i]}" >/dev/null; done
all=$(find /nix/store -mindepth 1 -maxdepth 1 | sort)
unlike "$all" '\.drv$' "the second store holds no .drv at all"
like "$all" '-bundle-data\.txt$' "it holds the training data"

export DEFERRED_BUILDS_SCOPE=user DEFERRED_BUILDS_STATE_DIR=$T/state DEFERRED_BUILDS_RUNTIME_DIR=$T/run
export DEFERRED_BUILDS_RETRY_BUDGET=5
gen_of() { basename "$1"; }
# train MANIFEST: what the realise unit runs, import (ExecStartPre=-+) then realise.
train() {
        DEFERRED_BUILDS_MANIFEST=$1 "$REALISE" import m >"$T/last-import.log" 2>&1
        IMPORT_RC=$?
        DEFERRED_BUILDS_MANIFEST=$1 "$REALISE" realise m >"$T/last-realise.log" 2>&1
        RC=$?
}
trained() { grep -c "^trained v$1\$" "$T/marker"; }
marker_before=$(trained 1)

# A.
DEFERRED_BUILDS_MANIFEST=$M1 "$REALISE" realise m >"$T/a0.log" 2>&1
is "$?" 75 "A: realise alone, the .drv missing and a bundle in the manifest: 75 (systemd starts it again, which imports)"
like "$(cat "$T/a0.log")" "importing it from bundle /nix/store/[a-z0-9]{32}-bundle-model-.*-bundle failed" \
        "A: and says the bundle import failed"
train "$M1"
is "$IMPORT_RC" 0 "A: deferred-realise import m exits 0"
like "$(cat "$T/last-import.log")" "Imported the 3 derivations of model m from bundle" \
        "A: it imported the model's 3 derivations (model, tokenizer, prep)"
is "$RC" 0 "A: realise then trains the model (exit 0)"
[ "$RC" = 0 ] || diag "$(cat "$T/last-realise.log")"
is "$(trained 1)" "$((marker_before + 1))" "A: the model's builder ran once, in the second store"
G1=$T/state/roots/$(gen_of "$M1")
like "$(cat "$G1/m" 2>&1)" "^weights v1: tokens of prepared-v1; the training data" \
        "A: its output holds what the input derivations and the data source gave"
is "$(readlink "$T/run/models/m")" "$G1/m" "A: and it is published"
ok "A: the training's .drv root is gone once the training ended" test ! -L "$G1/.m.drv"
ok "A: the .drv stayed in the store meanwhile (valid)" is_valid "$(drv_of "$M1")"

# B. Generation 2, then a GC with generation 1's output unrooted, then rollback to 1.
train "$M2"
is "$RC" 0 "B: generation 2 trains from its own bundle" "$(cat "$T/last-realise.log")"
rm -f "$G1/m"
nix-store --gc >"$T/gc.log" 2>&1
tap_result $? "B: nix-store --gc runs on the second store" "$(tail -n 3 "$T/gc.log")"
not_ok_expected "B: generation 1's output was collected" is_valid "$(out_of "$M1")"
not_ok_expected "B: generation 1's .drv was collected" is_valid "$(drv_of "$M1")"
# keep-derivations (Nix's default) keeps the .drv of a live output.
ok "B: generation 2's .drv is kept with its live output (keep-derivations)" is_valid "$(drv_of "$M2")"
ok "B: generation 2's output is kept by its root" is_valid "$(out_of "$M2")"
ok "B: generation 1's bundle is kept by its manifest" is_valid "$(sed -n 's/^bundle = //p' "$M1")"
before=$(trained 1)
train "$M1"
is "$RC" 0 "B: rollback: generation 1 is trained again from its bundle" "$(cat "$T/last-import.log" "$T/last-realise.log")"
is "$(trained 1)" "$((before + 1))" "B: its builder ran again"
ok "B: its output is valid again" is_valid "$(out_of "$M1")"
is "$(readlink "$T/run/models/m")" "$G1/m" "B: and published again"

# C. A collector in a loop while generation 3 is imported and trained (3 s).
: >"$T/gc-loop.log"
(while :; do nix-store --gc >/dev/null 2>&1 && echo gc >>"$T/gc-loop.log"; done) &
GC_PID=$!
poll 20 test -s "$T/gc-loop.log"
train "$M3"
kill "$GC_PID" 2>/dev/null
wait "$GC_PID" 2>/dev/null
GC_PID=""
gcs=$(wc -l <"$T/gc-loop.log")
ok "C: the collector ran over and over during the training ($gcs runs)" test "$gcs" -ge 3
is "$IMPORT_RC" 0 "C: the import succeeded while the collector ran" "$(cat "$T/last-import.log")"
is "$RC" 0 "C: so did the training, on the first attempt"
[ "$RC" = 0 ] || diag "$(cat "$T/last-realise.log")"
G3=$T/state/roots/$(gen_of "$M3")
like "$(cat "$G3/m" 2>&1)" "^weights v3" "C: generation 3's output is complete"
nix-store --gc >/dev/null 2>&1
ok "C: and still there after one more collection" is_valid "$(out_of "$M3")"

# D. No bundle; the .drv comes from the file:// cache.
DRV_NB=$(drv_of "$MNB")
not_ok_expected "D: the bundle-less model's .drv is not in the second store" is_valid "$DRV_NB"
before=$(trained nb)
DEFERRED_BUILDS_MANIFEST=$MNB "$REALISE" import m >"$T/d-import.log" 2>&1
is "$?" 0 "D: import has nothing to do for a model without a bundle (exit 0)"
ok "D: and roots nothing" test ! -e "$T/state/roots/$(gen_of "$MNB")/.m.drv"
NIX_CONFIG="substituters = file://$T/cache" DEFERRED_BUILDS_MANIFEST=$MNB "$REALISE" realise m >"$T/d.log" 2>&1
is "$?" 0 "D: realise substitutes the .drv from the file:// cache and trains the model" "$(cat "$T/d.log")"
ok "D: the .drv is now valid" is_valid "$DRV_NB"
is "$(trained nb)" "$((before + 1))" "D: the model's builder ran (only the .drv was in the cache)"

# E. Neither.
DEFERRED_BUILDS_MANIFEST=$MNONE "$REALISE" realise m >"$T/e.log" 2>&1
is "$?" 69 "E: no bundle and no cache holds the .drv: 69"
like "$(cat "$T/e.log")" "no substituter has it: the manifest names no bundle" "E: and the message says why"

tap_done
