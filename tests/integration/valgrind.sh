#!/usr/bin/env bash
# Valgrind memcheck on the generator and the CLI's manifest check over the golden corpus
# and part of the fuzz corpus: no invalid access, no uninitialised use, no leak
# (definite or indirect). Uses a plain (non-sanitizer) build: ASan and valgrind do not mix.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
if ! command -v valgrind >/dev/null; then
        skip "valgrind memcheck" "valgrind is not installed (make deps installs it)"
        tap_done
        exit 0
fi
VB=$PWD/build/valgrind
make -s BUILD="$VB" SAN= "$VB/deferred-builds-generator" "$VB/deferred-builds" >/dev/null 2>&1 ||
        { tap_result 1 "plain build for valgrind"; tap_done; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
vg() { valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect "$@"; }

for m in tests/golden/*/manifest.ini; do
        name=$(basename "$(dirname "$m")")
        for scope in user system; do
                mkdir -p "$tmp/$name-$scope"
                out=$(SYSTEMD_SCOPE=$scope DEFERRED_BUILDS_MANIFEST=$PWD/$m DEFERRED_BUILDS_STATE_DIR=/var/lib/deferred-builds \
                        vg "$VB/deferred-builds-generator" "$tmp/$name-$scope" 2>&1 >/dev/null)
                rc=$?
                [ $rc -ne 99 ] && ! grep -q '==[0-9]*==' <<<"$out"
                tap_result $? "generator ($scope) on $name: memcheck clean" "$out"
        done
        out=$(vg "$VB/deferred-builds" check "$m" 2>&1 >/dev/null)
        rc=$?
        [ $rc -ne 99 ] && ! grep -q '==[0-9]*==' <<<"$out"
        tap_result $? "deferred-builds check $name: memcheck clean" "$out"
done
# Hostile inputs: every 20th file of the manifest fuzz corpus through the CLI's check.
bad=0 n=0
for f in $(find tests/fuzz/corpus/manifest -type f | sort | awk 'NR % 20 == 0'); do
        n=$((n + 1))
        out=$(vg "$VB/deferred-builds" check "$f" 2>&1 >/dev/null)
        if [ $? -eq 99 ] || grep -q '==[0-9]*==' <<<"$out"; then
                bad=$((bad + 1))
                diag "$f: $out"
        fi
done
is "$bad" 0 "deferred-builds check on $n fuzz-corpus manifests: memcheck clean"
tap_done
