#!/usr/bin/env bash
# make fuzz [FUZZ_SECONDS=600]: run every libFuzzer target (clang) for the given time each,
# growing its corpus under tests/fuzz/corpus/<target>/ (commit new small inputs that add
# coverage). Prints execs and crashes per target; exits non-zero on any crash or leak.
set -uo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-600}
out=build/fuzz
mkdir -p "$out"
flags="-std=gnu11 -g -O1 -D_GNU_SOURCE -Isrc/lib -Isrc/realise $(pkg-config --cflags libsystemd inih) -fsanitize=fuzzer,address,undefined"
rc=0
for t in tests/fuzz/fuzz_*.c; do
        name=$(basename "$t" .c)
        corpus=tests/fuzz/corpus/${name#fuzz_}
        mkdir -p "$corpus" "$out/$name.new"
        clang $flags -o "$out/$name" "$t" src/lib/*.c src/realise/statusline.c $(pkg-config --libs libsystemd inih) || { rc=1; continue; }
        "$out/$name" -max_total_time="$secs" -max_len=65536 -print_final_stats=1 \
                -artifact_prefix="$out/$name-" "$out/$name.new" "$corpus" 2>"$out/$name.log"
        r=$?
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$name.log")
        echo "$name: ${execs:-?} executions in ${secs}s, exit $r"
        [ $r -eq 0 ] || { rc=1; tail -n 30 "$out/$name.log"; }
done
exit $rc
