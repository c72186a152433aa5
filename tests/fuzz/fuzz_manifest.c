/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the manifest parser, the validators and the unit writer. Whatever the
 * input, parsing must not crash or leak, and every model that survives validation must
 * produce unit text with no raw control character and no unescaped specifier. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"
#include "unitfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_unit_text(const char *t) {
        for (const char *p = t; *p; p++) {
                if ((unsigned char) *p < 0x20 && *p != '\n')
                        abort();
        }
        /* Every line is a comment, a [section], empty, or Key=...: nothing smuggled in. */
        for (const char *line = t; *line;) {
                const char *nl = strchr(line, '\n');
                size_t len = nl ? (size_t) (nl - line) : strlen(line);
                if (len > 0 && line[0] != '#' && line[0] != '[') {
                        const char *eq = memchr(line, '=', len);
                        if (!eq)
                                abort();
                        for (const char *k = line; k < eq; k++)
                                if (!((*k >= 'A' && *k <= 'Z') || (*k >= 'a' && *k <= 'z')))
                                        abort();
                }
                line += len + (nl ? 1 : 0);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        Manifest *m = NULL;
        (void) manifest_parse("fuzz.ini", (const char *) data, size, &m);
        if (!m)
                return 0;
        for (size_t i = 0; i < m->n_models; i++) {
                char *t = NULL;
                for (int scope = 0; scope < 2; scope++) {
                        if (unit_serve_dropin(&m->models[i], scope ? SCOPE_USER : SCOPE_SYSTEM, "/x.ini", &t) == 0) {
                                check_unit_text(t);
                                free(t);
                        }
                }
        }
        FILE *devnull = fopen("/dev/null", "w");
        if (devnull) {
                manifest_print_diags(m, devnull);
                fclose(devnull);
        }
        manifest_free(m);
        return 0;
}
