#!/usr/bin/env bash
# Scale-out on Nix's own distributed engine, with real components on loopback only
# (docs/scale-out.md):
#
#   A. remote builder: a model is trained on a builder reached over ssh: Debian's sshd on
#      127.0.0.1:PORT with its own config, host key and authorized key, started here in
#      its own mount namespace where /nix is the builder's own (empty) store and /root its
#      own home: a second machine as far as Nix can tell. The builders string comes from
#      the manifest; the ssh port and the pinned host key come from the ssh client
#      settings of the nix-daemon (NIX_SSHOPTS), because the daemon, not the client, runs
#      ssh. Proof that the builder built it: Nix's actBuild activity names the machine,
#      the builder's marker line says "remote-builder", the builder's store has the output.
#      An untrusted client's builders are ignored by the daemon (trusted-users caveat).
#   B. signed binary cache: a model whose output was deleted is substituted from a signed
#      file:// cache (nix copy + nix store sign) and its builder does not run; an unsigned
#      and a wrongly signed cache are refused (the store keeps the path invalid) and
#      deferred-realise trains it locally instead; the status file says "substituting"
#      during the substitution and "training" during the build; an untrusted client's
#      substituters are ignored.
#   C. a model that needs the "cuda" system feature that neither this machine nor any
#      builder offers fails in seconds with Nix's message, exit 65 and the error in the
#      status file.
#   D. build farm -> binary cache -> fleet: the builder host's post-build-hook
#      (fixtures/scale-out/push-to-cache.sh) pushed A's model to a cache, signed; a
#      "fleet" realise of the same model substitutes it from there.
#
# The shared nix-daemon (tests/run starts one when none answers) serves B, C and D. A runs
# through a second nix-daemon started here on a private socket (NIX_DAEMON_SOCKET_PATH),
# whose environment carries the ssh settings and the post-build-hook: the shared daemon is
# never restarted and /etc/nix/nix.conf is never changed. Every process started here is
# stopped by its PID. Needs root, Debian's nix-bin, util-linux (unshare, setpriv), and
# openssh-server, openssh-client and iproute2 (ss), which are installed here when missing
# (with services kept from starting).
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/nixd.sh
ABS_BUILD=${ABS_BUILD:-$PWD/build}
FIX=$PWD/tests/integration/fixtures/scale-out
REALISE=$ABS_BUILD/deferred-realise
SUITE_START=$EPOCHREALTIME

export NIX_REMOTE=daemon
# Client settings (a trusted client passes them on to the daemon): nothing waits on the
# unreachable default cache; nix copy, nix store sign and nix path-info need nix-command.
export NIX_CONFIG="substituters =
experimental-features = nix-command"

if [ "$(id -u)" != 0 ]; then
        skip "scale-out suite" "needs root (per-model builders and substituters need a trusted Nix user; sshd as root)"
        tap_done
        exit 0
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/deferred-builds-scale-out.XXXXXX") || exit 1
chmod 0755 "$T" # build users (nixbld*) append to the marker below
mkdir -p "$T/logs" "$T/gcroots" "$T/keys" "$T/state" "$T/run"
MARKER=$T/marker
touch "$MARKER"
chmod 0666 "$MARKER"
NONCE="$(date +%s%N)-$$"
# Clients of the daemons as an untrusted user: nobody, in the group Debian lets use the
# daemon socket (nix-users).
NIX_USERS_GID=$(getent group nix-users | cut -d: -f3)
AS_NOBODY=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
[ -n "$NIX_USERS_GID" ] && AS_NOBODY=(setpriv --reuid=nobody --regid=nogroup --groups="$NIX_USERS_GID")

SSHD_PID="" DAEMON_PID="" BG_PID="" POLICY_MADE=""
cleanup() {
        local rc=$?
        [ -n "$BG_PID" ] && kill "$BG_PID" 2>/dev/null && wait "$BG_PID" 2>/dev/null
        touch "$T/gate-train" 2>/dev/null # a builder still waiting on its gate ends now
        for pid in $SSHD_PID $DAEMON_PID; do
                kill "$pid" 2>/dev/null
                wait "$pid" 2>/dev/null
        done
        [ -n "$POLICY_MADE" ] && rm -f /usr/sbin/policy-rc.d
        # Roots first, then the store paths this suite made (never --ignore-liveness).
        rm -rf "$T/state" "$T/gcroots" "$T/nobody"
        local paths
        mapfile -t paths < <(cat "$T/clean-outputs" "$T/clean-drvs" 2>/dev/null)
        if [ ${#paths[@]} -gt 0 ] && ! nix-store --delete "${paths[@]}" >/dev/null 2>&1; then
                # One still alive (someone else's root?) stops the batch: one by one then.
                for p in "${paths[@]}"; do nix-store --delete "$p" >/dev/null 2>&1; done
        fi
        if [ -n "${SCALE_OUT_KEEP:-}" ]; then
                echo "# kept $T" >&2
        else
                rm -rf "$T"
        fi
        exit $rc
}
trap cleanup EXIT

# poll SECONDS COMMAND...: true as soon as COMMAND succeeds (every 100 ms).
poll() {
        local end=$((SECONDS + $1))
        shift
        while [ $SECONDS -le $end ]; do
                "$@" >/dev/null 2>&1 && return 0
                sleep 0.1
        done
        return 1
}
catf() { cat "$1" 2>/dev/null; }
elapsed_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
marker_lines() { grep -c "^$1 " "$MARKER"; }
status_get() { sed -n "s/^$2=//p" "$T/run/status/$1" 2>/dev/null; }
status_is() { [ "$(status_get "$1" "$2")" = "$3" ]; }
marker_grew() { [ "$(marker_lines "$1")" -gt "$2" ]; }
path_info() { nix path-info --json "$1" 2>/dev/null; }
is_valid() { nix-store --check-validity "$1" >/dev/null 2>&1; }

# instantiate NAME [nix-instantiate arguments...]: prints the .drv (kept by a root in $T).
instantiate() {
        local name=$1
        shift
        nix-instantiate "$FIX/model.nix" --argstr name "$name" --argstr nonce "$NONCE" \
                --argstr marker "$MARKER" "$@" --add-root "$T/gcroots/$name.drv" >/dev/null 2>>"$T/logs/instantiate.log" ||
                return 1
        local drv out
        drv=$(readlink "$T/gcroots/$name.drv") || return 1
        out=$(nix-store --query --outputs "$drv") || return 1
        # Called in $(...): the list lives in files, for cleanup.
        echo "$out" >>"$T/clean-outputs"
        echo "$drv" >>"$T/clean-drvs"
        echo "$drv"
}

# write_manifest FILE NAME DRV [KEY = VALUE lines...]
write_manifest() {
        local file=$1 name=$2 drv=$3
        shift 3
        {
                printf '[deferred-builds]\nversion = 1\ngeneration = scale-out\n\n[model.%s]\ndrv = %s\nexec = /bin/true\n' \
                        "$name" "$drv"
                for l in "$@"; do printf '%s\n' "$l"; done
        } >"$file"
}

# realise LABEL MANIFEST NAME [VAR=VALUE...]: runs deferred-realise in the foreground;
# sets RC, LOG (its output) and RAW (nix-store's internal-json stream, through
# fixtures/scale-out/nix-store-tee).
realise_env() {
        local label=$1 manifest=$2
        LOG=$T/logs/$label.log RAW=$T/logs/$label.raw
        REALISE_ENV=(DEFERRED_BUILDS_SCOPE=user DEFERRED_BUILDS_MANIFEST="$manifest"
                DEFERRED_BUILDS_STATE_DIR="$T/state" DEFERRED_BUILDS_RUNTIME_DIR="$T/run"
                DEFERRED_BUILDS_NIX_STORE="$FIX/nix-store-tee" SCALE_OUT_RAW_LOG="$RAW"
                DEFERRED_BUILDS_RETRY_BUDGET=20)
}
realise() {
        local label=$1 manifest=$2 name=$3
        shift 3
        realise_env "$label" "$manifest"
        env "${REALISE_ENV[@]}" "$@" timeout 120 "$REALISE" realise "$name" >"$LOG" 2>&1
        RC=$?
}
realise_bg() { # like realise, in the background: sets BG_PID
        local label=$1 manifest=$2 name=$3
        shift 3
        realise_env "$label" "$manifest"
        env "${REALISE_ENV[@]}" "$@" timeout 120 "$REALISE" realise "$name" >"$LOG" 2>&1 &
        BG_PID=$!
}
realise_wait() {
        wait "$BG_PID"
        RC=$?
        BG_PID=""
}
show_log() { # diagnostics of the last realise
        [ -s "$LOG" ] && tail -n 15 "$LOG" | sed 's/^/  log: /' | while IFS= read -r l; do diag "$l"; done
}
is_rc() { # is_rc EXPECTED DESCRIPTION: checks $RC, shows the log when it differs
        is "$RC" "$1" "$2"
        [ "$RC" = "$1" ] || show_log
}

# drop_output OUT ROOT...: removes the roots, deletes OUT from the store.
drop_output() {
        local out=$1
        shift
        rm -f "$@"
        nix-store --delete "$out" >"$T/logs/delete.log" 2>&1
        ! is_valid "$out"
}

# ---------------------------------------------------------------------------------------
# Preconditions
nixd_alive
tap_result $? "nix-daemon answers (tests/run starts one)"
test -x "$REALISE"
tap_result $? "deferred-realise is built ($REALISE)"
if [ "$TAP_FAILED" != 0 ]; then
        tap_done
        exit 1
fi

have_ssh() { [ -x /usr/sbin/sshd ] && command -v ssh >/dev/null && command -v ssh-keygen >/dev/null && command -v ss >/dev/null; }
install_ssh() {
        # Debian starts a freshly installed server (sshd on every address, port 22) unless
        # policy-rc.d says no: this suite must never listen anywhere but its own loopback
        # port, so a missing policy-rc.d is provided for the install and removed after.
        if [ ! -e /usr/sbin/policy-rc.d ]; then
                printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d && POLICY_MADE=1
        fi
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -qq -o DPkg::Lock::Timeout=120 --no-install-recommends openssh-server openssh-client iproute2 >"$T/logs/apt.log" 2>&1 ||
                { apt-get update -qq >>"$T/logs/apt.log" 2>&1 &&
                        apt-get install -y -qq -o DPkg::Lock::Timeout=120 --no-install-recommends openssh-server openssh-client iproute2 >>"$T/logs/apt.log" 2>&1; }
        if [ -n "$POLICY_MADE" ]; then
                rm -f /usr/sbin/policy-rc.d
                POLICY_MADE=""
        fi
}
if ! have_ssh; then
        diag "openssh-server, openssh-client or iproute2 (ss) missing: installing them with apt-get"
        install_ssh
fi
HAVE_SSH=""
if have_ssh; then
        HAVE_SSH=1
else
        diag "openssh-server could not be installed:" "$(tail -n 5 "$T/logs/apt.log" 2>/dev/null)"
fi

# Keys of the binary caches.
nix-store --generate-binary-cache-key test-cache-1 "$T/keys/cache.sk" "$T/keys/cache.pk" &&
        nix-store --generate-binary-cache-key wrong-key-1 "$T/keys/wrong.sk" "$T/keys/wrong.pk"
ok "binary cache signing keys generated (nix-store --generate-binary-cache-key)" test -s "$T/keys/cache.pk" -a -s "$T/keys/wrong.pk"
PK=$(cat "$T/keys/cache.pk")

# ---------------------------------------------------------------------------------------
# A. Remote builder over ssh
PORT="" BUILDER=""
# ssh:// (nix-store --serve on the builder) by default; SCALE_OUT_PROTOCOL=ssh-ng for
# ssh-ng:// (nix-daemon --stdio).
PROTO=${SCALE_OUT_PROTOCOL:-ssh}
MACHINE="$PROTO://root@127.0.0.1"
MACHINE_RE="$PROTO://root@127\.0\.0\.1"
start_builder() {
        mkdir -p "$T/ssh" "$T/builder/nix" "$T/builder/root"
        chmod 0700 "$T/ssh" "$T/builder/root"
        ssh-keygen -q -t ed25519 -N '' -C scale-out-host -f "$T/ssh/host_ed25519" &&
                ssh-keygen -q -t ed25519 -N '' -C scale-out-client -f "$T/ssh/client_ed25519" &&
                ssh-keygen -q -t ed25519 -N '' -C not-the-host -f "$T/ssh/other_ed25519" || return 1
        cp "$T/ssh/client_ed25519.pub" "$T/ssh/authorized_keys"
        echo remote-builder >"$T/builder/nix/scale-out-machine"
        local p
        for _ in 1 2 3 4 5; do
                p=$((20000 + RANDOM % 12000)) # below the ephemeral range
                [ -z "$(ss -ltnH "sport = :$p")" ] || continue
                PORT=$p
                sed -e "s|@DIR@|$T|g" -e "s|@PORT@|$PORT|g" "$FIX/sshd_config.in" >"$T/ssh/sshd_config"
                sed -e "s|@DIR@|$T|g" -e "s|@PORT@|$PORT|g" "$FIX/ssh_config.in" >"$T/ssh/ssh_config"
                echo "[127.0.0.1]:$PORT $(cut -d' ' -f1,2 "$T/ssh/host_ed25519.pub")" >"$T/ssh/known_hosts"
                echo "[127.0.0.1]:$PORT $(cut -d' ' -f1,2 "$T/ssh/other_ed25519.pub")" >"$T/ssh/known_hosts.other"
                # The builder "machine": a private mount namespace where /nix is its own
                # store, /root its own home (no login scripts) and /run a private tmpfs
                # (sshd's privilege separation directory lives there, not on the host).
                # unshare and sh exec into sshd: $! is sshd's PID.
                # shellcheck disable=SC2016 # $1 is expanded by that sh
                unshare --mount --propagation private sh -c '
                        set -e
                        mount -t tmpfs -o mode=0755 tmpfs /run
                        mkdir -m 0755 /run/sshd
                        mount --bind "$1/builder/nix" /nix
                        mount --bind "$1/builder/root" /root
                        /usr/sbin/sshd -t -f "$1/ssh/sshd_config"
                        exec /usr/sbin/sshd -D -e -f "$1/ssh/sshd_config"' sh "$T" >"$T/logs/sshd.log" 2>&1 &
                SSHD_PID=$!
                if poll 10 grep -q "Server listening on 127.0.0.1 port $PORT" "$T/logs/sshd.log"; then
                        return 0
                fi
                kill "$SSHD_PID" 2>/dev/null
                wait "$SSHD_PID" 2>/dev/null
                SSHD_PID=""
                diag "sshd did not start on port $PORT:" "$(tail -n 3 "$T/logs/sshd.log")"
        done
        return 1
}
ssh_builder() { ssh -F "$T/ssh/ssh_config" -i "$T/ssh/client_ed25519" "$@"; }
sshd_logins() { grep -c "Accepted publickey for root" "$T/logs/sshd.log"; }

start_private_daemon() {
        mkdir -p "$T/daemon"
        # The daemon's own environment, as nix-daemon.service has it on a build host: its
        # ssh client settings (port, pinned host key) and its post-build-hook (D).
        env -u NIX_REMOTE NIX_DAEMON_SOCKET_PATH="$T/daemon/socket" \
                NIX_SSHOPTS="-F $T/ssh/ssh_config" \
                PUSH_TO="file://$T/cache-farm?secret-key=$T/keys/cache.sk" \
                NIX_CONFIG="substituters =
post-build-hook = $FIX/push-to-cache.sh" \
                nix-daemon >"$T/logs/daemon.log" 2>&1 &
        DAEMON_PID=$!
        poll 10 env NIX_DAEMON_SOCKET_PATH="$T/daemon/socket" nix-store --check-validity --print-invalid \
                /nix/store/00000000000000000000000000000000-probe
}
PRIV=(NIX_DAEMON_SOCKET_PATH="$T/daemon/socket")

if [ -z "$HAVE_SSH" ]; then
        skip "A: remote builder over ssh" "openssh-server, openssh-client or iproute2 are missing and apt-get could not install them"
        skip "C: cuda model with a live builder that lacks cuda" "no sshd"
        skip "D: build farm -> binary cache -> fleet" "no sshd"
elif ! start_builder; then
        tap_result 1 "the builder's sshd starts on 127.0.0.1" "$(tail -n 5 "$T/logs/sshd.log")"
        HAVE_SSH=""
else
        BUILDER="$MACHINE x86_64-linux $T/ssh/client_ed25519 1 1 big-parallel"
        diag "builder: sshd PID $SSHD_PID on 127.0.0.1:$PORT"
        listen=$(ss -ltnpH "sport = :$PORT")
        is "$(awk '{ print $4 }' <<<"$listen" | sort -u | tr '\n' ' ')" "127.0.0.1:$PORT " \
                "the builder's sshd listens on 127.0.0.1:$PORT and no other address"
        like "$listen" "pid=$SSHD_PID," "the listener is the sshd this suite started"

        # shellcheck disable=SC2016 # expanded on the builder
        out=$(ssh_builder 127.0.0.1 'echo "$(id -un) $(cat /nix/scale-out-machine) $(command -v nix-store)"' 2>&1)
        is "$out" "root remote-builder /usr/bin/nix-store" \
                "ssh with the pinned host key reaches root on the builder, with its own /nix and nix-store"
        out=$(ssh_builder -o UserKnownHostsFile="$T/ssh/known_hosts.other" 127.0.0.1 true 2>&1)
        like "$out" "Host key verification failed" "a host key other than the pinned one is refused (StrictHostKeyChecking)"

        start_private_daemon
        rc=$?
        tap_result $rc "a second nix-daemon on a private socket (NIX_DAEMON_SOCKET_PATH) answers" \
                "$(tail -n 5 "$T/logs/daemon.log")"
        [ $rc = 0 ] || HAVE_SSH=""
fi

if [ -n "$HAVE_SSH" ]; then
        DRV_REMOTE=$(instantiate remote)
        OUT_REMOTE=$(nix-store --query --outputs "$DRV_REMOTE")
        write_manifest "$T/remote.ini" remote "$DRV_REMOTE" "builders = $BUILDER"
        t0=$EPOCHREALTIME
        realise remote "$T/remote.ini" remote "${PRIV[@]}"
        diag "remote build took $(elapsed_since "$t0") s"
        is_rc 0 "A: deferred-realise realise remote: exit 0"
        like "$(catf "$LOG")" "building $DRV_REMOTE on $MACHINE_RE" \
                "A: deferred-realise reports the build on $MACHINE"
        like "$(catf "$RAW")" "\"action\":\"start\",\"fields\":\[\"$DRV_REMOTE\",\"$MACHINE_RE\",1,1\].*\"text\":\"building '$DRV_REMOTE' on '$MACHINE_RE'\".*\"type\":105" \
                "A: Nix's actBuild activity names the machine (internal-json fields and text)"
        is "$(grep "^remote " "$MARKER")" "remote remote-builder" \
                "A: the builder ran once, on the remote builder (its own /nix), not here"
        ok "A: the builder's own store holds the output" test -d "$T/builder/nix/store/${OUT_REMOTE#/nix/store/}"
        ok "A: the output is valid in the local store" is_valid "$OUT_REMOTE"
        is "$(status_get remote state) $(status_get remote out)" "ready $OUT_REMOTE" "A: status file: state=ready, out=the output"
        like "$(catf "$RAW")" '"action":"result","fields":\["builder ran on remote-builder"\].*"type":101' \
                "A: the builder's log lines stream back from the remote machine (resBuildLogLine)"
        is "$(readlink -f "$T/run/models/remote")" "$OUT_REMOTE" "A: the model is published (RUNTIME/models/remote -> root -> output)"
        like "$(catf "$T/logs/daemon.log")" "accepted connection from pid [0-9]+, user root \(trusted\)" \
                "A: the daemon took the per-model builders from a trusted client (root)"

        # An untrusted client: the daemon ignores its builders and trains locally.
        DRV_UNTRUSTED=$(instantiate untrusted)
        mkdir -p "$T/nobody/state" "$T/nobody/run" "$T/nobody/home"
        chown -R nobody:nogroup "$T/nobody"
        write_manifest "$T/untrusted.ini" untrusted "$DRV_UNTRUSTED" "builders = $BUILDER"
        logins=$(sshd_logins)
        LOG=$T/logs/untrusted.log
        "${AS_NOBODY[@]}" env "${PRIV[@]}" HOME="$T/nobody/home" \
                DEFERRED_BUILDS_SCOPE=user DEFERRED_BUILDS_MANIFEST="$T/untrusted.ini" \
                DEFERRED_BUILDS_STATE_DIR="$T/nobody/state" DEFERRED_BUILDS_RUNTIME_DIR="$T/nobody/run" \
                DEFERRED_BUILDS_RETRY_BUDGET=20 timeout 120 "$REALISE" realise untrusted >"$LOG" 2>&1
        RC=$?
        is_rc 0 "A: an untrusted client (nobody) realises too"
        is "$(grep "^untrusted " "$MARKER")" "untrusted local" \
                "A: ...but the daemon ignored its builders: it was trained locally (trusted-users caveat)"
        is "$(sshd_logins)" "$logins" "A: ...and nothing logged in to the builder for it"
        like "$(catf "$T/logs/daemon.log")" "user nobody$" "A: the daemon saw user nobody, not trusted"
fi

# ---------------------------------------------------------------------------------------
# B. Signed binary cache (shared daemon)
DRV_CACHED=$(instantiate cached --argstr gate "$T/gate-train")
OUT_CACHED=$(nix-store --query --outputs "$DRV_CACHED")
HASH_CACHED=${OUT_CACHED#/nix/store/}
HASH_CACHED=${HASH_CACHED%%-*}
touch "$T/gate-train"
nix-store --realise "$DRV_CACHED" --add-root "$T/gcroots/cached-seed" >"$T/logs/seed.log" 2>&1
ok "B: the model is built once here to fill the caches" is_valid "$OUT_CACHED"
rm -f "$T/gate-train"
{
        nix copy --to "file://$T/cache-signed" "$OUT_CACHED" &&
                nix store sign --store "file://$T/cache-signed" --key-file "$T/keys/cache.sk" "$OUT_CACHED" &&
                nix copy --to "file://$T/cache-unsigned" "$OUT_CACHED" &&
                nix copy --to "file://$T/cache-wrong" "$OUT_CACHED" &&
                nix store sign --store "file://$T/cache-wrong" --key-file "$T/keys/wrong.sk" "$OUT_CACHED"
} >"$T/logs/copy.log" 2>&1
like "$(grep '^Sig:' "$T/cache-signed/$HASH_CACHED.narinfo")" "^Sig: test-cache-1:" "B: signed cache (nix copy + nix store sign): narinfo signed by test-cache-1"
is "$(grep -c '^Sig:' "$T/cache-unsigned/$HASH_CACHED.narinfo")" 0 "B: unsigned cache: narinfo has no signature"
like "$(grep '^Sig:' "$T/cache-wrong/$HASH_CACHED.narinfo")" "^Sig: wrong-key-1:" "B: wrongly signed cache: narinfo signed by wrong-key-1 only"
ok "B: output deleted from the store (roots removed, nix-store --delete)" drop_output "$OUT_CACHED" "$T/gcroots/cached-seed"

write_manifest "$T/cached-unsigned.ini" cached "$DRV_CACHED" "substituters = file://$T/cache-unsigned" "trusted-public-keys = $PK"
write_manifest "$T/cached-wrong.ini" cached "$DRV_CACHED" "substituters = file://$T/cache-wrong" "trusted-public-keys = $PK"
write_manifest "$T/cached-signed.ini" cached "$DRV_CACHED" "substituters = file://$T/cache-signed" "trusted-public-keys = $PK"

# Unsigned: Nix itself refuses the path...
out=$(nix-store --realise "$OUT_CACHED" --option substituters "file://$T/cache-unsigned" --option trusted-public-keys "$PK" 2>&1)
like "$out" "substitute for '$OUT_CACHED' from 'file://$T/cache-unsigned' is not signed by any of the keys in 'trusted-public-keys'" \
        "B: unsigned cache: Nix refuses the substitute (not signed by a trusted key)"
is "$(is_valid "$OUT_CACHED" && echo valid || echo invalid)" invalid "B: ...and the path stays invalid"
# ...so deferred-realise trains the model here; the builder waits on a gate meanwhile.
seeded=$(marker_lines cached)
realise_bg unsigned "$T/cached-unsigned.ini" cached
poll 30 marker_grew cached "$seeded"
poll 10 status_is cached last_line "builder ran on local"
is "$(status_get cached state) $(status_get cached progress)" "training 0/1" \
        "B: while the model trains, the status file says state=training (progress 0/1)"
touch "$T/gate-train"
realise_wait
is_rc 0 "B: unsigned cache: deferred-realise exits 0 after training locally"
is "$(marker_lines cached)" $((seeded + 1)) "B: unsigned cache: the builder ran (trained here)"
like "$(path_info "$OUT_CACHED")" '"ultimate":true' "B: unsigned cache: the valid path is the local build (ultimate), not the cache's"
unlike "$(catf "$RAW")" '"type":108' "B: unsigned cache: no substitution ran"

ok "B: output deleted again" drop_output "$OUT_CACHED" "$T/state/roots/scale-out/cached"
out=$(nix-store --realise "$OUT_CACHED" --option substituters "file://$T/cache-wrong" --option trusted-public-keys "$PK" 2>&1)
like "$out" "substitute for '$OUT_CACHED' from 'file://$T/cache-wrong' is not signed by any of the keys in 'trusted-public-keys'" \
        "B: wrongly signed cache: Nix refuses the substitute"
is "$(is_valid "$OUT_CACHED" && echo valid || echo invalid)" invalid "B: ...and the path stays invalid"
realise wrong "$T/cached-wrong.ini" cached
is_rc 0 "B: wrongly signed cache: deferred-realise exits 0 after training locally"
is "$(marker_lines cached)" $((seeded + 2)) "B: wrongly signed cache: the builder ran (trained here)"
pi=$(path_info "$OUT_CACHED")
like "$pi" '"ultimate":true' "B: wrongly signed cache: the valid path is the local build"
unlike "$pi" 'wrong-key-1' "B: wrongly signed cache: the wrong key's signature was not accepted into the store"
like "$(catf "$LOG")" "warning: .*from 'file://$T/cache-wrong' is not signed by any of the keys in 'trusted-public-keys'" \
        "B: wrongly signed cache: Nix's warning is passed on (the operator sees why it trained)"

# Signed: substituted; the nar is a FIFO until the status file says "substituting", so
# the substitution is seen in progress whatever the speed of the machine.
ok "B: output deleted again" drop_output "$OUT_CACHED" "$T/state/roots/scale-out/cached"
nar=$T/cache-signed/$(sed -n 's/^URL: //p' "$T/cache-signed/$HASH_CACHED.narinfo")
mv "$nar" "$T/saved.nar" && mkfifo "$nar"
before=$(marker_lines cached)
realise_bg signed "$T/cached-signed.ini" cached
seen="" last=""
end=$((SECONDS + 30))
while [ $SECONDS -le $end ]; do
        s=$(status_get cached state)
        [ -n "$s" ] && [ "$s" != "$last" ] && seen="$seen $s" && last=$s
        [ "$s" = substituting ] && break
        sleep 0.1
done
diag "status states seen before the nar was released:${seen:- none}"
is "$last $(status_get cached last_line)" "substituting " \
        "B: while the cache is read, the status file says state=substituting (no build log)"
# shellcheck disable=SC2016 # expanded by that sh
timeout 20 sh -c 'cat "$1" >"$2"' sh "$T/saved.nar" "$nar"
realise_wait
rm -f "$nar" && mv "$T/saved.nar" "$nar"
is_rc 0 "B: signed cache: deferred-realise exits 0"
is "$(marker_lines cached)" "$before" "B: signed cache: the builder did not run (marker unchanged)"
pi=$(path_info "$OUT_CACHED")
like "$pi" '"signatures":\["test-cache-1:' "B: signed cache: the valid path carries the cache's signature"
unlike "$pi" '"ultimate":true' "B: signed cache: ...and was not built here"
like "$(catf "$RAW")" "\"fields\":\[\"$OUT_CACHED\",\"file://$T/cache-signed\"\].*\"type\":108" \
        "B: signed cache: Nix's actSubstitute activity names the signed cache"
is "$(status_get cached state) $(status_get cached out)" "ready $OUT_CACHED" "B: signed cache: status file state=ready, out=the output"
is "$(readlink -f "$T/run/models/cached")" "$OUT_CACHED" "B: signed cache: the model is published"

# extra-substituters / extra-trusted-public-keys (what the NixOS module writes): added to
# the daemon's lists instead of replacing them, and substituted the same way.
ok "B: output deleted again" drop_output "$OUT_CACHED" "$T/state/roots/scale-out/cached"
write_manifest "$T/cached-extra.ini" cached "$DRV_CACHED" "extra-substituters = file://$T/cache-signed" \
        "extra-trusted-public-keys = $PK"
before=$(marker_lines cached)
realise extra "$T/cached-extra.ini" cached
is_rc 0 "B: extra-substituters: deferred-realise exits 0"
like "$(catf "$RAW")" "\"fields\":\[\"$OUT_CACHED\",\"file://$T/cache-signed\"\].*\"type\":108" \
        "B: extra-substituters: Nix substitutes from the extra cache"
is "$(marker_lines cached)" "$before" "B: extra-substituters: the builder did not run (substituted)"
like "$(path_info "$OUT_CACHED")" '"signatures":\["test-cache-1:' "B: extra-substituters: the valid path is the cache's"

# An untrusted client's substituters are ignored (not in trusted-substituters): trains.
ok "B: output deleted again" drop_output "$OUT_CACHED" "$T/state/roots/scale-out/cached"
mkdir -p "$T/nobody/state" "$T/nobody/run" "$T/nobody/home"
chown -R nobody:nogroup "$T/nobody"
LOG=$T/logs/untrusted-subst.log
"${AS_NOBODY[@]}" env HOME="$T/nobody/home" \
        DEFERRED_BUILDS_SCOPE=user DEFERRED_BUILDS_MANIFEST="$T/cached-signed.ini" \
        DEFERRED_BUILDS_STATE_DIR="$T/nobody/state" DEFERRED_BUILDS_RUNTIME_DIR="$T/nobody/run" \
        DEFERRED_BUILDS_RETRY_BUDGET=20 timeout 120 "$REALISE" realise cached >"$LOG" 2>&1
RC=$?
is_rc 0 "B: an untrusted client (nobody) realises the same model"
is "$(marker_lines cached)" $((before + 1)) "B: ...but the daemon ignored its substituters: it was trained locally"
like "$(path_info "$OUT_CACHED")" '"ultimate":true' "B: ...the valid path is a local build"
like "$(catf "$LOG")" "warning: ignoring untrusted substituter 'file://$T/cache-signed'" \
        "B: ...and deferred-realise passed on the daemon's warning (it would go to the journal as a warning)"

# ---------------------------------------------------------------------------------------
# C. A model that needs a feature nobody offers fails fast
DRV_GPU=$(instantiate gpu --arg features '[ "cuda" ]')
write_manifest "$T/gpu.ini" gpu "$DRV_GPU"
t0=$EPOCHREALTIME
realise gpu "$T/gpu.ini" gpu
secs=$(elapsed_since "$t0")
is_rc 65 "C: cuda model, no builder: deferred-realise exits 65 (build failed, not retried)"
ok "C: ...in ${secs}s (fast: under 15 s, nothing queued)" awk -v s="$secs" 'BEGIN { exit !(s < 15) }'
err=$(status_get gpu error)
like "$(status_get gpu state) $err" "^failed .*a 'x86_64-linux' with features \{cuda\} is required to build '$DRV_GPU', but I am a 'x86_64-linux' with features \{" \
        "C: status file: state=failed, error carries Nix's message (features {cuda} required)"
like "$(catf "$LOG")" "features \{cuda\} is required" "C: the message reaches deferred-realise's log"
is "$(marker_lines gpu)" 0 "C: the builder never ran"
if [ -n "$HAVE_SSH" ]; then
        write_manifest "$T/gpu-builder.ini" gpu "$DRV_GPU" "builders = $BUILDER"
        logins=$(sshd_logins)
        t0=$EPOCHREALTIME
        realise gpu-builder "$T/gpu-builder.ini" gpu "${PRIV[@]}"
        secs=$(elapsed_since "$t0")
        is_rc 65 "C: cuda model, live builder without cuda: exit 65"
        ok "C: ...in ${secs}s (under 15 s)" awk -v s="$secs" 'BEGIN { exit !(s < 15) }'
        like "$(catf "$RAW")" "Failed to find a machine for remote build!.*required \(system, features\): \([^)]*cuda" \
                "C: Nix's build hook says no machine has the feature"
        like "$(status_get gpu error)" "features \{cuda\} is required to build" "C: status file carries the error"
        is "$(sshd_logins)" "$logins" "C: nothing logged in to the builder"
        is "$(marker_lines gpu)" 0 "C: the builder never ran"
fi

# ---------------------------------------------------------------------------------------
# D. Build farm -> binary cache -> fleet
if [ -n "$HAVE_SSH" ]; then
        HASH_REMOTE=${OUT_REMOTE#/nix/store/}
        HASH_REMOTE=${HASH_REMOTE%%-*}
        like "$(catf "$T/logs/remote.raw")" "\"action\":\"result\",\"fields\":\[\"pushing $OUT_REMOTE\"\].*\"type\":107" \
                "D: the build host's post-build-hook ran after the remote build"
        like "$(grep '^Sig:' "$T/cache-farm/$HASH_REMOTE.narinfo" 2>/dev/null)" "^Sig: test-cache-1:" \
                "D: it pushed the model to the farm's cache, signed on upload"
        ok "D: the fleet machine has no copy (roots removed, deleted)" \
                drop_output "$OUT_REMOTE" "$T/state/roots/scale-out/remote"
        write_manifest "$T/fleet.ini" remote "$DRV_REMOTE" "substituters = file://$T/cache-farm" "trusted-public-keys = $PK"
        realise fleet "$T/fleet.ini" remote
        is_rc 0 "D: fleet: deferred-realise realise remote: exit 0"
        is "$(grep -c "^remote " "$MARKER")" 1 "D: fleet: nothing was rebuilt (the only build was on the builder)"
        like "$(path_info "$OUT_REMOTE")" '"signatures":\["test-cache-1:' "D: fleet: the model came from the farm's cache"
        like "$(catf "$RAW")" "\"fields\":\[\"$OUT_REMOTE\",\"file://$T/cache-farm\"\].*\"type\":108" \
                "D: fleet: Nix's actSubstitute activity names the farm's cache"
        is "$(status_get remote state)" ready "D: fleet: status file state=ready"
fi

diag "suite took $(elapsed_since "$SUITE_START") s"
tap_done
