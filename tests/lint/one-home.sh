#!/usr/bin/env bash
# Each of these facts has one home, and no other file of src/ or activation/ spells it:
#   the runtime and state layout (roots/, models/, status/)   src/lib/paths.h
#   the unit names (deferred-realise@, ..., the target)        src/lib/unitname.h
#   the exit statuses (64 65 66 69 73 75)                      src/lib/exitcode.h
# and no unit template writes an exit status as a number (the Makefile fills @EXIT_...@
# from exitcode.h). Comments may name them; code and strings use the macros. Each check
# first proves on a planted sample that it finds what it looks for.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
T=$(mktemp -d "${TMPDIR:-/tmp}/deferred-builds-one-home.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT

LAYOUT='"[^"]*/(roots|models|status)(/[^"]*)?"'
UNITS='deferred-(realise|serve|retrain)@|deferred-builds\.target|deferred-builds-reconcile\.service'
EXITS='\b(return|exit|_exit) *\(? *(6[4-9]|7[0-8])\b|\bEXIT[A-Z_]* *=? *(6[4-9]|7[0-8])\b|"[^"]*[Ee]xit[^"]*\b(6[4-9]|7[0-8])\b'
UNIT_EXITS='^[A-Za-z]*ExitStatus=.*\b[0-9]+\b|exit status [0-9]'

# code FILE: FILE without its comments (strings and code kept, line numbers not).
code() { gcc -fpreprocessed -dD -E -P -x c "$1" 2>/dev/null; }
# strays REGEX HOME FILE...: "FILE: LINE" for each line of code matching REGEX outside HOME.
strays() {
        local re=$1 home=$2 f
        shift 2
        for f in "$@"; do
                [ "$f" = "$home" ] && continue
                code "$f" | grep -E -- "$re" | sed "s|^|$f: |"
        done
}
mapfile -t sources < <(git ls-files 'src/*.c' 'src/*.h' 'activation/*.c' 'activation/*.h'; git ls-files --others --exclude-standard 'src/*.[ch]' 'activation/*.[ch]')

cat >"$T/sample.c" <<'C'
/* comments may say deferred-serve@NAME.service, STATE/roots and exit 64 */
static const char *p = "%s/status/%s", *u = "deferred-builds.target", *h = "Exit status: 0 ok, 73 occupied";
int f(void) { return 75; }
C
is "$(strays "$LAYOUT" - "$T/sample.c" | wc -l)" 1 "the layout check finds a planted path, not the comment"
is "$(strays "$UNITS" - "$T/sample.c" | wc -l)" 1 "the unit-name check finds a planted name, not the comment"
is "$(strays "$EXITS" - "$T/sample.c" | wc -l)" 2 "the exit-status check finds a planted return and help text"
printf 'RestartPreventExitStatus=64 65\n# gives up with exit status 75\nRestartPreventExitStatus=@EXIT_NO_RESTART@\n' >"$T/sample.service.in"
is "$(grep -cE "$UNIT_EXITS" "$T/sample.service.in")" 2 "the unit check finds numbers, not placeholders"

out=$(strays "$LAYOUT" src/lib/paths.h "${sources[@]}")
is "$out" "" "the layout is spelled only in src/lib/paths.h"
out=$(strays "$UNITS" src/lib/unitname.h "${sources[@]}")
is "$out" "" "unit names are spelled only in src/lib/unitname.h"
out=$(strays "$EXITS" src/lib/exitcode.h "${sources[@]}")
is "$out" "" "exit statuses are spelled only in src/lib/exitcode.h"
out=$(git ls-files 'units/*' | xargs grep -nE "$UNIT_EXITS")
is "$out" "" "unit templates take their exit statuses from src/lib/exitcode.h"
tap_done
