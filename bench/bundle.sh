#!/usr/bin/env bash
# bench/bundle.sh [ABS_BUILD]: a derivation bundle for a synthetic model whose .drv closure
# has BUNDLE_DRVS (default 1,000) derivations (bench/bundle.nix): the time to write it
# (deferred-realise make-bundle, as the bundle's builder runs it), its size, the size of
# the uncompressed `nix-store --export` stream, and the time `deferred-realise import` takes
# to put every .drv into an empty second store through its own nix-daemon (a private mount
# namespace, as tests/integration/bundle.sh makes one), next to the bare
# `xz -dc | nix-store --import` it wraps; medians of BENCH_RUNS (default 5).
#
# Prints "KEY VALUE" lines; with $BENCH_RESULTS set (bench/run.sh) it records them there
# too. Needs root and a nix-daemon answering on the shared store.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
TOP=$PWD
ABS_BUILD=${1:-${ABS_BUILD:-$TOP/build}}
N=${BUNDLE_DRVS:-1000}
RUNS=${BENCH_RUNS:-5}
REALISE=$ABS_BUILD/deferred-realise
export NIX_REMOTE=daemon NIX_CONFIG="substituters ="

out() {
        printf '%s %s\n' "$1" "$2"
        [ -n "${BENCH_RESULTS:-}" ] && printf 'bundle.%s\t%s\n' "$1" "$2" >>"$BENCH_RESULTS"
        return 0
}
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.0f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ms_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", (b - a) * 1000 }'; }

if [ -z "${BUNDLE_BENCH_INNER:-}" ]; then
        [ "$(id -u)" = 0 ] || {
                echo "bench/bundle.sh: needs root" >&2
                exit 1
        }
        W=$(mktemp -d "${TMPDIR:-/tmp}/deferred-builds-bench-bundle.XXXXXX") || exit 1
        trap 'rm -rf "$W"' EXIT
        NONCE="$(date +%s%N)-$$"
        args=(--argstr helper "$REALISE" --argstr nonce "$NONCE" --arg n "$N")
        t=$EPOCHREALTIME
        nix-instantiate bench/bundle.nix "${args[@]}" -A model --add-root "$W/model.drv" >/dev/null 2>&1 || exit 1
        drv=$(readlink "$W/model.drv")
        out instantiate_ms "$(ms_since "$t")"
        mapfile -t drvs < <(nix-store -qR "$drv" | grep '\.drv$')
        out drvs "${#drvs[@]}"
        drv_bytes=$(cat "${drvs[@]}" | wc -c)
        out drv_files_bytes "$drv_bytes"

        # make-bundle, as the bundle's builder, N times (outside Nix: the same work).
        for _ in $(seq "$RUNS"); do
                rm -rf "$W/b"
                t=$EPOCHREALTIME
                DEFERRED_BUILDS_XZ=/usr/bin/xz "$REALISE" make-bundle "$drv" "$W/b" 2>"$W/make.log" || {
                        cat "$W/make.log" >&2
                        exit 1
                }
                ms_since "$t" >>"$W/make.ms"
                echo >>"$W/make.ms"
        done
        out make_ms "$(median <"$W/make.ms")"
        out bundle_bytes "$(stat -c %s "$W/b/drvs.xz")"
        out stream_bytes "$(xz -dc "$W/b/drvs.xz" | wc -c)"
        out sources "$(wc -l <"$W/b/sources")"

        manifest=$(nix-build bench/bundle.nix "${args[@]}" -A manifest -o "$W/manifest" 2>/dev/null) || exit 1
        nix-store --export $(nix-store -qR "$manifest") >"$W/closure.export"
        out closure_paths "$(nix-store -qR "$manifest" | wc -l)"
        out closure_drvs "$(nix-store -qR "$manifest" | grep -c '\.drv$')"
        echo "$manifest" >"$W/manifest.path"
        # Interleaved: deferred-realise import, and the bare `xz -dc | nix-store --import`
        # it wraps (the baseline: what the checks and the root cost on top).
        echo "$W/b/drvs.xz" >"$W/stream.path"
        for i in $(seq "$RUNS"); do
                for mode in ours bare; do
                        mkdir -p "$W/store/nix"
                        # shellcheck disable=SC2016 # the inner shell's
                        unshare --mount --propagation private sh -c 'mount --bind "$1" /nix && shift && exec "$@"' sh \
                                "$W/store/nix" env BUNDLE_BENCH_INNER="$W" BUNDLE_BENCH_MODE=$mode BENCH_RESULTS= \
                                "$0" "$ABS_BUILD" >>"$W/import-$mode.ms" || exit 1
                        rm -rf "$W/store"
                done
        done
        out import_ms "$(median <"$W/import-ours.ms")"
        out import_bare_ms "$(median <"$W/import-bare.ms")"
        exit 0
fi

# Inside: an empty /nix, a daemon of its own, the manifest's closure (no .drv), then the import.
W=$BUNDLE_BENCH_INNER
unset NIX_REMOTE
NIX_CONFIG="substituters =
build-users-group =" nix-daemon >/dev/null 2>&1 &
pid=$!
trap 'kill $pid; wait $pid 2>/dev/null' EXIT
export NIX_REMOTE=daemon
for _ in $(seq 100); do
        nix-store --check-validity --print-invalid /nix/store/00000000000000000000000000000000-probe >/dev/null 2>&1 && break
        sleep 0.1
done
nix-store --import <"$W/closure.export" >/dev/null || exit 1
t=$EPOCHREALTIME
if [ "$BUNDLE_BENCH_MODE" = bare ]; then
        xz -dc "$(cat "$W/stream.path")" | nix-store --import >/dev/null || exit 1
else
        DEFERRED_BUILDS_SCOPE=user DEFERRED_BUILDS_STATE_DIR=$W/state DEFERRED_BUILDS_RUNTIME_DIR=$W/run \
                DEFERRED_BUILDS_MANIFEST=$(cat "$W/manifest.path") "$REALISE" import m >/dev/null 2>"$W/import.log" || exit 1
fi
ms_since "$t"
echo
drv=$(sed -n 's/^drv = //p' "$(cat "$W/manifest.path")")
[ "$(nix-store -qR "$drv" | grep -c '\.drv$')" -gt 0 ] || exit 1
