#!/usr/bin/env bash
# deferred-builds-activate against real Nix: real derivations built through the daemon,
# real indirect GC roots made by `nix-store --realise --add-root`, and the Nix garbage
# collector's own view of what is alive afterwards.
#
# Each scenario starts from a tree of its own, in a folder of its own (fresh): fake
# toplevels below a DEFERRED_BUILDS_SYSTEM_ROOT, and their generations' roots:
#   sys-a   live: /run/current-system, manifest with `generation = sys-a`
#   B       live: system-1-link, manifest in the store (named by its basename), found
#                 through the TOPLEVEL/etc/deferred-builds/manifest.ini fallback
#   sys-c   deleted: alpha (shared with A and B), gamma (only C and E), a foreign file
#   sys-d   deleted: epsilon, published in RUNTIME/models (only D holds it)
#   sys-e   deleted: gamma
# Expected: C's and E's roots go, E's folder goes, C's foreign file and D's published root
# stay. prune makes those roots with nix-store --realise --add-root and asks the collector
# afterwards (gamma's output dead, every other output alive); the other scenarios make the
# same links as plain symlinks (the helper reads only the links), and large_tree_* prune
# 100 models x 50 deleted generations instead.
#
# Scenarios, one each from a fresh tree:
#   prune second_run system_config missing_state_dir state_dir_file unreadable_state_dir
#   unreadable_manifest no_live_generation dry_run usage_error large_tree_tmpfs
#   large_tree_disk
# The four derivations are instantiated once per suite. Run one alone (starts a nix-daemon
# when none answers, and stops only that one):
#   ABS_BUILD=$PWD/build/san tests/integration/activation.sh NAME    (or scenario_NAME)
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

BASE=$(mktemp -d "${TMPDIR:-/tmp}/deferred-builds-activation.XXXXXX")
chmod 0755 "$BASE"
PERF=""
OUTS=()
cleanup() {
        local rc=$?
        rm -rf "$BASE" ${PERF:+"$PERF"}
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
mkdir -p "$BASE/drvroots"

cat >"$BASE/model.nix" <<'NIX'
{ name, nonce }:
builtins.derivation {
  inherit name;
  system = builtins.currentSystem;
  builder = "/bin/sh";
  args = [ "-c" "echo ${nonce}-${name} > $out" ];
}
NIX

# instantiate NAME: prints the .drv, rooted for the length of the suite (with --add-root,
# nix-instantiate prints the root, which links to the .drv).
instantiate() {
        local r
        r=$(nix-instantiate "${NIXOPTS[@]}" --add-root "$BASE/drvroots/$1" "$BASE/model.nix" \
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

# ---- real derivations, once per suite ---------------------------------------------------
# OUT: each derivation's output path, as Nix names it (built by the scenarios that root it).
declare -A DRV OUT
for m in alpha beta gamma epsilon; do
        DRV[$m]=$(instantiate "$m")
        OUTS+=(${DRV[$m]:+"${DRV[$m]}"})
done
ok "four derivations instantiated" valid "${DRV[alpha]}" "${DRV[beta]}" "${DRV[gamma]}" "${DRV[epsilon]}"
for m in alpha beta gamma epsilon; do
        OUT[$m]=$(nix-store -q --outputs "${DRV[$m]}" 2>/dev/null)
done
OUTS+=("${OUT[alpha]}" "${OUT[beta]}" "${OUT[gamma]}" "${OUT[epsilon]}")
is "$(printf '%s\n' "${OUT[@]}" | grep -cE "^/nix/store/[0-9a-z]{32}-dbtest-activate-(alpha|beta|gamma|epsilon)$")" 4 "and their four outputs named (nix-store -q --outputs)"

# Generation B's manifest lives in the store, as on NixOS: its name is its identity.
printf '[deferred-builds]\nversion = 1\n; nonce %s\n' "$NONCE" >"$BASE/deferred-builds-manifest.ini"
MB=$(nix-store --add "$BASE/deferred-builds-manifest.ini")
nix-store --realise "$MB" --add-root "$BASE/drvroots/manifest-b" >/dev/null 2>&1
OUTS=("$MB" "${OUTS[@]}")
GB=$(basename "$MB")

# links TARGET LINK...: each LINK made a symlink to the TARGET before it, in one process
# (a scenario makes a dozen; forks are what costs here).
links() {
        perl -e 'while (@ARGV) { my ($t, $l) = splice @ARGV, 0, 2; symlink $t, $l or die "$l: $!\n" }' "$@"
}
# fresh: a scenario's start. The previous scenario's tree is removed (its roots with it, so
# that they keep nothing alive), and a new folder T holds STATE, RUN and the fake systems
# in SYS (DEFERRED_BUILDS_SYSTEM_ROOT); STATE/roots has no root yet.
T=""
SCENARIOS_RUN=0
fresh() {
        [ -n "$T" ] && rm -rf "$T"
        SCENARIOS_RUN=$((SCENARIOS_RUN + 1))
        T=$BASE/scenario-$SCENARIOS_RUN
        STATE=$T/state
        RUN=$T/run
        SYS=$T/sys
        mkdir -m 0755 "$T" && mkdir -p "$STATE/roots" "$RUN/models" "$SYS/run" "$SYS/nix/var/nix/profiles" \
                "$T/tops/a/deferred-builds" "$T/tops/b/etc/deferred-builds"
        printf '[deferred-builds]\nversion = 1\ngeneration = sys-a\n' >"$T/tops/a/deferred-builds/manifest.ini"
        # booted-system dangles: a system that is not there.
        links "$MB" "$T/tops/b/etc/deferred-builds/manifest.ini" \
                "$T/tops/a" "$SYS/run/current-system" \
                "$T/tops/gone" "$SYS/run/booted-system" \
                "$T/tops/b" "$SYS/nix/var/nix/profiles/system-1-link" \
                "$T/tops/a" "$SYS/nix/var/nix/profiles/system-2-link"
        export DEFERRED_BUILDS_SYSTEM_ROOT=$SYS
}
# foreign_and_published: C's foreign file, and D's root published in RUN/models.
foreign_and_published() {
        echo "mine, not a root" >"$STATE/roots/sys-c/NOTES"
        links "$STATE/roots/sys-d/epsilon" "$RUN/models/epsilon"
}
# fresh_linked: fresh, with the roots of the generations above made as plain symlinks.
fresh_linked() {
        local r l=()
        fresh
        for r in sys-a/alpha sys-a/beta "$GB/alpha" sys-c/alpha sys-c/gamma sys-d/epsilon sys-e/gamma; do
                l+=("${OUT[${r#*/}]}" "$STATE/roots/$r")
        done
        mkdir -p "$STATE/roots/"{sys-a,"$GB",sys-c,sys-d,sys-e}
        links "${l[@]}"
        foreign_and_published
}
# fresh_pruned: fresh_linked, then the first activation (what prune proves) done.
fresh_pruned() {
        fresh_linked
        "$BIN" --state-dir "$STATE" --runtime-dir "$RUN" >"$T/out" 2>"$T/err"
        is "$?:$(<"$T/out")" "0:deferred-builds: pruned 3 roots of 3 deleted generations, kept 4" \
                "(the first activation prunes C's and E's roots)"
}
# doomed: a deleted generation sys-doomed whose one root the next activation prunes.
doomed() {
        mkdir -p "$STATE/roots/sys-doomed"
        ln -s "${OUT[alpha]}" "$STATE/roots/sys-doomed/alpha"
}

# ---- real roots, and what the garbage collector thinks --------------------------------
scenario_prune() {
        fresh
        local built=0
        { root sys-a alpha "${DRV[alpha]}" && root sys-a beta "${DRV[beta]}" &&
                root "$GB" alpha "${DRV[alpha]}" &&
                root sys-c alpha "${DRV[alpha]}" && root sys-c gamma "${DRV[gamma]}" &&
                root sys-d epsilon "${DRV[epsilon]}" &&
                root sys-e gamma "${DRV[gamma]}"; } || built=1
        tap_result $built "nix-store --realise --add-root made every root" "$(cat "$T/realise.log")"
        local -A o
        o[alpha]=$(readlink "$STATE/roots/sys-a/alpha")
        o[beta]=$(readlink "$STATE/roots/sys-a/beta")
        o[gamma]=$(readlink "$STATE/roots/sys-c/gamma")
        o[epsilon]=$(readlink "$STATE/roots/sys-d/epsilon")
        ok "the outputs are real store paths" valid "${o[alpha]}" "${o[beta]}" "${o[gamma]}" "${o[epsilon]}"
        is "$(printf '%s\n' "${o[@]}" | sort -u | wc -l)" 4 "four distinct outputs"
        is "${o[alpha]} ${o[beta]} ${o[gamma]} ${o[epsilon]}" "${OUT[alpha]} ${OUT[beta]} ${OUT[gamma]} ${OUT[epsilon]}" \
                "they are the outputs the derivations name (the other scenarios' links)"
        is "$(cat "${o[gamma]}")" "$NONCE-dbtest-activate-gamma" "gamma's output is what its builder wrote"
        like "$(nix-store --gc --print-roots 2>/dev/null)" "^$STATE/roots/sys-c/gamma -> ${o[gamma]}\$" \
                "Nix sees sys-c/gamma as a GC root"
        not_ok_expected "before pruning, gamma's output is alive (nix-store --delete refuses)" \
                nix-store --delete "${o[gamma]}"
        foreign_and_published

        "$BIN" --state-dir "$STATE" --runtime-dir "$RUN" >"$T/out" 2>"$T/err"
        local rc=$? err
        err=$(<"$T/err")
        is "$rc" 0 "activation exits 0"
        is "$(<"$T/out")" "deferred-builds: pruned 3 roots of 3 deleted generations, kept 4" "one summary line"
        like "$err" "Leaving $STATE/roots/sys-c/NOTES alone" "the foreign file is named in a warning"
        unlike "$err" "Failed|error" "no errors"

        local survivors expected
        survivors=$(cd "$STATE/roots" && find . -mindepth 1 | LC_ALL=C sort | tr '\n' ' ')
        expected=$(printf '%s\n' ./.lock "./$GB" "./$GB/alpha" ./sys-a ./sys-a/alpha ./sys-a/beta ./sys-c ./sys-c/NOTES \
                ./sys-d ./sys-d/epsilon | LC_ALL=C sort | tr '\n' ' ')
        is "$survivors" "$expected" "exactly the live, published and foreign entries survive"
        is "$(readlink "$STATE/roots/sys-a/alpha")" "${o[alpha]}" "live roots still point at their outputs"
        is "$(cat "$STATE/roots/sys-c/NOTES")" "mine, not a root" "the foreign file is untouched"

        local roots_after dead
        roots_after=$(nix-store --gc --print-roots 2>/dev/null)
        unlike "$roots_after" "^$STATE/roots/sys-(c|e)/" "Nix no longer sees any root of C or E"
        like "$roots_after" "^$STATE/roots/sys-a/beta -> ${o[beta]}\$" "Nix still sees A's roots"
        like "$roots_after" "^$STATE/roots/$GB/alpha -> ${o[alpha]}\$" "Nix still sees B's roots"
        like "$roots_after" "^$STATE/roots/sys-d/epsilon -> ${o[epsilon]}\$" "Nix still sees the published root"
        dead=$(nix-store --gc --print-dead 2>/dev/null)
        like "$dead" "^${o[gamma]}\$" "the collector finds gamma's output (only C and E held it) dead"
        unlike "$dead" "^(${o[alpha]}|${o[beta]}|${o[epsilon]})\$" "the collector finds every other output alive"
        ok "gamma's output is collected (nix-store --delete)" nix-store --delete "${o[gamma]}"
        not_ok_expected "gamma's output is gone from the store" valid "${o[gamma]}"
        not_ok_expected "alpha's output (live A and B) cannot be collected" nix-store --delete "${o[alpha]}"
        not_ok_expected "beta's output (live A) cannot be collected" nix-store --delete "${o[beta]}"
        not_ok_expected "epsilon's output (published, generation deleted) cannot be collected" \
                nix-store --delete "${o[epsilon]}"
        ok "alpha, beta and epsilon outputs are still in the store" valid "${o[alpha]}" "${o[beta]}" "${o[epsilon]}"
}

# ---- a second activation has nothing to do ---------------------------------------------
scenario_second_run() {
        fresh_pruned
        "$BIN" --state-dir "$STATE" --runtime-dir "$RUN" >"$T/out" 2>"$T/err"
        is "$?:$(<"$T/out")" "0:" "a second activation exits 0 and prints nothing"
        "$BIN" -q --state-dir "$STATE" --runtime-dir "$RUN" >"$T/out" 2>"$T/err"
        is "$?:$(<"$T/out"):$(<"$T/err")" "0::" "with -q, not even the foreign-file warning"
}

# ---- $systemConfig: the toplevel being activated is live -------------------------------
scenario_system_config() {
        fresh_pruned
        mkdir -p "$STATE/roots/sys-new" "$T/tops/new/deferred-builds"
        ln -s "${OUT[alpha]}" "$STATE/roots/sys-new/alpha"
        printf '[deferred-builds]\nversion = 1\ngeneration = sys-new\n' >"$T/tops/new/deferred-builds/manifest.ini"
        systemConfig="$T/tops/new" "$BIN" --state-dir "$STATE" --runtime-dir "$RUN" >"$T/out" 2>"$T/err"
        is "$?:$(<"$T/out")" "0:" "the generation in \$systemConfig is kept"
        ok "its root is still there" test -L "$STATE/roots/sys-new/alpha"
        "$BIN" --system-config "$T/tops/gone" --state-dir "$STATE" --runtime-dir "$RUN" >"$T/out" 2>"$T/err"
        # Deleted generations now: sys-c (foreign file), sys-d (published) and sys-new.
        is "$?:$(<"$T/out")" "0:deferred-builds: pruned 1 roots of 3 deleted generations, kept 4" \
                "without it, that generation is pruned"
        ok "and its folder is gone" test ! -e "$STATE/roots/sys-new"
}

# ---- never fails ------------------------------------------------------------------------
scenario_missing_state_dir() {
        fresh_linked
        "$BIN" --state-dir "$T/missing" --runtime-dir "$RUN" >"$T/out" 2>"$T/err"
        is "$?:$(<"$T/out"):$(<"$T/err")" "0::" "a missing state dir: exit 0, silent"
}

scenario_state_dir_file() {
        fresh_linked
        echo "not a folder" >"$T/state-file"
        "$BIN" --state-dir "$T/state-file" --runtime-dir "$RUN" >"$T/out" 2>"$T/err"
        is "$?" 0 "a state dir that is a file: exit 0"
        like "$(<"$T/err")" "$T/state-file/roots.*Not a directory" "the error names the path"
}

scenario_unreadable_state_dir() {
        fresh_linked
        if ! command -v setpriv >/dev/null || [ "$(id -u)" != 0 ]; then
                skip "an unreadable state dir" "needs root and setpriv to run as nobody"
                return
        fi
        mkdir -p "$T/locked/roots/sys-old"
        ln -s "${OUT[alpha]}" "$T/locked/roots/sys-old/alpha"
        chmod 0700 "$T/locked"
        setpriv --reuid=65534 --regid=65534 --clear-groups \
                "$BIN" --state-dir "$T/locked" --runtime-dir "$RUN" >"$T/out" 2>"$T/err"
        is "$?" 0 "an unreadable state dir (as nobody): exit 0"
        like "$(<"$T/err")" "$T/locked/roots.*Permission denied" "the error names the path"
        ok "nothing was removed from it" test -L "$T/locked/roots/sys-old/alpha"
}

scenario_unreadable_manifest() {
        fresh_pruned
        mkdir -p "$T/tops/broken/deferred-builds"
        ln -s manifest.ini "$T/tops/broken/deferred-builds/manifest.ini" # a loop: unreadable
        ln -s "$T/tops/broken" "$SYS/nix/var/nix/profiles/system-3-link"
        doomed
        "$BIN" --state-dir "$STATE" --runtime-dir "$RUN" >"$T/out" 2>"$T/err"
        is "$?:$(<"$T/out")" "0:" "an unreadable manifest: exit 0, nothing pruned"
        like "$(<"$T/err")" "Failed to read manifest $T/tops/broken/deferred-builds/manifest.ini" \
                "the error names the manifest"
        like "$(<"$T/err")" "not pruning GC roots this time" "and says nothing was pruned"
        ok "the roots stay while liveness is unknown" test -L "$STATE/roots/sys-doomed/alpha"
        rm "$SYS/nix/var/nix/profiles/system-3-link"
        "$BIN" --state-dir "$STATE" --runtime-dir "$RUN" >"$T/out" 2>"$T/err"
        is "$?:$(<"$T/out")" "0:deferred-builds: pruned 1 roots of 3 deleted generations, kept 4" \
                "once the manifest is readable again, the pruning happens"
}

scenario_no_live_generation() {
        fresh_pruned
        doomed
        DEFERRED_BUILDS_SYSTEM_ROOT="$T/empty-system" "$BIN" --state-dir "$STATE" --runtime-dir "$RUN" >"$T/out" 2>"$T/err"
        is "$?:$(<"$T/out")" "0:" "no live generation found at all: exit 0, nothing pruned"
        like "$(<"$T/err")" "found no system generation with a deferred-builds manifest" "and it says why"
        ok "every root is still there" test -L "$STATE/roots/sys-doomed/alpha" -a -L "$STATE/roots/sys-a/alpha"
}

scenario_dry_run() {
        fresh_pruned
        doomed
        "$BIN" --dry-run --state-dir "$STATE" --runtime-dir "$RUN" >"$T/out" 2>"$T/err"
        is "$?:$(<"$T/out")" "0:deferred-builds: would prune 1 roots of 3 deleted generations, kept 4" \
                "--dry-run tells what would go"
        like "$(<"$T/err")" "Would remove GC root $STATE/roots/sys-doomed/alpha -> ${OUT[alpha]}" "naming each root"
        ok "and removes nothing" test -L "$STATE/roots/sys-doomed/alpha"
        "$BIN" --state-dir "$STATE" --runtime-dir "$RUN" >"$T/out" 2>"$T/err"
        is "$?:$(<"$T/out")" "0:deferred-builds: pruned 1 roots of 3 deleted generations, kept 4" \
                "the activation after it prunes what it named"
        ok "and that root is gone" test ! -e "$STATE/roots/sys-doomed/alpha"
}

scenario_usage_error() {
        fresh_linked
        "$BIN" --bogus >/dev/null 2>"$T/err"
        is "$?" 64 "a usage error exits 64"
        like "$(<"$T/err")" "--bogus.*--help" "and says what to do"
}

# ---- 100 models x 50 deleted generations, on tmpfs and on disk -------------------------
# Every root links to one store path; 5 more generations are live, each with a 100-model
# manifest, as on a machine that keeps a few generations. How long this takes is a
# benchmark (bench/run.sh, "activation helper").
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
        [ "$(<"$T/out")" = "deferred-builds: pruned 5000 roots of 50 deleted generations, kept 500" ] &&
                [ -z "$(<"$T/err")" ] &&
                [ "$(find "$d/state/roots" -mindepth 1 -maxdepth 1 -name 'old-*' | wc -l)" = 0 ] &&
                [ "$(find "$d/state/roots" -mindepth 2 -type l | wc -l)" = 500 ]
}

scenario_large_tree_tmpfs() {
        fresh
        if [ ! -d /dev/shm ] || [ ! -w /dev/shm ]; then
                skip "on tmpfs: 5000 roots of deleted generations pruned" "no writable /dev/shm"
                return
        fi
        PERF=$(mktemp -d /dev/shm/deferred-builds-activation-perf.XXXXXX)
        prune_tree "$PERF/tree"
        tap_result $? "on tmpfs: 5000 roots and 50 folders of deleted generations pruned, the 500 live kept" \
                "$(cat "$T/out" "$T/err")"
        rm -rf "$PERF"
        PERF=""
}

scenario_large_tree_disk() {
        fresh
        prune_tree "$T/perf-disk"
        tap_result $? "on the disk under $BASE the same prune also removes exactly what it should" \
                "$(cat "$T/out" "$T/err")"
        rm -rf "$T/perf-disk"
}

run_scenarios "$@"
