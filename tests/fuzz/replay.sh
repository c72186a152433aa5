#!/usr/bin/env bash
# make check: replay every committed fuzz corpus under ASan/UBSan (gcc, no libFuzzer needed).
# One TAP line per target: all of its corpus files ran without a sanitizer report.
# make check-long (LONG=1) also runs libFuzzer (clang) on fuzz_manifest for FUZZ_RUNS
# executions (default 10 million, about 45 minutes on one core) with its oracle.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
ABS_BUILD=${ABS_BUILD:-$PWD/build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
flags="-std=gnu11 -g -O1 -D_GNU_SOURCE -Isrc/lib -Isrc/realise $(pkg-config --cflags libsystemd inih) -fsanitize=address,undefined -fno-sanitize-recover=all"
# The library make check built with the same sanitizers (SAN=1), when it is there: compiling
# src/lib again per target was most of this suite's time.
lib="src/lib/*.c"
case $ABS_BUILD in */san) [ -f "$ABS_BUILD/libdeferred.a" ] && lib=$ABS_BUILD/libdeferred.a ;; esac
for t in tests/fuzz/fuzz_*.c; do
        name=$(basename "$t" .c)
        corpus=tests/fuzz/corpus/${name#fuzz_}
        if ! cc $flags -o "$tmp/$name" "$t" tests/fuzz/standalone_main.c src/realise/statusline.c $lib \
                $(pkg-config --libs libsystemd inih) 2>"$tmp/$name.cc"; then
                tap_result 1 "$name: builds" "$(cat "$tmp/$name.cc")"
                continue
        fi
        files=$(find "$corpus" -type f 2>/dev/null | sort)
        n=$(printf '%s\n' "$files" | grep -c .)
        if [ "$n" -eq 0 ]; then
                tap_result 1 "$name: has a corpus in $corpus"
                continue
        fi
        out=$(printf '%s\n' "$files" | xargs "$tmp/$name" 2>&1)
        tap_result $? "$name: $n corpus inputs replay clean under ASan/UBSan" "$out"
done
if [ -n "${LONG:-}" ]; then
        runs=${FUZZ_RUNS:-10000000}
        if ! command -v clang >/dev/null; then
                skip "fuzz_manifest: $runs libFuzzer executions" "no clang"
        elif ! clang ${flags/-fno-sanitize-recover=all/} -fsanitize=fuzzer -o "$tmp/fuzz_manifest.lf" \
                tests/fuzz/fuzz_manifest.c src/lib/*.c $(pkg-config --libs libsystemd inih) 2>"$tmp/lf.cc"; then
                tap_result 1 "fuzz_manifest: builds with libFuzzer" "$(cat "$tmp/lf.cc")"
        else
                mkdir -p "$tmp/new"
                "$tmp/fuzz_manifest.lf" -runs="$runs" -max_len=65536 -print_final_stats=1 \
                        -artifact_prefix="$tmp/" "$tmp/new" tests/fuzz/corpus/manifest >"$tmp/lf.log" 2>&1
                rc=$?
                execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$tmp/lf.log")
                tap_result $rc "fuzz_manifest: ${execs:-?} libFuzzer executions with the oracle, no finding" \
                        "$(tail -n 40 "$tmp/lf.log")"
        fi
fi
tap_done
