#!/usr/bin/env bash
# deferred-builds metrics and the training metrics convention, against a real systemd user
# manager and models really trained by the example trainer through the real nix-daemon:
#   - the OpenMetrics text is parsed whole by the Prometheus project's parser (Debian's
#     python3-prometheus-client), which fails on any malformed line or a missing "# EOF";
#   - a served, a failed, a training and a never-started model each show their state,
#     progress, times, wanted and served outputs and training metrics;
#   - a served output whose path needs escaping (quote, backslash, newline, a byte that
#     is not UTF-8) round-trips through the parser; its malformed metrics file is warned
#     about and left out;
#   - status --json carries the same training metrics;
#   - --output writes whole files: a reader polling the file never sees half of one.
#
# Scenarios: parser_strict, usage, four_models, prometheus, status_json, output; each on a
# manager, runtime and state folder of its own (harness_fresh_manager). Run some alone (a
# nix-daemon must answer; tests/run starts one):
#   ABS_BUILD=$PWD/build/san tests/integration/metrics.sh [SCENARIO...]   (e.g. usage output)
set -u
: "${TOP:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$TOP/tests/lib/tap.sh"
. "$TOP/tests/lib/harness.sh"
. "$TOP/tests/lib/nixd.sh"
harness_enter "$@"

. "$TOP/tests/integration/fixtures/cli/lib.sh"
cli_require "metrics integration" examples/dbx-train
PARSE="$TOP/tests/integration/fixtures/metrics/parse.py"
[ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import prometheus_client.openmetrics.parser' 2>/dev/null ||
        tap_bail "the OpenMetrics parser is installed" "apt-get install python3-prometheus-client"

# trained NAME [EPOCHS [EPOCH_SECONDS [FAIL_AT]]] -> the .drv of the example model (dbx-train),
# rooted for the length of the suite.
trained() {
        local root="$HARNESS_TMP/drv-roots/ex-$1"
        nix-instantiate "$TOP/examples/model.nix" --arg trainer "$ABS_BUILD/examples/dbx-train" \
                --argstr id "$1-$CLI_NONCE" --argstr name "dbx-$1" --arg epochs "${2:-1}" \
                --arg epochSeconds "${3:-0}" --arg failAtEpoch "${4:-0}" --add-root "$root" >/dev/null 2>&1 &&
                readlink "$root"
}
# q FILE PYTHON: runs PYTHON with S, the parsed samples of FILE, and
# sample(name, **labels), the value of the one sample that matches (None if none).
q() {
        "$PARSE" "$1" | /usr/bin/python3 -c '
import json, os, sys
S = json.load(sys.stdin)
def sample(name, **labels):
    m = [s["value"] for s in S if s["name"] == name and all(s["labels"].get(k) == v for k, v in labels.items())]
    return m[0] if len(m) == 1 else None
'"$2"
}
metrics_to() { "$DB" metrics >"$1" 2>"$HARNESS_TMP/metrics.err"; }

# good is trained in every scenario that has it trained: a derivation not trained before
# each time, so that what the scenario sees is a real training, not an output already built.
GOOD_N=0 GOOD_TRAINED=""
fresh_good() {
        GOOD_N=$((GOOD_N + 1)) GOOD_TRAINED=""
        DRV_GOOD=$(trained "good$GOOD_N") && OUT_GOOD=$(outpath "$DRV_GOOD")
        export DRV_GOOD OUT_GOOD
}
fresh_good
DRV_SLOW=$(trained slow 2 120)
DRV_BROKEN=$(trained broken 1 0 1)
DRV_WEIRD=$(trained weird 1 0)
ok "fixtures instantiated" test -e "$DRV_GOOD" -a -e "$DRV_SLOW" -a -e "$DRV_BROKEN" -a -e "$DRV_WEIRD"
# weird's served output (four_models): a folder whose path needs escaping.
HOSTILE="$HARNESS_TMP/we\"ird\\out"$'\n'"line2 "$'\xff'"end"
export HOSTILE
log_dropins
mkdir -p "$XDG_CONFIG_HOME/systemd/user"
ln -sf /dev/null "$XDG_CONFIG_HOME/systemd/user/deferred-builds-reconcile.service"

# four_models: a manager of the scenario's own on fresh state, on which good is served,
# broken has failed, slow trains, and weird is published by hand to HOSTILE, which holds
# a malformed metrics file (a string value); each checked.
four_models() {
        harness_fresh_manager "$SERVED"
        [ -z "$GOOD_TRAINED" ] || fresh_good
        GOOD_TRAINED=1
        manifest m1 good "$DRV_GOOD" slow "$DRV_SLOW" broken "$DRV_BROKEN" weird "$DRV_WEIRD"
        harness_start || tap_bail "the user manager starts"
        "$DB" realise --wait good >/dev/null 2>&1
        is "$?" 0 "good is trained and served"
        "$DB" realise --wait broken >/dev/null 2>&1
        is "$?" 1 "broken fails"
        "$DB" realise slow >/dev/null 2>&1
        ok "slow trains" wait_for 30 sh -c "[ \"\$(sed -n 's/^state=//p' '$RUNTIME/status/slow' 2>/dev/null)\" = training ]"
        ok "the example trainer wrote its training metrics" test -s "$OUT_GOOD/nix-support/training-metrics.json"
        rm -rf "$HOSTILE"
        mkdir -p "$HOSTILE/nix-support" "$RUNTIME/models"
        printf '{"loss": "high"}\n' >"$HOSTILE/nix-support/training-metrics.json"
        ln -sfn "$HOSTILE" "$RUNTIME/models/weird"
}

scenario_parser_strict() {
        diag "the parser is strict: these inputs must fail, or the checks below prove nothing"
        printf '# TYPE a gauge\na{model="x"} 1\n' >"$HARNESS_TMP/noeof.txt"
        not_ok_expected "text without # EOF is refused" "$PARSE" "$HARNESS_TMP/noeof.txt"
        printf '# TYPE a gauge\na{model="x"y"} 1\n# EOF\n' >"$HARNESS_TMP/quote.txt"
        not_ok_expected "an unescaped quote in a label value is refused" "$PARSE" "$HARNESS_TMP/quote.txt"
        printf '# TYPE a gauge\na{model="x\ny"} 1\n# EOF\n' >"$HARNESS_TMP/newline.txt"
        not_ok_expected "a raw newline in a label value is refused" "$PARSE" "$HARNESS_TMP/newline.txt"
        printf '# TYPE a gauge\na{model="x"} 1\n# EOF\n' >"$HARNESS_TMP/good.txt"
        ok "a well-formed text passes" "$PARSE" "$HARNESS_TMP/good.txt"
}

# No manager runs: the manifest is there, the manager is not.
scenario_usage() {
        local out
        diag "usage"
        harness_fresh_manager "$SERVED"
        manifest m1 good "$DRV_GOOD" slow "$DRV_SLOW" broken "$DRV_BROKEN" weird "$DRV_WEIRD"
        out=$("$DB" metrics --help)
        like "$?:$out" "^0:Usage: deferred-builds metrics \[--format openmetrics\|prometheus\] \[--output FILE\]" "metrics --help"
        "$DB" metrics --format json >/dev/null 2>&1
        is "$?" 64 "--format takes openmetrics or prometheus"
        "$DB" metrics extra >/dev/null 2>&1
        is "$?" 64 "metrics takes no operands"
        "$DB" metrics --output relative.prom >/dev/null 2>&1
        is "$?" 64 "--output needs an absolute path"
        "$DB" metrics >/dev/null 2>&1
        is "$?" 69 "without a manager: exit 69, as status"
}

scenario_four_models() {
        local M="$HARNESS_TMP/metrics.txt"
        diag "four models: served, failed, training, never started"
        four_models
        metrics_to "$M"
        is "$?" 0 "metrics exits 0"
        ok "the whole output parses" "$PARSE" "$M"
        is "$(tail -n 1 "$M")" "# EOF" "the output ends with # EOF"
        like "$(cat "$HARNESS_TMP/metrics.err")" "Training metrics $HARNESS_TMP/we.*malformed: a value is not a number" \
                "the malformed metrics file is warned about"

        is "$(q "$M" '
for m, st in [("good", "serving"), ("broken", "failed"), ("slow", "training"), ("weird", "pending")]:
    print(m, sample("deferred_builds_model_state", model=m, deferred_builds_model_state=st))')" \
                "good 1
broken 1
slow 1
weird 1" "a stateset sample per model, its state the one status shows"
        is "$(q "$M" 'print(sorted({s["type"] for s in S if s["family"] == "deferred_builds_model_state"}), len([s for s in S if s["family"] == "deferred_builds_model_state"]))')" \
                "['stateset'] 4" "one state per model, typed stateset"
        is "$(q "$M" '
i = [s["labels"] for s in S if s["name"] == "deferred_builds_model_info" and s["labels"]["model"] == "good"][0]
print(i["drv"] == os.environ["DRV_GOOD"], i["wanted_out"] == os.environ["OUT_GOOD"], i["served_out"] == os.environ["OUT_GOOD"], i["generation"])' )" \
                "True True True m1" "info: the wanted drv and output, the served output, the generation"
        is "$(q "$M" '
i = [s["labels"] for s in S if s["name"] == "deferred_builds_model_info" and s["labels"]["model"] == "weird"][0]
want = os.fsencode(os.environ["HOSTILE"]).decode("utf-8", "replace")
print(i["served_out"] == want, "\n" in i["served_out"], "\\" in i["served_out"], "\"" in i["served_out"])')" \
                "True True True True" "a served path with a quote, backslash, newline and bad UTF-8 round-trips"
        is "$(q "$M" '
i = [s["labels"] for s in S if s["name"] == "deferred_builds_model_info" and s["labels"]["model"] == "broken"][0]
print(repr(i["served_out"]))')" "''" "nothing served: served_out is empty"

        is "$(q "$M" 'print(sample("deferred_builds_training_derivations_built", model="good"), sample("deferred_builds_training_derivations_expected", model="good"))')" \
                "1 1" "progress of a finished training: 1/1 derivations"
        is "$(q "$M" 'print(sample("deferred_builds_training_derivations_built", model="slow"), sample("deferred_builds_training_derivations_expected", model="slow"))')" \
                "0 1" "progress of a running training: 0/1"
        is "$(q "$M" 'import time; t = sample("deferred_builds_last_success_timestamp_seconds", model="good"); print(t is not None and abs(time.time() - t) < 600, sample("deferred_builds_last_failure_timestamp_seconds", model="good"))')" \
                "True None" "good: a recent success, no failure"
        is "$(q "$M" 'import time; t = sample("deferred_builds_last_failure_timestamp_seconds", model="broken"); print(t is not None and abs(time.time() - t) < 600, sample("deferred_builds_last_success_timestamp_seconds", model="broken"))')" \
                "True None" "broken: a recent failure, no success"
        is "$(q "$M" 'print([s["unit"] for s in S if s["name"] == "deferred_builds_training_elapsed_seconds"][:1])')" \
                "['seconds']" "elapsed time has the unit seconds"
        # What is awaited here is time itself: two more seconds of slow's training.
        sleep 2
        metrics_to "$M"
        is "$(q "$M" 'print(sample("deferred_builds_training_elapsed_seconds", model="slow") >= 2)')" "True" \
                "a running training's elapsed time grows"

        is "$(q "$M" '
import json
want = json.load(open(os.environ["OUT_GOOD"] + "/nix-support/training-metrics.json"))
got = {s["labels"]["name"]: s["value"] for s in S if s["name"] == "deferred_builds_training_metric" and s["labels"]["model"] == "good"}
print(got == want, sorted(got))')" "True ['b', 'epochs', 'loss', 'samples', 'w']" \
                "good's training metrics, exactly as the trainer wrote them"
        is "$(q "$M" 'print([s for s in S if s["name"] == "deferred_builds_training_metric" and s["labels"]["model"] != "good"])')" \
                "[]" "no training metrics from a malformed file or a model without output"
}

scenario_prometheus() {
        local P="$HARNESS_TMP/metrics.prom"
        diag "--format prometheus: the text format node-exporter's textfile collector reads"
        four_models
        "$DB" metrics --format prometheus >"$P" 2>/dev/null
        is "$?" 0 "--format prometheus exits 0"
        is "$(/usr/bin/python3 - "$P" <<'PY'
import os, sys
from prometheus_client.parser import text_string_to_metric_families
fams = list(text_string_to_metric_families(open(sys.argv[1]).read()))
# node-exporter (Go expfmt) knows these types only, and refuses a file with another.
print(sorted({f.type for f in fams}) == ["gauge"] and all(f.type in ("counter", "gauge", "histogram", "summary", "untyped") for f in fams))
S = [s for f in fams for s in f.samples]
st = {s.labels["model"]: s.labels["deferred_builds_model_state"] for s in S if s.name == "deferred_builds_model_state"}
print(st == {"good": "serving", "broken": "failed", "slow": "training", "weird": "pending"})
info = [s.labels for s in S if s.name == "deferred_builds_model_info" and s.labels["model"] == "weird"][0]
print(info["served_out"] == os.fsencode(os.environ["HOSTILE"]).decode("utf-8", "replace"))
loss = [s.value for s in S if s.name == "deferred_builds_training_metric" and s.labels == {"model": "good", "name": "loss"}]
print(len(loss) == 1)
PY
)" "True
True
True
True" "parsed by the Prometheus text parser: gauges only, the same states, labels and metrics"
        unlike "$(cat "$P")" "^# (EOF|UNIT)" "no OpenMetrics-only lines"
        like "$(cat "$P")" $'# TYPE deferred_builds_model_info gauge\ndeferred_builds_model_info\\{' "the info family is a gauge named as its samples"
}

scenario_status_json() {
        local out
        diag "status --json carries the training metrics"
        four_models
        out=$("$DB" status --json 2>/dev/null)
        is "$(printf '%s' "$out" | /usr/bin/python3 -c '
import json, os, sys
d = {x["name"]: x for x in json.load(sys.stdin)}
want = json.load(open(os.environ["OUT_GOOD"] + "/nix-support/training-metrics.json"))
print(d["good"]["training_metrics"] == want, d["broken"]["training_metrics"], d["slow"]["training_metrics"])')" \
                "True None None" "status --json: training_metrics of the output, null without one"
}

scenario_output() {
        local TF="$HARNESS_TMP/textfile" writer bad=0 reads=0
        diag "--output: whole files only"
        four_models
        rm -rf "$TF"
        mkdir -p "$TF"
        "$DB" metrics --output "$TF/deferred-builds.prom" 2>/dev/null
        is "$?" 0 "--output exits 0"
        ok "the file parses" "$PARSE" "$TF/deferred-builds.prom"
        is "$(stat -c %a "$TF/deferred-builds.prom")" 644 "the file is world-readable (the collector runs as its own user)"
        is "$(ls -A "$TF")" "deferred-builds.prom" "no temporary file is left behind"
        "$DB" metrics --output "$HARNESS_TMP/nonexistent/x.prom" 2>"$HARNESS_TMP/err"
        is "$?" 1 "--output into a missing folder fails"
        like "$(cat "$HARNESS_TMP/err")" "Failed to write the metrics to $HARNESS_TMP/nonexistent/x.prom" "and says where"
        # A writer and a reader side by side: every read sees a whole file.
        (for _ in $(seq 1 40); do "$DB" metrics --output "$TF/deferred-builds.prom" 2>/dev/null; done) &
        writer=$!
        while kill -0 "$writer" 2>/dev/null; do
                "$PARSE" "$TF/deferred-builds.prom" >/dev/null 2>&1 || bad=$((bad + 1))
                reads=$((reads + 1))
        done
        wait "$writer"
        diag "$reads reads while 40 files were written"
        is "$bad" 0 "no read saw half a file"
        ok "and the reader did read during the writes" test "$reads" -gt 1
}

run_scenarios "$@"
