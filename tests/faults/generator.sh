#!/usr/bin/env bash
# Fault cases for the generator, one scenario each (run one alone: tests/faults/generator.sh NAME):
#   killed         killed at a random point: no partial unit file is ever visible (every
#                  visible file is byte-identical to the one a complete run writes; only
#                  hidden .#temp files may remain);
#   read_only,     output directory read-only, or full (a 64 KiB tmpfs): non-zero exit, no
#   full           temp file left, no partial file;
#   manifest_swap  manifest replaced (rename) while the generator reads it: the output is
#                  exactly that of the old manifest or of the new one, never a mix.
# Counts: KILLS=50 and SWAPS=50 by default; LONG=1 runs 1,000 kills and 500 swaps.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
ABS_BUILD=${ABS_BUILD:-$PWD/build}
GEN="$ABS_BUILD/deferred-builds-generator"
KILLS=${KILLS:-$([ -n "${LONG:-}" ] && echo 1000 || echo 50)}
SWAPS=${SWAPS:-$([ -n "${LONG:-}" ] && echo 500 || echo 50)}
# Generator output lives on a tmpfs (/run) in real life: use one here too when there is one.
tmp=$(mktemp -d -p "$( [ -d /dev/shm ] && [ -w /dev/shm ] && echo /dev/shm || echo "${TMPDIR:-/tmp}")")
cleanup() {
        mountpoint -q "$tmp/full" 2>/dev/null && umount "$tmp/full"
        rm -rf "$tmp"
}
trap cleanup EXIT
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 SYSTEMD_SCOPE=user DEFERRED_BUILDS_STATE_DIR=/var/lib/deferred-builds

manifest() { # manifest FILE COUNT TAG
        {
                printf '[deferred-builds]\nversion = 1\ngeneration = %s\n' "$3"
                for i in $(seq 1 "$2"); do
                        printf '\n[model.m%s]\ndrv = /nix/store/wvfqywd4bwvl3m6rrc9y3vca4k0piz57-tiny-model.drv\n' "$i"
                        printf 'exec = /bin/serve-%s\narg = --model-%s\n' "$3" "$i"
                done
        } >"$1"
}
reference() { # reference MANIFEST DIR: a complete run
        mkdir -p "$2"
        DEFERRED_BUILDS_MANIFEST=$1 "$GEN" "$2" 2>/dev/null
}
# fixture: the manifests a.ini and b.ini (300 models each) and the output of a complete
# run on a.ini in ref-a, made once for whichever scenarios run.
fixture() {
        [ -d "$tmp/ref-a" ] && return
        manifest "$tmp/a.ini" 300 gen-a
        manifest "$tmp/b.ini" 300 gen-b
        reference "$tmp/a.ini" "$tmp/ref-a"
}

scenario_complete() {
        fixture
        ok "a complete run writes 300 serve drop-ins" test "$(find "$tmp/ref-a" -name '50-*.conf' -path '*serve@*' | wc -l)" -eq 300
}

scenario_killed() {
        fixture
        local partial=0 killed=0 i out pid d
        for i in $(seq 1 "$KILLS"); do
                out="$tmp/kill/$i"
                mkdir -p "$out"
                DEFERRED_BUILDS_MANIFEST="$tmp/a.ini" "$GEN" "$out" 2>/dev/null &
                pid=$!
                # Spread the kill over the whole run (a complete run takes some milliseconds).
                sleep "0.00$((RANDOM % 10))$((RANDOM % 10))"
                kill -KILL "$pid" 2>/dev/null
                wait "$pid" 2>/dev/null
                # 137: SIGKILL reached it while it ran (a finished run exits 0).
                [ $? -eq 137 ] && killed=$((killed + 1))
                # Every visible (non-hidden) file must be complete: identical to the reference. Files
                # not written yet ("Only in" the reference) are fine.
                d=$(diff -rq --no-dereference -x '.#*' "$out" "$tmp/ref-a" | grep -v "^Only in $tmp/ref-a")
                if [ -n "$d" ]; then
                        partial=$((partial + 1))
                        diag "after kill $i: $d"
                fi
                rm -rf "$out"
        done
        diag "killed $killed of $KILLS runs before they finished"
        is "$partial" 0 "killed $KILLS times at random points: no partial unit file ever visible"
        [ "$killed" -gt 0 ]
        tap_result $? "the kill loop really interrupted runs ($killed)"
}

scenario_read_only() {
        fixture
        local rc
        mkdir -p "$tmp/ro"
        chmod 0555 "$tmp/ro"
        if [ "$(id -u)" = 0 ]; then
                # root ignores mode bits: use a read-only bind mount in a private namespace.
                rc=$(unshare --mount --propagation private bash -c "mount --bind -o ro '$tmp/ro' '$tmp/ro' &&
                        DEFERRED_BUILDS_MANIFEST='$tmp/a.ini' '$GEN' '$tmp/ro' 2>/dev/null; echo \$?")
        else
                DEFERRED_BUILDS_MANIFEST="$tmp/a.ini" "$GEN" "$tmp/ro" 2>/dev/null
                rc=$?
        fi
        [ "$rc" -ne 0 ]
        tap_result $? "read-only output directory: non-zero exit (got $rc)"
        is "$(find "$tmp/ro" -mindepth 1 | wc -l)" 0 "read-only output directory: nothing written, no temp file"
}

# A 64 KiB tmpfs cannot hold 300 models' units.
scenario_full() {
        fixture
        local rc d
        mkdir -p "$tmp/full"
        if mount -t tmpfs -o size=64k,nr_inodes=200 tmpfs "$tmp/full" 2>/dev/null; then
                DEFERRED_BUILDS_MANIFEST="$tmp/a.ini" "$GEN" "$tmp/full" 2>"$tmp/full.err"
                rc=$?
                [ "$rc" -ne 0 ]
                tap_result $? "full output file system: non-zero exit (got $rc)"
                like "$(cat "$tmp/full.err")" "Failed to (write|create|link)" "full output file system: the error names what failed"
                is "$(find "$tmp/full" -name '.#*' | wc -l)" 0 "full output file system: no temp file left behind"
                d=$(diff -rq --no-dereference "$tmp/full" "$tmp/ref-a" | grep -v "^Only in $tmp/ref-a")
                is "$d" "" "full output file system: every file that exists is complete"
                umount "$tmp/full"
        else
                skip "full output file system" "cannot mount a tmpfs here"
        fi
}

# References are made through the same path as the swapped manifest: only the content differs.
scenario_manifest_swap() {
        fixture
        local mixed=0 swapper i out
        cp "$tmp/a.ini" "$tmp/live.ini" && reference "$tmp/live.ini" "$tmp/live-a"
        cp "$tmp/b.ini" "$tmp/live.ini" && reference "$tmp/live.ini" "$tmp/live-b"
        ( for _ in $(seq 1 $((SWAPS * 20))); do
                cp "$tmp/a.ini" "$tmp/live.tmp" && mv "$tmp/live.tmp" "$tmp/live.ini"
                cp "$tmp/b.ini" "$tmp/live.tmp" && mv "$tmp/live.tmp" "$tmp/live.ini"
        done ) &
        swapper=$!
        cp "$tmp/a.ini" "$tmp/live.ini"
        for i in $(seq 1 "$SWAPS"); do
                out="$tmp/swap/$i"
                mkdir -p "$out"
                DEFERRED_BUILDS_MANIFEST="$tmp/live.ini" "$GEN" "$out" 2>/dev/null
                if ! diff -rq --no-dereference "$out" "$tmp/live-a" >/dev/null && ! diff -rq --no-dereference "$out" "$tmp/live-b" >/dev/null; then
                        mixed=$((mixed + 1))
                        diag "swap $i: output matches neither manifest"
                fi
                rm -rf "$out"
        done
        kill "$swapper" 2>/dev/null
        wait "$swapper" 2>/dev/null
        is "$mixed" 0 "manifest replaced $SWAPS times during generation: output is all old or all new, never a mix"
}

run_scenarios "$@"
