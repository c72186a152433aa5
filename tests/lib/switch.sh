# shellcheck shell=bash
# NixOS-like system generations on the booted system (tests/lib/booted.sh), and a switch
# that does to units what NixOS's switch-to-configuration-ng does, in its order:
#   1. stop the active units whose file in /etc/systemd/system changes or goes away;
#   2. activation: /run/current-system and /etc point at the new system, then the
#      activation helper runs (as the NixOS module's activation script does);
#   3. `systemctl reset-failed`: every failed unit is forgotten;
#   4. `systemctl daemon-reload`: the generators run and see the new manifest;
#   5. start the units stopped in 1 that still exist (changed units are restarted);
#   6. start every active target except those with RefuseManualStart=yes, waiting for
#      every job, which also starts inactive units those targets want;
#   7. report units that failed within 250 ms, exiting 4 as switch-to-configuration does.
# Units that exist only in /run/systemd/generator are never compared, stopped or
# restarted by a switch: only deferred-builds' own logic can act on them.
#
#   system_build NIXEXPR-ARGS...   build a toplevel from tests/lib/system-fixtures/system.nix
#                                  (--arg models '{...}'), print its store path
#   system_switch TOPLEVEL         make it the newest system generation and switch to it
#   system_rollback                switch to the previous generation (nixos-rebuild --rollback)
#   system_delete_generations G... delete generations from the system profile
#
# SWITCH_SECONDS holds how long the last switch took; SWITCH_FAILED its failed units.

SWITCH_PROFILE=/nix/var/nix/profiles/system
SWITCH_SECONDS="" SWITCH_FAILED=""

system_build() {
        booted_sh nix-build --no-out-link --option substituters '' /opt/dbx-test/system.nix "$@" 2>>"$BOOTED_TMP/nix.log"
}

# The hash of each unit file in /etc/systemd/system, "NAME HASH" per line.
switch_etc_units() {
        booted_sh sh -c 'cd /etc/systemd/system 2>/dev/null || exit 0
                for f in *.service *.socket *.timer *.path *.mount *.target; do
                        [ -f "$f" ] || continue
                        printf "%s %s\n" "$f" "$(sha256sum <"$f" | cut -c1-16)"
                done' | sort
}

switch_to_configuration() { # TOPLEVEL [ETC_UNITS_DIR]
        local top=$1 new_units=${2:-} t0 before changed u h
        t0=$EPOCHREALTIME
        before=$(switch_etc_units)
        # 1. Stop what changes. New unit files come from the new system's etc/systemd/system.
        changed=""
        if [ -n "$new_units" ]; then
                while read -r u h; do
                        [ -n "$u" ] || continue
                        local nh
                        nh=$(booted_sh sh -c "[ -f '$new_units/$u' ] && sha256sum <'$new_units/$u' | cut -c1-16")
                        if [ "$nh" != "$h" ] && [ "$(booted_sh systemctl is-active "$u")" = active ]; then
                                changed="$changed $u"
                        fi
                done <<<"$before"
                # shellcheck disable=SC2086
                [ -n "$changed" ] && booted_sh systemctl stop $changed
        fi
        # 2. Activation.
        booted_sh ln -sfn "$top" /run/current-system
        booted_sh sh -c "mkdir -p /etc/deferred-builds && ln -sfn '$top/deferred-builds/manifest.ini' /etc/deferred-builds/manifest.ini.tmp && mv -T /etc/deferred-builds/manifest.ini.tmp /etc/deferred-builds/manifest.ini"
        [ -n "$new_units" ] && booted_sh sh -c "cp '$new_units'/* /etc/systemd/system/"
        booted_sh /usr/libexec/deferred-builds/deferred-builds-activate --system-config "$top" || true
        # 3.-4.
        booted_sh systemctl reset-failed
        booted_sh systemctl daemon-reload
        # 5. Restart the changed units.
        # shellcheck disable=SC2086
        [ -n "$changed" ] && booted_sh systemctl start $changed
        # 6. Start every active target that allows it, blocking on every job.
        local targets="" t
        for t in $(booted_sh systemctl list-units --type=target --state=active --plain --no-legend | awk '{ print $1 }'); do
                [ "$(booted_prop "$t" RefuseManualStart)" = yes ] || targets="$targets $t"
        done
        # shellcheck disable=SC2086
        booted_sh systemctl start $targets
        # 7. What failed right after.
        sleep 0.25
        SWITCH_FAILED=$(booted_sh systemctl list-units --state=failed --plain --no-legend | awk '{ print $1 }' | tr '\n' ' ')
        SWITCH_SECONDS=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
        [ -z "$SWITCH_FAILED" ] || return 4
}

system_switch() { # TOPLEVEL [ETC_UNITS_DIR]
        booted_sh nix-env -p "$SWITCH_PROFILE" --set "$1" >/dev/null 2>&1 || return 1
        switch_to_configuration "$@"
}

system_rollback() {
        booted_sh nix-env -p "$SWITCH_PROFILE" --rollback >/dev/null 2>&1 || return 1
        switch_to_configuration "$(booted_sh readlink -f "$SWITCH_PROFILE")"
}

system_delete_generations() {
        booted_sh nix-env -p "$SWITCH_PROFILE" --delete-generations "$@" >/dev/null 2>&1
}
