#!/usr/bin/env bash
# System-scope units are sandboxed: `systemd-analyze security --offline=true` rates the
# generated serve, realise and retrain units at an exposure of at most 2.0 (issue:
# hardening), with and without a GPU model's device relaxations.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
ABS_BUILD=${ABS_BUILD:-$PWD/build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cat >"$tmp/manifest.ini" <<'INI'
[deferred-builds]
version = 1
generation = hardening

[model.plain]
drv = /nix/store/wvfqywd4bwvl3m6rrc9y3vca4k0piz57-tiny-model.drv
exec = /bin/sleep
arg = infinity

[model.gpu]
drv = /nix/store/wvfqywd4bwvl3m6rrc9y3vca4k0piz57-tiny-model.drv
exec = /bin/sleep
arg = infinity
memory-max = 8G
device-allow = /dev/nvidia0 rw
device-allow = char-nvidia-uvm rw
INI
mkdir -p "$tmp/out" "$tmp/units"
SYSTEMD_SCOPE=system DEFERRED_BUILDS_MANIFEST="$tmp/manifest.ini" \
        "$ABS_BUILD/deferred-builds-generator" "$tmp/out"
find "$ABS_BUILD/units-local" -maxdepth 1 -type f -exec cp {} "$tmp/units/" \;
cp -r "$ABS_BUILD/units-local/system/." "$tmp/units/"
cp -r "$tmp/out/." "$tmp/units/"

exposure() { # exposure UNIT -> the overall exposure number
        (cd "$tmp/units" && ln -sf "${1%%@*}@.service" "$1" &&
                SYSTEMD_UNIT_PATH="$tmp/units:" systemd-analyze security --offline=true --no-pager "$tmp/units/$1" 2>/dev/null |
                sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
}
for u in deferred-serve@plain.service deferred-serve@gpu.service deferred-realise@plain.service deferred-retrain@plain.service; do
        e=$(exposure "$u")
        awk -v e="$e" 'BEGIN { exit !(e != "" && e + 0 <= 2.0) }'
        tap_result $? "$u: exposure $e is at most 2.0"
done
tap_done
