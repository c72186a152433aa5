#!/usr/bin/env bash
# Golden tests for the generator: each tests/golden/NN-name/ holds manifest.ini (absent:
# no manifest), optional `scope` (user|system, default user) and expected/, the exact tree
# the generator must write. Absolute paths of this checkout are replaced by @TOP@ before
# comparing. Every generated instance is then checked by `systemd-analyze verify` with the
# shipped templates resolved.
#   tests/golden/run.sh            compare
#   UPDATE=1 tests/golden/run.sh   rewrite expected/ (review the diff before committing)
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
TOP=$PWD
ABS_BUILD=${ABS_BUILD:-$TOP/build}
gen="$ABS_BUILD/deferred-builds-generator"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for case in tests/golden/[0-9]*/; do
        case=${case%/}
        name=${case#tests/golden/}
        scope=user
        [ -f "$case/scope" ] && scope=$(cat "$case/scope")
        out="$tmp/$name/out"
        mkdir -p "$out"
        SYSTEMD_SCOPE=$scope DEFERRED_BUILDS_MANIFEST="$TOP/$case/manifest.ini" \
                DEFERRED_BUILDS_STATE_DIR=/var/lib/deferred-builds \
                "$gen" "$out" "$tmp/$name/early" "$tmp/$name/late" 2>"$tmp/$name/stderr"
        rc=$?
        is "$rc" 0 "$name: generator exits 0"
        # Replace this checkout's path so expected/ is portable.
        find "$out" -type f -exec sed -i "s|$TOP|@TOP@|g" {} +
        if [ -n "${UPDATE:-}" ]; then
                rm -rf "$case/expected"
                cp -a "$out" "$case/expected"
                sed "s|$TOP|@TOP@|g" "$tmp/$name/stderr" >"$case/expected-stderr"
        fi
        mkdir -p "$case/expected"
        d=$(diff -ru --no-dereference "$case/expected" "$out" 2>&1)
        is "$d" "" "$name: output matches expected/"
        if [ -f "$case/expected-stderr" ]; then
                d=$(diff -u "$case/expected-stderr" <(sed "s|$TOP|@TOP@|g" "$tmp/$name/stderr"))
                is "$d" "" "$name: log messages match expected-stderr"
        fi
        # Byte-identical on a second run.
        mkdir -p "$tmp/$name/again"
        SYSTEMD_SCOPE=$scope DEFERRED_BUILDS_MANIFEST="$TOP/$case/manifest.ini" \
                DEFERRED_BUILDS_STATE_DIR=/var/lib/deferred-builds "$gen" "$tmp/$name/again" 2>/dev/null
        find "$tmp/$name/again" -type f -exec sed -i "s|$TOP|@TOP@|g" {} +
        d=$(diff -ru --no-dereference "$out" "$tmp/$name/again" 2>&1)
        is "$d" "" "$name: a second run writes byte-identical output"
        left=$(find "$out" -name '.#*')
        is "$left" "" "$name: no temp files left behind"

        # systemd-analyze verify every instance, templates resolved from this build.
        instances=$(find "$out" -maxdepth 1 -type d \( -name '*@?*.service.d' -o -name '*@?*.socket.d' \) -printf '%f\n' |
                sed 's/\.d$//' | sort)
        [ -n "$instances" ] || continue
        vdir="$tmp/$name/verify"
        mkdir -p "$vdir" "$tmp/xdg"
        find "$ABS_BUILD/units-local" -maxdepth 1 -type f -exec cp {} "$vdir/" \;
        if [ "$scope" = system ]; then cp -r "$ABS_BUILD"/units-local/system/. "$vdir/"; fi
        cp -r "$out"/. "$vdir/"
        find "$vdir" -type f -name '*.conf' -exec sed -i "s|@TOP@|$TOP|g" {} +
        # Programs named in test manifests need not exist here: verify checks the rest.
        flag=""
        [ "$scope" = user ] && flag=--user
        for i in $instances; do
                ln -sf "${i%%@*}@.${i##*.}" "$vdir/$i"
                v=$(cd "$vdir" && XDG_RUNTIME_DIR="$tmp/xdg" SYSTEMD_UNIT_PATH="$vdir:" systemd-analyze $flag verify --man=no "$vdir/$i" 2>&1 |
                        grep -vE "^[^ ]+: Command /.+ is not executable: No such file or directory$" || true)
                is "$v" "" "$name: systemd-analyze verify $i"
        done
done

# SourcePath= is written unquoted: a manifest path that systemd would read differently (a
# trailing backslash joins the next line) generates nothing, and says why.
mkdir -p "$tmp/bs/out"
cp tests/golden/01-basic/manifest.ini "$tmp/bs/manifest.ini\\"
SYSTEMD_SCOPE=user DEFERRED_BUILDS_MANIFEST="$tmp/bs/manifest.ini\\" DEFERRED_BUILDS_STATE_DIR=/var/lib/deferred-builds \
        "$gen" "$tmp/bs/out" 2>"$tmp/bs/stderr"
is "$?:$(find "$tmp/bs/out" -mindepth 1 | wc -l)" "0:0" "a manifest path ending in a backslash: exit 0, no units"
like "$(cat "$tmp/bs/stderr")" 'Manifest path .*manifest.ini\\x5c .* is not a clean absolute path' "and the log names the path, escaped"

# The example of deferred-builds.ini(5) is a manifest the parser accepts.
sed -n '/^\.nf/,/^\.fi/p' man/deferred-builds.ini.5 | sed -e '1d' -e '$d' -e 's/\\-/-/g' >"$tmp/man.ini"
is "$("$gen" --check "$tmp/man.ini" 2>&1)" "configuration OK (1 models)" "the man page's example manifest parses"
tap_done
