#!/usr/bin/env bash
# make check: replay every committed fuzz corpus under ASan/UBSan (gcc, no libFuzzer needed).
# One TAP line per target: all of its corpus files ran without a sanitizer report.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
ABS_BUILD=${ABS_BUILD:-$PWD/build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
flags="-std=gnu11 -g -O1 -D_GNU_SOURCE -Isrc/lib -Isrc/realise $(pkg-config --cflags libsystemd inih) -fsanitize=address,undefined -fno-sanitize-recover=all"
for t in tests/fuzz/fuzz_*.c; do
        name=$(basename "$t" .c)
        corpus=tests/fuzz/corpus/${name#fuzz_}
        if ! cc $flags -o "$tmp/$name" "$t" tests/fuzz/standalone_main.c src/lib/*.c src/realise/statusline.c \
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
tap_done
