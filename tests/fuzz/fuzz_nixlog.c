/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the Nix internal-json parser: the input is a stderr capture, split
 * on '\n' and fed line by line; then the status line is formatted at several buffer sizes
 * and the failure classified. Besides the sanitizers, it checks the promises of nixlog.h:
 * the text fields are bounded, NUL-terminated, valid UTF-8 without control characters.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -std=gnu11 -D_GNU_SOURCE -Isrc/lib \
 *         -Isrc/realise src/lib/{utf8,jsonread,nixmsg,nixerror,errtext,nixlog,util}.c \
 *         src/realise/statusline.c tests/fuzz/fuzz_nixlog.c -o build/fuzz_nixlog
 *   build/fuzz_nixlog -max_total_time=300 tests/fuzz/corpus/nixlog */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nixlog.h"
#include "statusline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                  \
        do {                                      \
                if (!(x))                         \
                        __builtin_trap();         \
        } while (0)

/* Valid UTF-8, no C0/DEL/C1 control characters; with trimmed also no space at
 * either end. */
static void check_text(const char *s, size_t max, bool trimmed) {
        const unsigned char *u = (const unsigned char *) s;
        size_t n = strnlen(s, max + 1);

        CHECK(n <= max);
        if (trimmed && n > 0)
                CHECK(u[0] != ' ' && u[n - 1] != ' ');
        for (size_t i = 0; i < n;) {
                unsigned char c = u[i];
                CHECK(c >= 0x20 && c != 0x7f);
                if (c < 0x80) {
                        i++;
                        continue;
                }
                size_t need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
                CHECK(c >= 0xc2 && c <= 0xf4 && i + need <= n);
                uint32_t cp = c & (need == 2 ? 0x1fu : need == 3 ? 0x0fu : 0x07u);
                for (size_t k = 1; k < need; k++) {
                        CHECK((u[i + k] & 0xc0) == 0x80);
                        cp = cp << 6 | (u[i + k] & 0x3fu);
                }
                CHECK(cp >= (need == 2 ? 0x80u : need == 3 ? 0x800u : 0x10000u));
                CHECK(cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff));
                CHECK(!(cp >= 0x80 && cp <= 0x9f));
                i += need;
        }
}

static void check_progress(const NixProgress *p) {
        check_text(p->last_line, NIXLOG_LINE_MAX, true);
        check_text(p->error, NIXLOG_ERROR_MAX, true);
        check_text(p->warning, NIXLOG_ERROR_MAX, true);
        check_text(p->current_drv, NIXLOG_DRV_MAX, true);
        check_text(p->machine, NIXLOG_MACHINE_MAX, true);
        check_text(p->waiting, NIXLOG_LINE_MAX, true);
        if (p->building || p->substituting)
                CHECK(p->waiting[0] == 0); /* a build or substitution ends a wait */
        if (!p->building)
                CHECK(p->current_drv[0] == 0 && p->machine[0] == 0);
        CHECK((p->n_errors == 0) == (nixlog_classify(p) == NIX_FAILURE_NONE));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const size_t sizes[] = { 1, 2, 8, 64, 200, 1024 };
        NixProgress *p = malloc(sizeof *p);
        char buf[1024 + 16];

        if (!p)
                return 0;
        nixlog_init(p);
        /* Each line is copied to its own allocation so that ASan sees any read past it. */
        for (size_t start = 0; start <= size;) {
                const uint8_t *nl = memchr(data + start, '\n', size - start);
                size_t len = nl ? (size_t) (nl - (data + start)) : size - start;
                char *line = malloc(len ? len : 1);
                if (!line)
                        break;
                memcpy(line, data + start, len);
                int r = nixlog_feed(p, len ? line : NULL, len);
                CHECK(r == 0 || r == 1);
                free(line);
                check_progress(p);
                start += len + 1;
        }

        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
                memset(buf, 0x7e, sizeof buf);
                status_line_format(p, "model", size, buf, sizes[i]);
                CHECK(strnlen(buf, sizes[i]) < sizes[i]);
                CHECK(buf[sizes[i]] == 0x7e); /* nothing written past size */
                check_text(buf, sizes[i] - 1, false);
        }
        /* The model name may be anything too: the first line of the input. */
        const uint8_t *nl = memchr(data, '\n', size);
        size_t ml = nl ? (size_t) (nl - data) : size;
        char *model = malloc(ml + 1);
        if (model) {
                memcpy(model, data, ml);
                model[ml] = 0;
                status_line_format(p, model, 0, buf, 1024);
                check_text(buf, 1023, false);
                free(model);
        }
        NixFailure f = nixlog_classify(p);
        CHECK(f == NIX_FAILURE_NONE || f == NIX_FAILURE_BUILD || f == NIX_FAILURE_INFRA);
        free(p);
        return 0;
}
