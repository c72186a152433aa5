# shellcheck shell=bash
# Minimal TAP producer for shell suites. Every assertion prints one line; tap_done prints
# the plan. A suite that exits early still fails in tests/run (non-zero exit).
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
diag() { printf '%s\n' "$*" | sed 's/^/# /'; }
tap_done() {
        echo "1..$TAP_N"
        [ "$TAP_FAILED" -eq 0 ]
}
