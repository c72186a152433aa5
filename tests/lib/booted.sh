# shellcheck shell=bash
# A whole Debian 12 system booted in a container: systemd as PID 1, journald, D-Bus,
# systemd-sysusers and Debian's socket-activated nix-daemon.service. The system scope, with
# User=, DynamicUser= and the sandbox really applied, which a user manager cannot show.
#
#   booted_base              print the cached base root, building it first if missing
#   booted_boot              fresh overlay over the base, the project installed with
#                            `make install PREFIX=/usr DESTDIR=...`, booted; sets BOOTED_ROOT
#   booted_sh CMD...         run CMD in the container (all its namespaces, clean environment)
#   booted_reboot            power off and boot the same root again (/var, /etc, /nix kept)
#   booted_poweroff          power off and unmount; also runs at exit
#
# The base root is built once with debootstrap and cached below BOOTED_CACHE, keyed by its
# recipe; every boot gets its own overlay, so no suite sees another's state. The container
# has a private network (loopback only) and its own /run, /tmp and /var. Nothing here
# starts systemd on the host's own root.
: "${TOP:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"

. "$TOP/tests/lib/wait.sh"

BOOTED_SUITE=bookworm
# What the servers under test need: Debian's python3; FastAPI under uvicorn and hypercorn,
# and gunicorn: servers we did not write. A suite that needs more (PyTorch) sets BOOTED_EXTRA_PACKAGES before
# sourcing this file and gets a base of its own.
BOOTED_PACKAGES="nix-bin nix-setup-systemd libinih1 libsystemd0 python3 python3-uvicorn python3-hypercorn python3-gunicorn python3-fastapi curl ca-certificates${BOOTED_EXTRA_PACKAGES:+ $BOOTED_EXTRA_PACKAGES}"
# Changing the recipe (suite, packages, steps) changes the key, so a stale base is never used.
BOOTED_RECIPE="v1 $BOOTED_SUITE systemd,systemd-sysv,dbus $BOOTED_PACKAGES"
BOOTED_CACHE=${DEFERRED_BUILDS_BOOTED_CACHE:-/var/cache/deferred-builds/booted}
# The optimised build that gets installed, as a distribution would ship it.
BOOTED_BUILD=${BOOTED_BUILD:-$TOP/build/dist}

BOOTED_TMP="" BOOTED_ROOT="" BOOTED_NSPAWN="" BOOTED_PID1=""

booted_key() { printf '%s' "$BOOTED_RECIPE" | sha256sum | cut -c1-16; }

booted_mirror() {
        local m
        m=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null)
        [ -n "$m" ] || m=$(awk '$1 == "deb" { print $2; exit }' /etc/apt/sources.list 2>/dev/null)
        echo "${m:-http://deb.debian.org/debian}"
}

# Builds the base root into a temporary folder and renames it into place, so an interrupted
# build never leaves a base that looks finished. Concurrent callers wait on one lock.
booted_base() {
        local base
        base="$BOOTED_CACHE/$(booted_key)"
        if [ -e "$base/.complete" ]; then
                echo "$base"
                return 0
        fi
        mkdir -p "$BOOTED_CACHE"
        (
                flock 9
                [ -e "$base/.complete" ] && exit 0
                for tool in debootstrap systemd-nspawn; do
                        command -v "$tool" >/dev/null || {
                                echo "booted: $tool is missing; run 'make deps' (packages debootstrap, systemd-container)" >&2
                                exit 1
                        }
                done
                local tmp="$base.tmp.$$" mirror
                mirror=$(booted_mirror)
                rm -rf "$tmp"
                echo "booted: building the base root (debootstrap $BOOTED_SUITE from $mirror, about 2 minutes once)" >&2
                if ! debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus \
                        "$BOOTED_SUITE" "$tmp" "$mirror" >"$tmp.log" 2>&1; then
                        echo "booted: debootstrap from $mirror failed; the Debian archive must be reachable to build the booted-system root (log: $tmp.log)" >&2
                        tail -n 5 "$tmp.log" >&2
                        exit 1
                fi
                # nix-bin fails inside debootstrap's own --include pass: install it afterwards.
                # shellcheck disable=SC2086
                if ! chroot "$tmp" sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
                        apt-get install -y -qq --no-install-recommends $BOOTED_PACKAGES" >>"$tmp.log" 2>&1; then
                        echo "booted: installing $BOOTED_PACKAGES into the base root failed (log: $tmp.log)" >&2
                        tail -n 5 "$tmp.log" >&2
                        exit 1
                fi
                chroot "$tmp" apt-get clean
                # A machine id of its own on every boot; no getty on the console.
                : >"$tmp/etc/machine-id"
                ln -sf /dev/null "$tmp/etc/systemd/system/console-getty.service"
                rm -rf "$base"
                mv "$tmp" "$base"
                rm -f "$tmp.log"
                touch "$base/.complete"
        ) 9>"$BOOTED_CACHE/.lock" || return 1
        echo "$base"
}

# The optimised build, built when a suite runs alone (make check builds it beforehand).
booted_build() {
        [ -x "$BOOTED_BUILD/deferred-builds" ] && [ -x "$BOOTED_BUILD/examples/dbx-serve" ] && return 0
        make -s -C "$TOP" BUILD="${BOOTED_BUILD#"$TOP"/}" all >&2
}

booted_install() {
        local root=$1
        make -s -C "$TOP" BUILD="${BOOTED_BUILD#"$TOP"/}" PREFIX=/usr DESTDIR="$root" install >/dev/null || return 1
        # Test fixtures, not the product: the example trainer and server, the module's
        # manifest logic and model, and a NixOS-like /run/current-system at every boot.
        local fx="$root/opt/dbx-test"
        mkdir -p "$fx/examples/data" "$fx/nixos-module"
        cp "$BOOTED_BUILD/examples/dbx-train" "$BOOTED_BUILD/examples/dbx-serve" "$fx/"
        cp "$TOP/examples/model.nix" "$fx/examples/"
        cp "$TOP/examples/data/train.csv" "$fx/examples/data/"
        cp "$TOP/nixos-module/manifest.nix" "$TOP/nixos-module/bundle.nix" "$fx/nixos-module/"
        cp "$TOP/tests/lib/system-fixtures/"* "$fx/"
        # The container has no network: no build waits on a binary cache it cannot reach.
        echo 'substituters =' >>"$root/etc/nix/nix.conf"
        # /run/booted-system names the system booted, /run/current-system the one
        # switched to; both start as the profile's newest generation.
        cat >"$root/etc/systemd/system/dbx-test-nixos-boot.service" <<'EOF'
# Test fixture: what NixOS's stage 2 does at boot for deferred-builds' liveness rules.
[Unit]
DefaultDependencies=no
After=local-fs.target
Before=sysinit.target
ConditionPathExists=/nix/var/nix/profiles/system

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'top=$(readlink -f /nix/var/nix/profiles/system) && ln -sfn "$top" /run/booted-system && ln -sfn "$top" /run/current-system'
EOF
        mkdir -p "$root/etc/systemd/system/sysinit.target.wants"
        ln -sf ../dbx-test-nixos-boot.service "$root/etc/systemd/system/sysinit.target.wants/"
}

booted_start_container() {
        systemd-nspawn -q -D "$BOOTED_ROOT" --boot --register=no --keep-unit \
                --private-network --console=read-only >>"$BOOTED_TMP/console.log" 2>&1 &
        BOOTED_NSPAWN=$!
        local st=""
        BOOTED_PID1=""
        for _ in $(seq 1 300); do
                if [ -z "$BOOTED_PID1" ]; then
                        BOOTED_PID1=$(pgrep -P "$BOOTED_NSPAWN" -x systemd) || BOOTED_PID1=""
                fi
                if [ -n "$BOOTED_PID1" ]; then
                        st=$(booted_sh systemctl is-system-running 2>/dev/null) || true
                        case "$st" in running | degraded) return 0 ;; esac
                fi
                kill -0 "$BOOTED_NSPAWN" 2>/dev/null || break
                sleep 0.1
        done
        echo "# booted system did not come up: ${st:-no answer}" >&2
        sed 's/^/# /' "$BOOTED_TMP/console.log" | tail -n 30 >&2
        return 1
}

booted_boot() {
        local base
        base=$(booted_base) || return 1
        booted_build || return 1
        BOOTED_TMP=$(mktemp -d "${TMPDIR:-/tmp}/deferred-builds-booted.XXXXXX")
        mkdir -p "$BOOTED_TMP/upper" "$BOOTED_TMP/work" "$BOOTED_TMP/root"
        BOOTED_ROOT=$BOOTED_TMP/root
        trap booted_exit EXIT
        mount -t overlay overlay -o "lowerdir=$base,upperdir=$BOOTED_TMP/upper,workdir=$BOOTED_TMP/work" \
                "$BOOTED_ROOT" || return 1
        booted_install "$BOOTED_ROOT" || return 1
        booted_start_container
}

booted_sh() {
        nsenter -t "$BOOTED_PID1" -a env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
                LANG=C.UTF-8 SYSTEMD_COLORS=0 SYSTEMD_PAGER= "$@"
}

booted_wait_nspawn() {
        for _ in $(seq 1 300); do
                kill -0 "$BOOTED_NSPAWN" 2>/dev/null || break
                sleep 0.1
        done
        kill -KILL "$BOOTED_NSPAWN" 2>/dev/null || true
        wait "$BOOTED_NSPAWN" 2>/dev/null || true
        BOOTED_NSPAWN="" BOOTED_PID1=""
}

booted_shutdown() {
        [ -n "$BOOTED_NSPAWN" ] || return 0
        booted_sh systemctl poweroff --no-block >/dev/null 2>&1 || kill -TERM "$BOOTED_NSPAWN" 2>/dev/null
        booted_wait_nspawn
}

booted_reboot() {
        booted_shutdown
        booted_start_container
}

booted_poweroff() {
        booted_shutdown
        [ -n "$BOOTED_ROOT" ] && mountpoint -q "$BOOTED_ROOT" && umount "$BOOTED_ROOT"
        if [ -n "$BOOTED_TMP" ]; then
                if [ -n "${BOOTED_KEEP:-}" ]; then
                        echo "# kept $BOOTED_TMP" >&2
                else
                        rm -rf "$BOOTED_TMP"
                fi
        fi
        BOOTED_TMP="" BOOTED_ROOT=""
}

booted_exit() {
        local rc=$?
        booted_poweroff
        exit $rc
}

# booted_wait SECONDS CMD...: polls CMD in the container every 100 ms until it succeeds.
booted_wait() {
        local limit=$1
        shift
        wait_for "$limit" booted_sh "$@"
}

# booted_prop UNIT PROPERTY
booted_prop() { booted_sh systemctl show -P "$2" "$1" 2>/dev/null; }

# booted_scenarios FN...: runs each scenario function on a system booted for it alone, then
# prints the plan. Names given on the suite's command line select scenarios
# (`tests/system/deploy.sh scenario_failed_build`).
booted_scenarios() {
        local fn
        if [ "$(id -u)" != 0 ]; then
                tap_result 1 "the booted-system suites run as root" "uid $(id -u)"
                tap_done
                return
        fi
        for fn in "$@"; do
                if [ ${#BOOTED_ONLY[@]} -gt 0 ] && [[ " ${BOOTED_ONLY[*]} " != *" $fn "* ]]; then
                        continue
                fi
                diag "scenario ${fn#scenario_}"
                if booted_boot; then
                        "$fn"
                else
                        tap_result 1 "${fn#scenario_}: the system boots"
                fi
                booted_poweroff
        done
        tap_done
}
BOOTED_ONLY=("$@")
