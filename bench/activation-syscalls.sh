#!/usr/bin/env bash
# bench/activation-syscalls.sh: how much work deferred-builds-activate does, counted in
# system calls with strace (a number a loaded machine cannot move, unlike its wall time).
# Every activation runs it, on machines that keep dozens of generations of a hundred models
# each, so its cost should grow with the work there is, not with the roots it leaves alone:
#
#   - a live generation costs a few calls (open, list, close of its folder), whatever its
#     number of roots;
#   - a root of a deleted generation costs two (readlinkat, unlinkat), published or not.
#
# Each case is measured against a baseline on the same systems with an empty roots folder,
# and again with twice the models a generation: the differences are the cost of the roots,
# not of the process start, the loader or the sanitizers. Memory-management calls (mmap,
# brk, ...) are not counted: they follow the allocator, not the algorithm.
#
# bench/run.sh runs it and records "act.calls.*" (calls) and "act.budget.*" (the bound).
# Alone: bench/activation-syscalls.sh [ABS_BUILD] prints KEY<TAB>VALUE lines.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
TOP=$PWD
ABS_BUILD=${1:-${ABS_BUILD:-$TOP/build}}
# shellcheck source=tests/lib/roots-fixture.sh
. "$TOP/tests/lib/roots-fixture.sh"
BIN=$ABS_BUILD/deferred-builds-activate
for c in strace perl; do
        command -v $c >/dev/null || { echo "act.calls.skipped	$c is not installed"; exit 0; }
done
[ -x "$BIN" ] || { echo "act.calls.skipped	$BIN is not built"; exit 0; }
strace -f -c -o /dev/null true >/dev/null 2>&1 || { echo "act.calls.skipped	strace cannot trace here"; exit 0; }

T=$(fx_scratch activation-syscalls) || exit 1
trap 'rm -rf "$T"' EXIT
# LeakSanitizer needs ptrace, which strace already holds.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
fx_init "$T" 50
export DEFERRED_BUILDS_SYSTEM_ROOT=$FX_SYS
G=$FX_GENS

# calls: the calls of one activation under strace -f -c, memory management left out.
calls() {
        strace -f -c -o "$T/strace" "$BIN" --state-dir "$FX_STATE" --runtime-dir "$FX_RUN" >/dev/null 2>&1
        # Rows: % time, seconds, usecs/call, calls, [errors], syscall.
        awk '$4 ~ /^[0-9]+$/ && $NF != "total" && $NF !~ /^(mmap|munmap|mprotect|mremap|brk|madvise)$/ {
                n += $4 } END { print n + 0 }' "$T/strace"
}
out() { printf '%s\t%s\n' "$1" "$2"; }
# case KEY CALLS BUDGET
case_() { out "act.calls.$1" "$2" && out "act.budget.$1" "$3"; }

fx_systems 1
fx_roots 0 50 && base=$(calls)
fx_roots 100 50 && live100=$(calls)
fx_roots 200 50 && live200=$(calls)
# A live folder: open, list, close (at most 8); a live root: nothing.
case_ live_folders $((live100 - base)) $((8 * G))
case_ live_more $((live200 - live100)) $((G / 5))

fx_systems 26
fx_roots 0 50 && pbase=$(calls)
fx_roots 100 50 && prune100=$(calls)
fx_roots 200 50 && prune200=$(calls)
fx_roots 100 1 && pub=$(calls)
# A pruned root: readlinkat + unlinkat; a folder: at most 8, plus rmdir when deleted.
case_ prune_2500 $((prune100 - pbase)) $((2 * 2500 + 9 * G))
case_ prune_more $((prune200 - prune100)) $((2 * 2500 + G / 5))
# Published links are read once a prune, not once a root.
case_ prune_published $((pub - pbase)) $((2 * 2500 + 9 * G))
