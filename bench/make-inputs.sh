#!/bin/sh
# bench/make-inputs.sh: the inputs of the generator benchmarks.
#
#   bench/make-inputs.sh manifest N [EXEC [ARG]]  > manifest.ini   N models
#   bench/make-inputs.sh fstab N                  > fstab          N mount points
#
# A model is [model.mNNNN] with a drv (a distinct, well-formed store path per model), an
# exec and one arg: 103 bytes. That is the most a model can take for 10,000 of them to
# fit the manifest's 1 MiB limit (MANIFEST_MAX_BYTES in src/lib/manifest.h), so every
# size uses it. The drvs need not exist: the generator reads no store path.
# An fstab entry is one tmpfs mount ("tmpfs /srv/mNNNN tmpfs defaults 0 0"), which
# systemd-fstab-generator turns into one .mount unit and one .requires/ link: the same
# amount of output per entry as a model's (two drop-ins and one link), give or take.
set -eu
what=$1
n=$2
case $what in
manifest)
        awk -v n="$n" -v exec="${3:-/bin/sleep}" -v arg="${4:-infinity}" 'BEGIN {
                a = "0123456789abcdfghijklmnpqrsvwxyz"
                seed = 12345
                print "[deferred-builds]\nversion = 1\ngeneration = bench"
                for (i = 0; i < n; i++) {
                        h = ""
                        for (k = 0; k < 32; k++) {
                                seed = (seed * 16807) % 2147483647
                                h = h substr(a, seed % 32 + 1, 1)
                        }
                        printf "[model.m%04d]\ndrv = /nix/store/%s-m.drv\nexec = %s\narg = %s\n", i, h, exec, arg
                }
        }'
        ;;
fstab)
        awk -v n="$n" 'BEGIN { for (i = 0; i < n; i++) printf "tmpfs /srv/m%04d tmpfs defaults 0 0\n", i }'
        ;;
*)
        echo "usage: $0 manifest|fstab N" >&2
        exit 64
        ;;
esac
