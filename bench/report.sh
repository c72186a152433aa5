#!/usr/bin/env bash
# bench/report.sh RESULTS.tsv DOC.md: writes the generated part of docs/BENCHMARKS.md
# from bench/run.sh's results (KEY<TAB>VALUE lines; times in µs). Everything between the
# "BEGIN GENERATED" and "END GENERATED" markers is replaced; the rest of the file (the
# hand-written analysis) is kept. A file without the markers gets them.
set -uo pipefail
results=$1
doc=$2
declare -A R
while IFS=$'\t' read -r k v; do R[$k]=$v; done <"$results"
W=${BENCH_WORK:-$(dirname "$results")}

get() { echo "${R[$1]:-}"; }
has() { [ -n "${R[$1]:-}" ]; }
ms() { awk -v u="$1" 'BEGIN { v = u / 1000; if (v < 10 && v > -10) printf "%.2f ms", v; else printf "%.1f ms", v }'; }
sec() { awk -v u="$1" 'BEGIN { printf "%.2f s", u / 1000000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
big() { awk -v n="$1" 'BEGIN { s = sprintf("%d", n); r = ""; while (length(s) > 3) { r = "," substr(s, length(s) - 2) r; s = substr(s, 1, length(s) - 3) } print s r }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }
verdict() { if "$@"; then echo "met"; else echo "**missed**"; fi; }

# " (X ms)" from a CPU-time key, or nothing when it was not measured.
cpu() { has "$1" && echo " ($(ms "$(get "$1")"))"; }
cpudiff() { has "$1" && has "$2" && echo " ($(ms $(($(get "$1") - $(get "$2")))))"; }
cpuratio() { has "$1" && has "$2" && echo " ($(ratio "$(get "$1")" "$(get "$2")")×)"; }

gen_table() {
        echo "| models | /bin/true | ours | ours − /bin/true (CPU) | sh generator | sh ÷ ours (CPU) | systemd-fstab-generator, same count of fstab lines (CPU) | fstab ÷ ours (CPU) |"
        echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
        local n t c s f sh_cell fs_cell
        for n in 1 100 1000 10000; do
                has "gen.c.$n" || continue
                t=$(get "gen.true.$n") c=$(get "gen.c.$n") f=$(get "gen.fstab.$n") s=$(get "gen.sh.$n")
                if [ -n "$s" ]; then
                        sh_cell="$(ms "$s")"
                        sh_cell="$sh_cell$(cpu "gen.cpu.sh.$n")"
                        [ "$(get "gen.runs.sh.$n")" != "$(get meta.runs)" ] && sh_cell="$sh_cell, $(get "gen.runs.sh.$n") runs"
                        [ "$(get "gen.sh_same.$n")" = no ] && sh_cell="$sh_cell (output differs!)"
                        sh_cell="$sh_cell | $(ratio "$s" "$c")×$(cpuratio "gen.cpu.sh.$n" "gen.cpu.c.$n")"
                else
                        sh_cell="not run (BENCH=full) | "
                fi
                fs_cell="$(ms "$f")$(cpu "gen.cpu.fstab.$n"), $(get "gen.fstab_units.$n") units | $(ratio "$f" "$c")×$(cpuratio "gen.cpu.fstab.$n" "gen.cpu.c.$n")"
                echo "| $(big "$n") | $(ms "$t")$(cpu "gen.cpu.true.$n") | $(ms "$c")$(cpu "gen.cpu.c.$n") | $(ms $((c - t)))$(cpudiff "gen.cpu.c.$n" "gen.cpu.true.$n") | $sh_cell | $fs_cell |"
        done
}

ir_table() {
        has gen.ir.true || return 0
        echo "| models | ours: instructions | per model, above /bin/true | systemd-fstab-generator: instructions | per entry |"
        echo "|---:|---:|---:|---:|---:|"
        local n c f t
        t=$(get gen.ir.true)
        echo "| /bin/true | $(big "$t") | | | |"
        for n in 1 100 1000 10000; do
                has "gen.ir.c.$n" || continue
                c=$(get "gen.ir.c.$n") f=$(get "gen.ir.fstab.$n")
                printf '| %s | %s | %s | %s | %s |\n' "$(big "$n")" "$(big "$c")" "$(big $(((c - t) / n)))" \
                        "$([ -n "$f" ] && big "$f" || echo "not run (BENCH=full)")" "$([ -n "$f" ] && big $(((f - t) / n)))"
        done
}

# verdict2 WALL CPU LIMIT: on wall time and on CPU time (CPU may be empty).
verdict2() {
        local w=$1 c=$2 lim=$3
        if le "$w" "$lim"; then
                echo met
        elif [ -n "$c" ] && le "$c" "$lim"; then
                echo "met on CPU time; **missed** on wall time"
        else
                echo "**missed**"
        fi
}
# wc CELL: "wall W (CPU C)"
wallcpu() { if [ -n "$2" ]; then echo "$(ms "$1") (CPU $(ms "$2"))"; else ms "$1"; fi; }

targets_table() {
        echo "| what | measured: wall (CPU) | target | verdict |"
        echo "|---|---|---|---|"
        local t c d dc
        for n in 100 10000; do
                has "gen.c.$n" || continue
                d=$(($(get "gen.c.$n") - $(get "gen.true.$n")))
                dc=
                has "gen.cpu.c.$n" && dc=$(($(get "gen.cpu.c.$n") - $(get "gen.cpu.true.$n")))
                lim=5000
                [ "$n" = 10000 ] && lim=100000
                echo "| generator, $(big "$n") models, above process start (/bin/true) | $(wallcpu "$d" "$dc"): $(wallcpu "$(get "gen.c.$n")" "$(get "gen.cpu.c.$n")") vs $(wallcpu "$(get "gen.true.$n")" "$(get "gen.cpu.true.$n")") | ≤ $((lim / 1000)) ms | $(verdict2 "$d" "$dc" "$lim") |"
        done
        if has gen.sh.100; then
                c=$(ratio "$(get gen.sh.100)" "$(get gen.c.100)")
                t=$(ratio "$(get gen.cpu.sh.100)" "$(get gen.cpu.c.100)")
                echo "| generator vs the sh generator (same units), 100 models | ${c}× faster$(has gen.cpu.sh.100 && echo " (CPU ${t}×)") | ≥ 10× | $(verdict le 10 "$c") |"
        fi
        if has gen.fstab.100; then
                echo "| generator vs systemd-fstab-generator, 100 models / fstab lines (for scale) | fstab-generator takes $(ratio "$(get gen.fstab.100)" "$(get gen.c.100)")× ours (CPU $(ratio "$(get gen.cpu.fstab.100)" "$(get gen.cpu.c.100)")×) | – | – |"
        fi
        if has gen.rss.c.10000; then
                c=$(get gen.rss.c.10000)
                echo "| generator peak memory, 10,000 models (max RSS) | $(awk -v k="$c" 'BEGIN { printf "%.1f MiB", k / 1024 }') (/bin/true: $(get gen.rss.true) KiB; fstab-generator, 10,000 lines: $(awk -v k="$(get gen.rss.fstab.10000)" 'BEGIN { printf "%.1f MiB", k / 1024 }')) | ≤ 16 MiB | $(verdict le "$c" 16384) |"
        fi
        if has reload.100; then
                d=$(($(get reload.100) - $(get reload.0)))
                dc=
                has reload.cpu.100 && dc=$(($(get reload.cpu.100) - $(get reload.cpu.0)))
                echo "| daemon-reload, 100 models vs 0 (user manager; CPU = manager + generators) | +$(wallcpu "$d" "$dc"): $(wallcpu "$(get reload.100)" "$(get reload.cpu.100)") vs $(wallcpu "$(get reload.0)" "$(get reload.cpu.0)") | ≤ +20 ms | $(verdict2 "$d" "$dc" 20000) |"
                if has reload.ctl200; then
                        echo "| daemon-reload, control: 200 plain units (no models) vs 0 | +$(wallcpu $(($(get reload.ctl200) - $(get reload.0))) "$(has reload.cpu.ctl200 && echo $(($(get reload.cpu.ctl200) - $(get reload.cpu.0))))") | – | – |"
                fi
                if has reload.1000; then
                        echo "| daemon-reload, 1,000 models vs 0 | +$(wallcpu $(($(get reload.1000) - $(get reload.0))) "$(has reload.cpu.1000 && echo $(($(get reload.cpu.1000) - $(get reload.cpu.0))))") | – | – |"
                fi
        fi
        if has realise.realise; then
                c=$(ratio "$(get realise.realise)" "$(get realise.nixstore)")
                t=$(ratio "$(get realise.cpu.realise)" "$(get realise.cpu.nixstore)")
                echo "| realise, output exists, vs bare \`nix-store --realise DRV\` | ${c}× (CPU ${t}×): $(wallcpu "$(get realise.realise)" "$(get realise.cpu.realise)") vs $(wallcpu "$(get realise.nixstore)" "$(get realise.cpu.nixstore)"); \`nix-store --realise DRV --add-root\`: $(wallcpu "$(get realise.nixstore-root)" "$(get realise.cpu.nixstore-root)") | ≤ 1.1× | $(if le "$c" 1.1; then echo met; elif le "$t" 1.1; then echo "met on CPU time; **missed** on wall time"; else echo "**missed**"; fi) |"
        else
                echo "| realise vs nix-store --realise | not run: $(get realise.skipped) | ≤ 1.1× | n/a |"
        fi
        if has deploy.deferred; then
                d=$(get deploy.deferred)
                echo "| deployment (manifest + daemon-reload + reconcile), $(get deploy.train_s) s training$([ "$(get meta.mode)" = quick ] && echo " (quick mode; full: 60 s)") | deferred returns after $(sec "$d") (daemon-reload $(sec "$(get deploy.deferred_reload)"), reconcile $(sec "$(get deploy.deferred_reconcile)")), serves after $(sec "$(get deploy.deferred_serving)"); eager (built first): returns after $(sec "$(get deploy.eager)"), serves after $(sec "$(get deploy.eager_serving)") | deferred < 1 s, eager ≈ training | $(verdict le "$d" 1000000) |"
        else
                echo "| deployment | not run: $(get deploy.skipped) | < 1 s | n/a |"
        fi
        if has serve.after_realise; then
                d=$(get serve.after_realise) c=$(get serve.own)
                echo "| realise finished → server answers ($(get serve.server)) | $(ms "$d"); the server's own start to first answer: $(ms "$c") | ≤ 200 ms + own start = $(ms $((200000 + c))) | $(verdict le "$d" $((200000 + c))) |"
        else
                echo "| realise finished → server answers | not run: $(get serve.skipped) | ≤ 200 ms + own start | n/a |"
        fi
        if has act.keep; then
                echo "| activation helper, 100 models × 50 generations, all live (nothing to prune) | $(wallcpu "$(get act.keep)" "$(get act.cpu.keep)"); /bin/true: $(wallcpu "$(get act.true)" "$(get act.cpu.true)") | ≤ 50 ms | $(verdict2 "$(get act.keep)" "$(get act.cpu.keep)" 50000) |"
                echo "| activation helper, 100 models × 50 generations, 25 deleted (2,500 roots pruned; $(get act.prune_left) left) | $(wallcpu "$(get act.prune)" "$(get act.cpu.prune)") | ≤ 50 ms | $(verdict2 "$(get act.prune)" "$(get act.cpu.prune)" 50000) |"
        else
                echo "| activation helper | not run: $(get act.skipped) | ≤ 50 ms | n/a |"
        fi
        local k what
        if has act.calls.live_folders; then
                for k in live_folders live_more prune_2500 prune_more prune_published; do
                        case $k in
                        live_folders) what="50 live generations of 100 models, above an empty roots folder" ;;
                        live_more) what="100 more models in each live generation" ;;
                        prune_2500) what="2,500 roots of 25 deleted generations pruned" ;;
                        prune_more) what="2,500 more pruned (and 2,500 more kept)" ;;
                        prune_published) what="2,400 pruned, 100 published from a deleted generation kept" ;;
                        esac
                        echo "| activation helper: system calls, $what | $(big "$(get "act.calls.$k")") | ≤ $(big "$(get "act.budget.$k")") | $(verdict le "$(get "act.calls.$k")" "$(get "act.budget.$k")") |"
                done
        else
                echo "| activation helper: system calls | not run: $(get act.calls.skipped) | | n/a |"
        fi
        if has cli.status; then
                echo "| \`deferred-builds status\`, 1,000 models (user manager; CPU = the CLI only) | $(wallcpu "$(get cli.status)" "$(get cli.cpu.status)"); /bin/true: $(wallcpu "$(get cli.true)" "$(get cli.cpu.true)") | ≤ 100 ms | $(verdict2 "$(get cli.status)" "$(get cli.cpu.status)" 100000) |"
                echo "| \`deferred-builds reconcile --dry-run\`, 1,000 models | $(wallcpu "$(get cli.reconcile)" "$(get cli.cpu.reconcile)") | ≤ 100 ms | $(verdict2 "$(get cli.reconcile)" "$(get cli.cpu.reconcile)" 100000) |"
        else
                echo "| CLI status / reconcile --dry-run, 1,000 models | not run: $(get cli.skipped) | ≤ 100 ms | n/a |"
        fi
}

generated() {
        local cmd="make bench"
        [ "$(get meta.mode)" = full ] && cmd="make bench BENCH=full"
        cat <<EOF
<!-- BEGIN GENERATED by bench/run.sh: everything up to END GENERATED is rewritten by \`make bench\`. -->
## Latest results

- **Date:** $(get meta.date); **mode:** $(get meta.mode) (\`$cmd\`), $(get meta.duration) in all
- **Machine:** $(get meta.cpu), $(get meta.mem) RAM; $(get meta.os), Linux $(get meta.kernel); systemd $(get meta.systemd); Nix $(get meta.nix)
- **Load average** (1/5/15 min) at start: $(get meta.load_start); at end: $(get meta.load_end)
- **Source:** $(get meta.commit)
- **Reproduce:** \`$cmd\` (or \`bench/run.sh \$PWD/build\` after \`make all\`), as root
- Times are medians of $(get meta.runs) runs unless a cell says otherwise, compared cases interleaved in
  one run; "/bin/true" is the process-start baseline timed the same way. **Wall** time is from the
  benchmark's bash (\$EPOCHREALTIME) around the command; **CPU** time is \`perf stat -e task-clock\`
  (user + kernel, the command and its children) in a second pass, or the manager's schedstat for
  daemon-reload. CPU time moves much less than wall time with the load of the machine (see the
  load average above), though not nothing: compare the /bin/true rows. A verdict says when
  only CPU time meets a target.

### Targets

$(targets_table)

### Generator: wall time (median)

$(gen_table)

The sh generator is bench/sh-generator.sh (POSIX sh run by dash, no awk); its output was checked
identical to ours (\`diff -r\`) at every size it ran. systemd-fstab-generator ran with
\`SYSTEMD_FSTAB\` pointing at an fstab of as many tmpfs lines as models and \`SYSTEMD_PROC_CMDLINE=\`;
the unit counts in its column are what it wrote.

### Generator: instructions executed (callgrind, user space only)

$(ir_table)

EOF
        if [ -s "$W/profile-callgrind.txt" ] || [ -s "$W/profile-strace.txt" ]; then
                echo "### Generator profile at 10,000 models"
                echo
                if [ -s "$W/profile-callgrind.txt" ]; then
                        echo "Top functions by instructions executed in the function itself (callgrind):"
                        echo
                        echo '```'
                        cat "$W/profile-callgrind.txt"
                        echo '```'
                        echo
                fi
                if [ -s "$W/profile-strace.txt" ]; then
                        echo "System calls (strace -c; $(big "$(get gen.syscalls.c.10000)") in all, $(($(get gen.syscalls.c.10000) / 10000)) per model):"
                        echo
                        echo '```'
                        cat "$W/profile-strace.txt"
                        echo '```'
                        echo
                fi
        fi
        if has realise.syscalls; then
                echo "realise with the output present makes $(big "$(get realise.syscalls)") system calls (its nix-store child included; bare \`nix-store --realise\`: $(big "$(get realise.syscalls_nixstore)"))."
                echo
        fi
        if has swap.socket.requests; then
                echo "### A client through a retrain swap (FastAPI under uvicorn, ready-url; bench/swap-gap.sh)"
                echo
                echo "A request every 10 ms, a new connection each, 30 s timeout, $(get swap.socket.swaps) swaps per case."
                echo
                echo "| case | requests | failed | longest run of failures | longest answer |"
                echo "|---|---:|---:|---:|---:|"
                for c in nosocket socket; do
                        echo "| $([ $c = socket ] && echo "listen = (systemd holds the socket)" || echo "no socket") | $(get swap.$c.requests) | $(get swap.$c.failed) | $(get swap.$c.gap_ms) ms | $(get swap.$c.max_latency_ms) ms |"
                done
                echo
        fi
        if has restart.uvicorn.requests; then
                echo "### Servers restarted on a socket they are handed (no systemd; tests/lib/system-fixtures/restart.py)"
                echo
                echo "A request every 2 ms, a new connection each; SIGTERM, then a new server on the same socket."
                echo
                echo "| server | restarts | requests | failed | how |"
                echo "|---|---:|---:|---:|---|"
                for c in uvicorn hypercorn gunicorn; do
                        local how
                        how=$(for k in "${!R[@]}"; do [[ $k == restart.$c.failed.* ]] && printf '%s %s, ' "${R[$k]}" "${k#restart."$c".failed.}"; done)
                        echo "| $c | $(get restart.$c.restarts) | $(get restart.$c.requests) | $(get restart.$c.failed) | ${how%, } |"
                done
                echo
        fi
        echo "<!-- END GENERATED -->"
}

tmp=$(mktemp "$doc.XXXXXX")
if [ -f "$doc" ] && grep -q '^<!-- BEGIN GENERATED' "$doc" && grep -q '^<!-- END GENERATED' "$doc"; then
        {
                sed -n '1,/^<!-- BEGIN GENERATED/p' "$doc" | sed '$d'
                generated
                sed -n '/^<!-- END GENERATED/,$p' "$doc" | sed '1d'
        } >"$tmp"
else
        {
                echo "# Benchmarks"
                echo
                generated
                echo
                echo "## Analysis"
                echo
                echo "(to be written)"
        } >"$tmp"
fi
mv "$tmp" "$doc"
