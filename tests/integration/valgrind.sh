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
VG=(valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect)

# Memcheck is CPU-bound and single-threaded: two runs at a time, as the machines this runs on
# have two cores. Each run leaves its verdict in $tmp/ID.rc (0 clean) and its report in
# $tmp/ID.out; the results are read in order afterwards, so the TAP stream stays ordered.
vg_bg() { # vg_bg ID [VAR=VALUE...] PROGRAM ARGS...
        local id=$1
        shift
        while [ "$(jobs -rp | wc -l)" -ge 2 ]; do wait -n; done
        (
                out=$(env "$@" 2>&1 >/dev/null)
                rc=$?
                # 99: memcheck found something; 126 and up: nothing ran (or it died of a signal).
                [ $rc -ne 99 ] && [ $rc -lt 126 ] && ! grep -q '==[0-9]*==' <<<"$out"
                echo $? >"$tmp/$id.rc"
                printf '%s' "$out" >"$tmp/$id.out"
        ) &
}
vg_clean() { [ "$(cat "$tmp/$1.rc" 2>/dev/null)" = 0 ]; }

ids=() descs=()
for m in tests/golden/*/manifest.ini; do
        name=$(basename "$(dirname "$m")")
        for scope in user system; do
                mkdir -p "$tmp/$name-$scope"
                vg_bg "gen-$name-$scope" SYSTEMD_SCOPE=$scope DEFERRED_BUILDS_MANIFEST="$PWD/$m" \
                        DEFERRED_BUILDS_STATE_DIR=/var/lib/deferred-builds "${VG[@]}" "$VB/deferred-builds-generator" \
                        "$tmp/$name-$scope"
                ids+=("gen-$name-$scope") descs+=("generator ($scope) on $name: memcheck clean")
        done
        vg_bg "check-$name" "${VG[@]}" "$VB/deferred-builds" check "$m"
        ids+=("check-$name") descs+=("deferred-builds check $name: memcheck clean")
done
# Hostile inputs: every 20th file of the manifest fuzz corpus through the CLI's check.
corpus=()
for f in $(find tests/fuzz/corpus/manifest -type f | sort | awk 'NR % 20 == 0'); do
        corpus+=("$f")
        vg_bg "corpus-${#corpus[@]}" "${VG[@]}" "$VB/deferred-builds" check "$f"
done
wait

for i in "${!ids[@]}"; do
        vg_clean "${ids[$i]}"
        tap_result $? "${descs[$i]}" "$(cat "$tmp/${ids[$i]}.out" 2>/dev/null)"
done
bad=0
for i in "${!corpus[@]}"; do
        if ! vg_clean "corpus-$((i + 1))"; then
                bad=$((bad + 1))
                diag "${corpus[$i]}: $(cat "$tmp/corpus-$((i + 1)).out" 2>/dev/null)"
        fi
done
is "$bad" 0 "deferred-builds check on ${#corpus[@]} fuzz-corpus manifests: memcheck clean"
tap_done
