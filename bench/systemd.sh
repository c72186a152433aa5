#!/usr/bin/env bash
# bench/systemd.sh: the benchmarks that need a real service manager, run by bench/run.sh
# (which sets BENCH_*, ABS_BUILD, MODEL_DRV, MODEL_OUT, BENCH_NIX_OK). A systemd 252 user
# manager in private mount and PID namespaces (tests/lib/harness.sh): nothing leaks to the
# host, and every process started here dies with the namespace.
#
#   1. daemon-reload with 0, 100 and 1,000 models, every model trained and serving
#   2. `deferred-builds status` and `reconcile --dry-run` with 1,000 models
#   3. realise finished -> the model's server answers (dbx-serve), vs the server's own start
#   4. a deployment with a training of 10 s (quick) or 60 s (full), deferred vs eager
cd "$(dirname "$0")/.." || exit 1
. tests/lib/harness.sh
harness_enter "$@"
. bench/lib.sh
set -u

U=/run/user/0/systemd/user
CLI=$ABS_BUILD/deferred-builds
[ -x "$CLI" ] || CLI=
sc() { systemctl --user "$@"; }
write_manifest() { # write_manifest < text: replaced atomically, as a deployment does
        cat >"$DEFERRED_BUILDS_MANIFEST.tmp" && mv "$DEFERRED_BUILDS_MANIFEST.tmp" "$DEFERRED_BUILDS_MANIFEST"
}
count_active() { # count_active PATTERN
        sc list-units --state=active --no-legend --plain "$1" 2>/dev/null | wc -l
}
wait_count() { # wait_count PATTERN N TIMEOUT_S
        local end=$((SECONDS + $3))
        while [ $SECONDS -le $end ]; do
                [ "$(count_active "$1")" -ge "$2" ] && return 0
                sleep 0.2
        done
        return 1
}
wait_inactive() { # wait_inactive UNIT...
        local u
        for u in "$@"; do
                wait_for 60 sh -c "! systemctl --user is-active --quiet '$u'"
        done
}
# µs since the epoch of a unit's timestamp property (CLOCK_REALTIME, like $EPOCHREALTIME).
unit_usec() { # unit_usec UNIT PROPERTY
        local v
        v=$(sc show -P "$2" --timestamp=us+utc "$1")
        [ -n "$v" ] && date -u -d "${v% UTC}" +%s%6N
}

# reload ID: RUNS daemon-reloads (after one untimed), wall time to samples/ID and CPU time to
# samples/ID.cpu, in µs. CPU: the manager's own (/proc/PID/schedstat, ns) plus that of the
# processes it waited for, the generators (cutime + cstime of /proc/PID/stat, clock ticks).
reload() {
        local id=$1 i a b c0 c1 t0 t1 hz
        hz=$(getconf CLK_TCK)
        : >"$BENCH_WORK/samples/$id"
        : >"$BENCH_WORK/samples/$id.cpu"
        systemctl --user daemon-reload || return 1
        for ((i = 0; i < RUNS; i++)); do
                read -r a _ <"/proc/$HARNESS_MGR_PID/schedstat"
                c0=$(awk '{ print $16 + $17 }' "/proc/$HARNESS_MGR_PID/stat")
                t0=$EPOCHREALTIME
                systemctl --user daemon-reload || return 1
                t1=$EPOCHREALTIME
                read -r b _ <"/proc/$HARNESS_MGR_PID/schedstat"
                c1=$(awk '{ print $16 + $17 }' "/proc/$HARNESS_MGR_PID/stat")
                echo $((${t1/./} - ${t0/./})) >>"$BENCH_WORK/samples/$id"
                echo $(((b - a) / 1000 + (c1 - c0) * 1000000 / hz)) >>"$BENCH_WORK/samples/$id.cpu"
        done
}

# ---- 1. daemon-reload: 0, 100, 1,000 models --------------------------------------------
# Every model "trained" (its realise unit's ExecStart replaced by /bin/true through a
# bench-only drop-in in the manager's runtime unit directory) and served (/bin/sleep), so
# the manager holds 2 units per model, as in production once everything is trained.
mkdir -p "$U/deferred-realise@.service.d"
printf '[Service]\nExecStart=\nExecStart=/bin/true\n' >"$U/deferred-realise@.service.d/99-bench-trained.conf"
bench/make-inputs.sh manifest 0 | write_manifest
harness_start || exit 1
mkdir -p "$XDG_RUNTIME_DIR/deferred-builds/status"
for n in 0 100 1000; do
        bench/make-inputs.sh manifest "$n" /bin/sleep infinity | write_manifest
        sc daemon-reload
        # Status files as deferred-realise leaves them, so that `status` reads real ones.
        for ((i = 0; i < n; i++)); do
                printf -v m 'm%04d' "$i"
                printf 'state=ready\nmodel=%s\ndrv=/nix/store/00000000000000000000000000000000-m.drv\nout=\ngeneration=bench\nroot=\nstarted=1\nfinished=2\nprogress=1/1\nlast_line=\nerror=\nattempts=1\n' \
                        "$m" >"$XDG_RUNTIME_DIR/deferred-builds/status/$m"
        done
        if [ "$n" -gt 0 ]; then
                # Every server started directly (deferred-builds.target wants none of them:
                # reconcile starts each; its own logic is not what is measured here).
                for ((i = 0; i < n; i++)); do printf 'deferred-serve@m%04d.service\n' "$i"; done |
                        xargs -n 500 systemctl --user start --no-block
                wait_count 'deferred-serve@*' "$n" 600 || note "only $(count_active 'deferred-serve@*') of $n servers started"
        fi
        record "reload.units.$n" "$(sc list-units --all --no-legend --plain 'deferred-*' | wc -l)"
        note "daemon-reload with $n models ($(count_active 'deferred-serve@*') serving; $RUNS runs)"
        reload "reload-$n" && record "reload.$n" "$(med "reload-$n")" && record "reload.cpu.$n" "$(med "reload-$n.cpu")"
        [ "$(count_active 'deferred-serve@*')" -ge "$n" ] || note "servers stopped during the reloads"
        if [ "$n" -eq 0 ]; then
                # Control: 200 plain services (one unit file each, /bin/sleep), as many units as
                # 100 models have, to tell systemd's own cost per unit from ours.
                mkdir -p "$U/bench-ctl.target.wants"
                printf '[Unit]\nDescription=bench control\n' >"$U/bench-ctl.target"
                for ((i = 0; i < 200; i++)); do
                        printf '[Service]\nExecStart=/bin/sleep infinity\n' >"$U/bench-ctl-$i.service"
                        ln -s "../bench-ctl-$i.service" "$U/bench-ctl.target.wants/"
                done
                sc daemon-reload
                sc start --no-block bench-ctl.target
                wait_count 'bench-ctl-*' 200 300 || note "only $(count_active 'bench-ctl-*') control units started"
                note "daemon-reload with 200 plain units, no models ($RUNS runs)"
                reload reload-ctl && record reload.ctl200 "$(med reload-ctl)" && record reload.cpu.ctl200 "$(med reload-ctl.cpu)"
                sc stop --no-block bench-ctl.target
                for ((i = 0; i < 200; i++)); do echo "bench-ctl-$i.service"; done | xargs systemctl --user stop
                rm -rf "$U"/bench-ctl*
                sc daemon-reload
        fi
done

# ---- 2. the CLI with 1,000 models -----------------------------------------------------
if [ -n "$CLI" ]; then
        note "deferred-builds status / reconcile --dry-run, 1,000 models ($RUNS runs, interleaved)"
        interleave "$RUNS" "" \
                cli-status "$CLI --user status" \
                cli-reconcile "$CLI --user reconcile --dry-run" \
                cli-true "/bin/true" &&
                for k in status reconcile true; do record "cli.$k" "$(med "cli-$k")"; done
        cpu_pass "$RUNS" "" \
                cli-status "$CLI --user status" \
                cli-reconcile "$CLI --user reconcile --dry-run" \
                cli-true "/bin/true" &&
                for k in status reconcile true; do record "cli.cpu.$k" "$(med "cli-$k.cpu")"; done
        "$CLI" --user status >"$BENCH_WORK/cli-status.txt" 2>&1
        record cli.status_lines "$(grep -c 'm[0-9][0-9][0-9][0-9]' "$BENCH_WORK/cli-status.txt")"
        if command -v strace >/dev/null; then
                strace -f -c -o "$BENCH_WORK/strace-cli-status.txt" "$CLI" --user status >/dev/null 2>&1
                strace -f -c -o "$BENCH_WORK/strace-cli-reconcile.txt" "$CLI" --user reconcile --dry-run >/dev/null 2>&1
        fi
else
        record cli.skipped "build/deferred-builds not built"
fi
# --no-block and in batches: a blocking stop of 2,000 units makes systemctl itself take
# minutes (it tracks every job).
sc list-units --all --no-legend --plain 'deferred-serve@*' 'deferred-realise@*' | awk '{ print $1 }' |
        xargs -r -n 500 systemctl --user stop --no-block
end=$((SECONDS + 300))
while [ $SECONDS -le $end ] && [ "$(count_active 'deferred-*@*')" -gt 0 ]; do sleep 0.5; done
bench/make-inputs.sh manifest 0 | write_manifest
rm -f "$U/deferred-realise@.service.d/99-bench-trained.conf"
rm -rf "$XDG_RUNTIME_DIR/deferred-builds/status"
sc daemon-reload

[ -n "${BENCH_NIX_OK:-}" ] || {
        record serve.skipped "no nix-daemon"
        record deploy.skipped "no nix-daemon"
        exit 0
}
if [ ! -x "$ABS_BUILD/deferred-realise" ]; then
        record serve.skipped "build/deferred-realise not built"
        record deploy.skipped "build/deferred-realise not built"
        exit 0
fi

# A server: dbx-serve when built, else a bash one-liner behind socat (said in the table).
SERVE=$ABS_BUILD/examples/dbx-serve
if [ -x "$SERVE" ]; then
        record serve.server dbx-serve
        serve_args() { printf 'exec = %s\narg = --listen\narg = 127.0.0.1:%s\n' "$SERVE" "$1"; }
        serve_direct() { "$SERVE" --listen "127.0.0.1:$1" --model "$MODEL_OUT"; }
else
        record serve.server "socat + bash (dbx-serve not built)"
        serve_args() {
                printf 'exec = %s\narg = TCP-LISTEN:%s,bind=127.0.0.1,reuseaddr,fork\narg = SYSTEM:printf "HTTP/1.0 200 OK\\r\\n\\r\\nok"\n' \
                        "$(command -v socat)" "$1"
        }
        serve_direct() { socat "TCP-LISTEN:$1,bind=127.0.0.1,reuseaddr,fork" SYSTEM:'printf "HTTP/1.0 200 OK\r\n\r\nok"'; }
fi
# "substituters =" (none): this machine has no network, and a build that first asks an
# unreachable binary cache waits about 4 s for it; the eager build below passes the same.
model_section() { # model_section NAME DRV PORT
        printf '[model.%s]\ndrv = %s\nsubstituters =\n' "$1" "$2"
        serve_args "$3"
}

# ---- 3. realise finished -> serve answers ----------------------------------------------
PORT=18431
: >"$BENCH_WORK/samples/serve-own"
: >"$BENCH_WORK/samples/serve-after-realise"
note "server's own start, $RUNS runs"
for ((i = 0; i < RUNS; i++)); do
        t0=$EPOCHREALTIME
        serve_direct $((PORT + 1)) >/dev/null 2>&1 &
        pid=$!
        t1=$(poll_http 127.0.0.1 $((PORT + 1)) /healthz 20)
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        [ -n "$t1" ] && echo $((t1 - ${t0/./})) >>"$BENCH_WORK/samples/serve-own"
done
record serve.own "$(med serve-own)"

{
        printf '[deferred-builds]\nversion = 1\ngeneration = bench\n'
        model_section srv "$MODEL_DRV" "$PORT"
} | write_manifest
sc daemon-reload
note "realise finished -> serve answers, $RUNS runs"
for ((i = 0; i < RUNS; i++)); do
        sc stop deferred-serve@srv.service deferred-realise@srv.service
        sc reset-failed deferred-serve@srv.service deferred-realise@srv.service 2>/dev/null
        poll_http 127.0.0.1 "$PORT" /healthz 60 >"$BENCH_WORK/answer" &
        poller=$!
        sc start --no-block deferred-serve@srv.service
        wait "$poller"
        ans=$(cat "$BENCH_WORK/answer")
        done_us=$(unit_usec deferred-realise@srv.service ActiveEnterTimestamp)
        if [ -n "$ans" ] && [ -n "$done_us" ]; then
                echo $((ans - done_us)) >>"$BENCH_WORK/samples/serve-after-realise"
        else
                note "run $i: no answer or no realise timestamp ($(sc is-active deferred-realise@srv.service))"
        fi
done
record serve.after_realise "$(med serve-after-realise)"
record serve.runs "$(wc -l <"$BENCH_WORK/samples/serve-after-realise")"
sc stop deferred-serve@srv.service deferred-realise@srv.service

# ---- 4. deployment: deferred vs eager ----------------------------------------------------
if [ "$BENCH" = full ]; then TRAIN=60; else TRAIN=10; fi
record deploy.train_s "$TRAIN"
if [ -n "$CLI" ]; then
        RECONCILE="$CLI --user reconcile"
        record deploy.reconcile "deferred-builds --user reconcile"
else
        RECONCILE='systemctl --user start --no-block "deferred-serve@$1.service"'
        record deploy.reconcile "systemctl --user start --no-block deferred-serve@NAME.service (CLI not built)"
fi
deploy() { # deploy NAME DRV PORT: the switch itself (manifest, reload, reconcile)
        local a b c
        {
                printf '[deferred-builds]\nversion = 1\ngeneration = dep-%s\n' "$1"
                model_section "$1" "$2" "$3"
        } | write_manifest
        a=$EPOCHREALTIME
        systemctl --user daemon-reload || return 1
        b=$EPOCHREALTIME
        eval "$RECONCILE" >/dev/null || return 1
        c=$EPOCHREALTIME
        echo $((${b/./} - ${a/./})) >>"$BENCH_WORK/samples/deploy-reload"
        echo $((${c/./} - ${b/./})) >>"$BENCH_WORK/samples/deploy-reconcile"
}
salt=$(date +%s)-$$
: >"$BENCH_WORK/samples/deploy-deferred"
: >"$BENCH_WORK/samples/deploy-reload"
: >"$BENCH_WORK/samples/deploy-reconcile"
# Builds of this benchmark still in nix-daemon (cancelled ones end at their next log line):
# their output's .lock file exists until then. nix-daemon builds one at a time by default.
wait_builds_gone() {
        local end=$((SECONDS + 180))
        while [ $SECONDS -le $end ] && compgen -G "/nix/store/*-bench-model-dep-$salt-*.lock" >/dev/null; do
                sleep 0.5
        done
}
note "deferred deployment with a ${TRAIN} s training, $RUNS runs (the first followed until it serves, the others cancelled)"
for ((i = 1; i <= RUNS; i++)); do
        name=d$i
        drv=$(instantiate "dep-$salt-$i" "$TRAIN")
        t0=$EPOCHREALTIME
        deploy "$name" "$drv" $((PORT + 10 + i))
        t1=$EPOCHREALTIME
        echo $((${t1/./} - ${t0/./})) >>"$BENCH_WORK/samples/deploy-deferred"
        if [ "$i" -gt 1 ]; then
                # Not waited for: stopping the realise unit cancels the build in nix-daemon.
                sc stop "deferred-serve@$name.service" "deferred-realise@$name.service" 2>/dev/null
        else
                t2=$(poll_http 127.0.0.1 $((PORT + 10 + i)) /healthz $((TRAIN + 300)))
                [ -n "$t2" ] && record deploy.deferred_serving $((t2 - ${t0/./}))
                t3=$(unit_usec "deferred-realise@$name.service" InactiveExitTimestamp)
                t4=$(unit_usec "deferred-realise@$name.service" ActiveEnterTimestamp)
                [ -n "$t3" ] && [ -n "$t4" ] && record deploy.deferred_realise_start $((t3 - ${t0/./})) &&
                        record deploy.deferred_trained $((t4 - ${t0/./}))
                record deploy.deferred_realise_state "$(sc is-active "deferred-realise@$name.service")"
                sc stop "deferred-serve@$name.service" "deferred-realise@$name.service"
        fi
done
record deploy.deferred "$(med deploy-deferred)"
record deploy.deferred_reload "$(med deploy-reload)"
record deploy.deferred_reconcile "$(med deploy-reconcile)"

note "eager deployment with a ${TRAIN} s training (1 run: the model is built before the switch)"
name=eager
drv=$(instantiate "dep-$salt-eager" "$TRAIN")
wait_builds_gone
t0=$EPOCHREALTIME
nix-store --realise "$drv" --add-root "$HARNESS_TMP/eager-root" --option substituters '' >/dev/null 2>>"$BENCH_WORK/log"
deploy "$name" "$drv" $((PORT + 9))
t1=$EPOCHREALTIME
t2=$(poll_http 127.0.0.1 $((PORT + 9)) /healthz 120)
record deploy.eager $((${t1/./} - ${t0/./}))
[ -n "$t2" ] && record deploy.eager_serving $((t2 - ${t0/./}))
sc stop "deferred-serve@$name.service" "deferred-realise@$name.service"
exit 0
