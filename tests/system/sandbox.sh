#!/usr/bin/env bash
# The system-scope sandbox really applied on a booted system: realise runs as the static
# deferred-builds user, each server as its own dynamic user, a real interpreter (Debian's
# python3) serves under the default serve sandbox, and a probe that does at start what ML
# runtimes do gets exactly the results docs/sandbox.md lists. systemd-analyze security of
# the installed units, inside the booted system.
#
#   tests/system/sandbox.sh [SCENARIO...]
cd "$(dirname "$0")/../.." || exit 1
TOP=$PWD
. tests/lib/tap.sh
. tests/lib/system.sh

scenario_users() {
        local top uid
        top=$(system_build --arg models '{ linreg = { id = "U"; port = 8110; epochs = 2; epochSeconds = 1; }; }')
        system_switch "$top"
        wait_state 10 deferred-realise@linreg.service activating
        uid=$(main_uid deferred-realise@linreg.service)
        is "$uid" "$(booted_sh id -u deferred-builds)" "realise runs as the static deferred-builds user"
        wait_predict 60 8110 U
        tap_result $? "the model is served"
        uid=$(main_uid deferred-serve@linreg.service)
        [ -n "$uid" ] && [ "$uid" -ge 61184 ] && [ "$uid" -le 65519 ]
        tap_result $? "the server runs as a dynamic user (uid $uid)"
        is "$(booted_prop deferred-serve@linreg.service User)" dserve-linreg "named dserve-linreg"
        not_ok_expected "the server's user cannot remove the GC roots" \
                booted_sh setpriv --reuid="$uid" --regid="$uid" --clear-groups \
                sh -c "rm -rf /var/lib/deferred-builds/roots/*/linreg"
        ok "the root is still there" booted_sh sh -c "test -L /var/lib/deferred-builds/roots/*/linreg"
}

scenario_python_server() {
        local top
        top=$(system_build --arg models '{ linreg = { id = "P"; port = 8111; epochs = 1; server = "python"; }; }')
        system_switch "$top"
        wait_predict 60 8111 P
        tap_result $? "Debian's python3 serves the model under the default serve sandbox"
        like "$(booted_sh deferred-builds logs -n 50 linreg)" "serve.py: model P from /nix/store/" "its log is in the journal"
}

# The documented table: "| check | strict | ml | gpu | ... |" rows of docs/sandbox.md.
CHECKS="model cpuinfo wx-memory affinity netlink cache proc-driver state setuid-self setuid-other"
documented() { # CHECK [PROFILE] -> ok|denied
        local col
        case ${2:-strict} in strict) col=3 ;; ml) col=4 ;; gpu) col=5 ;; esac
        awk -F'|' -v c="\`$1\`" -v col="$col" '{ gsub(/ /, "", $2); gsub(/ /, "", $col) } $2 == c { print $col; exit }' \
                "$TOP/docs/sandbox.md"
}

# probe_lines UNIT: the probe's PROBE lines of its latest start, once it printed them all.
probe_lines() {
        booted_wait 20 sh -c "journalctl -q -u $1 | grep -q 'PROBE user'"
        booted_sh journalctl -q -o cat -u "$1" | grep '^PROBE ' | awk '$2 == "model" { n = "" } { n = n $0 "\n" } END { printf "%s", n }'
}

# probe_matches_table LINES PROFILE: every check's result is the table's for PROFILE.
probe_matches_table() {
        local check got want
        for check in $CHECKS; do
                got=$(printf '%s\n' "$1" | awk -v c="$check" '$2 == c { print $3; exit }')
                want=$(documented "$check" "$2")
                [ -n "$want" ] || want="(not in docs/sandbox.md)"
                is "$got" "$want" "$2, $check: $(printf '%s\n' "$1" | awk -v c="$check" '$2 == c { $1 = $2 = ""; print; exit }')"
        done
}

scenario_ml_runtime_probe() {
        local top lines check got want
        top=$(system_build --arg models '{ probe = { id = "Q"; port = 8112; epochs = 1; server = "probe"; }; }')
        system_switch "$top"
        wait_state 60 deferred-serve@probe.service active
        tap_result $? "the probe runs as a server"
        lines=$(probe_lines deferred-serve@probe.service)
        probe_matches_table "$lines" strict
}

# The relaxation docs/sandbox.md shows, as a drop-in: every check of the table then passes.
scenario_ml_runtime_probe_relaxed() {
        local top lines check
        booted_sh mkdir -p /etc/systemd/system/deferred-serve@probe.service.d
        awk '/^```ini$/ { p = 1; next } /^```$/ { p = 0 } p' "$TOP/docs/sandbox.md" |
                booted_sh sh -c 'cat >/etc/systemd/system/deferred-serve@probe.service.d/50-ml-runtime.conf'
        like "$(booted_sh cat /etc/systemd/system/deferred-serve@probe.service.d/50-ml-runtime.conf)" '^\[Service\]' \
                "docs/sandbox.md has the drop-in"
        top=$(system_build --arg models '{ probe = { id = "Q"; port = 8112; epochs = 1; server = "probe"; }; }')
        system_switch "$top"
        wait_state 60 deferred-serve@probe.service active
        booted_wait 10 sh -c 'journalctl -q -u deferred-serve@probe.service | grep -q "PROBE user"'
        lines=$(booted_sh journalctl -q -o cat -u deferred-serve@probe.service | grep '^PROBE ')
        for check in model cpuinfo wx-memory affinity netlink cache proc-driver; do
                is "$(printf '%s\n' "$lines" | awk -v c="$check" '$2 == c { print $3; exit }')" ok \
                        "relaxed, $check: $(printf '%s\n' "$lines" | awk -v c="$check" '$2 == c { $1 = $2 = ""; print; exit }')"
        done
        # It has a cache but no home: the one row docs/sandbox.md says it leaves denied.
        is "$(printf '%s\n' "$lines" | awk '$2 == "state" { print $3; exit }')" denied "relaxed, state: still denied"
}

# has_words LIST WORD...: every WORD is a word of LIST.
has_words() {
        local list=" $1 " w
        shift
        for w in "$@"; do [[ $list == *" $w "* ]] || return 1; done
}
has_none() {
        local list=" $1 " w
        shift
        for w in "$@"; do [[ $list == *" $w "* ]] && return 1; done
        return 0
}

# The ml profile: the probe passes every row, and systemd's own view of the unit (not the
# file) shows what the profile opened, added to the strict lists rather than replacing them.
scenario_ml_profile() {
        local top u=deferred-serve@probe.service lines f pid
        top=$(system_build --arg models '{ probe = { id = "M"; port = 8114; epochs = 1; server = "probe"; sandbox = "ml";
                serviceConfig = { LimitNOFILE = "4096:8192"; Nice = 5; }; }; }')
        system_switch "$top"
        wait_state 60 "$u" active
        tap_result $? "ml: the probe runs as a server"
        lines=$(probe_lines "$u")
        probe_matches_table "$lines" ml
        is "$(booted_prop "$u" ProcSubset)" all "ml: ProcSubset=all"
        is "$(booted_prop "$u" MemoryDenyWriteExecute)" no "ml: MemoryDenyWriteExecute=no"
        f=$(booted_prop "$u" SystemCallFilter)
        has_words "$f" sched_setaffinity setpriority setrlimit read write
        tap_result $? "ml: the system-call allow-list has @resources and still the service set"
        has_none "$f" mount reboot kexec_load init_module
        tap_result $? "ml: and still no @privileged call (mount, reboot, kexec_load, init_module)"
        has_words "$(booted_prop "$u" RestrictAddressFamilies)" AF_UNIX AF_INET AF_INET6 AF_NETLINK
        tap_result $? "ml: AF_NETLINK added to AF_UNIX AF_INET AF_INET6"
        like "$(booted_prop "$u" Environment)" "HOME=/var/lib/deferred-serve/probe XDG_CACHE_HOME=/var/cache/deferred-serve/probe" \
                "ml: HOME and XDG_CACHE_HOME are the server's state and cache directories"
        # The passed-through settings, as the running process has them.
        pid=$(booted_prop "$u" MainPID)
        like "$(booted_sh cat "/proc/$pid/limits")" "Max open files +4096 +8192 +files" "ml: service = LimitNOFILE=4096:8192 applies"
        is "$(booted_sh awk '{ print $19 }' "/proc/$pid/stat")" 5 "ml: service = Nice=5 applies"
}

scenario_gpu_profile() {
        local top u=deferred-serve@probe.service lines da c
        top=$(system_build --arg models '{ probe = { id = "G"; port = 8115; epochs = 1; server = "probe"; sandbox = "gpu"; }; }')
        system_switch "$top"
        wait_state 60 "$u" active
        tap_result $? "gpu: the probe starts on a machine without NVIDIA devices"
        lines=$(probe_lines "$u")
        probe_matches_table "$lines" gpu
        is "$(booted_prop "$u" PrivateDevices)" no "gpu: PrivateDevices=no"
        is "$(booted_prop "$u" DevicePolicy)" closed "gpu: DevicePolicy=closed"
        # (systemd adds "char-rtc r" itself, for ProtectClock=.)
        da=$(booted_prop "$u" DeviceAllow)
        for c in char-nvidiactl char-nvidia-frontend char-nvidia-uvm char-nvidia-caps; do
                printf '%s\n' "$da" | grep -qx "$c rw"
                tap_result $? "gpu: DeviceAllow= has $c rw" "$da"
        done
        is "$(booted_prop "$u" ProcSubset)" all "gpu: /proc/driver is visible (ProcSubset=all)"
}

# A home that survives restarts, with a dynamic user and with a named one.
scenario_state_directories() {
        local top lines m
        booted_sh useradd --system --no-create-home --home-dir /nonexistent dbx-srv
        top=$(system_build --arg models '{
                dyn = { id = "D"; port = 8116; epochs = 1; server = "probe"; sandbox = "ml"; };
                named = { id = "N"; port = 8117; epochs = 1; server = "probe"; sandbox = "ml"; user = "dbx-srv"; }; }')
        system_switch "$top"
        for m in dyn named; do
                wait_state 60 "deferred-serve@$m.service" active
                lines=$(probe_lines "deferred-serve@$m.service")
                like "$lines" "PROBE state ok starts=1 home=/var/lib/deferred-serve/$m" "$m: the server writes to its home"
                booted_sh systemctl restart "deferred-serve@$m.service"
                booted_wait 20 sh -c "journalctl -q -u deferred-serve@$m.service | grep -q 'starts=2'"
                tap_result $? "$m: what it wrote survives a restart (starts=2)"
        done
        is "$(booted_sh stat -c %u /var/lib/private/deferred-serve/dyn /var/cache/private/deferred-serve/dyn)" \
                "$(main_uid deferred-serve@dyn.service)
$(main_uid deferred-serve@dyn.service)" "dyn: below /var/lib/private and /var/cache/private, owned by the dynamic user"
        like "$(booted_sh stat -c '%U' /var/lib/deferred-serve/named /var/cache/deferred-serve/named)" "^dbx-srv
dbx-srv$" "named: the state and cache directories belong to the named user"
}

# Secrets by path reach the server, and are in neither the manifest, the store, nor the
# unit's Environment=.
scenario_secrets() {
        local top u=deferred-serve@probe.service secret envsecret lines want s
        secret="cred-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
        envsecret="env-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
        booted_sh sh -c "umask 077; mkdir -p /run/secrets; printf %s '$secret' >/run/secrets/token;
                printf 'DBX_SECRET=%s\n' '$envsecret' >/run/secrets/probe.env"
        top=$(system_build --arg models '{ probe = { id = "K"; port = 8118; epochs = 1; server = "probe";
                credentials.token = "/run/secrets/token"; environmentFile = "/run/secrets/probe.env"; }; }')
        system_switch "$top"
        wait_state 60 "$u" active
        tap_result $? "secrets: the server starts with a credential and an environment file"
        lines=$(probe_lines "$u")
        want=$(printf %s "$secret" | sha256sum | cut -d' ' -f1)
        like "$lines" "PROBE secret-credential ok sha256=$want" 'secrets: $CREDENTIALS_DIRECTORY/token holds the secret'
        want=$(printf %s "$envsecret" | sha256sum | cut -d' ' -f1)
        like "$lines" "PROBE secret-env ok sha256=$want" "secrets: the environment file's DBX_SECRET reached the server"
        for s in "$secret" "$envsecret"; do
                not_ok_expected "secrets: ${s%%-*} is not in the manifest" booted_sh grep -qF "$s" "$top/deferred-builds/manifest.ini"
                not_ok_expected "secrets: ${s%%-*} is in no store path" booted_sh grep -rqF "$s" /nix/store
                unlike "$(booted_prop "$u" Environment)" "$s" "secrets: ${s%%-*} is not in systemctl show -p Environment"
                not_ok_expected "secrets: ${s%%-*} is not in the generated units" booted_sh grep -rqF "$s" /run/systemd/generator
        done
        like "$(booted_sh systemctl cat "$u")" "
LoadCredential=token:/run/secrets/token
EnvironmentFile=/run/secrets/probe.env" "secrets: the unit names the credential and the file by path"
}

# Nix's setrlimit for its stack: the realise unit starts with the soft limit Nix would
# ask for (the unit's system-call filter refuses the setrlimit call), so its nix-store
# has it without asking.
scenario_realise_stack() {
        local top pid limits main
        top=$(system_build --arg models '{ linreg = { id = "L"; port = 8119; epochs = 8; epochSeconds = 1; }; }')
        system_switch "$top"
        wait_state 10 deferred-realise@linreg.service activating
        booted_wait 20 sh -c 'for p in /proc/[0-9]*; do [ "$(cat $p/comm 2>/dev/null)" = nix-store ] && exit 0; done; exit 1'
        pid=$(booted_sh sh -c 'for p in /proc/[0-9]*; do [ "$(cat $p/comm 2>/dev/null)" = nix-store ] && echo ${p#/proc/} && break; done')
        main=$(booted_prop deferred-realise@linreg.service MainPID)
        like "$(booted_sh cat "/proc/$main/limits")" "Max stack size +67108864 +unlimited +bytes" \
                "realise: the unit starts deferred-realise with a 64 MiB stack soft limit (systemd's default: 8 MiB)"
        limits=$(booted_sh cat "/proc/$pid/limits")
        like "$limits" "Max stack size +67108864 +unlimited +bytes" "realise: nix-store runs with a 64 MiB stack soft limit"
        is "$(booted_sh awk '/^Uid:/ { print $2 }' "/proc/$pid/status")" "$(booted_sh id -u deferred-builds)" \
                "realise: that nix-store is the realise unit's (user deferred-builds)"
        is "$(booted_prop deferred-retrain@linreg.service LimitSTACKSoft)" 67108864 "retrain: LimitSTACK= the same"
}

scenario_security_exposure() {
        local top unit score
        top=$(system_build --arg models '{ linreg = { id = "S"; port = 8113; epochs = 1; };
                ml = { id = "S"; port = 8120; epochs = 1; sandbox = "ml"; };
                gpu = { id = "S"; port = 8121; epochs = 1; sandbox = "gpu"; }; }')
        system_switch "$top"
        wait_predict 60 8113 S
        wait_predict 60 8121 S
        for unit in deferred-realise@linreg.service deferred-serve@linreg.service deferred-retrain@linreg.service \
                deferred-serve@ml.service deferred-serve@gpu.service; do
                score=$(booted_sh systemd-analyze security --no-pager "$unit" | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p')
                awk -v s="$score" 'BEGIN { exit !(s != "" && s <= 2.0) }'
                tap_result $? "$unit: exposure ${score:-?} (at most 2.0) in the booted system"
        done
}

booted_scenarios \
        scenario_users \
        scenario_python_server \
        scenario_ml_runtime_probe \
        scenario_ml_runtime_probe_relaxed \
        scenario_ml_profile \
        scenario_gpu_profile \
        scenario_state_directories \
        scenario_secrets \
        scenario_realise_stack \
        scenario_security_exposure
