#!/usr/bin/env bash
# deferred-builds-activate against real Nix: real derivations built through the daemon,
# real indirect GC roots made by `nix-store --realise --add-root`, and the Nix garbage
# collector's own view of what is alive afterwards.
#
# Generations (fake toplevels below a DEFERRED_BUILDS_SYSTEM_ROOT tree):
#   sys-a   live: /run/current-system, manifest with `generation = sys-a`
#   B       live: system-1-link, manifest in the store (named by its basename), found
#                 through the TOPLEVEL/etc/deferred-builds/manifest.ini fallback
#   sys-c   deleted: alpha (shared with A and B), gamma (only C and E), a foreign file
#   sys-d   deleted: epsilon, published in RUNTIME/models (only D holds it)
#   sys-e   deleted: gamma
# Expected: C's and E's roots go, E's folder goes, C's foreign file and D's published root
# stay; the collector then finds gamma's output dead and every other output alive.
#
# Run alone:  ABS_BUILD=$PWD/build tests/integration/activation.sh
# (starts a nix-daemon when none answers, and stops only that one).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
TOP=$PWD
: "${ABS_BUILD:=$TOP/build}"
# shellcheck source=tests/lib/tap.sh
. "$TOP/tests/lib/tap.sh"
# shellcheck source=tests/lib/nixd.sh
. "$TOP/tests/lib/nixd.sh"

BIN="$ABS_BUILD/deferred-builds-activate"
if [ ! -x "$BIN" ]; then
        tap_result 1 "$BIN is built" "run: make $BIN"
        tap_done
        exit 1
fi
if ! command -v nix-store >/dev/null || ! command -v nix-instantiate >/dev/null; then
        skip "activation against real Nix roots" "nix-store is not installed (apt-get install nix-bin)"
        tap_done
        exit 0
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/deferred-builds-activation.XXXXXX")
chmod 0755 "$T"
PERF=""
OUTS=()
cleanup() {
        local rc=$?
        rm -rf "$T" ${PERF:+"$PERF"}
        # Our paths are garbage now; delete them (and only them) so the store is as it was.
        # One at a time, newest first: nix-store --delete gives up on the whole list at the
        # first path it cannot delete (gamma's output is already gone), and a .drv stays
        # alive (keep-derivations) until its outputs are gone.
        local i
        for ((i = ${#OUTS[@]} - 1; i >= 0; i--)); do
                nix-store --delete "${OUTS[$i]}" >/dev/null 2>&1 || true
        done
        nixd_cleanup
        exit $rc
}
trap cleanup EXIT
export NIX_REMOTE=daemon
unset systemConfig DEFERRED_BUILDS_STATE_DIR DEFERRED_BUILDS_RUNTIME_DIR RUNTIME_DIRECTORY
if ! nixd_ensure; then
        tap_result 1 "a nix-daemon answers" "see ${TMPDIR:-/tmp}/deferred-builds-nix-daemon.log"
        tap_done
        exit 1
fi

NONCE="$(date +%s%N)-$$-$RANDOM"
NIXOPTS=(--option substituters '')
STATE=$T/state
RUN=$T/run
SYS=$T/sys
mkdir -p "$STATE/roots" "$RUN/models" "$SYS/run" "$SYS/nix/var/nix/profiles" "$T/drvroots"

cat >"$T/model.nix" <<'EOF'
{ name, nonce }:
builtins.derivation {
  inherit name;
  system = builtins.currentSystem;
  builder = "/bin/sh";
  args = [ "-c" "echo ${nonce}-${name} > $out" ];
}
EOF

# instantiate NAME: prints the .drv, rooted for the length of the test (with --add-root,
# nix-instantiate prints the root, which links to the .drv).
instantiate() {
        local r
        r=$(nix-instantiate "${NIXOPTS[@]}" --add-root "$T/drvroots/$1" "$T/model.nix" \
                --argstr name "dbtest-activate-$1" --argstr nonce "$NONCE" 2>/dev/null) && readlink "$r"
}
# root GEN MODEL DRV: realise DRV with its root at STATE/roots/GEN/MODEL.
root() {
        mkdir -p "$STATE/roots/$1"
        nix-store "${NIXOPTS[@]}" --realise "$3" --add-root "$STATE/roots/$1/$2" >/dev/null 2>"$T/realise.log"
}
# valid PATH...: every path is valid in the store and present on disk.
valid() {
        local p
        for p in "$@"; do
                nix-store --check-validity "$p" >/dev/null 2>&1 && [ -e "$p" ] || return 1
        done
}

# ---- real derivations and roots ---------------------------------------------------------
declare -A DRV OUT
for m in alpha beta gamma epsilon; do
        DRV[$m]=$(instantiate "$m")
        OUTS+=(${DRV[$m]:+"${DRV[$m]}"})
done
ok "four derivations instantiated" valid "${DRV[alpha]}" "${DRV[beta]}" "${DRV[gamma]}" "${DRV[epsilon]}"

# Generation B's manifest lives in the store, as on NixOS: its name is its identity.
printf '[deferred-builds]\nversion = 1\n; nonce %s\n' "$NONCE" >"$T/deferred-builds-manifest.ini"
MB=$(nix-store --add "$T/deferred-builds-manifest.ini")
nix-store --realise "$MB" --add-root "$T/drvroots/manifest-b" >/dev/null 2>&1
OUTS+=("$MB")
GB=$(basename "$MB")

built=0
{ root sys-a alpha "${DRV[alpha]}" && root sys-a beta "${DRV[beta]}" &&
        root "$GB" alpha "${DRV[alpha]}" &&
        root sys-c alpha "${DRV[alpha]}" && root sys-c gamma "${DRV[gamma]}" &&
        root sys-d epsilon "${DRV[epsilon]}" &&
        root sys-e gamma "${DRV[gamma]}"; } || built=1
tap_result $built "nix-store --realise --add-root made every root" "$(cat "$T/realise.log")"
OUT[alpha]=$(readlink "$STATE/roots/sys-a/alpha")
OUT[beta]=$(readlink "$STATE/roots/sys-a/beta")
OUT[gamma]=$(readlink "$STATE/roots/sys-c/gamma")
OUT[epsilon]=$(readlink "$STATE/roots/sys-d/epsilon")
OUTS+=("${OUT[alpha]}" "${OUT[beta]}" "${OUT[gamma]}" "${OUT[epsilon]}")
ok "the outputs are real store paths" valid "${OUT[alpha]}" "${OUT[beta]}" "${OUT[gamma]}" "${OUT[epsilon]}"
is "$(printf '%s\n' "${OUT[@]}" | sort -u | wc -l)" 4 "four distinct outputs"
is "$(cat "${OUT[gamma]}")" "$NONCE-dbtest-activate-gamma" "gamma's output is what its builder wrote"
like "$(nix-store --gc --print-roots 2>/dev/null)" "^$STATE/roots/sys-c/gamma -> ${OUT[gamma]}\$" \
        "Nix sees sys-c/gamma as a GC root"
not_ok_expected "before pruning, gamma's output is alive (nix-store --delete refuses)" \
        nix-store --delete "${OUT[gamma]}"

echo "mine, not a root" >"$STATE/roots/sys-c/NOTES"
ln -s "$STATE/roots/sys-d/epsilon" "$RUN/models/epsilon"

# ---- fake systems -----------------------------------------------------------------------
mkdir -p "$T/tops/a/deferred-builds" "$T/tops/b/etc/deferred-builds"
printf '[deferred-builds]\nversion = 1\ngeneration = sys-a\n' >"$T/tops/a/deferred-builds/manifest.ini"
ln -s "$MB" "$T/tops/b/etc/deferred-builds/manifest.ini"
ln -s "$T/tops/a" "$SYS/run/current-system"
ln -s "$T/tops/gone" "$SYS/run/booted-system" # dangling: a system that is not there
ln -s "$T/tops/b" "$SYS/nix/var/nix/profiles/system-1-link"
ln -s "$T/tops/a" "$SYS/nix/var/nix/profiles/system-2-link"
export DEFERRED_BUILDS_SYSTEM_ROOT=$SYS

# ---- the activation ---------------------------------------------------------------------
"$BIN" --state-dir "$STATE" --runtime-dir "$RUN" >"$T/out" 2>"$T/err"
rc=$?
err=$(cat "$T/err")
is "$rc" 0 "activation exits 0"
is "$(cat "$T/out")" "deferred-builds: pruned 3 roots of 3 deleted generations, kept 4" "one summary line"
like "$err" "Leaving $STATE/roots/sys-c/NOTES alone" "the foreign file is named in a warning"
unlike "$err" "Failed|error" "no errors"

survivors=$(cd "$STATE/roots" && find . -mindepth 1 | LC_ALL=C sort | tr '\n' ' ')
expected=$(printf '%s\n' ./.lock "./$GB" "./$GB/alpha" ./sys-a ./sys-a/alpha ./sys-a/beta ./sys-c ./sys-c/NOTES \
        ./sys-d ./sys-d/epsilon | LC_ALL=C sort | tr '\n' ' ')
is "$survivors" "$expected" "exactly the live, published and foreign entries survive"
is "$(readlink "$STATE/roots/sys-a/alpha")" "${OUT[alpha]}" "live roots still point at their outputs"
is "$(cat "$STATE/roots/sys-c/NOTES")" "mine, not a root" "the foreign file is untouched"

# ---- what the garbage collector thinks now ---------------------------------------------
roots_after=$(nix-store --gc --print-roots 2>/dev/null)
unlike "$roots_after" "^$STATE/roots/sys-(c|e)/" "Nix no longer sees any root of C or E"
like "$roots_after" "^$STATE/roots/sys-a/beta -> ${OUT[beta]}\$" "Nix still sees A's roots"
like "$roots_after" "^$STATE/roots/$GB/alpha -> ${OUT[alpha]}\$" "Nix still sees B's roots"
like "$roots_after" "^$STATE/roots/sys-d/epsilon -> ${OUT[epsilon]}\$" "Nix still sees the published root"
dead=$(nix-store --gc --print-dead 2>/dev/null)
like "$dead" "^${OUT[gamma]}\$" "the collector finds gamma's output (only C and E held it) dead"
unlike "$dead" "^(${OUT[alpha]}|${OUT[beta]}|${OUT[epsilon]})\$" "the collector finds every other output alive"
ok "gamma's output is collected (nix-store --delete)" nix-store --delete "${OUT[gamma]}"
not_ok_expected "gamma's output is gone from the store" valid "${OUT[gamma]}"
not_ok_expected "alpha's output (live A and B) cannot be collected" nix-store --delete "${OUT[alpha]}"
not_ok_expected "beta's output (live A) cannot be collected" nix-store --delete "${OUT[beta]}"
not_ok_expected "epsilon's output (published, generation deleted) cannot be collected" \
        nix-store --delete "${OUT[epsilon]}"
ok "alpha, beta and epsilon outputs are still in the store" valid "${OUT[alpha]}" "${OUT[beta]}" "${OUT[epsilon]}"

# ---- a second activation has nothing to do ---------------------------------------------
"$BIN" --state-dir "$STATE" --runtime-dir "$RUN" >"$T/out" 2>"$T/err"
is "$?:$(cat "$T/out")" "0:" "a second activation exits 0 and prints nothing"
"$BIN" -q --state-dir "$STATE" --runtime-dir "$RUN" >"$T/out" 2>"$T/err"
is "$?:$(cat "$T/out"):$(cat "$T/err")" "0::" "with -q, not even the foreign-file warning"

# ---- $systemConfig: the toplevel being activated is live -------------------------------
mkdir -p "$STATE/roots/sys-new" "$T/tops/new/deferred-builds"
ln -s "${OUT[alpha]}" "$STATE/roots/sys-new/alpha"
printf '[deferred-builds]\nversion = 1\ngeneration = sys-new\n' >"$T/tops/new/deferred-builds/manifest.ini"
systemConfig="$T/tops/new" "$BIN" --state-dir "$STATE" --runtime-dir "$RUN" >"$T/out" 2>"$T/err"
is "$?:$(cat "$T/out")" "0:" "the generation in \$systemConfig is kept"
ok "its root is still there" test -L "$STATE/roots/sys-new/alpha"
"$BIN" --system-config "$T/tops/gone" --state-dir "$STATE" --runtime-dir "$RUN" >"$T/out" 2>"$T/err"
# Deleted generations now: sys-c (foreign file), sys-d (published) and sys-new.
is "$?:$(cat "$T/out")" "0:deferred-builds: pruned 1 roots of 3 deleted generations, kept 4" \
        "without it, that generation is pruned"
ok "and its folder is gone" test ! -e "$STATE/roots/sys-new"

# ---- never fails ------------------------------------------------------------------------
"$BIN" --state-dir "$T/missing" --runtime-dir "$RUN" >"$T/out" 2>"$T/err"
is "$?:$(cat "$T/out"):$(cat "$T/err")" "0::" "a missing state dir: exit 0, silent"
echo "not a folder" >"$T/state-file"
"$BIN" --state-dir "$T/state-file" --runtime-dir "$RUN" >"$T/out" 2>"$T/err"
is "$?" 0 "a state dir that is a file: exit 0"
like "$(cat "$T/err")" "$T/state-file/roots.*Not a directory" "the error names the path"
if command -v setpriv >/dev/null && [ "$(id -u)" = 0 ]; then
        mkdir -p "$T/locked/roots/sys-old"
        ln -s "${OUT[alpha]}" "$T/locked/roots/sys-old/alpha"
        chmod 0700 "$T/locked"
        setpriv --reuid=65534 --regid=65534 --clear-groups \
                "$BIN" --state-dir "$T/locked" --runtime-dir "$RUN" >"$T/out" 2>"$T/err"
        is "$?" 0 "an unreadable state dir (as nobody): exit 0"
        like "$(cat "$T/err")" "$T/locked/roots.*Permission denied" "the error names the path"
        ok "nothing was removed from it" test -L "$T/locked/roots/sys-old/alpha"
else
        skip "an unreadable state dir" "needs root and setpriv to run as nobody"
fi
mkdir -p "$T/tops/broken/deferred-builds"
ln -s manifest.ini "$T/tops/broken/deferred-builds/manifest.ini" # a loop: unreadable
ln -s "$T/tops/broken" "$SYS/nix/var/nix/profiles/system-3-link"
mkdir -p "$STATE/roots/sys-doomed"
ln -s "${OUT[alpha]}" "$STATE/roots/sys-doomed/alpha"
"$BIN" --state-dir "$STATE" --runtime-dir "$RUN" >"$T/out" 2>"$T/err"
is "$?:$(cat "$T/out")" "0:" "an unreadable manifest: exit 0, nothing pruned"
like "$(cat "$T/err")" "Failed to read manifest $T/tops/broken/deferred-builds/manifest.ini" \
        "the error names the manifest"
like "$(cat "$T/err")" "not pruning GC roots this time" "and says nothing was pruned"
ok "the roots stay while liveness is unknown" test -L "$STATE/roots/sys-doomed/alpha"
rm "$SYS/nix/var/nix/profiles/system-3-link"
DEFERRED_BUILDS_SYSTEM_ROOT="$T/empty-system" "$BIN" --state-dir "$STATE" --runtime-dir "$RUN" >"$T/out" 2>"$T/err"
is "$?:$(cat "$T/out")" "0:" "no live generation found at all: exit 0, nothing pruned"
like "$(cat "$T/err")" "found no system generation with a deferred-builds manifest" "and it says why"
ok "every root is still there" test -L "$STATE/roots/sys-doomed/alpha" -a -L "$STATE/roots/sys-a/alpha"
"$BIN" --dry-run --state-dir "$STATE" --runtime-dir "$RUN" >"$T/out" 2>"$T/err"
is "$?:$(cat "$T/out")" "0:deferred-builds: would prune 1 roots of 3 deleted generations, kept 4" \
        "--dry-run tells what would go"
like "$(cat "$T/err")" "Would remove GC root $STATE/roots/sys-doomed/alpha -> ${OUT[alpha]}" "naming each root"
ok "and removes nothing" test -L "$STATE/roots/sys-doomed/alpha"
"$BIN" --state-dir "$STATE" --runtime-dir "$RUN" >"$T/out" 2>"$T/err"
is "$?:$(cat "$T/out")" "0:deferred-builds: pruned 1 roots of 3 deleted generations, kept 4" \
        "once the manifest is readable again, the pruning happens"
"$BIN" --bogus >/dev/null 2>"$T/err"
is "$?" 64 "a usage error exits 64"
like "$(cat "$T/err")" "--bogus.*--help" "and says what to do"

# ---- 100 models x 50 deleted generations, on tmpfs and on disk -------------------------
# Every root links to one real store path; 5 more generations are live, each with a
# 100-model manifest, as on a machine that keeps a few generations. How long this takes is
# a benchmark (bench/run.sh, "activation helper").
make_perf_tree() { # make_perf_tree DIR
        local d=$1 g m
        rm -rf "$d"
        mkdir -p "$d/sys/run" "$d/sys/nix/var/nix/profiles" "$d/state/roots" "$d/run/models"
        for g in 1 2 3 4 5; do
                mkdir -p "$d/tops/$g/deferred-builds"
                {
                        printf '[deferred-builds]\nversion = 1\ngeneration = live-%s\n' "$g"
                        for m in $(seq 1 100); do
                                printf '\n[model.model-%s]\n' "$m"
                                printf 'drv = /nix/store/0123456789abcdfghijklmnpqrsvwxyz-model-%s.drv\n' "$m"
                                printf 'exec = /run/current-system/sw/bin/serve\narg = --port\narg = %s\n' \
                                        "$((8000 + m))"
                        done
                } >"$d/tops/$g/deferred-builds/manifest.ini"
                ln -s "$d/tops/$g" "$d/sys/nix/var/nix/profiles/system-$g-link"
        done
        ln -s "$d/tops/5" "$d/sys/run/current-system"
        ln -s "$d/tops/5" "$d/sys/run/booted-system"
        perl -e '
                my ($roots, $target) = @ARGV;
                for my $g ((map { "old-$_" } 1 .. 50), (map { "live-$_" } 1 .. 5)) {
                        mkdir "$roots/$g" or die "$roots/$g: $!";
                        for my $m (1 .. 100) {
                                symlink $target, "$roots/$g/model-$m" or die "$!";
                        }
                }' "$d/state/roots" "${OUT[alpha]}"
}
# prune_tree DIR: prunes the tree in DIR; returns non-zero unless exactly the 5000 deleted
# roots and their 50 folders went.
prune_tree() {
        local d=$1
        make_perf_tree "$d"
        DEFERRED_BUILDS_SYSTEM_ROOT="$d/sys" "$BIN" --state-dir "$d/state" --runtime-dir "$d/run" \
                >"$T/out" 2>"$T/err"
        [ "$(cat "$T/out")" = "deferred-builds: pruned 5000 roots of 50 deleted generations, kept 500" ] &&
                [ -z "$(cat "$T/err")" ] &&
                [ "$(find "$d/state/roots" -mindepth 1 -maxdepth 1 -name 'old-*' | wc -l)" = 0 ] &&
                [ "$(find "$d/state/roots" -mindepth 2 -type l | wc -l)" = 500 ]
}
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
        PERF=$(mktemp -d /dev/shm/deferred-builds-activation-perf.XXXXXX)
        prune_tree "$PERF/tree"
        tap_result $? "on tmpfs: 5000 roots and 50 folders of deleted generations pruned, the 500 live kept" \
                "$(cat "$T/out" "$T/err")"
        rm -rf "$PERF/tree"
else
        skip "on tmpfs: 5000 roots of deleted generations pruned" "no writable /dev/shm"
fi
prune_tree "$T/perf-disk"
tap_result $? "on the disk under $T the same prune also removes exactly what it should" \
        "$(cat "$T/out" "$T/err")"
rm -rf "$T/perf-disk"

tap_done
