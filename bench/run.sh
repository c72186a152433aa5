#!/usr/bin/env bash
# bench/run.sh [ABS_BUILD]: the benchmarks of docs/BENCHMARKS.md (`make bench` runs it).
#
#   make bench              quick mode, a few minutes: every benchmark, the sh generator at
#                           1 and 100 models only, a 10 s training for the deployment case
#   make bench BENCH=full   all sizes for every generator, a 60 s training
#
# Environment: BENCH=quick|full; BENCH_RUNS (samples per case, default 10);
# BENCH_OUTPUT (default docs/BENCHMARKS.md); BENCH_KEEP=1 keeps the scratch directory.
#
# Writes the results table of docs/BENCHMARKS.md between its "generated" markers and
# keeps the hand-written analysis below them. Benchmarks are not tests: a missed target is
# reported in the table, the exit status is 0 unless a benchmark could not run at all.
# Needs root (private namespaces for the user manager, nix-daemon); starts nix-daemon only
# when none answers and stops only that one.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
TOP=$PWD
ABS_BUILD=${1:-$TOP/build}
BENCH=${BENCH:-quick}
case $BENCH in quick | full) ;; *)
        echo "bench/run.sh: BENCH must be quick or full, not '$BENCH'" >&2
        exit 64
        ;;
esac
RUNS=${BENCH_RUNS:-10}
OUT_MD=${BENCH_OUTPUT:-$TOP/docs/BENCHMARKS.md}
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
        # tmpfs, like /run/systemd/generator where generators really write.
        BENCH_WORK=$(mktemp -d /dev/shm/deferred-builds-bench.XXXXXX)
else
        BENCH_WORK=$(mktemp -d "${TMPDIR:-/tmp}/deferred-builds-bench.XXXXXX")
fi
BENCH_RESULTS=$BENCH_WORK/results.tsv
: >"$BENCH_RESULTS"
export TOP ABS_BUILD BENCH RUNS BENCH_WORK BENCH_RESULTS
export NIX_REMOTE=daemon
. bench/lib.sh
. tests/lib/nixd.sh

cleanup() {
        nixd_cleanup
        if [ -n "${BENCH_KEEP:-}" ]; then note "kept $BENCH_WORK"; else rm -rf "$BENCH_WORK"; fi
}
trap cleanup EXIT

W=$BENCH_WORK
GEN=$ABS_BUILD/deferred-builds-generator
FSTABGEN=/lib/systemd/system-generators/systemd-fstab-generator
SHGEN=$TOP/bench/sh-generator.sh
START=$(date -u '+%Y-%m-%d %H:%M UTC')
START_S=$SECONDS
record meta.date "$START"
record meta.mode "$BENCH"
record meta.runs "$RUNS"
record meta.cpu "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo) × $(nproc) CPUs"
record meta.mem "$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"
record meta.kernel "$(uname -r)"
record meta.os "$(. /etc/os-release && echo "$PRETTY_NAME")"
record meta.systemd "$(systemctl --version | awk 'NR == 1 { print $2 }')"
record meta.nix "$(nix-store --version 2>/dev/null | awk '{ print $NF }')"
record meta.load_start "$(cut -d' ' -f1-3 /proc/loadavg)"
record meta.commit "$(git -C "$TOP" rev-parse --short HEAD 2>/dev/null)$(git -C "$TOP" status --porcelain 2>/dev/null | grep -q . && echo ' + uncommitted changes')"

for b in "$GEN" "$FSTABGEN" "$SHGEN"; do
        [ -e "$b" ] || {
                echo "bench/run.sh: $b is missing; run 'make all' first" >&2
                exit 1
        }
done
command -v valgrind >/dev/null || note "valgrind not installed: no instruction counts"

# ---- 1. generator: ours vs process start vs the sh generator vs systemd-fstab-generator ----
SIZES=(1 100 1000 10000)
if [ "$BENCH" = full ]; then SH_SIZES=" 1 100 1000 10000 "; else SH_SIZES=" 1 100 "; fi
export SYSTEMD_SCOPE=system DEFERRED_BUILDS_STATE_DIR=/var/lib/deferred-builds SYSTEMD_PROC_CMDLINE=
mkdir -p "$W/gen/e" "$W/gen/l"
GEN_PREP='rm -rf "$W/gen/out-$ID"; mkdir -p "$W/gen/out-$ID"'
for n in "${SIZES[@]}"; do
        d=$W/gen/$n
        mkdir -p "$d"
        bench/make-inputs.sh manifest "$n" >"$d/manifest.ini"
        bench/make-inputs.sh fstab "$n" >"$d/fstab"
        # Same input, same output: checked before anything is timed.
        mkdir -p "$d/check-c" "$d/check-sh" "$d/check-fstab"
        DEFERRED_BUILDS_MANIFEST=$d/manifest.ini "$GEN" "$d/check-c" 2>>"$W/log"
        models=$(find "$d/check-c" -maxdepth 1 -name 'deferred-serve@?*.service.d' | wc -l)
        [ "$models" -eq "$n" ] || note "generator wrote $models serve drop-ins for $n models"
        record "gen.models.$n" "$models"
        if [[ $SH_SIZES == *" $n "* ]]; then
                DEFERRED_BUILDS_MANIFEST=$d/manifest.ini sh "$SHGEN" "$d/check-sh" 2>>"$W/log"
                if diff -r --no-dereference "$d/check-c" "$d/check-sh" >"$W/gen-diff-$n" 2>&1; then
                        record "gen.sh_same.$n" yes
                else
                        record "gen.sh_same.$n" no
                        note "the sh generator's output differs at $n models: $(head -3 "$W/gen-diff-$n")"
                fi
        fi
        SYSTEMD_FSTAB=$d/fstab "$FSTABGEN" "$d/check-fstab" "$W/gen/e" "$W/gen/l" 2>>"$W/log"
        record "gen.fstab_units.$n" "$(find "$d/check-fstab" -maxdepth 1 -name '*.mount' | wc -l)"
        rm -rf "$d/check-c" "$d/check-sh" "$d/check-fstab"

        with_sh=
        [[ $SH_SIZES == *" $n "* ]] && with_sh=", sh"
        note "generator, $n models: /bin/true, ours, systemd-fstab-generator$with_sh ($RUNS runs, interleaved)"
        cmds=("true-$n" '/bin/true "$W/gen/out-$ID"'
                "c-$n" 'DEFERRED_BUILDS_MANIFEST=$W/gen/'$n'/manifest.ini "$GEN" "$W/gen/out-$ID"'
                "fstab-$n" 'SYSTEMD_FSTAB=$W/gen/'$n'/fstab "$FSTABGEN" "$W/gen/out-$ID" "$W/gen/e" "$W/gen/l"')
        sh_cmd='DEFERRED_BUILDS_MANIFEST=$W/gen/'$n'/manifest.ini sh "$SHGEN" "$W/gen/out-$ID"'
        sh_runs=$RUNS
        [ "$n" -ge 10000 ] && sh_runs=3 # several minutes a run: 3 runs, said in the table
        if [[ $SH_SIZES == *" $n "* ]] && [ "$sh_runs" -eq "$RUNS" ]; then cmds+=("sh-$n" "$sh_cmd"); fi
        interleave "$RUNS" "$GEN_PREP" "${cmds[@]}" || exit 1
        cpu_pass "$RUNS" "$GEN_PREP" "${cmds[@]}" || note "perf stat failed: no CPU times"
        if [[ $SH_SIZES == *" $n "* ]] && [ "$sh_runs" -ne "$RUNS" ]; then
                note "sh generator, $n models ($sh_runs runs)"
                interleave "$sh_runs" "$GEN_PREP" "sh-$n" "$sh_cmd" || exit 1
        fi
        for k in true c fstab sh; do
                [ -s "$W/samples/$k-$n" ] && record "gen.$k.$n" "$(med "$k-$n")" && record "gen.runs.$k.$n" "$(wc -l <"$W/samples/$k-$n")"
                [ -s "$W/samples/$k-$n.cpu" ] && record "gen.cpu.$k.$n" "$(med "$k-$n.cpu")"
        done
done

# Instruction counts (user space; callgrind), immune to the machine's load.
if command -v valgrind >/dev/null; then
        ir() { # ir OUTFILE COMMAND...: instructions executed by COMMAND (Ir)
                local o=$1
                shift
                valgrind --tool=callgrind --callgrind-out-file="$o" "$@" >/dev/null 2>>"$W/log" </dev/null
                awk '/^(summary|totals):/ { print $2; exit }' "$o"
        }
        mkdir -p "$W/cg"
        note "callgrind: instruction counts"
        record gen.ir.true "$(ir "$W/cg/true" /bin/true)"
        for n in "${SIZES[@]}"; do
                rm -rf "$W/gen/cg-out" && mkdir -p "$W/gen/cg-out"
                record "gen.ir.c.$n" "$(DEFERRED_BUILDS_MANIFEST=$W/gen/$n/manifest.ini ir "$W/cg/c-$n" "$GEN" "$W/gen/cg-out")"
                if [ "$BENCH" = full ] || [ "$n" -lt 10000 ]; then
                        rm -rf "$W/gen/cg-out" && mkdir -p "$W/gen/cg-out"
                        record "gen.ir.fstab.$n" "$(SYSTEMD_FSTAB=$W/gen/$n/fstab ir "$W/cg/fstab-$n" "$FSTABGEN" "$W/gen/cg-out" "$W/gen/e" "$W/gen/l")"
                fi
        done
        # Where the instructions go at the largest size (self cost, top functions).
        callgrind_annotate "$W/cg/c-10000" 2>/dev/null | awk '/^-+$/ { sep++ ; next } sep >= 4 && NF >= 3 && $1 ~ /^[0-9,]+$/' |
                head -8 >"$W/profile-callgrind.txt"
fi

# Peak memory at 10,000 models (maximum resident set size, /usr/bin/time).
if [ -x /usr/bin/time ]; then
        maxrss() { # maxrss COMMAND...: KiB, median of 3
                for _ in 1 2 3; do
                        rm -rf "$W/gen/rss-out" && mkdir -p "$W/gen/rss-out"
                        /usr/bin/time -f '%M' -o "$W/rss" "$@" >/dev/null 2>>"$W/log"
                        cat "$W/rss"
                done >"$W/rss-all"
                median "$W/rss-all"
        }
        record gen.rss.c.10000 "$(DEFERRED_BUILDS_MANIFEST=$W/gen/10000/manifest.ini maxrss "$GEN" "$W/gen/rss-out")"
        record gen.rss.true "$(maxrss /bin/true)"
        record gen.rss.fstab.10000 "$(SYSTEMD_FSTAB=$W/gen/10000/fstab maxrss "$FSTABGEN" "$W/gen/rss-out" "$W/gen/e" "$W/gen/l")"
fi

# System calls at 10,000 models (strace -c), for the profile section.
if command -v strace >/dev/null; then
        rm -rf "$W/gen/st-out" && mkdir -p "$W/gen/st-out"
        DEFERRED_BUILDS_MANIFEST=$W/gen/10000/manifest.ini strace -c -o "$W/strace-c.txt" "$GEN" "$W/gen/st-out" 2>>"$W/log"
        record gen.syscalls.c.10000 "$(awk '$NF == "total" { print $4 }' "$W/strace-c.txt")"
        awk 'NR > 2 && $1 !~ /^-/ && $NF != "total" { printf "%s %s%s\n", $NF, $4, ($5 ~ /^[0-9]+$/ ? " (" $5 " failed)" : "") }' \
                "$W/strace-c.txt" | head -10 >"$W/profile-strace.txt"
fi
unset SYSTEMD_SCOPE SYSTEMD_PROC_CMDLINE

# ---- 2. a tiny real model, for realise, serve and the deployment -------------------------
nix_ok=
if command -v nix-store >/dev/null && nixd_ensure; then
        nix_ok=1
        instantiate() { # instantiate SALT SECONDS: prints the .drv
                nix-instantiate "$TOP/bench/model.nix" --argstr train "$ABS_BUILD/examples/dbx-train" \
                        --argstr data "$TOP/examples/data/train.csv" --argstr seconds "$2" --argstr salt "$1" 2>>"$BENCH_WORK/log"
        }
        MODEL_DRV=$(instantiate "bench-fast" 0)
        mkdir -p "$W/nix"
        nix-store --realise "$MODEL_DRV" --add-root "$W/nix/model" --option substituters '' >/dev/null 2>>"$W/log"
        MODEL_OUT=$(readlink "$W/nix/model")
        if [ -z "$MODEL_OUT" ] || [ ! -e "$MODEL_OUT/model" ]; then
                note "could not build the benchmark model (see $W/log)"
                nix_ok=
        fi
        export MODEL_DRV MODEL_OUT
        export -f instantiate
else
        note "no nix-store or no nix-daemon: realise, serve and deployment benchmarks skipped"
fi

# ---- 3. realise when the output exists vs bare nix-store --realise -----------------------
if [ -n "$nix_ok" ] && [ -x "$ABS_BUILD/deferred-realise" ]; then
        r=$W/realise
        mkdir -p "$r"
        printf '[deferred-builds]\nversion = 1\ngeneration = bench\n[model.tiny]\ndrv = %s\nexec = /bin/true\n' \
                "$MODEL_DRV" >"$r/manifest.ini"
        note "realise (output exists) vs nix-store --realise ($RUNS runs, interleaved)"
        interleave "$RUNS" "" \
                realise "DEFERRED_BUILDS_MANIFEST=$r/manifest.ini DEFERRED_BUILDS_SCOPE=user DEFERRED_BUILDS_STATE_DIR=$r/state DEFERRED_BUILDS_RUNTIME_DIR=$r/run $ABS_BUILD/deferred-realise realise tiny" \
                nixstore "nix-store --realise $MODEL_DRV" \
                nixstore-root "nix-store --realise $MODEL_DRV --add-root $r/root" &&
                for k in realise nixstore nixstore-root; do record "realise.$k" "$(med $k)"; done
        cpu_pass "$RUNS" "" \
                realise "DEFERRED_BUILDS_MANIFEST=$r/manifest.ini DEFERRED_BUILDS_SCOPE=user DEFERRED_BUILDS_STATE_DIR=$r/state DEFERRED_BUILDS_RUNTIME_DIR=$r/run $ABS_BUILD/deferred-realise realise tiny" \
                nixstore "nix-store --realise $MODEL_DRV" \
                nixstore-root "nix-store --realise $MODEL_DRV --add-root $r/root" &&
                for k in realise nixstore nixstore-root; do record "realise.cpu.$k" "$(med $k.cpu)"; done
        if command -v strace >/dev/null; then
                DEFERRED_BUILDS_MANIFEST=$r/manifest.ini DEFERRED_BUILDS_SCOPE=user DEFERRED_BUILDS_STATE_DIR=$r/state \
                        DEFERRED_BUILDS_RUNTIME_DIR=$r/run strace -f -c -o "$W/strace-realise.txt" \
                        "$ABS_BUILD/deferred-realise" realise tiny >/dev/null 2>&1
                strace -f -c -o "$W/strace-nixstore.txt" nix-store --realise "$MODEL_DRV" >/dev/null 2>&1
                record realise.syscalls "$(awk '$NF == "total" { print $4 }' "$W/strace-realise.txt")"
                record realise.syscalls_nixstore "$(awk '$NF == "total" { print $4 }' "$W/strace-nixstore.txt")"
        fi
else
        record realise.skipped "$([ -n "$nix_ok" ] && echo "build/deferred-realise not built" || echo "no nix-daemon")"
fi

# ---- 4. activation helper: 100 models x 50 generations -----------------------------------
if [ -x "$ABS_BUILD/deferred-builds-activate" ] && [ -n "${MODEL_OUT:-}" ]; then
        a=$W/act
        mkdir -p "$a/root/nix/var/nix/profiles" "$a/template/roots" "$a/run/models"
        for g in $(seq 1 50); do
                mkdir -p "$a/tl/$g/deferred-builds" "$a/template/roots/g$g"
                printf '[deferred-builds]\nversion = 1\ngeneration = g%s\n' "$g" >"$a/tl/$g/deferred-builds/manifest.ini"
                for m in $(seq -w 0 99); do ln -s "$MODEL_OUT" "$a/template/roots/g$g/m$m"; done
        done
        for m in $(seq -w 0 99); do ln -s "$a/state/roots/g50/m$m" "$a/run/models/m$m"; done
        live_profiles() { # live_profiles FIRST: system-N-link for generations FIRST..50
                rm -f "$a/root/nix/var/nix/profiles/"system-*-link
                local g
                for g in $(seq "$1" 50); do ln -s "$a/tl/$g" "$a/root/nix/var/nix/profiles/system-$g-link"; done
        }
        ACT="DEFERRED_BUILDS_SYSTEM_ROOT=$a/root $ABS_BUILD/deferred-builds-activate --state-dir $a/state --runtime-dir $a/run -q"
        rm -rf "$a/state" && mkdir -p "$a/state" && cp -a "$a/template/roots" "$a/state/"
        # Steady state: every generation still has its profile link, nothing to remove.
        live_profiles 1
        note "activation helper, 100 models x 50 generations ($RUNS runs)"
        interleave "$RUNS" "" act-keep "$ACT" && record act.keep "$(med act-keep)"
        cpu_pass "$RUNS" "" act-keep "$ACT" && record act.cpu.keep "$(med act-keep.cpu)"
        [ "$(find "$a/state/roots" -type l | wc -l)" -eq 5000 ] || note "activation removed roots of live generations"
        # 25 generations deleted since the last switch: 2,500 roots and 25 folders to remove;
        # the tree is restored (untimed) before every sample.
        live_profiles 26
        interleave "$RUNS" 'rm -rf "$a/state" && mkdir -p "$a/state" && cp -a "$a/template/roots" "$a/state/"' \
                act-prune "$ACT" && record act.prune "$(med act-prune)"
        cpu_pass "$RUNS" 'rm -rf "$a/state" && mkdir -p "$a/state" && cp -a "$a/template/roots" "$a/state/"' \
                act-prune "$ACT" && record act.cpu.prune "$(med act-prune.cpu)"
        left=$(find "$a/state/roots" -type l | wc -l)
        record act.prune_left "$left"
        interleave "$RUNS" "" act-true "/bin/true" && record act.true "$(med act-true)"
        cpu_pass "$RUNS" "" act-true "/bin/true" && record act.cpu.true "$(med act-true.cpu)"
else
        record act.skipped "build/deferred-builds-activate not built or no model"
fi

# System calls of the activation helper at 50 generations (strace; no Nix needed).
note "activation helper: system calls, 100 and 200 models x 50 generations"
bench/activation-syscalls.sh "$ABS_BUILD" >>"$BENCH_RESULTS" 2>>"$W/log" || note "bench/activation-syscalls.sh failed"

# A derivation bundle of 1,000 .drvs: its size, writing it, importing it (docs/BENCHMARKS.md
# "Derivation bundles"); needs the nix-daemon.
if [ "$nix_ok" = 1 ]; then
        note "derivation bundle, 1,000 .drvs: size, make-bundle, import"
        BENCH_RUNS=$RUNS bash bench/bundle.sh "$ABS_BUILD" >>"$W/log" 2>&1 || note "bench/bundle.sh failed"
fi

# ---- 5. the real user manager (private namespaces): reload, CLI, serve, deployment -------
# What a client sees of a retrain swap, with and without a socket systemd holds (booted
# system, one at a time with the booted-system suites).
if [ "$(id -u)" = 0 ]; then
        note "retrain swap under a client (bench/swap-gap.sh on the booted system)"
        flock /tmp/booted-run.lock bash bench/swap-gap.sh >>"$BENCH_RESULTS" 2>>"$W/log" || note "bench/swap-gap.sh failed"
fi

note "user manager benchmarks (bench/systemd.sh under tests/lib/harness.sh)"
BENCH_NIX_OK=$nix_ok bash bench/systemd.sh || note "bench/systemd.sh failed (see above)"

record meta.load_end "$(cut -d' ' -f1-3 /proc/loadavg)"
record meta.duration "$((SECONDS - START_S)) s"
bash bench/report.sh "$BENCH_RESULTS" "$OUT_MD" || exit 1
note "results written to ${OUT_MD#"$TOP"/}"
