#!/usr/bin/env bash
# `make demo`'s script, as a reader runs it (README): it ends with a prediction printed,
# and leaves no process of its own running and nothing outside the build dir and the store.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
ABS_BUILD=${ABS_BUILD:-$PWD/build}
log=$(mktemp)
# A scratch TMPDIR of its own: what the demo leaves behind is told apart from what other
# suites running at the same time keep in /tmp.
scratch=$(mktemp -d)
t0=$SECONDS
TMPDIR=$scratch DEMO_EPOCHS=3 DEMO_EPOCH_SECONDS=1 timeout 300 examples/demo.sh "$ABS_BUILD" >"$log" 2>&1
rc=$?
took=$((SECONDS - t0))
is "$rc" 0 "the demo exits 0"
like "$(cat "$log")" "deployment returned after [0-9.]+ s; the manager says: running" "the deployment returns at once and the manager is running"
like "$(cat "$log")" "training linreg: " "training progress is shown"
like "$(grep '^prediction:' "$log")" '^prediction: \{"model":"demo-[^"]+","x":2,"y":[0-9.]+\}' "it ends with a real prediction: $(grep '^prediction:' "$log")"
[ "$took" -lt 120 ]
tap_result $? "it finishes in under 2 minutes (${took}s)"
# Every process the demo started inherited DB_DEMO_PARENT=1 (other suites' managers did not).
left=""
for e in /proc/[0-9]*/environ; do
        if { tr '\0' '\n' <"$e"; } 2>/dev/null | grep -qx 'DB_DEMO_PARENT=1'; then
                pid=${e#/proc/}
                pid=${pid%/environ}
                left="$left $({ tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null)"
        fi
done
is "$left" "" "no process of the demo is left running"
# The demo's scratch folder is the harness's $TMPDIR/deferred-builds-test.XXXXXX.
is "$(ls -A "$scratch")" "" "no file of the demo is left in its TMPDIR"
rmdir "$scratch" 2>/dev/null
[ "$rc" -eq 0 ] || sed 's/^/# /' "$log"
rm -f "$log"
tap_done
