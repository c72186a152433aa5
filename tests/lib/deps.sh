#!/bin/sh
# Installs the Debian packages the build, the tests and the demo need, only when missing.
# Safe to run as often as you like; does nothing when everything is there.
set -eu
# nix-setup-systemd is nix-bin's Recommends: /etc/nix/nix.conf (sandbox = false, which
# builds with builder = /bin/sh need) and the nixbld group and users that root's Nix
# requires ("the group 'nixbld' specified in 'build-users-group' does not exist").
# --no-install-recommends below would leave it out. debootstrap and systemd-container
# boot the Debian system the tests/system suites run on (tests/lib/booted.sh).
# python3-prometheus-client is the real OpenMetrics parser the metrics output is checked with;
# python3-pyflakes checks the NixOS VM test's driver script (tests/nix/vm-test.sh).
pkgs="build-essential pkg-config debootstrap systemd-container libsystemd-dev libinih-dev libcmocka-dev nix-bin nix-setup-systemd clang clang-tidy libclang-rt-14-dev perl strace util-linux procps curl psmisc valgrind openssh-server openssh-client iproute2 python3-prometheus-client python3-pyflakes"
missing=""
for p in $pkgs; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
        echo "deps: missing Debian packages:$missing; run 'make deps' as root or install them" >&2
        exit 1
fi
echo "deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# Installing openssh-server would start sshd on every address, port 22: forbid service
# starts during the install (tests start their own sshd on 127.0.0.1 only).
guard=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 0755 /usr/sbin/policy-rc.d
        guard=1
fi
rc=0
apt-get update -qq >&2 || rc=$?
# shellcheck disable=SC2086
[ $rc -eq 0 ] && { apt-get install -y -qq --no-install-recommends $missing >&2 || rc=$?; }
[ -n "$guard" ] && rm -f /usr/sbin/policy-rc.d
exit $rc
