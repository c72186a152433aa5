# shellcheck shell=bash
# Timing helpers for bench/run.sh and bench/systemd.sh (sourced, bash).
#
# Every command is timed from this bash with $EPOCHREALTIME around the command, so each
# sample includes one fork+exec from bash, the same for every command compared, and the
# process-start baseline (/bin/true) pays it too. Commands compared with each other run
# interleaved (round r runs A, B, C, ... once each, in an order rotated every round): on a
# machine whose load changes during a run, a slow spell then hits all of them alike, which
# a tool that runs all of A's samples before B's (hyperfine) cannot promise.
#
# Results: record KEY VALUE appends to $BENCH_RESULTS, one "KEY<TAB>VALUE" a line.

: "${BENCH_RESULTS:?}"
: "${BENCH_WORK:?}"
mkdir -p "$BENCH_WORK/samples"

record() { printf '%s\t%s\n' "$1" "$2" >>"$BENCH_RESULTS"; }
note() { printf '# %s\n' "$*" >&2; }

# usec: the current time in microseconds (CLOCK_REALTIME).
usec() {
        local t=$EPOCHREALTIME
        echo "${t/./}"
}

# median FILE: the median of the numbers in FILE, one a line (mean of the middle two).
median() {
        sort -n "$1" | awk '{ v[NR] = $1 } END {
                if (NR == 0) { print "nan"; exit }
                if (NR % 2) print v[(NR + 1) / 2]; else printf "%.0f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
minimum() { sort -n "$1" | head -1; }

# interleave RUNS PREPARE ID1 CMD1 [ID2 CMD2 ...]
#   Runs every CMD (a shell command line, eval'd) RUNS times, interleaved; PREPARE (eval'd,
#   untimed, may be "") runs before each sample with $ID set to the command's id. Samples
#   (µs) go to $BENCH_WORK/samples/ID; a command that fails is reported and aborts the
#   benchmark of that group (its samples would mean nothing).
interleave() {
        local runs=$1 prepare=$2
        shift 2
        local -a ids=() cmds=()
        while [ $# -gt 0 ]; do
                ids+=("$1")
                cmds+=("$2")
                shift 2
        done
        local n=${#ids[@]} r k j t0 t1 rc
        for ((k = 0; k < n; k++)); do : >"$BENCH_WORK/samples/${ids[k]}"; done
        # One untimed warm-up round: page cache, dynamic loader cache, first-touch effects.
        for ((k = 0; k < n; k++)); do
                ID=${ids[k]}
                [ -z "$prepare" ] || eval "$prepare"
                eval "${cmds[k]}" >/dev/null 2>>"$BENCH_WORK/log" || {
                        note "warm-up of ${ids[k]} failed: ${cmds[k]}"
                        return 1
                }
        done
        for ((r = 0; r < runs; r++)); do
                for ((j = 0; j < n; j++)); do
                        k=$(((j + r) % n))
                        ID=${ids[k]}
                        [ -z "$prepare" ] || eval "$prepare"
                        t0=$EPOCHREALTIME
                        eval "${cmds[k]}" >/dev/null 2>>"$BENCH_WORK/log"
                        rc=$?
                        t1=$EPOCHREALTIME
                        if [ $rc -ne 0 ]; then
                                note "${ids[k]} failed (exit $rc): ${cmds[k]}"
                                return 1
                        fi
                        echo $((${t1/./} - ${t0/./})) >>"$BENCH_WORK/samples/${ids[k]}"
                done
        done
}

# cpu_pass RUNS PREPARE ID1 CMD1 [ID2 CMD2 ...]: the same commands again, each under
#   `perf stat -e task-clock` (CPU time of the command and its children, user + kernel, in
#   µs, to $BENCH_WORK/samples/ID.cpu). Unlike wall time this barely moves with the load of
#   the machine: a process waiting for a CPU is not running. perf's own start is not
#   counted; `env`, which execs the command in place, is, the same for every command.
cpu_pass() {
        command -v perf >/dev/null || return 0
        local runs=$1 prepare=$2
        shift 2
        local -a ids=() cmds=()
        while [ $# -gt 0 ]; do
                ids+=("$1")
                cmds+=("$2")
                shift 2
        done
        local n=${#ids[@]} r k j
        for ((k = 0; k < n; k++)); do : >"$BENCH_WORK/samples/${ids[k]}.cpu"; done
        for ((r = 0; r < runs; r++)); do
                for ((j = 0; j < n; j++)); do
                        k=$(((j + r) % n))
                        ID=${ids[k]}
                        [ -z "$prepare" ] || eval "$prepare"
                        eval "perf stat -x, -e task-clock -o \"\$BENCH_WORK/perf.out\" -- env ${cmds[k]}" \
                                >/dev/null 2>>"$BENCH_WORK/log" || return 1
                        awk -F, '$3 ~ /^task-clock/ { printf "%.0f\n", $1 * 1000 }' "$BENCH_WORK/perf.out" \
                                >>"$BENCH_WORK/samples/${ids[k]}.cpu"
                done
        done
}

# med ID: median of ID's samples in µs (ID.cpu: of its CPU-time samples).
med() { median "$BENCH_WORK/samples/$1"; }

# ms MICROSECONDS: "12.3" (milliseconds, one decimal; two below 10 ms).
ms() { awk -v u="$1" 'BEGIN { v = u / 1000; if (v < 10 && v > -10) printf "%.2f", v; else printf "%.1f", v }'; }

# Polls until a TCP port answers an HTTP GET with status 200; prints the µs time of the
# first answer. poll_http HOST PORT PATH TIMEOUT_S
poll_http() {
        local host=$1 port=$2 path=$3 t=$EPOCHREALTIME line fd
        local limit=$((${t/./} + $4 * 1000000))
        [ -n "${POLL_NEVER_FD:-}" ] || {
                rm -f "$BENCH_WORK/never"
                mkfifo "$BENCH_WORK/never"
                exec {POLL_NEVER_FD}<>"$BENCH_WORK/never"
        }
        while t=$EPOCHREALTIME && [ "${t/./}" -lt "$limit" ]; do
                if { exec {fd}<>"/dev/tcp/$host/$port"; } 2>/dev/null; then
                        printf 'GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$path" "$host" >&"$fd"
                        IFS= read -r -t 2 line <&"$fd"
                        exec {fd}>&-
                        case $line in "HTTP/1."?" 200"*)
                                t=$EPOCHREALTIME
                                echo "${t/./}"
                                return 0
                                ;;
                        esac
                fi
                # 1 ms between attempts: fine enough, and leaves the CPU to the server.
                read -r -t 0.001 -u "$POLL_NEVER_FD" _ || true
        done
        return 1
}
