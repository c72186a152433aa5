# shellcheck shell=bash
# Minimal TAP producer for shell suites. Every assertion prints one line and returns 0
# when it passed; tap_done prints the plan. tests/run fails a suite that exits early
# (non-zero exit, or no plan).
TAP_N=0
TAP_FAILED=0
tap_result() { # tap_result STATUS(0=ok) DESCRIPTION [DIAGNOSTIC...]
        local st=$1 desc=$2
        shift 2
        TAP_N=$((TAP_N + 1))
        if [ "$st" -eq 0 ]; then
                echo "ok $TAP_N - $desc"
        else
                TAP_FAILED=$((TAP_FAILED + 1))
                echo "not ok $TAP_N - $desc"
                for d in "$@"; do printf '%s\n' "$d" | sed 's/^/#   /'; done
        fi
        [ "$st" -eq 0 ]
}
ok() { # ok DESCRIPTION COMMAND...   (passes when COMMAND succeeds)
        local desc=$1
        shift
        local out
        out=$("$@" 2>&1)
        tap_result $? "$desc" "command: $*" "$out"
}
not_ok_expected() { # passes when COMMAND fails
        local desc=$1
        shift
        local out
        out=$("$@" 2>&1)
        [ $? -ne 0 ]
        tap_result $? "$desc" "command unexpectedly succeeded: $*" "$out"
}
is() { # is GOT EXPECTED DESCRIPTION
        [ "$1" == "$2" ]
        tap_result $? "$3" "got:      '$1'" "expected: '$2'"
}
like() { # like GOT REGEX DESCRIPTION
        printf '%s' "$1" | grep -qE -- "$2"
        tap_result $? "$3" "got:      '$1'" "expected to match: $2"
}
unlike() { # unlike GOT REGEX DESCRIPTION
        ! printf '%s' "$1" | grep -qE -- "$2"
        tap_result $? "$3" "got:      '$1'" "expected not to match: $2"
}
skip() { # skip DESCRIPTION REASON
        TAP_N=$((TAP_N + 1))
        echo "ok $TAP_N - $1 # SKIP $2"
}
tap_bail() { # tap_bail DESCRIPTION [DIAGNOSTIC...]: one failed result, the plan, exit 1
        tap_result 1 "$@"
        tap_done
        exit 1
}
tap_require_built() { # tap_require_built BIN...: bails out unless each $ABS_BUILD/BIN is built
        local b
        for b in "$@"; do
                [ -x "$ABS_BUILD/$b" ] || tap_bail "$ABS_BUILD/$b is built (make BUILD=... all)"
        done
}
diag() { printf '%s\n' "$*" | sed 's/^/# /'; }
tap_done() {
        echo "1..$TAP_N"
        [ "$TAP_FAILED" -eq 0 ]
}
# run_scenarios [NAME...]: runs the scenario_NAME functions given (every scenario_*
# function, in name order, when none is), then prints the plan and returns whether all
# passed. Each scenario writes its own fixture, so any one of them runs alone:
#   tests/integration/SUITE.sh NAME      (or scenario_NAME, as the booted suites take it)
run_scenarios() {
        local s names=("$@")
        if [ ${#names[@]} -eq 0 ]; then
                mapfile -t names < <(declare -F | awk '$3 ~ /^scenario_/ { print substr($3, 10) }')
        fi
        for s in "${names[@]}"; do
                s=${s#scenario_}
                declare -F "scenario_$s" >/dev/null || tap_bail "scenario $s exists"
                diag "scenario $s"
                "scenario_$s"
        done
        tap_done
}
# tap_check LOG: prints what is wrong with the TAP stream in LOG, or nothing. A good
# stream has one plan "1..N", before or after every result, and results numbered 1..N,
# each once. "1..0" alone is a suite that had nothing to run.
tap_check() {
        awk '
                /^1\.\.[0-9]+/ { plans++; n = substr($1, 4) + 0; if (results == 0) first = 1; plan_at = NR; next }
                /^(not )?ok [0-9]+/ { num = ($1 == "not") ? $3 : $2; results++; last = NR
                        if (seen[num]++) dup = dup " " num
                        if (num + 0 > max) max = num + 0
                        if (num + 0 < 1) zero = 1
                        next }
                END {
                        if (plans == 0 && results == 0) { print "no TAP line"; exit }
                        if (plans == 0) { print "no plan"; exit }
                        if (plans > 1) { print plans " plans"; exit }
                        if (!first && plan_at < last) { print "plan in the middle"; exit }
                        if (dup != "") { print "result numbers repeated:" dup; exit }
                        if (results != n) { print "planned " n ", ran " results; exit }
                        if (max > n || zero) { print "results numbered outside 1.." n; exit }
                }' "$1"
}

