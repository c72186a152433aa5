#!/usr/bin/env bash
# `make install PREFIX=/usr DESTDIR=...` after a build with another prefix: every binary,
# unit, drop-in, generator link, sysusers file and man page lands, and the units name the
# install paths (not the build's, not a stale prefix).
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
BUILD=${BUILD:-build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
make -s BUILD="$BUILD" install PREFIX=/usr DESTDIR="$tmp" >"$tmp.log" 2>&1
tap_result $? "make install PREFIX=/usr DESTDIR=... succeeds" "$(tail -n 20 "$tmp.log")"
rm -f "$tmp.log"
for f in usr/bin/deferred-builds usr/libexec/deferred-builds/deferred-realise \
        usr/libexec/deferred-builds/deferred-builds-activate \
        usr/lib/systemd/system-generators/deferred-builds-generator \
        usr/lib/systemd/user-generators/deferred-builds-generator \
        usr/lib/systemd/system/deferred-builds.target usr/lib/systemd/system/deferred-builds-reconcile.service \
        usr/lib/systemd/system/deferred-realise@.service usr/lib/systemd/system/deferred-serve@.service \
        usr/lib/systemd/system/deferred-retrain@.service \
        usr/lib/systemd/system/deferred-serve@.service.d/10-system.conf \
        usr/lib/systemd/system/deferred-realise@.service.d/10-system.conf \
        usr/lib/systemd/user/deferred-serve@.service usr/lib/sysusers.d/deferred-builds.conf \
        usr/share/man/man8/deferred-builds.8 usr/share/man/man8/deferred-realise.8 \
        usr/share/man/man8/deferred-builds-generator.8 usr/share/man/man8/deferred-builds-activate.8 \
        usr/share/man/man5/deferred-builds.ini.5; do
        ok "installed: /$f" test -e "$tmp/$f"
done
is "$(grep -h '^ExecStart=' "$tmp"/usr/lib/systemd/system/deferred-realise@.service)" \
        "ExecStart=/usr/libexec/deferred-builds/deferred-realise realise %i" "realise names the installed helper"
is "$(grep -h '^ExecStartPre=' "$tmp"/usr/lib/systemd/system/deferred-realise@.service)" \
        "ExecStartPre=-+/usr/libexec/deferred-builds/deferred-realise import %i" "and imports the bundle with it, as root"
is "$(grep -h '^ExecStart=' "$tmp"/usr/lib/systemd/system/deferred-builds-reconcile.service)" \
        "ExecStart=/usr/bin/deferred-builds reconcile --wait-startup" "reconcile names the installed CLI"
unlike "$(cat "$tmp"/usr/lib/systemd/*/*.service "$tmp"/usr/lib/systemd/system/*.d/*.conf)" "@[A-Z]+@|/usr/local|$PWD" \
        "no unsubstituted, stale or build-dir path in any installed unit"
is "$(find "$tmp/usr/lib/systemd/user" -name '*.d' | wc -l)" 0 "no system-scope sandbox drop-in in the user unit dir"
tap_done
