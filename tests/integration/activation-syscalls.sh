#!/usr/bin/env bash
# How much work deferred-builds-activate does, counted in system calls with strace: a
# number that a loaded or slow machine cannot change, unlike its wall time (which
# tests/integration/activation.sh still checks, loosely). Every activation runs it, on
# machines that keep dozens of generations of a hundred models each, so what it costs must
# grow with the work there is, not with the roots it leaves alone:
#
#   - a generation that is live costs a few calls (its toplevel: a readlink chain, a stat,
#     the manifest; its roots folder: open, list, close), whatever its number of roots;
#   - a root of a deleted generation costs two (readlinkat to check it links into the
#     store, unlinkat), published or not: the published links are read once, not per root.
#
# Each case is measured against a baseline run on the same systems with an empty roots
# folder, and again with twice the models per generation: the differences are the cost
# of the roots and cannot be moved by the process start, the dynamic loader or the
# sanitizers. Memory-management calls (mmap, brk, ...) are not counted: they follow the
# allocator, not the algorithm.
#
# The store is a fake one (NIX_STORE_DIR, which validate.c honours for tests): no Nix needed.
# Run alone:  ABS_BUILD=$PWD/build tests/integration/activation-syscalls.sh
# (KEEP_T=1 keeps the scratch folder, with each run's strace table, for a look.)
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
TOP=$PWD
: "${ABS_BUILD:=$TOP/build}"
# shellcheck source=tests/lib/tap.sh
. "$TOP/tests/lib/tap.sh"

BIN="$ABS_BUILD/deferred-builds-activate"
if [ ! -x "$BIN" ]; then
        tap_result 1 "$BIN is built" "run: make $BIN"
        tap_done
        exit 1
fi
if ! command -v strace >/dev/null || ! command -v perl >/dev/null; then
        skip "system calls of an activation" "strace or perl is not installed (tests/lib/deps.sh installs both)"
        tap_done
        exit 0
fi
if ! strace -f -c -o /dev/null true >/dev/null 2>&1; then
        skip "system calls of an activation" "strace cannot trace here (ptrace not permitted)"
        tap_done
        exit 0
fi

# tmpfs when there is one: only calls are counted, but building 20,000 links is faster.
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
        T=$(mktemp -d /dev/shm/deferred-builds-activation-syscalls.XXXXXX)
else
        T=$(mktemp -d "${TMPDIR:-/tmp}/deferred-builds-activation-syscalls.XXXXXX")
fi
trap '[ -n "${KEEP_T:-}" ] || rm -rf "$T"' EXIT
unset systemConfig DEFERRED_BUILDS_STATE_DIR DEFERRED_BUILDS_RUNTIME_DIR RUNTIME_DIRECTORY
# LeakSanitizer checks leaks at exit through ptrace, which strace already holds: leaks are
# the business of the other suites, which run the same code untraced.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
export NIX_STORE_DIR=$T/store
export DEFERRED_BUILDS_SYSTEM_ROOT=$T/sys
STATE=$T/state
RUN=$T/run
GENS=50
mkdir -p "$NIX_STORE_DIR" "$T/sys/nix/var/nix/profiles" "$RUN/models" "$T/tops"
OUT=$NIX_STORE_DIR/0123456789abcdfghijklmnpqrsvwxyz-model
echo weights >"$OUT"
for ((g = 1; g <= GENS; g++)); do
        mkdir -p "$T/tops/$g/deferred-builds"
        printf '[deferred-builds]\nversion = 1\ngeneration = g%s\n' "$g" >"$T/tops/$g/deferred-builds/manifest.ini"
done

# systems FIRST: generations FIRST..GENS have a profile link (the others are deleted).
systems() {
        local g
        rm -f "$T/sys/nix/var/nix/profiles/"system-*-link
        for ((g = $1; g <= GENS; g++)); do ln -s "$T/tops/$g" "$T/sys/nix/var/nix/profiles/system-$g-link"; done
}
# roots MODELS PUBLISHED_GEN: a fresh STATE/roots with MODELS roots in each of the GENS
# generations (MODELS=0: an empty roots folder), and RUNTIME/models/m* naming the first
# 100 roots of generation PUBLISHED_GEN, as after a deployment of 100 models.
roots() {
        rm -rf "$STATE" "$RUN/models"
        mkdir -p "$STATE/roots" "$RUN/models"
        perl -e '
                my ($state, $run, $out, $gens, $models, $pub) = @ARGV;
                for my $g (1 .. ($models ? $gens : 0)) {
                        mkdir "$state/roots/g$g" or die "$state/roots/g$g: $!";
                        symlink $out, sprintf("%s/roots/g%d/m%03d", $state, $g, $_) or die "$!" for 1 .. $models;
                }
                symlink sprintf("%s/roots/g%d/m%03d", $state, $pub, $_), sprintf("%s/models/m%03d", $run, $_)
                        or die "$!" for 1 .. 100;
        ' "$STATE" "$RUN" "$OUT" "$GENS" "$1" "$2"
}
links() { find "$STATE/roots" -mindepth 2 -type l | wc -l; }

# calls NAME: runs the activation under strace -f -c; sets CALLS (every call but memory
# management), keeps its output in $T/NAME.out and the table in $T/NAME.strace.
calls() {
        strace -f -c -o "$T/$1.strace" "$BIN" --state-dir "$STATE" --runtime-dir "$RUN" >"$T/$1.out" 2>"$T/$1.err"
        RC=$?
        # Rows: % time, seconds, usecs/call, calls, [errors], syscall.
        CALLS=$(awk '$4 ~ /^[0-9]+$/ && $NF != "total" && $NF !~ /^(mmap|munmap|mprotect|mremap|brk|madvise)$/ {
                        n += $4 } END { print n + 0 }' "$T/$1.strace")
        CALLS_ALL=$(awk '$NF == "total" { print $4 }' "$T/$1.strace")
}
calls_diag() { # calls_diag NAME: the busiest calls, for the log
        diag "  $1: $CALLS calls ($CALLS_ALL with memory management): $(awk '$NF != "total" && $4 ~ /^[0-9]+$/ {
                print $4, $NF }' "$T/$1.strace" | sort -rn | head -6 | awk '{ printf "%s %s, ", $2, $1 }')"
}

# ---- every generation live ------------------------------------------------------------
systems 1
roots 0 50
calls base
base=$CALLS
is "$RC:$(cat "$T/base.out")" "0:" "baseline (50 live systems, an empty roots folder): exit 0, nothing to say"
calls_diag base

roots 100 50
calls live100
live100=$CALLS
is "$RC:$(cat "$T/live100.out"):$(links)" "0::5000" "100 models x 50 live generations: nothing pruned"
calls_diag live100
roots 200 50
calls live200
live200=$CALLS
is "$RC:$(cat "$T/live200.out"):$(links)" "0::10000" "200 models x 50 live generations: nothing pruned"
calls_diag live200

# At most 8 calls per generation folder (open, list, close: 4 today); none per root.
d=$((live100 - base))
[ "$d" -le $((8 * GENS)) ]
tap_result $? "5000 live roots in 50 folders cost at most 8 calls a folder (got $d for 50 folders)" \
        "an activation with nothing to prune must not look at each root; see $T/live100.strace"
d=$((live200 - live100))
[ "$d" -le $((GENS / 5)) ]
tap_result $? "5000 more live roots cost no more calls (got $d more)" \
        "live roots are counted from the folder listing, not read one by one"

# ---- 25 of 50 generations deleted -----------------------------------------------------
systems 26
roots 0 50
calls pbase
pbase=$CALLS
is "$RC:$(cat "$T/pbase.out")" "0:" "baseline (25 live systems, an empty roots folder): exit 0, nothing to say"

roots 100 50
calls prune100
prune100=$CALLS
is "$RC:$(cat "$T/prune100.out"):$(links)" \
        "0:deferred-builds: pruned 2500 roots of 25 deleted generations, kept 2500:2500" \
        "25 of 50 generations deleted: their 2500 roots pruned, the 2500 live ones kept"
calls_diag prune100
roots 200 50
calls prune200
prune200=$CALLS
is "$RC:$(cat "$T/prune200.out"):$(links)" \
        "0:deferred-builds: pruned 5000 roots of 25 deleted generations, kept 5000:5000" \
        "with 200 models a generation: 5000 pruned, 5000 kept"
calls_diag prune200

# A pruned root: readlinkat + unlinkat. A folder: at most 8, plus rmdir when deleted.
d=$((prune100 - pbase))
[ "$d" -le $((2 * 2500 + 9 * GENS)) ]
tap_result $? "2500 pruned roots cost at most 2 calls each, plus a few per folder (got $d)" \
        "expected at most $((2 * 2500 + 9 * GENS)); see $T/prune100.strace"
d=$((prune200 - prune100))
[ "$d" -le $((2 * 2500 + GENS / 5)) ]
tap_result $? "2500 more pruned roots (and 2500 more kept) cost at most 2 calls each (got $d)" \
        "expected at most $((2 * 2500 + GENS / 5))"

# Published roots in a deleted generation are told apart without a call of their own: the
# links are read once per prune, not once per root.
roots 100 1
calls pub
is "$RC:$(cat "$T/pub.out"):$(links)" \
        "0:deferred-builds: pruned 2400 roots of 25 deleted generations, kept 2600:2600" \
        "the 100 roots published from deleted generation g1 are kept, the other 2400 pruned"
ok "every published root of g1 is still there" test "$(find "$STATE/roots/g1" -type l | wc -l)" = 100
calls_diag pub
d=$((CALLS - pbase))
[ "$d" -le $((2 * 2500 + 9 * GENS)) ]
tap_result $? "with published roots in a deleted generation, still at most 2 calls a root (got $d)" \
        "expected at most $((2 * 2500 + 9 * GENS)); see $T/pub.strace"

tap_done
