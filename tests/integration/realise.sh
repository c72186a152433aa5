#!/usr/bin/env bash
# deferred-realise end to end: real derivations built by the real nix-daemon, started as
# deferred-realise@NAME.service by a real systemd user manager (tests/lib/harness.sh).
# Every case asserts what the helper left behind: unit results and exit statuses, the
# StatusText systemd shows, GC roots, published links, the status file.
#
# One scenario each, from a fresh state (no model unit running or failed, no state or
# runtime file, the realise log empty):
#   training fast_path gc_root other_output build_fails timeout missing_drv root_occupied
#   daemon_unreachable daemon_appears stop swap swap_fails command_line
# The fixtures are instantiated, the manifest and test drop-ins written and the user
# manager started once. Run one alone (a nix-daemon must answer; tests/run starts one):
#   ABS_BUILD=$PWD/build/san tests/integration/realise.sh NAME    (or scenario_NAME)
set -u
: "${TOP:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$TOP/tests/lib/tap.sh"
. "$TOP/tests/lib/harness.sh"
. "$TOP/tests/lib/nixd.sh"
harness_enter "$@"

nixd_require "deferred-realise integration"
tap_require_built deferred-realise deferred-builds-generator

FIXTURE="$TOP/tests/integration/fixtures/realise.nix"
NONCE="$(date +%s%N)-$$"
GEN="rtest-$NONCE"
STATE="$DEFERRED_BUILDS_STATE_DIR"
RUNTIME="$XDG_RUNTIME_DIR/deferred-builds"
UNITDIR=/run/user/0/systemd/user
# Every realise unit appends its output here; each scenario starts it empty, and what
# earlier scenarios wrote is kept in REALISE_LOG_ALL for the log at the end.
REALISE_LOG="$HARNESS_TMP/realise.log"
REALISE_LOG_ALL="$HARNESS_TMP/realise-all.log"
SOCK="$HARNESS_TMP/daemon.sock"
export DEFERRED_BUILDS_SCOPE=user

# fixture VAR NAME [ATTR = VALUE;]...: adds FIXTURE's derivation NAME (nonce NONCE unless
# an ATTR says otherwise) to those instantiate_fixtures makes; VAR gets its .drv path.
FIXTURE_VARS=() FIXTURE_ARGS=()
fixture() {
        FIXTURE_VARS+=("$1")
        FIXTURE_ARGS+=("({ name = \"$2\"; nonce = \"$NONCE\"; } // { ${*:3} })")
}
# instantiate_fixtures: one nix-instantiate for every fixture (one evaluation, not one
# each). Each .drv is rooted (below HARNESS_TMP, so the roots go with it) while the suite
# runs: a `nix-store --gc` run by anything else on this store must not take a fixture
# away under a test. Nix names the roots ROOT, ROOT-2, ROOT-3... in the list's order.
instantiate_fixtures() {
        local root="$HARNESS_TMP/drv-roots/fixture-$NONCE" i
        mkdir -p "$HARNESS_TMP/drv-roots"
        nix-instantiate -E "map (import \"$FIXTURE\") [ ${FIXTURE_ARGS[*]} ]" --add-root "$root" >/dev/null 2>&1
        for i in "${!FIXTURE_VARS[@]}"; do
                printf -v "${FIXTURE_VARS[i]}" '%s' "$(readlink "$root$([ "$i" -gt 0 ] && echo "-$((i + 1))")")"
        done
}

# model NAME DRV [OUT] [OUTPUT] [EXTRA LINE]: one manifest section
model() {
        printf '\n[model.%s]\ndrv = %s\n' "$1" "$2"
        [ -n "${3:-}" ] && printf 'out = %s\n' "$3"
        [ -n "${4:-}" ] && printf 'output = %s\n' "$4"
        [ -n "${5:-}" ] && printf '%s\n' "$5"
        # No binary cache: nothing here may wait on an unreachable one.
        printf 'substituters =\nexec = /bin/sleep\narg = infinity\n'
}
header() { printf '[deferred-builds]\nversion = 1\ngeneration = %s\n' "$1"; }

# dropin UNIT LINES...: a test-only drop-in for one unit
dropin() {
        local unit=$1
        shift
        mkdir -p "$UNITDIR/$unit.d"
        # Template and instance drop-ins need different names: the instance's would hide the other.
        local name=90-test.conf
        case "$unit" in *@.service) ;; *) name=91-test.conf ;; esac
        printf '%s\n' "[Service]" "$@" >"$UNITDIR/$unit.d/$name"
}

prop() { unit_prop "deferred-realise@$1.service" "$2"; }
statusfield() { sed -n "s/^$2=//p" "$RUNTIME/status/$1" 2>/dev/null; }
ms_now() { date +%s%3N; }

# --------------------------------------------------------------------------------------
diag "instantiating fixtures (nonce $NONCE)"
fixture DRV_ALPHA alpha 'epochs = 4; pause = "1";'
fixture DRV_FAST fast
fixture DRV_KEPT kept
fixture DRV_CONTROL control
fixture DRV_BROKEN broken 'epochs = 1; pause = "0"; fail = true;'
fixture DRV_OTHER other 'output = "model";'
fixture DRV_NODAEMON nodaemon
fixture DRV_LATE late
fixture DRV_BLOCKED blocked
fixture DRV_LONG long 'epochs = 1; pause = "60";'
fixture DRV_SLOW slow 'epochs = 1; pause = "60";'
# The swap scenarios' model: served from SERVED, then swapped to SERVED2 or (failing) SERVED3.
fixture DRV_SERVED served
fixture DRV_SERVED2 served "nonce = \"$NONCE-2\";"
fixture DRV_SERVED3 served "nonce = \"$NONCE-3\"; fail = true;"
instantiate_fixtures
DRV_GHOST="/nix/store/00000000000000000000000000000000-deferred-test-ghost-$NONCE.drv"
ok "fixtures instantiated" test -e "$DRV_ALPHA" -a -e "$DRV_BROKEN" -a -e "$DRV_OTHER" -a -e "$DRV_LONG" \
        -a -e "$DRV_FAST" -a -e "$DRV_KEPT" -a -e "$DRV_CONTROL" -a -e "$DRV_NODAEMON" -a -e "$DRV_LATE" \
        -a -e "$DRV_BLOCKED" -a -e "$DRV_SLOW" -a -e "$DRV_SERVED" -a -e "$DRV_SERVED2" -a -e "$DRV_SERVED3"
# One query for every output the assertions name, printed in the order asked.
{ read -r OUT_ALPHA; read -r OUT_FAST; read -r OUT_KEPT; read -r OUT_OTHER; read -r OUT_LATE; read -r OUT_SERVED; read -r OUT_SERVED2; } < <(
        nix-store --query --outputs "$DRV_ALPHA" "$DRV_FAST" "$DRV_KEPT" "$DRV_OTHER" "$DRV_LATE" "$DRV_SERVED" "$DRV_SERVED2")

# The suite's manifest, generation GEN, is written once: no scenario changes it.
{
        header "$GEN"
        model alpha "$DRV_ALPHA" "$OUT_ALPHA"
        model fast "$DRV_FAST"
        model kept "$DRV_KEPT"
        model broken "$DRV_BROKEN"
        model ghost "$DRV_GHOST"
        model other "$DRV_OTHER" "" model
        model nodaemon "$DRV_NODAEMON"
        model late "$DRV_LATE"
        model blocked "$DRV_BLOCKED"
        model pointer "$DRV_BLOCKED"
        model long "$DRV_LONG"
        model slow "$DRV_SLOW" "" "" "timeout = 2"
        model served "$DRV_SERVED" "$OUT_SERVED"
} >"$DEFERRED_BUILDS_MANIFEST"
# fresh: a scenario's start: no model unit running or failed (start limits reset), no
# state or runtime file, the realise log empty.
fresh() {
        harness_fresh || tap_bail "the user manager settles between scenarios"
        cat "$REALISE_LOG" >>"$REALISE_LOG_ALL" 2>/dev/null
        : >"$REALISE_LOG"
}

# Keep every realise unit's output for the log; restart quickly so that "not restarted"
# below means prevented, not merely not yet due.
dropin "deferred-realise@.service" "StandardOutput=append:$REALISE_LOG" "StandardError=inherit" "RestartSec=1s"
# nodaemon: a socket nobody listens on, a 3 s retry budget, no restart by systemd.
dropin "deferred-realise@nodaemon.service" "Environment=NIX_REMOTE=unix:///nonexistent/socket" \
        "Environment=DEFERRED_BUILDS_RETRY_BUDGET=3" "Restart=no"
# late: a socket that appears only once the daemon_appears scenario forwards it.
dropin "deferred-realise@late.service" "Environment=NIX_REMOTE=unix://$SOCK" "Environment=DEFERRED_BUILDS_RETRY_BUDGET=60"
# Nothing but this suite starts units: reconcile (which would start every model) is masked.
mkdir -p "$XDG_CONFIG_HOME/systemd/user"
ln -sf /dev/null "$XDG_CONFIG_HOME/systemd/user/deferred-builds-reconcile.service"
harness_start || tap_bail "the user manager starts"

# --------------------------------------------------------------------------------------
scenario_training() {
        fresh
        diag "a training through the real manager: progress, GC root, published link, status"
        local texts=() st t end distinct started finished
        systemctl --user start --no-block deferred-realise@alpha.service
        end=$((SECONDS + 120))
        while [ "$SECONDS" -lt "$end" ]; do
                st=$(prop alpha ActiveState)
                t=$(prop alpha StatusText)
                if [ -n "$t" ] && { [ ${#texts[@]} -eq 0 ] || [ "${texts[-1]}" != "$t" ]; }; then texts+=("$t"); fi
                case "$st" in active | failed) break ;; esac
                sleep 0.1
        done
        is "$(prop alpha ActiveState)/$(prop alpha Result)" "active/success" "realise of alpha succeeds"
        distinct=$(printf '%s\n' "${texts[@]}" | grep -c '^training alpha: ')
        ok "StatusText changed during the training (${distinct} distinct training lines)" test "$distinct" -ge 3
        like "$(printf '%s\n' "${texts[@]}")" '^training alpha: 0/1 derivations built, [0-9]+s elapsed, last: epoch 1/4' \
                "StatusText shows the epoch lines of the build log"
        like "$(printf '%s\n' "${texts[@]}")" 'last: epoch 3/4' "StatusText followed the training to a later epoch"
        like "$(prop alpha StatusText)" "^ready alpha: $OUT_ALPHA\$" "final StatusText names the output"
        is "$(readlink "$STATE/roots/$GEN/alpha")" "$OUT_ALPHA" "GC root STATE/roots/GEN/alpha points at the output"
        ok "the output exists" test -f "$OUT_ALPHA"
        is "$(readlink "$RUNTIME/models/alpha")" "$STATE/roots/$GEN/alpha" "RUNTIME/models/alpha points at the root"
        is "$(statusfield alpha state)" "ready" "status file: state=ready"
        is "$(statusfield alpha out)" "$OUT_ALPHA" "status file: out is the output"
        is "$(statusfield alpha drv)" "$DRV_ALPHA" "status file: drv"
        is "$(statusfield alpha generation)/$(statusfield alpha root)" "$GEN/$STATE/roots/$GEN/alpha" \
                "status file: generation and root"
        is "$(statusfield alpha progress)" "1/1" "status file: progress 1/1"
        is "$(statusfield alpha last_line)" "epoch 4/4" "status file: last build log line"
        is "$(statusfield alpha attempts)" "1" "status file: first attempt"
        started=$(statusfield alpha started) finished=$(statusfield alpha finished)
        ok "status file: started <= finished, both wall-clock seconds" \
                test "$started" -gt 1600000000 -a "$finished" -ge "$started"
        like "$(cat "$REALISE_LOG" 2>/dev/null)" 'epoch 2/4' "build log lines reach the unit's output"
        unlike "$(cat "$REALISE_LOG" 2>/dev/null)" '@nix \{' "no raw internal-json in the unit's output"
}

# --------------------------------------------------------------------------------------
scenario_fast_path() {
        fresh
        diag "the fast path: an existing output, a deleted root"
        # A first run builds fast; three restarts follow, each after deleting the root: each
        # succeeds and makes the root again from the existing output. The helper's own run
        # time (exec to exit, as systemd saw it) is reported.
        systemctl --user start deferred-realise@fast.service
        is "$(prop fast Result)/$(readlink "$STATE/roots/$GEN/fast")" "success/$OUT_FAST" "fast is built and rooted"
        local runs=() i t0 t1 run_ms
        for i in 1 2 3; do
                rm -f "$STATE/roots/$GEN/fast"
                t0=$(ms_now)
                systemctl --user restart deferred-realise@fast.service
                t1=$(ms_now)
                run_ms=$((($(prop fast ExecMainExitTimestampMonotonic) - $(prop fast ExecMainStartTimestampMonotonic)) / 1000))
                runs+=("$run_ms")
                diag "restart $i: systemctl restart took $((t1 - t0)) ms, deferred-realise ran $run_ms ms"
                is "$(prop fast Result)/$(prop fast ExecMainStatus)" "success/0" "restart $i of an existing output succeeds"
                is "$(readlink "$STATE/roots/$GEN/fast")" "$OUT_FAST" "restart $i re-created the deleted root"
        done
        # How fast the fast path is is a benchmark (bench/run.sh, "realise (output exists)").
        diag "fast path: deferred-realise ran ${runs[*]} ms"
        is "$(statusfield fast attempts)" "4" "status file: attempts counts the runs"
        is "$(statusfield fast state)" "ready" "status file: still ready"
}

# --------------------------------------------------------------------------------------
scenario_gc_root() {
        fresh
        diag "GC: the rooted output is alive"
        systemctl --user start deferred-realise@kept.service
        is "$(readlink "$STATE/roots/$GEN/kept")" "$OUT_KEPT" "kept is built and its GC root points at the output"
        # A full `nix-store --gc` would also collect the unrooted fixtures of suites running
        # beside this one in the same store; deleting exactly our path runs the same root scan
        # and must refuse, and --print-dead computes the whole dead set without deleting.
        ok "the store has the output before GC" test -e "$OUT_KEPT"
        not_ok_expected "nix-store --delete refuses the rooted output" nix-store --delete "$OUT_KEPT"
        unlike "$(nix-store --gc --print-dead 2>/dev/null)" "$OUT_KEPT" "nix-store --gc --print-dead does not list it"
        ok "the output is still there" test -f "$OUT_KEPT"
        local ctrl_out
        ctrl_out=$(nix-store --realise "$DRV_CONTROL" --option substituters '' 2>/dev/null)
        ok "control: an unrooted output is deleted by the same command" nix-store --delete "$ctrl_out"
}

# --------------------------------------------------------------------------------------
scenario_other_output() {
        fresh
        diag "an output other than 'out' gets the same root name"
        systemctl --user start deferred-realise@other.service
        is "$(prop other Result)" "success" "realise of a derivation with output 'model' succeeds"
        is "$(readlink "$STATE/roots/$GEN/other")" "$OUT_OTHER" "its root is STATE/roots/GEN/other"
        is "$(find "$STATE/roots/$GEN" -maxdepth 1 -name '*other*' -printf '%f\n' | sort | tr '\n' ' ')" "other " \
                "no other-model or temporary root left beside it"
        not_ok_expected "the root protects it" nix-store --delete "$OUT_OTHER"
}

# --------------------------------------------------------------------------------------
scenario_build_fails() {
        fresh
        diag "a failing build: exit 65, failed, not restarted"
        systemctl --user start deferred-realise@broken.service 2>/dev/null
        is "$(prop broken ActiveState)/$(prop broken Result)/$(prop broken ExecMainStatus)" "failed/exit-code/65" \
                "failed build -> unit failed, Result=exit-code, ExecMainStatus=65"
        is "$(statusfield broken state)" "failed" "status file: state=failed"
        like "$(statusfield broken error)" "builder for '$DRV_BROKEN' failed with exit code 3" "status file: Nix's error"
        like "$(statusfield broken error)" 'training diverged: loss is nan' "status file: the last log line"
        like "$(prop broken StatusText)" '^failed broken: build of model broken failed' "StatusText says it failed"
        ok "no root for the failed model" test ! -e "$STATE/roots/$GEN/broken"
        sleep 3
        is "$(prop broken NRestarts)/$(prop broken ActiveState)" "0/failed" "not restarted (RestartSec=1s, 3 s later)"
}

# --------------------------------------------------------------------------------------
scenario_timeout() {
        fresh
        diag "per-model options reach Nix: timeout = 2 stops a 60 s training"
        local t0=$SECONDS
        systemctl --user start deferred-realise@slow.service 2>/dev/null
        ok "it ended within 30 s ($((SECONDS - t0)) s)" test $((SECONDS - t0)) -lt 30
        is "$(prop slow Result)/$(prop slow ExecMainStatus)" "exit-code/65" "a timeout is a build failure -> 65"
        like "$(statusfield slow error)" 'timed out after 2 seconds' "status file: Nix's timeout error"
}

# --------------------------------------------------------------------------------------
scenario_missing_drv() {
        fresh
        diag "a missing .drv: exit 69"
        systemctl --user start deferred-realise@ghost.service 2>/dev/null
        is "$(prop ghost Result)/$(prop ghost ExecMainStatus)" "exit-code/69" "missing .drv -> ExecMainStatus=69"
        like "$(statusfield ghost error)" "derivation $DRV_GHOST of model ghost is not in the store and no substituter has it: the manifest names no bundle" \
                "status file says the derivation is missing and why that may be"
        is "$(statusfield ghost state)" "failed" "status file: state=failed"
        sleep 1.5
        is "$(prop ghost NRestarts)" "0" "not restarted"
}

# --------------------------------------------------------------------------------------
scenario_root_occupied() {
        fresh
        diag "an occupied GC root path: exit 73, nothing touched"
        mkdir -p "$STATE/roots/$GEN"
        printf 'precious\n' >"$STATE/roots/$GEN/blocked"
        ln -s /etc/hostname "$STATE/roots/$GEN/pointer"
        systemctl --user start deferred-realise@blocked.service 2>/dev/null
        is "$(prop blocked Result)/$(prop blocked ExecMainStatus)" "exit-code/73" "regular file at the root path -> 73"
        is "$(cat "$STATE/roots/$GEN/blocked")" "precious" "the file is untouched"
        ok "and still a regular file" test -f "$STATE/roots/$GEN/blocked" -a ! -L "$STATE/roots/$GEN/blocked"
        like "$(statusfield blocked error)" "GC root path $STATE/roots/$GEN/blocked of model blocked is occupied by a regular file" \
                "status file names the path and what occupies it"
        systemctl --user start deferred-realise@pointer.service 2>/dev/null
        is "$(prop pointer ExecMainStatus)" "73" "symlink out of the store at the root path -> 73"
        is "$(readlink "$STATE/roots/$GEN/pointer")" "/etc/hostname" "the symlink is untouched"
}

# --------------------------------------------------------------------------------------
scenario_daemon_unreachable() {
        fresh
        diag "nix-daemon unreachable: in-process retries, then 75"
        local texts=() t t0
        systemctl --user start --no-block deferred-realise@nodaemon.service
        t0=$SECONDS
        while [ $((SECONDS - t0)) -lt 30 ]; do
                t=$(prop nodaemon StatusText)
                [ -n "$t" ] && texts+=("$t")
                case "$(prop nodaemon ActiveState)" in failed | active) break ;; esac
                sleep 0.1
        done
        is "$(prop nodaemon Result)/$(prop nodaemon ExecMainStatus)" "exit-code/75" "daemon unreachable -> 75 after the budget"
        like "$(printf '%s\n' "${texts[@]}" | sort -u)" '^waiting for nix-daemon, retry 1 in 1s: cannot connect to socket' \
                "StatusText: waiting for nix-daemon, retry 1 in 1s"
        like "$(printf '%s\n' "${texts[@]}" | sort -u)" '^waiting for nix-daemon, retry 2 in 2s' "StatusText: retry 2 in 2s"
        like "$(statusfield nodaemon error)" 'after 3 attempts in [0-9]+s \(retry budget 3s\): cannot connect to socket' \
                "status file: gave up after 3 attempts within the budget"
        like "$(systemctl --user show -P RestartPreventExitStatus deferred-realise@nodaemon.service)" '(^| )65( |$)' \
                "the shipped unit prevents restarts after 65"
        unlike "$(systemctl --user show -P RestartPreventExitStatus deferred-realise@nodaemon.service)" '(^| )75( |$)' \
                "and lets systemd retry after 75"
}

# --------------------------------------------------------------------------------------
late_waits() { prop late StatusText | grep -q '^waiting for nix-daemon, retry '; }
scenario_daemon_appears() {
        fresh
        diag "the daemon socket appears during the backoff: realise recovers"
        rm -f "$SOCK"
        systemctl --user start --no-block deferred-realise@late.service
        # The socket appears once realise has failed to reach it and waits to retry.
        ok "late waits for the daemon" wait_for 20 late_waits
        # A tiny forwarder from $SOCK to the real daemon socket (perl is in deps.sh; socat is not).
        perl -MIO::Socket::UNIX -MIO::Select -e '
                my ($path, $to) = @ARGV;
                my $srv = IO::Socket::UNIX->new(Type => SOCK_STREAM(), Local => $path, Listen => 16) or die "listen: $!";
                $SIG{CHLD} = "IGNORE";
                while (my $c = $srv->accept) {
                        next if fork;
                        my $d = IO::Socket::UNIX->new(Type => SOCK_STREAM(), Peer => $to) or exit 1;
                        my $sel = IO::Select->new($c, $d);
                        while (my @r = $sel->can_read) {
                                for my $s (@r) {
                                        my $n = sysread($s, my $buf, 65536);
                                        exit 0 unless $n;
                                        syswrite($s == $c ? $d : $c, $buf);
                                }
                        }
                        exit 0;
                }' "$SOCK" /nix/var/nix/daemon-socket/socket &
        local proxy_pid=$! texts=() t end
        end=$((SECONDS + 60))
        while [ "$SECONDS" -lt "$end" ]; do
                t=$(prop late StatusText)
                [ -n "$t" ] && texts+=("$t")
                case "$(prop late ActiveState)" in active | failed) break ;; esac
                sleep 0.1
        done
        kill "$proxy_pid" 2>/dev/null
        wait "$proxy_pid" 2>/dev/null
        is "$(prop late ActiveState)/$(prop late Result)" "active/success" "realise succeeds once the socket is there"
        like "$(printf '%s\n' "${texts[@]}" | sort -u)" '^waiting for nix-daemon, retry [0-9]+ in [0-9]+s' \
                "it waited for the daemon first"
        is "$(statusfield late state)" "ready" "status file: ready"
        is "$(readlink "$STATE/roots/$GEN/late")" "$OUT_LATE" "its root points at the output"
}

# --------------------------------------------------------------------------------------
scenario_stop() {
        fresh
        diag "stopping a training: nix-store is stopped, the unit stops cleanly"
        local t0 t1
        systemctl --user start --no-block deferred-realise@long.service
        ok "long is training" wait_for 30 sh -c "grep -q '^state=training' '$RUNTIME/status/long'"
        t0=$(ms_now)
        systemctl --user stop deferred-realise@long.service
        t1=$(ms_now)
        ok "stop took $((t1 - t0)) ms (< 5 s, the build had 60 s to go)" test $((t1 - t0)) -lt 5000
        is "$(prop long ActiveState)/$(prop long Result)" "inactive/success" "the unit stopped cleanly (died of SIGTERM)"
        like "$(statusfield long error)" '^stopped by SIGTERM before the build of .* finished; deferred-builds realise long resumes it$' "status file says why"
        is "$(statusfield long state)" "stopped" "status file: state=stopped, not failed"
        ok "no root for the stopped build" test ! -e "$STATE/roots/$GEN/long"
}

# --------------------------------------------------------------------------------------
# start_server: starts model served's server (its training first); SERVE_PID is its PID.
start_server() {
        systemctl --user start deferred-serve@served.service
        SERVE_PID=$(unit_prop deferred-serve@served.service MainPID)
        is "$(unit_prop deferred-serve@served.service ActiveState)" "active" "served is being served before the swap"
}
# swap_to GENERATION DRV [OUT]: runs `deferred-realise swap served` (what its retrain unit
# runs) with a new manifest of GENERATION, served built from DRV; the output goes to
# $HARNESS_TMP/swap-GENERATION.log. That manifest is a file of its own, so that the
# suite's stays what every scenario starts from.
swap_to() {
        local m="$HARNESS_TMP/manifest-$1.ini"
        {
                header "$1"
                model served "$2" "${3:-}"
        } >"$m"
        DEFERRED_BUILDS_MANIFEST="$m" DEFERRED_BUILDS_RUNTIME_DIR="$RUNTIME" \
                "$ABS_BUILD/deferred-realise" swap served >"$HARNESS_TMP/swap-$1.log" 2>&1
}

scenario_swap() {
        fresh
        diag "swap: a new derivation for served in a new generation, while it is served"
        start_server
        local gen2="$GEN-b"
        swap_to "$gen2" "$DRV_SERVED2" "$OUT_SERVED2"
        is "$?" "0" "deferred-realise swap served exits 0"
        is "$(readlink "$RUNTIME/models/served")" "$STATE/roots/$gen2/served" "RUNTIME/models/served now points at the new generation's root"
        is "$(readlink "$STATE/roots/$gen2/served")" "$OUT_SERVED2" "the new root points at the new output"
        is "$(readlink "$STATE/roots/$GEN/served")" "$OUT_SERVED" "the old root is kept"
        is "$(statusfield served out)/$(statusfield served generation)" "$OUT_SERVED2/$gen2" "status file: the new output and generation"
        is "$(unit_prop deferred-serve@served.service ActiveState)/$(unit_prop deferred-serve@served.service MainPID)" \
                "active/$SERVE_PID" "the old server kept serving through the swap (restarting it is the unit's ExecStartPost)"
        like "$(cat "$HARNESS_TMP/swap-$gen2.log")" "Model served swapped: .* the previous root $STATE/roots/$GEN/served is kept" \
                "swap says what it replaced"
}

scenario_swap_fails() {
        fresh
        diag "a swap whose build fails changes nothing for the server"
        start_server
        local gen3="$GEN-c"
        swap_to "$gen3" "$DRV_SERVED3"
        is "$?" "65" "the failed swap exits 65"
        is "$(readlink "$RUNTIME/models/served")" "$STATE/roots/$GEN/served" "RUNTIME/models/served still points at the served root"
        ok "no root in the failed generation's folder" test ! -e "$STATE/roots/$gen3/served"
        like "$(statusfield served error)" '^retraining failed, the previous model keeps serving: build of model served failed: builder for .* failed with exit code 3' \
                "status file: the error says the previous model keeps serving"
        is "$(statusfield served error | grep -o 'keeps serving' | wc -l)" 1 "status file: and says it once"
        is "$(unit_prop deferred-serve@served.service MainPID)" "$SERVE_PID" "the server was not touched"
}

# --------------------------------------------------------------------------------------
scenario_command_line() {
        fresh
        diag "command line"
        "$ABS_BUILD/deferred-realise" --help >"$HARNESS_TMP/help" 2>&1
        is "$?" "0" "--help exits 0"
        like "$(cat "$HARNESS_TMP/help")" 'Usage: deferred-realise \[--manifest FILE\] realise NAME' "--help shows the usage"
        "$ABS_BUILD/deferred-realise" frobnicate alpha 2>/dev/null
        is "$?" "64" "unknown command -> 64"
        "$ABS_BUILD/deferred-realise" realise 2>/dev/null
        is "$?" "64" "missing model name -> 64"
        "$ABS_BUILD/deferred-realise" realise nosuchmodel >"$HARNESS_TMP/nomodel" 2>&1
        is "$?" "66" "model not in the manifest -> 66"
        like "$(cat "$HARNESS_TMP/nomodel")" "Model nosuchmodel is not in manifest $DEFERRED_BUILDS_MANIFEST" \
                "the message names the model and the manifest"
        "$ABS_BUILD/deferred-realise" --manifest "$HARNESS_TMP/absent.ini" realise alpha 2>/dev/null
        is "$?" "66" "unreadable manifest -> 66"
        # A nix-store that cannot be executed: the child reports why through the pipe,
        # like any nix-store error, and the run is an infrastructure failure (75), not a crash.
        printf '\177ELF-not-a-program' >"$HARNESS_TMP/not-nix-store"
        chmod 0755 "$HARNESS_TMP/not-nix-store"
        DEFERRED_BUILDS_NIX_STORE="$HARNESS_TMP/not-nix-store" DEFERRED_BUILDS_RETRY_BUDGET=0 \
                DEFERRED_BUILDS_RUNTIME_DIR="$RUNTIME" "$ABS_BUILD/deferred-realise" realise alpha >"$HARNESS_TMP/noexec" 2>&1
        is "$?" "75" "a nix-store that cannot be executed -> 75"
        like "$(cat "$HARNESS_TMP/noexec")" "failed to execute $HARNESS_TMP/not-nix-store: Exec format error" \
                "the message names the program and the reason"
}

run_scenarios "$@"
suite_rc=$?
cat "$REALISE_LOG" >>"$REALISE_LOG_ALL" 2>/dev/null
if [ -s "$REALISE_LOG_ALL" ]; then
        diag "realise units' output:"
        tail -n 40 "$REALISE_LOG_ALL" | sed 's/^/  /' | while IFS= read -r l; do diag "$l"; done
fi
# The suite's status is run_scenarios' (no `exit`: shellcheck would then think the
# scenario functions, which run_scenarios calls by name, unreachable).
[ "$suite_rc" -eq 0 ]
