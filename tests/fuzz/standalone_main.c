/* SPDX-License-Identifier: MIT */
/* Replays fuzz inputs without libFuzzer (gcc, ASan/UBSan builds in make check):
 * standalone FILE... runs LLVMFuzzerTestOneInput once per file. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv) {
        for (int i = 1; i < argc; i++) {
                FILE *f = fopen(argv[i], "rb");
                if (!f) {
                        perror(argv[i]);
                        return 1;
                }
                size_t cap = 1 << 16, n = 0;
                uint8_t *buf = malloc(cap);
                size_t k;
                while (buf && (k = fread(buf + n, 1, cap - n, f)) > 0) {
                        n += k;
                        if (n == cap) {
                                uint8_t *nb = realloc(buf, cap *= 2);
                                if (!nb) {
                                        free(buf);
                                        buf = NULL;
                                }
                                buf = nb;
                        }
                }
                fclose(f);
                if (!buf)
                        return 1;
                LLVMFuzzerTestOneInput(buf, n);
                free(buf);
        }
        return 0;
}
