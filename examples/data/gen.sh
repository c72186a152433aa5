#!/bin/sh
# Regenerates examples/data/train.csv, the example model's training set:
#
#   examples/data/gen.sh > examples/data/train.csv
#
# 200 rows of y = 3x + 2 + noise, x evenly spaced over [0, 10). The noise comes from a
# Park-Miller generator (seed 42) written out in awk instead of awk's rand(), whose
# sequence differs between mawk, gawk and busybox awk: every awk produces the same bytes,
# so the file (and with it the model's store path) is reproducible anywhere. The
# generator's products stay below 2^53, so doubles hold them exactly.
#
# Noise is the sum of three uniforms on [-0.5, 0.5), scaled by 0.5: roughly normal,
# standard deviation 0.25, bounded by +-0.75. A good fit therefore has w close to 3,
# b close to 2 and a mean squared error near 0.06.
set -eu
awk 'BEGIN {
        seed = 42
        print "# y = 3x + 2 + noise; regenerate with examples/data/gen.sh (see there)"
        print "# x,y"
        for (i = 0; i < 200; i++) {
                x = i * 0.05
                noise = 0
                for (k = 0; k < 3; k++) {
                        seed = (seed * 16807) % 2147483647
                        noise += seed / 2147483647 - 0.5
                }
                printf "%.2f,%.4f\n", x, 3 * x + 2 + 0.5 * noise
        }
}'
