#!/usr/bin/env bash
# tap_check (tests/lib/tap.sh), which tests/run applies to every suite's output: a stream
# that printed nothing, has no plan, or a plan its results do not match is rejected; good
# streams, including "1..0" and a plan printed first, are accepted.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
T=$(mktemp -d "${TMPDIR:-/tmp}/deferred-builds-tap-check.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT

verdict() { # verdict STREAM: what tap_check says about STREAM (printf format)
        # shellcheck disable=SC2059
        printf "$1" >"$T/log"
        tap_check "$T/log"
}
accepts() { is "$(verdict "$2")" "" "accepts $1"; }
rejects() { like "$(verdict "$2")" "$3" "rejects $1"; }

accepts "a plan after the results" 'ok 1 - a\nnot ok 2 - b\n# diag\n1..2\n'
accepts "a plan before the results (cmocka)" '1..2\nok 1 - a\nok 2 - b\n# ok - tests\n'
accepts "a skipped result" 'ok 1 - a # SKIP why\n1..1\n'
accepts "an empty plan" '1..0\n'
accepts "noise around the stream" 'building...\nok 1 - a\nwarning: x\n1..1\n'
rejects "a suite that printed nothing" '' 'no TAP line'
rejects "a suite that printed only noise" 'starting\nok\n' 'no TAP line'
rejects "results without a plan" 'ok 1 - a\nok 2 - b\n' 'no plan'
rejects "two plans" '1..1\nok 1 - a\n1..1\n' '2 plans'
rejects "a plan between results" 'ok 1 - a\n1..2\nok 2 - b\n' 'plan in the middle'
rejects "fewer results than planned" 'ok 1 - a\n1..2\n' 'planned 2, ran 1'
rejects "more results than planned" 'ok 1 - a\nok 2 - b\nok 3 - c\n1..2\n' 'planned 2, ran 3'
rejects "a number used twice" 'ok 1 - a\nok 1 - b\n1..2\n' 'repeated: 1'
rejects "a number outside the plan" 'ok 1 - a\nok 3 - b\n1..2\n' 'outside 1..2'
rejects "a result numbered 0" 'ok 0 - a\nok 1 - b\n1..2\n' 'outside 1..2'

# tap_result returns whether the result passed, so a suite can stop on a failed one.
(tap_result 0 x >/dev/null)
is "$?" 0 "tap_result 0 returns 0"
(tap_result 1 x >/dev/null)
is "$?" 1 "tap_result 1 returns 1"
out=$(TAP_N=0 TAP_FAILED=0 && tap_bail "the fixture exists" "diag line"; echo "not reached")
is "$?:$out" "1:not ok 1 - the fixture exists
#   diag line
1..1" "tap_bail prints one failure and the plan, and exits 1"

# run_scenarios runs the scenarios named, with or without their scenario_ prefix, or all.
scenario_one() { echo "one ran"; }
scenario_two() { echo "two ran"; }
out=$(TAP_N=0 TAP_FAILED=0 && run_scenarios scenario_two)
is "$out" "# scenario two
two ran
1..0" "run_scenarios scenario_two runs that scenario alone"
out=$(TAP_N=0 TAP_FAILED=0 && run_scenarios two one)
is "$out" "# scenario two
two ran
# scenario one
one ran
1..0" "run_scenarios NAME... runs those, in the order given"
out=$(TAP_N=0 TAP_FAILED=0 && run_scenarios)
is "$out" "# scenario one
one ran
# scenario two
two ran
1..0" "run_scenarios with no name runs every scenario, in name order"
out=$(TAP_N=0 TAP_FAILED=0 && run_scenarios three; echo "not reached")
is "$?:$out" "1:not ok 1 - scenario three exists
1..1" "run_scenarios fails on a scenario that does not exist"
unset -f scenario_one scenario_two
tap_done
