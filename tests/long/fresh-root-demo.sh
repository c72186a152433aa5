#!/usr/bin/env bash
# The README's first command on its FIRST run on a fresh Debian 12 root (debootstrap
# minbase + git + make), as root: `make demo` must install what it needs and end with a
# prediction. A clone of this repository's HEAD is what runs (uncommitted changes are not;
# FRESH_REV=COMMIT runs another commit).
# Runs in `make check-long`: the install alone downloads several hundred MB.
cd "$(dirname "$0")/../.." || exit 1
TOP=$PWD
. tests/lib/tap.sh
. tests/lib/booted.sh

# The fresh root has its own recipe and cache key: nothing but what the README assumes.
BOOTED_PACKAGES="git make ca-certificates"
BOOTED_RECIPE="fresh-v1 $BOOTED_SUITE systemd,systemd-sysv,dbus $BOOTED_PACKAGES"

base=$(booted_base)
tap_result $? "a fresh Debian 12 root is built (debootstrap minbase, git, make)"
[ -n "$base" ] || { tap_done; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/deferred-builds-fresh.XXXXXX")
cleanup() {
        mountpoint -q "$tmp/root" && umount "$tmp/root"
        rm -rf "$tmp"
}
trap cleanup EXIT
mkdir -p "$tmp/upper" "$tmp/work" "$tmp/root"
mount -t overlay overlay -o "lowerdir=$base,upperdir=$tmp/upper,workdir=$tmp/work" "$tmp/root"
git clone -q "$TOP" "$tmp/root/root/deferred-builds"
git -C "$tmp/root/root/deferred-builds" checkout -q "${FRESH_REV:-HEAD}"
ok "the root has no build dependency yet" sh -c "! chroot '$tmp/root' dpkg-query -W -f='\${Status}' libinih-dev 2>/dev/null | grep -q 'install ok installed'"

# Not booted: `make demo` starts its own nix-daemon and systemd user manager, as on a
# machine where the README is followed from a root shell.
t0=$SECONDS
timeout 1800 systemd-nspawn -q -D "$tmp/root" --register=no --keep-unit --pipe \
        bash -c 'cd /root/deferred-builds && DEMO_EPOCHS=2 DEMO_EPOCH_SECONDS=1 make demo' \
        >"$tmp/demo.log" 2>&1 </dev/null
rc=$?
is "$rc" 0 "make demo passes on its first run (took $((SECONDS - t0))s)"
like "$(grep '^prediction:' "$tmp/demo.log")" '^prediction: \{"model":"demo-[^"]+","x":2,"y":[0-9.]+\}' \
        "it ends with a real prediction"
[ "$rc" -eq 0 ] || tail -n 40 "$tmp/demo.log" | sed 's/^/# /'
tap_done
