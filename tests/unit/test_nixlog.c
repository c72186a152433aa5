/* SPDX-License-Identifier: MIT */
/* Nix internal-json parser (src/lib/nixlog.c). The "@nix" lines below are real output of
 * Nix 2.8.0 (nix-store --realise DRV --log-format internal-json -v through nix-daemon),
 * captured for these tests: successful, failing, timed-out, substituted and remote builds
 * (a remote builder "ssh://gpu-box" simulated with a fake ssh running nix-store --serve on
 * a chroot store). Lines marked "synthetic" are not captured output. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "nixlog.h"
#include "statusline.h"
#include "util.h"

static int feed(NixProgress *p, const char *line) {
        return nixlog_feed(p, line, strlen(line));
}

static unsigned feed_all(NixProgress *p, const char *const *lines, size_t n) {
        unsigned changes = 0;
        for (size_t i = 0; i < n; i++)
                changes += (unsigned) feed(p, lines[i]);
        return changes;
}

/* Feeds lines[*i...] up to and including the first that contains needle. */
static void feed_through(NixProgress *p, const char *const *lines, size_t n, size_t *i, const char *needle) {
        for (; *i < n; (*i)++)
                if (feed(p, lines[*i]), strstr(lines[*i], needle)) {
                        (*i)++;
                        return;
                }
        fail_msg("no line contains %s", needle);
}

static const char *status(const NixProgress *p, const char *model, unsigned long long elapsed) {
        static char buf[512];
        status_line_format(p, model, elapsed, buf, sizeof buf);
        return buf;
}

/* Builds "@nix {"action":"result","fields":["<text>"],"id":1,"type":101}" around raw
 * JSON string content (escapes allowed). */
static const char *log_line(const char *json_string_content) {
        static char buf[8192];
        snprintf(buf, sizeof buf, "@nix {\"action\":\"result\",\"fields\":[\"%s\"],\"id\":1,\"type\":101}",
                 json_string_content);
        return buf;
}

/* The last_line a single build log line produces. */
static const char *last_line_of(const char *json_string_content) {
        static NixProgress p;
        nixlog_init(&p);
        feed(&p, log_line(json_string_content));
        return p.last_line;
}

static const char *error_msg(const char *json_string_content) {
        static char buf[8192];
        snprintf(buf, sizeof buf,
                 "@nix {\"action\":\"msg\",\"column\":null,\"file\":null,\"level\":0,\"line\":null,\"msg\":\"%s\"}",
                 json_string_content);
        return buf;
}

/* Writes prefix and n JSON escapes "\\u20ac" (the euro sign, 3 bytes in UTF-8) into buf,
 * which must hold strlen(prefix) + 6 * n + 1 bytes. */
static void euro_message(char *buf, const char *prefix, int n) {
        size_t k = strlen(prefix);
        memcpy(buf, prefix, k);
        for (int i = 0; i < n; i++, k += 6)
                memcpy(buf + k, "\\u20ac", 6);
        buf[k] = 0;
}

static const char *const OK_LOG[] = {
        "@nix {\"action\":\"start\",\"id\":11179799871488,\"level\":6,\"text\":\"querying info about missing paths\",\"type\":0}",
        "@nix {\"action\":\"stop\",\"id\":11179799871488}",
        "@nix {\"action\":\"msg\",\"level\":3,\"msg\":\"this derivation will be built:\"}",
        "@nix {\"action\":\"msg\",\"level\":3,\"msg\":\"  /nix/store/qfq4lcnw06wwaipixh0q5kqkwvmhzll3-nixlog-ok-1795590496.drv\"}",
        "@nix {\"action\":\"start\",\"id\":11179799871489,\"level\":0,\"text\":\"\",\"type\":102}",
        "@nix {\"action\":\"start\",\"id\":11179799871490,\"level\":0,\"text\":\"\",\"type\":104}",
        "@nix {\"action\":\"start\",\"id\":11179799871491,\"level\":0,\"text\":\"\",\"type\":103}",
        "@nix {\"action\":\"result\",\"fields\":[0,1,0,0],\"id\":11179799871490,\"type\":105}",
        "@nix {\"action\":\"result\",\"fields\":[0,0,0,0],\"id\":11179799871491,\"type\":105}",
        "@nix {\"action\":\"result\",\"fields\":[101,0],\"id\":11179799871489,\"type\":106}",
        "@nix {\"action\":\"result\",\"fields\":[100,0],\"id\":11179799871489,\"type\":106}",
        "@nix {\"action\":\"start\",\"id\":11179799871492,\"level\":6,\"text\":\"querying info about missing paths\",\"type\":0}",
        "@nix {\"action\":\"stop\",\"id\":11179799871492}",
        "@nix {\"action\":\"start\",\"fields\":[\"/nix/store/qfq4lcnw06wwaipixh0q5kqkwvmhzll3-nixlog-ok-1795590496.drv\",\"\",1,1],\"id\":11179799871493,\"level\":3,\"text\":\"building '/nix/store/qfq4lcnw06wwaipixh0q5kqkwvmhzll3-nixlog-ok-1795590496.drv'\",\"type\":105}",
        "@nix {\"action\":\"result\",\"fields\":[0,1,1,0],\"id\":11179799871490,\"type\":105}",
        "@nix {\"action\":\"result\",\"fields\":[0,0,0,0],\"id\":11179799871491,\"type\":105}",
        "@nix {\"action\":\"result\",\"fields\":[101,0],\"id\":11179799871489,\"type\":106}",
        "@nix {\"action\":\"result\",\"fields\":[100,0],\"id\":11179799871489,\"type\":106}",
        "@nix {\"action\":\"result\",\"fields\":[\"epoch 1/2\"],\"id\":11179799871493,\"type\":101}",
        "@nix {\"action\":\"result\",\"fields\":[\"tab\\there\"],\"id\":11179799871493,\"type\":101}",
        "@nix {\"action\":\"result\",\"fields\":[\"\\u001b[31mred\\u001b[0m\"],\"id\":11179799871493,\"type\":101}",
        "@nix {\"action\":\"result\",\"fields\":[\"epoch 2/2\"],\"id\":11179799871493,\"type\":101}",
        "@nix {\"action\":\"result\",\"fields\":[1,1,0,0],\"id\":11179799871490,\"type\":105}",
        "@nix {\"action\":\"result\",\"fields\":[0,0,0,0],\"id\":11179799871491,\"type\":105}",
        "@nix {\"action\":\"result\",\"fields\":[101,0],\"id\":11179799871489,\"type\":106}",
        "@nix {\"action\":\"result\",\"fields\":[100,0],\"id\":11179799871489,\"type\":106}",
        "@nix {\"action\":\"stop\",\"id\":11179799871493}",
        "@nix {\"action\":\"stop\",\"id\":11179799871491}",
        "@nix {\"action\":\"stop\",\"id\":11179799871490}",
        "@nix {\"action\":\"stop\",\"id\":11179799871489}",
        "@nix {\"action\":\"msg\",\"level\":1,\"msg\":\"\\u001b[35;1mwarning:\\u001b[0m you did not specify '--add-root'; the result might be removed by the garbage collector\"}",
};
static const char *const SUBST_LOG[] = {
        "@nix {\"action\":\"start\",\"id\":11179799871488,\"level\":6,\"text\":\"querying info about missing paths\",\"type\":0}",
        "@nix {\"action\":\"start\",\"fields\":[\"/nix/store/jvxqd6989ls24g2nv3xkra1pxbb735v1-nixlog-sub-1795590537260659872\",\"file:///tmp/nixcap/cache\"],\"id\":11179799871489,\"level\":4,\"text\":\"querying info about '/nix/store/jvxqd6989ls24g2nv3xkra1pxbb735v1-nixlog-sub-1795590537260659872' on 'file:///tmp/nixcap/cache'\",\"type\":109}",
        "@nix {\"action\":\"stop\",\"id\":11179799871489}",
        "@nix {\"action\":\"stop\",\"id\":11179799871488}",
        "@nix {\"action\":\"msg\",\"level\":3,\"msg\":\"this path will be fetched (0.00 MiB download, 0.06 MiB unpacked):\"}",
        "@nix {\"action\":\"msg\",\"level\":3,\"msg\":\"  /nix/store/jvxqd6989ls24g2nv3xkra1pxbb735v1-nixlog-sub-1795590537260659872\"}",
        "@nix {\"action\":\"start\",\"id\":11179799871490,\"level\":0,\"text\":\"\",\"type\":102}",
        "@nix {\"action\":\"start\",\"id\":11179799871491,\"level\":0,\"text\":\"\",\"type\":104}",
        "@nix {\"action\":\"start\",\"id\":11179799871492,\"level\":0,\"text\":\"\",\"type\":103}",
        "@nix {\"action\":\"result\",\"fields\":[0,1,0,0],\"id\":11179799871491,\"type\":105}",
        "@nix {\"action\":\"result\",\"fields\":[0,0,0,0],\"id\":11179799871492,\"type\":105}",
        "@nix {\"action\":\"start\",\"id\":11179799871493,\"level\":6,\"text\":\"querying info about missing paths\",\"type\":0}",
        "@nix {\"action\":\"stop\",\"id\":11179799871493}",
        "@nix {\"action\":\"result\",\"fields\":[0,1,0,0],\"id\":11179799871491,\"type\":105}",
        "@nix {\"action\":\"result\",\"fields\":[0,1,0,0],\"id\":11179799871492,\"type\":105}",
        "@nix {\"action\":\"result\",\"fields\":[0,1,0,0],\"id\":11179799871491,\"type\":105}",
        "@nix {\"action\":\"result\",\"fields\":[0,1,1,0],\"id\":11179799871492,\"type\":105}",
        "@nix {\"action\":\"start\",\"fields\":[\"/nix/store/jvxqd6989ls24g2nv3xkra1pxbb735v1-nixlog-sub-1795590537260659872\",\"file:///tmp/nixcap/cache\"],\"id\":11179799871494,\"level\":0,\"text\":\"\",\"type\":108}",
        "@nix {\"action\":\"start\",\"fields\":[\"/nix/store/jvxqd6989ls24g2nv3xkra1pxbb735v1-nixlog-sub-1795590537260659872\",\"file:///tmp/nixcap/cache\",\"local\"],\"id\":11179799871495,\"level\":3,\"text\":\"copying path '/nix/store/jvxqd6989ls24g2nv3xkra1pxbb735v1-nixlog-sub-1795590537260659872' from 'file:///tmp/nixcap/cache'\",\"type\":100}",
        "@nix {\"action\":\"result\",\"fields\":[8192,63456,0,0],\"id\":11179799871495,\"type\":105}",
        "@nix {\"action\":\"result\",\"fields\":[16384,63456,0,0],\"id\":11179799871495,\"type\":105}",
        "@nix {\"action\":\"result\",\"fields\":[24576,63456,0,0],\"id\":11179799871495,\"type\":105}",
        "@nix {\"action\":\"result\",\"fields\":[32768,63456,0,0],\"id\":11179799871495,\"type\":105}",
        "@nix {\"action\":\"result\",\"fields\":[40960,63456,0,0],\"id\":11179799871495,\"type\":105}",
        "@nix {\"action\":\"result\",\"fields\":[49152,63456,0,0],\"id\":11179799871495,\"type\":105}",
        "@nix {\"action\":\"result\",\"fields\":[57344,63456,0,0],\"id\":11179799871495,\"type\":105}",
        "@nix {\"action\":\"stop\",\"id\":11179799871495}",
        "@nix {\"action\":\"stop\",\"id\":11179799871494}",
        "@nix {\"action\":\"result\",\"fields\":[0,1,0,0],\"id\":11179799871491,\"type\":105}",
        "@nix {\"action\":\"result\",\"fields\":[1,1,0,0],\"id\":11179799871492,\"type\":105}",
        "@nix {\"action\":\"result\",\"fields\":[0,0,0,0],\"id\":11179799871491,\"type\":105}",
        "@nix {\"action\":\"result\",\"fields\":[1,1,0,0],\"id\":11179799871492,\"type\":105}",
        "@nix {\"action\":\"stop\",\"id\":11179799871492}",
        "@nix {\"action\":\"stop\",\"id\":11179799871491}",
        "@nix {\"action\":\"stop\",\"id\":11179799871490}",
        "@nix {\"action\":\"msg\",\"level\":1,\"msg\":\"\\u001b[35;1mwarning:\\u001b[0m you did not specify '--add-root'; the result might be removed by the garbage collector\"}",
};
static const char *const REMOTE_OK_LOG[] = {
        "@nix {\"action\":\"start\",\"id\":21260088115200,\"level\":6,\"text\":\"querying info about missing paths\",\"type\":0}",
        "@nix {\"action\":\"stop\",\"id\":21260088115200}",
        "@nix {\"action\":\"msg\",\"level\":3,\"msg\":\"this derivation will be built:\"}",
        "@nix {\"action\":\"msg\",\"level\":3,\"msg\":\"  /nix/store/g0dazbkj5dgp71jaiy0qq3sb1kdl8wys-nixlog-remote2-1795590715128458243.drv\"}",
        "@nix {\"action\":\"start\",\"id\":21260088115201,\"level\":0,\"text\":\"\",\"type\":102}",
        "@nix {\"action\":\"start\",\"id\":21260088115202,\"level\":0,\"text\":\"\",\"type\":104}",
        "@nix {\"action\":\"start\",\"id\":21260088115203,\"level\":0,\"text\":\"\",\"type\":103}",
        "@nix {\"action\":\"result\",\"fields\":[0,1,0,0],\"id\":21260088115202,\"type\":105}",
        "@nix {\"action\":\"result\",\"fields\":[0,0,0,0],\"id\":21260088115203,\"type\":105}",
        "@nix {\"action\":\"start\",\"id\":21260088115204,\"level\":6,\"text\":\"querying info about missing paths\",\"type\":0}",
        "@nix {\"action\":\"stop\",\"id\":21260088115204}",
        "@nix {\"action\":\"start\",\"id\":21260088115205,\"level\":4,\"text\":\"connecting to 'ssh://gpu-box?remote-store=/tmp/nixcap/rstore'\",\"type\":0}",
        "@nix {\"action\":\"stop\",\"id\":21260088115205}",
        "@nix {\"action\":\"start\",\"fields\":[\"/nix/store/g0dazbkj5dgp71jaiy0qq3sb1kdl8wys-nixlog-remote2-1795590715128458243.drv\",\"ssh://gpu-box?remote-store=/tmp/nixcap/rstore\",1,1],\"id\":21260088115206,\"level\":3,\"text\":\"building '/nix/store/g0dazbkj5dgp71jaiy0qq3sb1kdl8wys-nixlog-remote2-1795590715128458243.drv' on 'ssh://gpu-box?remote-store=/tmp/nixcap/rstore'\",\"type\":105}",
        "@nix {\"action\":\"result\",\"fields\":[0,1,1,0],\"id\":21260088115202,\"type\":105}",
        "@nix {\"action\":\"result\",\"fields\":[0,0,0,0],\"id\":21260088115203,\"type\":105}",
        "@nix {\"action\":\"start\",\"id\":21260088115207,\"level\":4,\"text\":\"waiting for the upload lock to 'ssh://gpu-box?remote-store=/tmp/nixcap/rstore'\",\"type\":0}",
        "@nix {\"action\":\"stop\",\"id\":21260088115207}",
        "@nix {\"action\":\"start\",\"id\":21260088115208,\"level\":4,\"text\":\"copying dependencies to 'ssh://gpu-box?remote-store=/tmp/nixcap/rstore'\",\"type\":0}",
        "@nix {\"action\":\"start\",\"id\":21260088115209,\"level\":3,\"text\":\"copying 1 paths\",\"type\":103}",
        "@nix {\"action\":\"start\",\"fields\":[\"/nix/store/9nlnqqc9zbkrljmxn0r9yrlcd8cq321y-nixlog-static-builder\",\"local\",\"ssh://gpu-box\"],\"id\":21260088115210,\"level\":3,\"text\":\"copying path '/nix/store/9nlnqqc9zbkrljmxn0r9yrlcd8cq321y-nixlog-static-builder' to 'ssh://gpu-box'\",\"type\":100}",
        "@nix {\"action\":\"stop\",\"id\":21260088115210}",
        "@nix {\"action\":\"stop\",\"id\":21260088115209}",
        "@nix {\"action\":\"stop\",\"id\":21260088115208}",
        "@nix {\"action\":\"result\",\"fields\":[\"remote epoch 1/2\"],\"id\":21260088115206,\"type\":101}",
        "@nix {\"action\":\"result\",\"fields\":[\"remote epoch 2/2\"],\"id\":21260088115206,\"type\":101}",
        "@nix {\"action\":\"start\",\"id\":21260088115211,\"level\":4,\"text\":\"copying outputs from 'ssh://gpu-box?remote-store=/tmp/nixcap/rstore'\",\"type\":0}",
        "@nix {\"action\":\"start\",\"id\":21260088115212,\"level\":3,\"text\":\"copying 1 paths\",\"type\":103}",
        "@nix {\"action\":\"start\",\"fields\":[\"/nix/store/ydfsxnwi3qar8r4myvrypa1na6kafdzj-nixlog-remote2-1795590715128458243\",\"ssh://gpu-box\",\"local\"],\"id\":21260088115213,\"level\":3,\"text\":\"copying path '/nix/store/ydfsxnwi3qar8r4myvrypa1na6kafdzj-nixlog-remote2-1795590715128458243' from 'ssh://gpu-box'\",\"type\":100}",
        "@nix {\"action\":\"stop\",\"id\":21260088115213}",
        "@nix {\"action\":\"stop\",\"id\":21260088115212}",
        "@nix {\"action\":\"stop\",\"id\":21260088115211}",
        "@nix {\"action\":\"result\",\"fields\":[1,1,0,0],\"id\":21260088115202,\"type\":105}",
        "@nix {\"action\":\"result\",\"fields\":[0,0,0,0],\"id\":21260088115203,\"type\":105}",
        "@nix {\"action\":\"stop\",\"id\":21260088115206}",
        "@nix {\"action\":\"stop\",\"id\":21260088115203}",
        "@nix {\"action\":\"stop\",\"id\":21260088115202}",
        "@nix {\"action\":\"stop\",\"id\":21260088115201}",
        "@nix {\"action\":\"msg\",\"level\":1,\"msg\":\"\\u001b[35;1mwarning:\\u001b[0m you did not specify '--add-root'; the result might be removed by the garbage collector\"}",
};
static const char *const REMOTE_UNREACHABLE_LOG[] = {
        "@nix {\"action\":\"start\",\"id\":21260088115200,\"level\":6,\"text\":\"querying info about missing paths\",\"type\":0}",
        "@nix {\"action\":\"stop\",\"id\":21260088115200}",
        "@nix {\"action\":\"msg\",\"level\":3,\"msg\":\"this derivation will be built:\"}",
        "@nix {\"action\":\"msg\",\"level\":3,\"msg\":\"  /nix/store/10sdmkfihrrkwc586pj12if2v5780535-nixlog-remote-1795590578786481121.drv\"}",
        "@nix {\"action\":\"start\",\"id\":21260088115201,\"level\":0,\"text\":\"\",\"type\":102}",
        "@nix {\"action\":\"start\",\"id\":21260088115202,\"level\":0,\"text\":\"\",\"type\":104}",
        "@nix {\"action\":\"start\",\"id\":21260088115203,\"level\":0,\"text\":\"\",\"type\":103}",
        "@nix {\"action\":\"result\",\"fields\":[0,1,0,0],\"id\":21260088115202,\"type\":105}",
        "@nix {\"action\":\"result\",\"fields\":[0,0,0,0],\"id\":21260088115203,\"type\":105}",
        "@nix {\"action\":\"result\",\"fields\":[101,0],\"id\":21260088115201,\"type\":106}",
        "@nix {\"action\":\"result\",\"fields\":[100,0],\"id\":21260088115201,\"type\":106}",
        "@nix {\"action\":\"start\",\"id\":21260088115204,\"level\":6,\"text\":\"querying info about missing paths\",\"type\":0}",
        "@nix {\"action\":\"stop\",\"id\":21260088115204}",
        "@nix {\"action\":\"start\",\"id\":21260088115205,\"level\":4,\"text\":\"connecting to 'ssh://gpu-box?remote-store=/tmp/nixcap/rstore'\",\"type\":0}",
        "@nix {\"action\":\"stop\",\"id\":21260088115205}",
        "@nix {\"action\":\"msg\",\"level\":0,\"msg\":\"cannot build on 'ssh://gpu-box?remote-store=/tmp/nixcap/rstore': \\u001b[31;1merror:\\u001b[0m cannot connect to '\\u001b[35;1mgpu-box\\u001b[0m': sh: 0: Illegal option -\"}",
        "@nix {\"action\":\"msg\",\"level\":0,\"msg\":\"Failed to find a machine for remote build!\\nderivation: \\u001b[35;1m10sdmkfihrrkwc586pj12if2v5780535-nixlog-remote-1795590578786481121.drv\\u001b[0m\\nrequired (system, features): (\\u001b[35;1mx86_64-linux\\u001b[0m, \\u001b[35;1m\\u001b[0m)\\n\\u001b[35;1m1\\u001b[0m available machines:\\n(systems, maxjobs, supportedFeatures, mandatoryFeatures)\\n(\\u001b[35;1mx86_64-linux\\u001b[0m, \\u001b[35;1m1\\u001b[0m, \\u001b[35;1m\\u001b[0m, \\u001b[35;1m\\u001b[0m)\"}",
        "@nix {\"action\":\"stop\",\"id\":21260088115203}",
        "@nix {\"action\":\"stop\",\"id\":21260088115202}",
        "@nix {\"action\":\"stop\",\"id\":21260088115201}",
        "@nix {\"action\":\"msg\",\"column\":null,\"file\":null,\"level\":0,\"line\":null,\"msg\":\"\\u001b[31;1merror:\\u001b[0m unable to start any build; remote machines may not have all required system features.\\n       https://nixos.org/manual/nix/stable/advanced-topics/distributed-builds.html\",\"raw_msg\":\"unable to start any build; remote machines may not have all required system features.\\nhttps://nixos.org/manual/nix/stable/advanced-topics/distributed-builds.html\"}",
};
static const char *const PLAIN_FAIL_LOG[] = {
        "warning: error: unable to download 'https://cache.nixos.org/nix-cache-info': Couldn't resolve host name (6); retrying in 260 ms",
        "warning: error: unable to download 'https://cache.nixos.org/nix-cache-info': Couldn't resolve host name (6); retrying in 568 ms",
        "warning: error: unable to download 'https://cache.nixos.org/nix-cache-info': Couldn't resolve host name (6); retrying in 1303 ms",
        "warning: error: unable to download 'https://cache.nixos.org/nix-cache-info': Couldn't resolve host name (6); retrying in 2203 ms",
        "warning: unable to download 'https://cache.nixos.org/nix-cache-info': Couldn't resolve host name (6)",
        "this derivation will be built:",
        "  /nix/store/7g4xr6mrsqpfbfydj4qixggmj0r6inx1-nixlog-fail-1795591005.drv",
        "building '/nix/store/7g4xr6mrsqpfbfydj4qixggmj0r6inx1-nixlog-fail-1795591005.drv'...",
        "training",
        "boom",
        "error: builder for '/nix/store/7g4xr6mrsqpfbfydj4qixggmj0r6inx1-nixlog-fail-1795591005.drv' failed with exit code 1;",
        "       last 2 log lines:",
        "       > training",
        "       > boom",
        "       For full logs, run 'nix log /nix/store/7g4xr6mrsqpfbfydj4qixggmj0r6inx1-nixlog-fail-1795591005.drv'.",
};
static const char *const DEPFAIL_LOG[] = {
        "@nix {\"action\":\"start\",\"id\":11179799871488,\"level\":6,\"text\":\"querying info about missing paths\",\"type\":0}",
        "@nix {\"action\":\"start\",\"fields\":[\"https://cache.nixos.org/nix-cache-info\"],\"id\":11179799871489,\"level\":4,\"text\":\"downloading 'https://cache.nixos.org/nix-cache-info'\",\"type\":101}",
        "@nix {\"action\":\"result\",\"fields\":[0,0,0,0],\"id\":11179799871489,\"type\":105}",
        "@nix {\"action\":\"result\",\"fields\":[0,0,0,0],\"id\":11179799871489,\"type\":105}",
        "@nix {\"action\":\"msg\",\"level\":0,\"msg\":\"\\u001b[35;1mwarning:\\u001b[0m \\u001b[31;1merror:\\u001b[0m unable to download 'https://cache.nixos.org/nix-cache-info': Couldn't resolve host name (6); retrying in 299 ms\"}",
        "@nix {\"action\":\"result\",\"fields\":[0,0,0,0],\"id\":11179799871489,\"type\":105}",
        "@nix {\"action\":\"msg\",\"level\":0,\"msg\":\"\\u001b[35;1mwarning:\\u001b[0m \\u001b[31;1merror:\\u001b[0m unable to download 'https://cache.nixos.org/nix-cache-info': Couldn't resolve host name (6); retrying in 615 ms\"}",
        "@nix {\"action\":\"result\",\"fields\":[0,0,0,0],\"id\":11179799871489,\"type\":105}",
        "@nix {\"action\":\"msg\",\"level\":0,\"msg\":\"\\u001b[35;1mwarning:\\u001b[0m \\u001b[31;1merror:\\u001b[0m unable to download 'https://cache.nixos.org/nix-cache-info': Couldn't resolve host name (6); retrying in 1336 ms\"}",
        "@nix {\"action\":\"result\",\"fields\":[0,0,0,0],\"id\":11179799871489,\"type\":105}",
        "@nix {\"action\":\"result\",\"fields\":[0,0,0,0],\"id\":11179799871489,\"type\":105}",
        "@nix {\"action\":\"msg\",\"level\":0,\"msg\":\"\\u001b[35;1mwarning:\\u001b[0m \\u001b[31;1merror:\\u001b[0m unable to download 'https://cache.nixos.org/nix-cache-info': Couldn't resolve host name (6); retrying in 2471 ms\"}",
        "@nix {\"action\":\"result\",\"fields\":[0,0,0,0],\"id\":11179799871489,\"type\":105}",
        "@nix {\"action\":\"stop\",\"id\":11179799871489}",
        "@nix {\"action\":\"msg\",\"level\":0,\"msg\":\"\\u001b[35;1mwarning:\\u001b[0m unable to download 'https://cache.nixos.org/nix-cache-info': Couldn't resolve host name (6)\"}",
        "@nix {\"action\":\"stop\",\"id\":11179799871488}",
        "@nix {\"action\":\"msg\",\"level\":3,\"msg\":\"these 2 derivations will be built:\"}",
        "@nix {\"action\":\"msg\",\"level\":3,\"msg\":\"  /nix/store/hh6s96gbqc9043nqsprvh2rylaj5zpnh-nixlog-depa-1795590685658386099.drv\"}",
        "@nix {\"action\":\"msg\",\"level\":3,\"msg\":\"  /nix/store/34i5bq7fn3m1nzdx85yk5pqbgxb8zi7x-nixlog-deptop-1795590685658386099.drv\"}",
        "@nix {\"action\":\"start\",\"id\":11179799871490,\"level\":0,\"text\":\"\",\"type\":102}",
        "@nix {\"action\":\"start\",\"id\":11179799871491,\"level\":0,\"text\":\"\",\"type\":104}",
        "@nix {\"action\":\"start\",\"id\":11179799871492,\"level\":0,\"text\":\"\",\"type\":103}",
        "@nix {\"action\":\"result\",\"fields\":[0,1,0,0],\"id\":11179799871491,\"type\":105}",
        "@nix {\"action\":\"result\",\"fields\":[0,0,0,0],\"id\":11179799871492,\"type\":105}",
        "@nix {\"action\":\"start\",\"id\":11179799871493,\"level\":6,\"text\":\"querying info about missing paths\",\"type\":0}",
        "@nix {\"action\":\"stop\",\"id\":11179799871493}",
        "@nix {\"action\":\"result\",\"fields\":[0,2,0,0],\"id\":11179799871491,\"type\":105}",
        "@nix {\"action\":\"result\",\"fields\":[0,0,0,0],\"id\":11179799871492,\"type\":105}",
        "@nix {\"action\":\"start\",\"fields\":[\"/nix/store/hh6s96gbqc9043nqsprvh2rylaj5zpnh-nixlog-depa-1795590685658386099.drv\",\"\",1,1],\"id\":11179799871494,\"level\":3,\"text\":\"building '/nix/store/hh6s96gbqc9043nqsprvh2rylaj5zpnh-nixlog-depa-1795590685658386099.drv'\",\"type\":105}",
        "@nix {\"action\":\"result\",\"fields\":[0,2,1,0],\"id\":11179799871491,\"type\":105}",
        "@nix {\"action\":\"result\",\"fields\":[0,0,0,0],\"id\":11179799871492,\"type\":105}",
        "@nix {\"action\":\"result\",\"fields\":[\"failing dep\"],\"id\":11179799871494,\"type\":101}",
        "@nix {\"action\":\"result\",\"fields\":[0,1,0,1],\"id\":11179799871491,\"type\":105}",
        "@nix {\"action\":\"result\",\"fields\":[0,0,0,0],\"id\":11179799871492,\"type\":105}",
        "@nix {\"action\":\"msg\",\"level\":0,\"msg\":\"\\u001b[31;1merror:\\u001b[0m builder for '\\u001b[35;1m/nix/store/hh6s96gbqc9043nqsprvh2rylaj5zpnh-nixlog-depa-1795590685658386099.drv\\u001b[0m' failed with exit code 2;\\n       last 1 log lines:\\n       > failing dep\\n       For full logs, run '\\u001b[1mnix log /nix/store/hh6s96gbqc9043nqsprvh2rylaj5zpnh-nixlog-depa-1795590685658386099.drv\\u001b[0m'.\"}",
        "@nix {\"action\":\"stop\",\"id\":11179799871494}",
        "@nix {\"action\":\"result\",\"fields\":[0,0,0,1],\"id\":11179799871491,\"type\":105}",
        "@nix {\"action\":\"result\",\"fields\":[0,0,0,0],\"id\":11179799871492,\"type\":105}",
        "@nix {\"action\":\"stop\",\"id\":11179799871492}",
        "@nix {\"action\":\"stop\",\"id\":11179799871491}",
        "@nix {\"action\":\"stop\",\"id\":11179799871490}",
        "@nix {\"action\":\"msg\",\"column\":null,\"file\":null,\"level\":0,\"line\":null,\"msg\":\"\\u001b[31;1merror:\\u001b[0m \\u001b[35;1m1\\u001b[0m dependencies of derivation '\\u001b[35;1m/nix/store/34i5bq7fn3m1nzdx85yk5pqbgxb8zi7x-nixlog-deptop-1795590685658386099.drv\\u001b[0m' failed to build\",\"raw_msg\":\"\\u001b[35;1m1\\u001b[0m dependencies of derivation '\\u001b[35;1m/nix/store/34i5bq7fn3m1nzdx85yk5pqbgxb8zi7x-nixlog-deptop-1795590685658386099.drv\\u001b[0m' failed to build\"}",
};

/* The lines quoted in the task, from a failing and a successful Nix 2.8 run. */
#define L_QUERY_START "@nix {\"action\":\"start\",\"id\":11179799871488,\"level\":6,\"text\":\"querying info about missing paths\",\"type\":0}"
#define L_QUERY_STOP "@nix {\"action\":\"stop\",\"id\":11179799871488}"
#define L_WILL_BUILD "@nix {\"action\":\"msg\",\"level\":3,\"msg\":\"this derivation will be built:\"}"
#define L_BUILDS_START "@nix {\"action\":\"start\",\"id\":11179799871490,\"level\":0,\"text\":\"\",\"type\":104}"
#define L_BUILDS_0_1 "@nix {\"action\":\"result\",\"fields\":[0,1,0,0],\"id\":11179799871490,\"type\":105}"
#define L_SET_EXPECTED "@nix {\"action\":\"result\",\"fields\":[101,0],\"id\":11179799871489,\"type\":106}"
#define L_BUILD_START                                                                                    \
        "@nix {\"action\":\"start\",\"fields\":[\"/nix/store/wvfqywd4bwvl3m6rrc9y3vca4k0piz57-tiny-model-6073.drv\"," \
        "\"\",1,1],\"id\":11179799871493,\"level\":3,\"text\":\"building "                                  \
        "'/nix/store/wvfqywd4bwvl3m6rrc9y3vca4k0piz57-tiny-model-6073.drv'\",\"type\":105}"
#define L_EPOCH "@nix {\"action\":\"result\",\"fields\":[\"epoch 1/3\"],\"id\":11179799871493,\"type\":101}"
#define L_BUILDS_1_1 "@nix {\"action\":\"result\",\"fields\":[1,1,0,0],\"id\":11179799871490,\"type\":105}"
#define L_ERROR                                                                                                       \
        "@nix {\"action\":\"msg\",\"column\":null,\"file\":null,\"level\":0,\"line\":null,\"msg\":\"\\u001b[31;1merror:"  \
        "\\u001b[0m builder for '\\u001b[35;1m/nix/store/bnkz...-bad.drv\\u001b[0m' failed with exit code 1;\\n       " \
        "last 2 log lines:\\n       > training\\n       > boom\\n       For full logs, run ...\",\"raw_msg\":\"builder " \
        "for '...' failed with exit code 1;\\nlast 2 log lines:\\n> training\\n> boom\\nFor full logs, run '...'.\"}"

#define DRV_6073 "/nix/store/wvfqywd4bwvl3m6rrc9y3vca4k0piz57-tiny-model-6073.drv"

static void test_init_is_empty(void **state) {
        (void) state;
        NixProgress p;
        memset(&p, 0x5a, sizeof p);
        nixlog_init(&p);
        assert_int_equal(p.done + p.expected + p.running + p.failed + p.subst_done + p.subst_expected, 0);
        assert_false(p.building);
        assert_false(p.substituting);
        assert_string_equal(p.current_drv, "");
        assert_string_equal(p.machine, "");
        assert_string_equal(p.last_line, "");
        assert_string_equal(p.error, "");
        assert_int_equal(p.n_errors, 0);
        assert_int_equal(nixlog_classify(&p), NIX_FAILURE_NONE);
        assert_string_equal(status(&p, "mnist", 0), "training mnist: 0/0 derivations built, 0s elapsed");
}

static void test_real_lines_one_by_one(void **state) {
        (void) state;
        NixProgress p;
        nixlog_init(&p);

        /* Activities and messages that a status line does not show. */
        assert_int_equal(feed(&p, L_QUERY_START), 0);
        assert_int_equal(feed(&p, L_QUERY_STOP), 0);
        assert_int_equal(feed(&p, L_WILL_BUILD), 0);
        assert_int_equal(feed(&p, L_BUILDS_START), 0);

        assert_int_equal(feed(&p, L_BUILDS_0_1), 1);
        assert_int_equal(p.done, 0);
        assert_int_equal(p.expected, 1);
        assert_int_equal(feed(&p, L_BUILDS_0_1), 0); /* no change the second time */
        assert_int_equal(feed(&p, L_SET_EXPECTED), 0);

        assert_int_equal(feed(&p, L_BUILD_START), 1);
        assert_true(p.building);
        assert_string_equal(p.current_drv, DRV_6073);
        assert_string_equal(p.machine, "");

        assert_int_equal(feed(&p, L_EPOCH), 1);
        assert_string_equal(p.last_line, "epoch 1/3");
        assert_string_equal(status(&p, "tiny-model", 59),
                            "training tiny-model: 0/1 derivations built, 59s elapsed, last: epoch 1/3");

        assert_int_equal(feed(&p, L_BUILDS_1_1), 1);
        assert_int_equal(p.done, 1);
        assert_string_equal(status(&p, "tiny-model", 720),
                            "training tiny-model: 1/1 derivations built, 12m elapsed, last: epoch 1/3");

        assert_int_equal(feed(&p, L_ERROR), 1);
        /* The quoted log in one line, its last line (the cause) kept whole (errtext.h). */
        assert_string_equal(p.error,
                            "builder for '/nix/store/bnkz...-bad.drv' failed with exit code 1: training | "
                            "boom");
        assert_int_equal(p.n_errors, 1);
        assert_int_equal(nixlog_classify(&p), NIX_FAILURE_BUILD);
        assert_int_equal(p.done, 1); /* an error does not touch progress */
}

static void test_successful_build_sequence(void **state) {
        (void) state;
        NixProgress p;
        size_t i = 0, n = ELEMENTSOF(OK_LOG);
        const char *drv = "/nix/store/qfq4lcnw06wwaipixh0q5kqkwvmhzll3-nixlog-ok-1795590496.drv";
        nixlog_init(&p);

        feed_through(&p, OK_LOG, n, &i, "\"type\":103}");
        assert_string_equal(status(&p, "ok", 1), "training ok: 0/0 derivations built, 1s elapsed");
        feed_through(&p, OK_LOG, n, &i, "\"fields\":[0,1,0,0]");
        assert_string_equal(status(&p, "ok", 2), "training ok: 0/1 derivations built, 2s elapsed");
        feed_through(&p, OK_LOG, n, &i, "building '");
        assert_true(p.building);
        assert_string_equal(p.current_drv, drv);
        feed_through(&p, OK_LOG, n, &i, "\"fields\":[0,1,1,0]");
        assert_int_equal(p.running, 1);
        feed_through(&p, OK_LOG, n, &i, "epoch 1/2");
        assert_string_equal(status(&p, "ok", 3), "training ok: 0/1 derivations built, 3s elapsed, last: epoch 1/2");
        feed_through(&p, OK_LOG, n, &i, "tab\\there");
        assert_string_equal(p.last_line, "tab here");
        feed_through(&p, OK_LOG, n, &i, "red");
        assert_string_equal(p.last_line, "red");
        feed_through(&p, OK_LOG, n, &i, "epoch 2/2");
        feed_through(&p, OK_LOG, n, &i, "\"fields\":[1,1,0,0]");
        assert_string_equal(status(&p, "ok", 4), "training ok: 1/1 derivations built, 4s elapsed, last: epoch 2/2");
        feed_through(&p, OK_LOG, n, &i, "\"action\":\"stop\",\"id\":11179799871493");
        assert_false(p.building);
        assert_string_equal(p.current_drv, "");
        feed_all(&p, OK_LOG + i, n - i); /* the rest, "--add-root" warning included */
        assert_int_equal(p.n_errors, 0);
        assert_string_equal(p.error, "");
        assert_int_equal(nixlog_classify(&p), NIX_FAILURE_NONE);
        assert_string_equal(status(&p, "ok", 5), "training ok: 1/1 derivations built, 5s elapsed, last: epoch 2/2");
}

static void test_substitution_sequence(void **state) {
        (void) state;
        NixProgress p;
        size_t i = 0, n = ELEMENTSOF(SUBST_LOG);
        nixlog_init(&p);

        feed_through(&p, SUBST_LOG, n, &i, "\"fields\":[0,1,0,0],\"id\":11179799871492");
        assert_int_equal(p.subst_done, 0);
        assert_int_equal(p.subst_expected, 1);
        assert_false(p.substituting);
        /* The level-0 "warning:" is not an error. */
        feed_through(&p, SUBST_LOG, n, &i, "\"type\":108}");
        assert_true(p.substituting);
        assert_false(p.building);
        assert_string_equal(status(&p, "sub", 61), "substituting sub: 0/1 paths substituted, 1m elapsed");
        feed_through(&p, SUBST_LOG, n, &i, "\"action\":\"stop\",\"id\":11179799871494");
        assert_false(p.substituting);
        feed_through(&p, SUBST_LOG, n, &i, "\"fields\":[1,1,0,0],\"id\":11179799871492");
        assert_int_equal(p.subst_done, 1);
        feed_all(&p, SUBST_LOG + i, n - i);
        assert_int_equal(p.expected, 0); /* Nix drops the substituted drv from the builds */
        assert_int_equal(p.n_errors, 0);
        assert_string_equal(status(&p, "sub", 3600), "training sub: 0/0 derivations built, 1h00m elapsed");
}

static void test_remote_build_machine(void **state) {
        (void) state;
        NixProgress p;
        size_t i = 0, n = ELEMENTSOF(REMOTE_OK_LOG);
        nixlog_init(&p);

        feed_through(&p, REMOTE_OK_LOG, n, &i, "building '");
        assert_true(p.building);
        assert_string_equal(p.current_drv, "/nix/store/g0dazbkj5dgp71jaiy0qq3sb1kdl8wys-nixlog-remote2-1795590715128458243.drv");
        assert_string_equal(p.machine, "ssh://gpu-box?remote-store=/tmp/nixcap/rstore");
        /* Copying the closure to the builder is a second actCopyPaths: not substitution. */
        feed_through(&p, REMOTE_OK_LOG, n, &i, "remote epoch 2/2");
        assert_false(p.substituting);
        assert_int_equal(p.subst_expected, 0);
        assert_string_equal(status(&p, "gpu", 7200 + 7 * 60 + 5),
                            "training gpu: 0/1 derivations built, 2h07m elapsed, last: remote epoch 2/2");
        feed_all(&p, REMOTE_OK_LOG + i, n - i);
        assert_false(p.building);
        assert_string_equal(p.machine, "");
        assert_int_equal(p.done, 1);
        assert_int_equal(nixlog_classify(&p), NIX_FAILURE_NONE);
}

static void test_parallel_builds_current_drv(void **state) {
        (void) state;
        NixProgress p;
        nixlog_init(&p);

        /* synthetic: two builds at once (max-jobs 2), the newer one ends first */
        assert_int_equal(feed(&p, "@nix {\"action\":\"start\",\"fields\":[\"/nix/store/a.drv\",\"\",1,1],\"id\":5,\"type\":105}"), 1);
        assert_int_equal(feed(&p, "@nix {\"action\":\"start\",\"fields\":[\"/nix/store/b.drv\",\"ssh://b\",1,1],\"id\":6,\"type\":105}"), 1);
        assert_string_equal(p.current_drv, "/nix/store/b.drv");
        assert_string_equal(p.machine, "ssh://b");
        assert_int_equal(feed(&p, "@nix {\"action\":\"stop\",\"id\":6}"), 1);
        assert_string_equal(p.current_drv, "/nix/store/a.drv");
        assert_string_equal(p.machine, "");
        assert_true(p.building);
        assert_int_equal(feed(&p, "@nix {\"action\":\"stop\",\"id\":5}"), 1);
        assert_false(p.building);
        assert_int_equal(feed(&p, "@nix {\"action\":\"stop\",\"id\":5}"), 0); /* unknown id */

        /* A Nix without "fields": the drv comes from the text. */
        assert_int_equal(feed(&p, "@nix {\"action\":\"start\",\"id\":7,\"level\":3,\"text\":\"building '/nix/store/c.drv'\",\"type\":105}"), 1);
        assert_string_equal(p.current_drv, "/nix/store/c.drv");
}

static void test_log_line_ansi_and_tabs(void **state) {
        (void) state;
        assert_string_equal(last_line_of("\\u001b[31mred\\u001b[0m"), "red"); /* real */
        assert_string_equal(last_line_of("tab\\there"), "tab here");           /* real */
        assert_string_equal(last_line_of("\\u001b[1;32m[ OK ]\\u001b[0m\\tstep\\t\\t2"), "[ OK ] step  2");
        assert_string_equal(last_line_of("\\u001b]0;window title\\u0007visible"), "visible");    /* OSC, BEL */
        assert_string_equal(last_line_of("\\u001b]8;;http://x\\u001b\\\\link\\u001b]8;;\\u001b\\\\"), "link"); /* OSC, ST */
        assert_string_equal(last_line_of("\\u001b(Bplain\\u001b=\\u001b[?25l"), "plain");
        assert_string_equal(last_line_of("  indented  "), "indented");
        assert_string_equal(last_line_of("cut \\u001b[3"), "cut"); /* unterminated CSI */
}

static void test_log_line_carriage_returns(void **state) {
        (void) state;
        /* A progress bar redrawn in place: the terminal shows the last part. */
        assert_string_equal(last_line_of("\\r 10%|#   | 1/10\\r 20%|##  | 2/10"), "20%|##  | 2/10");
        assert_string_equal(last_line_of("done\\r"), "done");
        assert_string_equal(last_line_of("epoch 3\\r\\u001b[K\\r  \\r"), "epoch 3");
        assert_string_equal(last_line_of("\\r\\r\\r"), "");
}

static void test_log_line_control_characters(void **state) {
        (void) state;
        assert_string_equal(last_line_of("a\\u0000b\\u0001c\\u007fd\\be\\u001ff"), "a?b?c?d?e?f");
        assert_string_equal(last_line_of("c1\\u0085\\u009bx"), "c1??x");
        assert_string_equal(last_line_of("bidi\\u202eevil\\u2028x\\ufeff"), "bidi?evil?x?");
        /* real: remote-build protocol bytes that leaked into the log of a failed remote build */
        assert_string_equal(last_line_of("\\u0005\\u0000\\u0000\\u0000Error\\u0000D\\u0000executing '/bin/sh'"),
                            "????Error?D?executing '/bin/sh'");
        /* Unescaped control bytes inside the JSON string are kept and replaced too. */
        assert_string_equal(last_line_of("raw\x01" "bell\x07"), "raw?bell?");
}

static void test_log_line_invalid_utf8(void **state) {
        (void) state;
        assert_string_equal(last_line_of("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
        assert_string_equal(last_line_of("\xff\xfe ok \xc3\x28 end \xe2\x82"), "?? ok ?( end ??");
        assert_string_equal(last_line_of("overlong \xc0\xaf \xe0\x80\xaf"), "overlong ?? ???");
        assert_string_equal(last_line_of("surrogate \xed\xa0\x80"), "surrogate ???");
        assert_string_equal(last_line_of("too big \xf4\x90\x80\x80"), "too big ????");
        /* JSON escapes: pairs join, lone halves become U+FFFD */
        assert_string_equal(last_line_of("\\u00e9\\ud83d\\ude00"), "\xc3\xa9\xf0\x9f\x98\x80");
        assert_string_equal(last_line_of("a\\ud800b"), "a\xef\xbf\xbd" "b");
        assert_string_equal(last_line_of("a\\udc00b"), "a\xef\xbf\xbd" "b");
        assert_string_equal(last_line_of("a\\ud800\\u0041"), "a\xef\xbf\xbd" "A");
        assert_string_equal(last_line_of("\\ud800\\ud800\\udc00"), "\xef\xbf\xbd\xf0\x90\x80\x80");
        assert_string_equal(last_line_of("\\/\\\"\\\\"), "/\"\\");
}

static void test_log_line_overlong(void **state) {
        (void) state;
        char in[1200], want[NIXLOG_LINE_MAX + 1];

        memset(in, 'a', 300);
        in[300] = 0;
        memset(want, 'a', NIXLOG_LINE_MAX);
        want[NIXLOG_LINE_MAX] = 0;
        assert_string_equal(last_line_of(in), want);

        /* 'a' + 3-byte characters: 1 + 66 * 3 = 199 bytes fit, the 67th would not. */
        size_t k = 0;
        in[k++] = 'a';
        for (int i = 0; i < 100; i++, k += 3)
                memcpy(in + k, "\xe2\x82\xac", 3);
        in[k] = 0;
        const char *got = last_line_of(in);
        assert_int_equal(strlen(got), 199);
        assert_memory_equal(got + 196, "\xe2\x82\xac", 3);

        /* Longer than the decode buffer: the beginning is kept. */
        memset(in, 'b', sizeof in - 1);
        in[sizeof in - 1] = 0;
        assert_int_equal(strlen(last_line_of(in)), NIXLOG_LINE_MAX);
}

static void test_log_line_blank_keeps_previous(void **state) {
        (void) state;
        NixProgress p;
        nixlog_init(&p);
        assert_int_equal(feed(&p, log_line("epoch 1/3")), 1);
        assert_int_equal(feed(&p, log_line("")), 0);
        assert_int_equal(feed(&p, log_line("   \\t ")), 0);
        assert_int_equal(feed(&p, log_line("\\u001b[0m")), 0);
        assert_string_equal(p.last_line, "epoch 1/3");
        assert_int_equal(feed(&p, log_line("epoch 1/3")), 0); /* same text: no change */
        /* resPostBuildLogLine counts as well */
        assert_int_equal(feed(&p, "@nix {\"action\":\"result\",\"fields\":[\"uploading\"],\"id\":9,\"type\":107}"), 1);
        assert_string_equal(p.last_line, "uploading");
        /* other results do not */
        assert_int_equal(feed(&p, "@nix {\"action\":\"result\",\"fields\":[\"buildPhase\"],\"id\":9,\"type\":104}"), 0);
        assert_string_equal(p.last_line, "uploading");
}

static void test_error_from_plain_lines(void **state) {
        (void) state;
        NixProgress p;
        nixlog_init(&p);

        assert_int_equal(feed(&p, "warning: you did not specify '--add-root'; the result might be removed by the garbage collector"), 0);
        assert_int_equal(feed(&p, "error: cannot connect to socket at '/nix/var/nix/daemon-socket/socket': Connection refused"), 1);
        assert_string_equal(p.error, "cannot connect to socket at '/nix/var/nix/daemon-socket/socket': Connection refused");
        assert_int_equal(p.n_errors, 1);
        assert_int_equal(nixlog_classify(&p), NIX_FAILURE_INFRA);
        /* coloured, as on a terminal */
        assert_int_equal(feed(&p, "\x1b[31;1merror:\x1b[0m   two \t spaces\r"), 1);
        assert_string_equal(p.error, "two spaces");
        assert_int_equal(p.n_errors, 2);
        /* "error (ignored)" is not an error; a lone "error:" is kept as it is */
        assert_int_equal(feed(&p, "error (ignored): whatever"), 0);
        assert_int_equal(feed(&p, "error:"), 1);
        assert_string_equal(p.error, "error:");
}

static void test_error_plain_multiline(void **state) {
        (void) state;
        NixProgress p;
        nixlog_init(&p);

        /* real: nix-store --realise without --log-format; the leading "warning: error:" lines are warnings */
        feed_all(&p, PLAIN_FAIL_LOG, ELEMENTSOF(PLAIN_FAIL_LOG));
        assert_string_equal(p.error, "builder for '/nix/store/7g4xr6mrsqpfbfydj4qixggmj0r6inx1-nixlog-fail-1795591005.drv' "
                                     "failed with exit code 1; last 2 log lines: > training > boom For full logs, run "
                                     "'nix log /nix/store/7g4xr6mrsqpfbfydj4qixggmj0r6inx1-nixlog-fail-1795591005.drv'.");
        assert_int_equal(p.n_errors, 1);
        assert_int_equal(nixlog_classify(&p), NIX_FAILURE_BUILD);
        assert_string_equal(p.last_line, ""); /* plain build output is not parsed */

        /* An indented line that does not follow an error is not appended. */
        assert_int_equal(feed(&p, "something else"), 0);
        assert_int_equal(feed(&p, "       > more"), 0);
        assert_int_equal(feed(&p, "@nix {\"action\":\"msg\",\"level\":3,\"msg\":\"x\"}"), 0);
}

static void test_warnings_are_not_errors(void **state) {
        (void) state;
        NixProgress p;
        nixlog_init(&p);
        /* real level-0 warnings, one quoting an error */
        assert_int_equal(feed(&p, "@nix {\"action\":\"msg\",\"level\":0,\"msg\":\"\\u001b[35;1mwarning:\\u001b[0m the substitute for "
                                  "'/nix/store/rbsfbfwh6sid7xn41dfxsz7jhvaxyska-nixlog-sub-1795590515877943076' from "
                                  "'file:///tmp/nixcap/cache' is not signed by any of the keys in 'trusted-public-keys'\"}"), 0);
        assert_int_equal(
                feed(&p,
                     "@nix {\"action\":\"msg\",\"level\":0,\"msg\":\"\\u001b[35;1mwarning:\\u001b[0m \\u001b[31;1merror:"
                     "\\u001b[0m unable to download 'http://127.0.0.1:9/nix-cache-info': Couldn't connect to "
                     "server (7); retrying in 251 ms\"}"),
                1); /* a change: now waiting for a cache */
        assert_non_null(strstr(p.waiting, "retrying in 251 ms"));
        assert_int_equal(feed(&p, "@nix {\"action\":\"msg\",\"level\":1,\"msg\":\"\\u001b[35;1mwarning:\\u001b[0m you did not "
                                  "specify '--add-root'; the result might be removed by the garbage collector\"}"), 0);
        /* real: level 0 but not an error */
        assert_int_equal(feed(&p, "@nix {\"action\":\"msg\",\"level\":0,\"msg\":\"Try 'nix-store --help' for more information.\"}"), 0);
        /* an "error:" text at another level */
        assert_int_equal(feed(&p, "@nix {\"action\":\"msg\",\"level\":3,\"msg\":\"error: not at level 0\"}"), 0);
        assert_int_equal(p.n_errors, 0);
        assert_int_equal(nixlog_classify(&p), NIX_FAILURE_NONE);
}

static NixFailure classify_one(const char *line) {
        NixProgress p;
        nixlog_init(&p);
        assert_int_equal(feed(&p, line), 1);
        assert_int_equal(p.n_errors, 1);
        return nixlog_classify(&p);
}

static void test_classify_build_failures(void **state) {
        (void) state;
        static const char *const msgs[] = {
                /* real Nix 2.8: exit code */
                "\\u001b[31;1merror:\\u001b[0m builder for '\\u001b[35;1m/nix/store/c3jrwz94dx4q8g1amiapbgjym3x1x99v-nixlog-fail-1795590497.drv\\u001b[0m' failed with exit code 1;\\n       last 2 log lines:\\n       > training\\n       > boom\\n       For full logs, run '\\u001b[1mnix log /nix/store/c3jrwz94dx4q8g1amiapbgjym3x1x99v-nixlog-fail-1795590497.drv\\u001b[0m'.",
                /* signal (the OOM killer looks the same) */
                "\\u001b[31;1merror:\\u001b[0m builder for '\\u001b[35;1m/nix/store/3rmf2r7affh5v03nhad6l1325zlgbxps-nixlog-sig-1795590507973958830.drv\\u001b[0m' failed due to signal 9 (Killed);\\n       last 1 log lines:\\n       > dying\\n       For full logs, run '\\u001b[1mnix log /nix/store/3rmf2r7affh5v03nhad6l1325zlgbxps-nixlog-sig-1795590507973958830.drv\\u001b[0m'.",
                /* --option timeout 1 */
                "\\u001b[31;1merror:\\u001b[0m \\u001b[35;1mbuilding of '/nix/store/idddgcq55l6ii0srivxj1dllakqyd8sy-nixlog-sleep-1795590498.drv!*' from .drv file\\u001b[0m timed out after \\u001b[35;1m1\\u001b[0m seconds",
                /* --option max-silent-time 1 */
                "\\u001b[31;1merror:\\u001b[0m \\u001b[35;1mbuilding of '/nix/store/kzr6wsijib4krsyjasv42g9ynchwv5dj-nixlog-sleep-1795590500.drv!*' from .drv file\\u001b[0m timed out after \\u001b[35;1m1\\u001b[0m seconds of silence",
                /* fixed-output hash mismatch */
                "\\u001b[31;1merror:\\u001b[0m hash mismatch in fixed-output derivation '\\u001b[35;1m/nix/store/q2b5pwzbr8537vybxlw31z5j61rs9gwj-nixlog-hash-1795590507973958830.drv\\u001b[0m':\\n         specified: \\u001b[35;1msha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\\u001b[0m\\n            got:    \\u001b[35;1msha256-KuBAXbN/NYCnEM4AQHu2EAu9NXjxkf2wdkSrXf3k65s=\\u001b[0m",
                /* requiredSystemFeatures = ["cuda"] */
                "\\u001b[31;1merror:\\u001b[0m a '\\u001b[35;1mx86_64-linux\\u001b[0m' with features {\\u001b[35;1mcuda\\u001b[0m} is required to build '\\u001b[35;1m/nix/store/iizs8a9wcwgn62azhf43pzhfnd4v1hs3-nixlog-feat-1795590507973958830.drv\\u001b[0m', but I am a '\\u001b[35;1mx86_64-linux\\u001b[0m' with features {\\u001b[35;1mbenchmark, big-parallel, nixos-test\\u001b[0m}",
                /* system = "aarch64-darwin" */
                "\\u001b[31;1merror:\\u001b[0m a '\\u001b[35;1maarch64-darwin\\u001b[0m' with features {\\u001b[35;1m\\u001b[0m} is required to build '\\u001b[35;1m/nix/store/989xyypklxqigzr8z15rllx0r0xhf36a-nixlog-sys-1795590507973958830.drv\\u001b[0m', but I am a '\\u001b[35;1mx86_64-linux\\u001b[0m' with features {\\u001b[35;1mbenchmark, big-parallel, nixos-test\\u001b[0m}",
                /* no $out */
                "\\u001b[31;1merror:\\u001b[0m builder for '\\u001b[35;1m/nix/store/3k18n3ki1h0hyi919xli11g4vh004qfq-nixlog-noout-1795590507973958830.drv\\u001b[0m' failed to produce output path for output '\\u001b[35;1mout\\u001b[0m' at '\\u001b[35;1m/nix/store/9vppyjclyrpyl9ybgnz3rk9x3l6jb683-nixlog-noout-1795590507973958830\\u001b[0m'",
                /* real: a remote build whose builder failed */
                "\\u001b[31;1merror:\\u001b[0m build of '\\u001b[35;1m/nix/store/bdz48l62mlax2fqyjv75qr7ksfkbib17-nixlog-remote-1795590705568174360.drv\\u001b[0m' on '\\u001b[35;1mssh://gpu-box?remote-store=/tmp/nixcap/rstore\\u001b[0m' failed: \\u001b[35;1m\\u001b[0mbuilder for '\\u001b[35;1m/nix/store/bdz48l62mlax2fqyjv75qr7ksfkbib17-nixlog-remote-1795590705568174360.drv\\u001b[0m' failed with exit code 1\\u001b[0m",
                /* synthetic, later Nix wording */
                "error: Cannot build '/nix/store/x.drv'.\\n       Reason: required system or feature not available",
                "error: Cannot build '/nix/store/x.drv'.\\n       Reason: builder failed with exit code 1.",
                /* a builder failure whose log mentions infrastructure words stays a build failure */
                "error: builder for '/nix/store/x.drv' failed with exit code 1;\\n       last 1 log lines:\\n       > curl: Connection refused",
        };
        for (size_t i = 0; i < ELEMENTSOF(msgs); i++) {
                NixFailure f = classify_one(error_msg(msgs[i]));
                if (f != NIX_FAILURE_BUILD)
                        fail_msg("message %zu classified %s: %s", i, nix_failure_to_string(f), msgs[i]);
        }
}

static void test_classify_infra_failures(void **state) {
        (void) state;
        static const char *const msgs[] = {
                /* real Nix 2.8 */
                "\\u001b[31;1merror:\\u001b[0m cannot connect to socket at '\\u001b[35;1m/tmp/nixcap/nosock\\u001b[0m': \\u001b[35;1mNo such file or directory\\u001b[0m",
                "\\u001b[31;1merror:\\u001b[0m unexpected end-of-file",            /* daemon worker killed mid-build */
                "\\u001b[31;1merror:\\u001b[0m interrupted by the user",           /* SIGTERM to nix-store */
                "\\u001b[31;1merror:\\u001b[0m cannot build missing derivation '\\u001b[35;1m/nix/store/00000000000000000000000000000000-missing.drv\\u001b[0m'",
                "\\u001b[31;1merror:\\u001b[0m getting status of '\\u001b[35;1m/tmp/nixcap/notstore.drv\\u001b[0m': \\u001b[35;1mNo such file or directory\\u001b[0m",
                /* Nix texts not provoked here (libstore messages) */
                "error: cannot connect to socket at '/nix/var/nix/daemon-socket/socket': Connection refused",
                "error: writing to file: Connection reset by peer",
                "error: path '/nix/store/0000000000000000000000000000000a-dep' is not valid",
                "error: cannot add path '/nix/store/0000000000000000000000000000000a-dep' because it lacks a valid signature",
                "error: some substitutes for the outputs of derivation '/nix/store/x.drv' failed (usually happens due to networking issues); try '--fallback' to build derivation from source ",
                "error: SQLite database '/nix/var/nix/db/db.sqlite' is busy",
                "error: writing to file: No space left on device",
                "error: something Nix has never said",
        };
        for (size_t i = 0; i < ELEMENTSOF(msgs); i++) {
                NixFailure f = classify_one(error_msg(msgs[i]));
                if (f != NIX_FAILURE_INFRA)
                        fail_msg("message %zu classified %s: %s", i, nix_failure_to_string(f), msgs[i]);
        }
        /* the task's plain line */
        assert_int_equal(classify_one("error: cannot connect to socket at '/nix/var/nix/daemon-socket/socket': Connection refused"),
                         NIX_FAILURE_INFRA);
}

static void test_classify_first_cause_wins(void **state) {
        (void) state;
        NixProgress p;
        nixlog_init(&p);

        /* real: a dependency's builder fails, then its dependent reports it */
        feed_all(&p, DEPFAIL_LOG, ELEMENTSOF(DEPFAIL_LOG));
        assert_int_equal(p.n_errors, 2);
        assert_int_equal(nixlog_classify(&p), NIX_FAILURE_BUILD);
        assert_string_equal(
                p.error,
                "builder for '/nix/store/hh6s96gbqc9043nqsprvh2rylaj5zpnh-nixlog-depa-1795590685658386099.drv' "
                "failed with exit code 2: failing dep");
        assert_string_equal(p.last_line, "failing dep");

        /* only the report: it is kept, and counts as a build failure */
        nixlog_init(&p);
        assert_int_equal(feed(&p, DEPFAIL_LOG[ELEMENTSOF(DEPFAIL_LOG) - 1]), 1);
        assert_string_equal(p.error, "1 dependencies of derivation '/nix/store/34i5bq7fn3m1nzdx85yk5pqbgxb8zi7x-nixlog-deptop-1795590685658386099.drv' failed to build");
        assert_int_equal(nixlog_classify(&p), NIX_FAILURE_BUILD);

        /* synthetic: substitution failed for network reasons, then the dependent failed */
        nixlog_init(&p);
        feed(&p, error_msg("error: some substitutes for the outputs of derivation '/nix/store/a.drv' failed (usually happens due to networking issues); try '--fallback' to build derivation from source "));
        feed(&p, error_msg("error: 1 dependencies of derivation '/nix/store/top.drv' failed to build"));
        assert_int_equal(nixlog_classify(&p), NIX_FAILURE_INFRA);
        assert_string_equal(p.error, "some substitutes for the outputs of derivation '/nix/store/a.drv' failed (usually happens due to networking issues); try '--fallback' to build derivation from source");

        /* an infrastructure error after a build failure does not make it retryable */
        nixlog_init(&p);
        feed(&p, L_ERROR);
        feed(&p, "error: unexpected end-of-file");
        assert_int_equal(nixlog_classify(&p), NIX_FAILURE_BUILD);
        assert_string_equal(p.error, "unexpected end-of-file");
}

static void test_classify_remote_unreachable(void **state) {
        (void) state;
        NixProgress p;
        nixlog_init(&p);

        /* real: the only builder is unreachable */
        feed_all(&p, REMOTE_UNREACHABLE_LOG, ELEMENTSOF(REMOTE_UNREACHABLE_LOG));
        assert_int_equal(p.n_errors, 1);
        assert_string_equal(p.error, "unable to start any build; remote machines may not have all required system "
                                     "features. https://nixos.org/manual/nix/stable/advanced-topics/distributed-builds.html");
        assert_int_equal(nixlog_classify(&p), NIX_FAILURE_INFRA);

        /* the same end without the unreachable builder: no machine has the features */
        nixlog_init(&p);
        for (size_t i = 0; i < ELEMENTSOF(REMOTE_UNREACHABLE_LOG); i++)
                if (!strstr(REMOTE_UNREACHABLE_LOG[i], "cannot build on"))
                        feed(&p, REMOTE_UNREACHABLE_LOG[i]);
        assert_int_equal(nixlog_classify(&p), NIX_FAILURE_BUILD);
}

static void test_malformed_truncated(void **state) {
        (void) state;
        const char *full = L_BUILD_START;
        size_t n = strlen(full);
        char buf[1024];

        for (size_t l = 0; l < n; l++) {
                NixProgress p;
                nixlog_init(&p);
                memcpy(buf, full, l);
                /* every proper prefix either fails to parse or is plain text: no change */
                if (nixlog_feed(&p, buf, l) != 0 || p.building)
                        fail_msg("prefix of %zu bytes changed state", l);
        }
        NixProgress p;
        nixlog_init(&p);
        assert_int_equal(nixlog_feed(&p, full, n), 1);
}

static void test_malformed_unbalanced(void **state) {
        (void) state;
        static const char *const bad[] = {
                "@nix ",
                "@nix",
                "@nix {",
                "@nix }",
                "@nix []",
                "@nix \"start\"",
                "@nix {]",
                "@nix {\"action\":\"start\",\"id\":1,\"type\":105,\"fields\":[\"/nix/store/x.drv\"}",
                "@nix {\"action\":\"start\",\"id\":1,\"type\":105,\"fields\":[\"/nix/store/x.drv\"]]}",
                "@nix {\"action\":\"start\",\"id\":1,\"type\":105}}",
                "@nix {\"action\":\"start\",\"id\":1,\"type\":105} trailing",
                "@nix {\"action\":\"start\",\"id\":1,\"type\":105,}",
                "@nix {\"action\":\"start\" \"id\":1,\"type\":105}",
                "@nix {\"action\":\"start\",\"id\":1,\"type\":105,\"x\":tru}",
                "@nix {\"action\":\"start\",\"id\":1,\"type\":105,\"x\":nul}",
                "@nix {\"action\":\"start\",\"id\":1,\"type\":105,\"x\":1.}",
                "@nix {\"action\":\"start\",\"id\":1,\"type\":105,\"x\":1e}",
                "@nix {\"action\":\"start\",\"id\":1,\"type\":105,\"x\":-}",
                "@nix {\"action\":\"start\",\"id\":1,\"type\":105,\"x\":\"\\q\"}",
                "@nix {\"action\":\"start\",\"id\":1,\"type\":105,\"x\":\"\\u12\"}",
                "@nix {\"action\":\"start\",\"id\":1,\"type\":105,\"x\":\"\\u12g4\"}",
                "@nix {\"action\":\"start\",\"id\":1,\"type\":105,\"x\":\"unterminated}",
                "@nix {\"action\":\"start\",\"id\":1,\"type\":105,\"x\":\"ends in escape\\",
                "@nix {action:\"start\",\"id\":1,\"type\":105}",
                "@nix {'action':'start','id':1,'type':105}",
                "@nixx {\"action\":\"start\",\"id\":1,\"type\":105}",
                " @nix {\"action\":\"start\",\"id\":1,\"type\":105}",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                NixProgress p;
                nixlog_init(&p);
                if (feed(&p, bad[i]) != 0 || p.building || p.n_errors != 0)
                        fail_msg("line %zu changed state: %s", i, bad[i]);
        }
        /* valid JSON but not a message: wrong types are ignored member by member */
        NixProgress p;
        nixlog_init(&p);
        assert_int_equal(feed(&p, "@nix {\"action\":[\"start\"],\"id\":1,\"type\":105}"), 0);
        assert_int_equal(feed(&p, "@nix {\"action\":\"start\",\"id\":\"1\",\"type\":105}"), 0);
        assert_int_equal(feed(&p, "@nix {\"action\":\"start\",\"id\":1,\"type\":105,\"fields\":{\"a\":1}}"), 1);
        assert_string_equal(p.current_drv, ""); /* building, drv unknown */
        assert_true(p.building);
        assert_int_equal(feed(&p, "@nix {\"action\":\"result\",\"id\":1,\"type\":101,\"fields\":[null]}"), 0);
        assert_int_equal(feed(&p, "@nix {\"action\":\"msg\",\"level\":\"0\",\"msg\":\"error: x\"}"), 0);
        assert_int_equal(feed(&p, "@nix {\"action\":\"msg\",\"level\":0,\"msg\":[\"error: x\"]}"), 0);
        assert_int_equal(feed(&p, "@nix {\"action\":\"explode\",\"id\":1}"), 0);
        assert_int_equal(feed(&p, "@nix {}"), 0);
        /* whitespace and members in any order, repeated members: the last counts */
        assert_int_equal(feed(&p, "@nix \t{ \"type\" : 101 , \"id\" : 1 , \"fields\" : [ \"a\" ] , \"fields\" : [ \"b\" , true , false , null , {} , [] ] , \"action\" : \"result\" }  "), 1);
        assert_string_equal(p.last_line, "b");
}

static void test_malformed_numbers(void **state) {
        (void) state;
        NixProgress p;
        nixlog_init(&p);
        feed(&p, L_BUILDS_START);

        /* too big, negative, fractional, exponent: the progress result is ignored */
        assert_int_equal(feed(&p, "@nix {\"action\":\"result\",\"fields\":[18446744073709551616,1,0,0],\"id\":11179799871490,\"type\":105}"), 0);
        assert_int_equal(feed(&p, "@nix {\"action\":\"result\",\"fields\":[99999999999999999999999999999999999999,1,0,0],\"id\":11179799871490,\"type\":105}"), 0);
        assert_int_equal(feed(&p, "@nix {\"action\":\"result\",\"fields\":[-1,1,0,0],\"id\":11179799871490,\"type\":105}"), 0);
        assert_int_equal(feed(&p, "@nix {\"action\":\"result\",\"fields\":[1.5,1,0,0],\"id\":11179799871490,\"type\":105}"), 0);
        assert_int_equal(feed(&p, "@nix {\"action\":\"result\",\"fields\":[1e3,1,0,0],\"id\":11179799871490,\"type\":105}"), 0);
        assert_int_equal(feed(&p, "@nix {\"action\":\"result\",\"fields\":[\"1\",1,0,0],\"id\":11179799871490,\"type\":105}"), 0);
        assert_int_equal(feed(&p, "@nix {\"action\":\"result\",\"fields\":[1,1,0,0],\"id\":11179799871490.0,\"type\":105}"), 0);
        assert_int_equal(p.done + p.expected, 0);

        /* the largest 64-bit value is fine; missing running/failed keep their values */
        assert_int_equal(feed(&p, "@nix {\"action\":\"result\",\"fields\":[18446744073709551615,3],\"id\":11179799871490,\"type\":105}"), 1);
        assert_true(p.done == 18446744073709551615ULL);
        assert_int_equal(p.expected, 3);
        assert_string_equal(status(&p, NULL, 0), "training: 18446744073709551615/3 derivations built, 0s elapsed");

        /* an id too big for 64 bits is no id */
        assert_int_equal(feed(&p, "@nix {\"action\":\"start\",\"id\":18446744073709551616,\"type\":105}"), 0);
        assert_false(p.building);
        /* nor is a type */
        assert_int_equal(feed(&p, "@nix {\"action\":\"start\",\"id\":3,\"type\":4294967401}"), 0);
        assert_false(p.building);
}

static void test_deep_nesting(void **state) {
        (void) state;
        static char line[4096];
        NixProgress p;

        /* 1000 levels: rejected, quickly, without blowing the stack */
        static const char head[] = "@nix {\"action\":\"result\",\"id\":1,\"type\":101,\"fields\":[\"x\"],\"deep\":";
        size_t l = sizeof head - 1;
        memcpy(line, head, l);
        memset(line + l, '[', 1000);
        memset(line + l + 1000, ']', 1000);
        memcpy(line + l + 2000, "}", 2);
        nixlog_init(&p);
        assert_int_equal(feed(&p, line), 0);
        assert_string_equal(p.last_line, "");

        /* The object is level 1, so "deep" may hold 15 nested arrays, not 16. */
        for (int arrays = 15; arrays <= 16; arrays++) {
                memset(line + l, '[', (size_t) arrays);
                memset(line + l + arrays, ']', (size_t) arrays);
                memcpy(line + l + 2 * (size_t) arrays, "}", 2);
                nixlog_init(&p);
                assert_int_equal(feed(&p, line), arrays == 15 ? 1 : 0);
        }
}

static void test_json_reader_details(void **state) {
        (void) state;
        NixProgress p;
        nixlog_init(&p);

        /* unknown members of any shape are skipped */
        assert_int_equal(feed(&p, "@nix {\"x\":{\"a\":[1,\"two\",{\"b\":null,\"c\":[true,false]}],\"d\":-1.5e-3},"
                                  "\"a_member_name_longer_than_any_we_read\":[{},[],\"\"],"
                                  "\"action\":\"result\",\"fields\":[\"ok\"],\"id\":1,\"type\":101,\"y\":[]}"), 1);
        assert_string_equal(p.last_line, "ok");
        /* escapes: \f is whitespace, hex digits in either case, escaped member names */
        assert_int_equal(feed(&p, "@nix {\"\\u0061ction\":\"result\",\"fields\":[\"\\u00E9\\fx\\u00e9\"],\"id\":1,\"type\":101}"), 1);
        assert_string_equal(p.last_line, "\xc3\xa9 x\xc3\xa9");
        /* an empty fields array, an action longer than any known one */
        assert_int_equal(feed(&p, "@nix {\"action\":\"result\",\"fields\":[],\"id\":1,\"type\":101}"), 0);
        assert_int_equal(feed(&p, "@nix {\"action\":\"startstartstartstart\",\"id\":2,\"type\":105}"), 0);
        assert_false(p.building);
        /* more than four fields: the rest is skipped */
        assert_int_equal(feed(&p, "@nix {\"action\":\"result\",\"fields\":[\"five\",2,3,4,[5],{\"6\":6}],\"id\":1,\"type\":101}"), 1);
        assert_string_equal(p.last_line, "five");
        /* broken skipped containers make the whole line malformed */
        static const char *const bad[] = {
                "@nix {\"x\":[1;2],\"action\":\"result\",\"fields\":[\"no\"],\"id\":1,\"type\":101}",
                "@nix {\"x\":{\"a\" 1},\"action\":\"result\",\"fields\":[\"no\"],\"id\":1,\"type\":101}",
                "@nix {\"x\":{1:2},\"action\":\"result\",\"fields\":[\"no\"],\"id\":1,\"type\":101}",
                "@nix {\"x\":[1,2,\"action\":\"result\",\"fields\":[\"no\"],\"id\":1,\"type\":101}",
                "@nix {\"action\":\"result\",\"fields\":[\"no\" \"x\"],\"id\":1,\"type\":101}",
                "@nix {\"action\":\"result\",\"fields\":[\"no\",",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                if (feed(&p, bad[i]) != 0)
                        fail_msg("line %zu was accepted: %s", i, bad[i]);
        assert_string_equal(p.last_line, "five");
}

static void test_nul_bytes(void **state) {
        (void) state;
        NixProgress p;
        nixlog_init(&p);

        static const char in_string[] = "@nix {\"action\":\"result\",\"fields\":[\"a\0b\"],\"id\":1,\"type\":101}";
        assert_int_equal(nixlog_feed(&p, in_string, sizeof in_string - 1), 1);
        assert_string_equal(p.last_line, "a?b");

        static const char after[] = "@nix {\"action\":\"result\",\"fields\":[\"c\"],\"id\":1,\"type\":101}\0junk";
        assert_int_equal(nixlog_feed(&p, after, sizeof after - 1), 0);
        assert_string_equal(p.last_line, "a?b");

        static const char plain[] = "error: a\0b";
        assert_int_equal(nixlog_feed(&p, plain, sizeof plain - 1), 1);
        assert_string_equal(p.error, "a?b");

        static const char nul_only[] = "\0\0\0";
        assert_int_equal(nixlog_feed(&p, nul_only, sizeof nul_only - 1), 0);
        assert_int_equal(nixlog_feed(&p, NULL, 0), 0);
        assert_int_equal(nixlog_feed(&p, "", 0), 0);
        /* len is honoured: the bytes after it are not read */
        assert_int_equal(nixlog_feed(&p, "@nix {\"action\":\"result\",\"fields\":[\"d\"],\"id\":1,\"type\":101}", 20), 0);
}

static void test_plain_lines_ignored(void **state) {
        (void) state;
        static const char *const lines[] = {
                "this derivation will be built:",
                "  /nix/store/7g4xr6mrsqpfbfydj4qixggmj0r6inx1-nixlog-fail-1795591005.drv",
                "building '/nix/store/7g4xr6mrsqpfbfydj4qixggmj0r6inx1-nixlog-fail-1795591005.drv'...",
                "copying path '/nix/store/x' from 'https://cache.nixos.org'...",
                "warning: unknown setting 'foo-bar'",
                "Error: capitalised is not Nix's",
                "errors: 3",
                "\x1b[0m",
                "\xff\xfe\xfd",
        };
        NixProgress p;
        nixlog_init(&p);
        for (size_t i = 0; i < ELEMENTSOF(lines); i++)
                assert_int_equal(feed(&p, lines[i]), 0);
        assert_int_equal(p.n_errors, 0);
        assert_string_equal(p.last_line, "");
}

static void test_error_text_limits(void **state) {
        (void) state;
        static char msg[6000];
        NixProgress p;
        nixlog_init(&p);

        /* 900 x "\u20ac" (3 bytes each): cut on a character boundary at or below 400 bytes,
         * the cut marked with an ellipsis */
        euro_message(msg, "error: ", 900);
        assert_int_equal(feed(&p, error_msg(msg)), 1);
        assert_int_equal(strlen(p.error), 399);
        assert_memory_equal(p.error + 393, "\xe2\x82\xac", 3);
        assert_memory_equal(p.error + 396, "\xe2\x80\xa6", 3);

        /* a continuation that does not fit is cut too, and no trailing space stays */
        nixlog_init(&p);
        memset(msg, 'x', 398);
        memcpy(msg, "error: ", 7);
        msg[398] = 0;
        feed(&p, msg);
        assert_int_equal(strlen(p.error), 391);
        feed(&p, "       abcdefghij");
        assert_int_equal(strlen(p.error), NIXLOG_ERROR_MAX);
        assert_memory_equal(p.error + 391, " abcdefg", 8);
        assert_int_equal(feed(&p, "       more"), 0); /* full: nothing to add */

        /* n_errors saturates */
        p.n_errors = UINT_MAX;
        feed(&p, "error: again");
        assert_true(p.n_errors == UINT_MAX);
}

static void test_format_status_exact(void **state) {
        (void) state;
        NixProgress p;
        nixlog_init(&p);
        p.done = 2;
        p.expected = 5;
        strcpy(p.last_line, "epoch 3/10");
        assert_string_equal(status(&p, "NAME", 12 * 60 + 59), "training NAME: 2/5 derivations built, 12m elapsed, last: epoch 3/10");
        assert_string_equal(status(&p, "NAME", 0), "training NAME: 2/5 derivations built, 0s elapsed, last: epoch 3/10");
        assert_string_equal(status(&p, "NAME", 60), "training NAME: 2/5 derivations built, 1m elapsed, last: epoch 3/10");
        assert_string_equal(status(&p, "NAME", 3599), "training NAME: 2/5 derivations built, 59m elapsed, last: epoch 3/10");
        assert_string_equal(status(&p, "NAME", 100 * 3600 + 61), "training NAME: 2/5 derivations built, 100h01m elapsed, last: epoch 3/10");
        assert_string_equal(status(&p, "", 5), "training: 2/5 derivations built, 5s elapsed, last: epoch 3/10");
        assert_string_equal(status(&p, "a\tb\x01\x1b[1m", 5), "training a b?: 2/5 derivations built, 5s elapsed, last: epoch 3/10");

        p.failed = 1;
        assert_string_equal(status(&p, "m", 5), "training m: 2/5 derivations built, 1 failed, 5s elapsed, last: epoch 3/10");
        p.failed = 0;

        p.substituting = true;
        p.subst_done = 3;
        p.subst_expected = 7;
        assert_string_equal(status(&p, "m", 5), "substituting m: 3/7 paths substituted, 5s elapsed, last: epoch 3/10");
        p.building = true; /* building wins */
        assert_string_equal(status(&p, "m", 5), "training m: 2/5 derivations built, 5s elapsed, last: epoch 3/10");

        assert_string_equal(status(&p, "m", ULLONG_MAX), "training m: 2/5 derivations built, 5124095576030431h00m elapsed, last: epoch 3/10");
}

static void test_format_status_truncation(void **state) {
        (void) state;
        NixProgress p;
        char buf[80];
        const char *full = "training NAME: 2/5 derivations built, 12m elapsed, last: epoch 3/10";

        nixlog_init(&p);
        p.done = 2;
        p.expected = 5;
        strcpy(p.last_line, "epoch 3/10");

        memset(buf, 'Z', sizeof buf);
        status_line_format(&p, "NAME", 720, buf, 1);
        assert_string_equal(buf, "");
        assert_int_equal(buf[1], 'Z');

        memset(buf, 'Z', sizeof buf);
        status_line_format(&p, "NAME", 720, buf, 8);
        assert_string_equal(buf, "trainin");
        assert_int_equal(buf[8], 'Z');

        memset(buf, 'Z', sizeof buf);
        status_line_format(&p, "NAME", 720, buf, 64);
        assert_int_equal(strlen(buf), 63);
        assert_memory_equal(buf, full, 63);
        assert_int_equal(buf[64], 'Z');

        status_line_format(&p, "NAME", 720, buf, strlen(full) + 1);
        assert_string_equal(buf, full);

        /* size 0: nothing written */
        memset(buf, 'Z', sizeof buf);
        status_line_format(&p, "NAME", 720, buf, 0);
        assert_int_equal(buf[0], 'Z');
        status_line_format(&p, "NAME", 720, NULL, 0);

        /* never half a character */
        strcpy(p.last_line, "\xe2\x82\xac\xe2\x82\xac");
        size_t h = strlen("training NAME: 2/5 derivations built, 12m elapsed, last: ");
        for (size_t size = h + 1; size <= h + 7; size++) {
                status_line_format(&p, "NAME", 720, buf, size);
                size_t room = size - 1, want = room < h + 3 ? h : room < h + 6 ? h + 3 : h + 6;
                if (strlen(buf) != want)
                        fail_msg("size %zu: got %zu bytes, want %zu", size, strlen(buf), want);
        }
}

static void test_activity_table_overflow(void **state) {
        (void) state;
        NixProgress p;
        char line[256];
        nixlog_init(&p);

        /* The actBuilds activity first, then a substitution, then NIXLOG_MAX_ACTIVITIES more
         * activities that never stop: the substitution is the oldest and is evicted. */
        feed(&p, L_BUILDS_START);
        assert_int_equal(feed(&p, "@nix {\"action\":\"start\",\"id\":1000,\"type\":108}"), 1);
        assert_true(p.substituting);
        for (int i = 0; i < NIXLOG_MAX_ACTIVITIES - 1; i++) {
                snprintf(line, sizeof line, "@nix {\"action\":\"start\",\"id\":%d,\"type\":101}", 2000 + i);
                assert_int_equal(feed(&p, line), 0);
        }
        assert_true(p.substituting);
        assert_int_equal(feed(&p, "@nix {\"action\":\"start\",\"id\":3000,\"type\":109}"), 1);
        assert_false(p.substituting);
        /* The actBuilds activity is not in the table and still reports progress. */
        assert_int_equal(feed(&p, L_BUILDS_0_1), 1);
        assert_int_equal(p.expected, 1);
        /* Stopping an evicted activity is harmless. */
        assert_int_equal(feed(&p, "@nix {\"action\":\"stop\",\"id\":1000}"), 0);

        /* NIXLOG_MAX_BUILDS + 1 builds: the first is evicted, the newest is current. */
        for (int i = 0; i <= NIXLOG_MAX_BUILDS; i++) {
                snprintf(line, sizeof line,
                         "@nix {\"action\":\"start\",\"fields\":[\"/nix/store/b%d.drv\",\"\",1,1],\"id\":%d,\"type\":105}", i, 4000 + i);
                assert_int_equal(feed(&p, line), 1);
        }
        snprintf(line, sizeof line, "/nix/store/b%d.drv", NIXLOG_MAX_BUILDS);
        assert_string_equal(p.current_drv, line);
        for (int i = NIXLOG_MAX_BUILDS; i >= 1; i--) {
                snprintf(line, sizeof line, "@nix {\"action\":\"stop\",\"id\":%d}", 4000 + i);
                assert_int_equal(feed(&p, line), 1);
        }
        assert_false(p.building); /* b0 was evicted: nothing left */
        assert_string_equal(p.current_drv, "");

        /* A reused id replaces its old activity. */
        assert_int_equal(feed(&p, "@nix {\"action\":\"start\",\"id\":7,\"type\":108}"), 1);
        assert_int_equal(feed(&p, "@nix {\"action\":\"start\",\"id\":7,\"type\":105,\"fields\":[\"/nix/store/r.drv\"]}"), 1);
        assert_false(p.substituting);
        assert_true(p.building);
        assert_int_equal(feed(&p, "@nix {\"action\":\"stop\",\"id\":7}"), 1);
        assert_false(p.building);
}

static void test_builds_activity_lifecycle(void **state) {
        (void) state;
        NixProgress p;
        nixlog_init(&p);

        /* progress for an activity that is not the actBuilds one is ignored */
        assert_int_equal(feed(&p, L_BUILDS_0_1), 0);
        feed(&p, L_BUILDS_START);
        /* a second actBuilds does not take over */
        feed(&p, "@nix {\"action\":\"start\",\"id\":99,\"type\":104}");
        assert_int_equal(feed(&p, "@nix {\"action\":\"result\",\"fields\":[5,9,0,0],\"id\":99,\"type\":105}"), 0);
        assert_int_equal(feed(&p, L_BUILDS_0_1), 1);
        /* after it stops, its counters stay and later progress for its id is ignored */
        assert_int_equal(feed(&p, "@nix {\"action\":\"stop\",\"id\":11179799871490}"), 0);
        assert_int_equal(feed(&p, L_BUILDS_1_1), 0);
        assert_int_equal(p.expected, 1);
        assert_int_equal(p.done, 0);
}

static void test_failure_to_string(void **state) {
        (void) state;
        assert_string_equal(nix_failure_to_string(NIX_FAILURE_NONE), "none");
        assert_string_equal(nix_failure_to_string(NIX_FAILURE_BUILD), "build");
        assert_string_equal(nix_failure_to_string(NIX_FAILURE_INFRA), "infra");
        assert_string_equal(nix_failure_to_string((NixFailure) 42), "unknown");
}

/* Warnings: the daemon's to an untrusted client arrive as level-0 messages (copied from a
 * real Nix 2.8 run as user nobody), Nix's own as level 1; both are kept, never as errors. */
static void test_warnings(void **state) {
        (void) state;
        NixProgress p;
        nixlog_init(&p);

        assert_int_equal(feed(&p, "@nix {\"action\":\"msg\",\"level\":0,\"msg\":\"\\u001b[35;1mwarning:\\u001b[0m "
                                  "ignoring untrusted substituter 'file:///tmp/nocache'\"}"),
                         0);
        assert_int_equal(p.n_warnings, 1);
        assert_string_equal(p.warning, "ignoring untrusted substituter 'file:///tmp/nocache'");
        assert_int_equal(p.n_errors, 0);
        assert_string_equal(p.error, "");
        assert_int_equal(nixlog_classify(&p), NIX_FAILURE_NONE);

        assert_int_equal(feed(&p, "@nix {\"action\":\"msg\",\"level\":1,\"msg\":\"\\u001b[35;1mwarning:\\u001b[0m "
                                  "unknown setting 'foo'\"}"),
                         0);
        assert_int_equal(p.n_warnings, 2);
        assert_string_equal(p.warning, "unknown setting 'foo'");

        /* Informational messages that mention a warning are not warnings. */
        assert_int_equal(feed(&p, "@nix {\"action\":\"msg\",\"level\":3,\"msg\":\"warning: not one\"}"), 0);
        /* Neither is a level-1 message that does not say "warning:". */
        assert_int_equal(feed(&p, "@nix {\"action\":\"msg\",\"level\":1,\"msg\":\"something\"}"), 0);
        assert_int_equal(p.n_warnings, 2);

        /* A plain warning line, and an indented line after it: not an error continuation. */
        assert_int_equal(feed(&p, "warning: plain one"), 0);
        assert_int_equal(p.n_warnings, 3);
        assert_string_equal(p.warning, "plain one");
        assert_int_equal(feed(&p, "   indented"), 0);
        assert_string_equal(p.error, "");

        /* A level-1 "error:" is not an error (Nix reports errors at level 0). */
        assert_int_equal(feed(&p, "@nix {\"action\":\"msg\",\"level\":1,\"msg\":\"error: no\"}"), 0);
        assert_int_equal(p.n_errors, 0);

        /* An error leaves the warning; a warning leaves the error. */
        assert_int_equal(feed(&p, error_msg("error: boom")), 1);
        assert_string_equal(p.error, "boom");
        assert_string_equal(p.warning, "plain one");
        assert_int_equal(feed(&p, "warning: later"), 0);
        assert_string_equal(p.error, "boom");
        assert_string_equal(p.warning, "later");

        /* Long warnings are cut on a character boundary, like errors. */
        static char msg[3000];
        euro_message(msg, "warning: ", 300);
        nixlog_init(&p);
        assert_int_equal(feed(&p, error_msg(msg)), 0);
        assert_int_equal(p.n_warnings, 1);
        assert_int_equal(strlen(p.warning), 399);
        assert_memory_equal(p.warning + 396, "\xe2\x82\xac", 3);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_init_is_empty),
                cmocka_unit_test(test_real_lines_one_by_one),
                cmocka_unit_test(test_successful_build_sequence),
                cmocka_unit_test(test_substitution_sequence),
                cmocka_unit_test(test_remote_build_machine),
                cmocka_unit_test(test_parallel_builds_current_drv),
                cmocka_unit_test(test_log_line_ansi_and_tabs),
                cmocka_unit_test(test_log_line_carriage_returns),
                cmocka_unit_test(test_log_line_control_characters),
                cmocka_unit_test(test_log_line_invalid_utf8),
                cmocka_unit_test(test_log_line_overlong),
                cmocka_unit_test(test_log_line_blank_keeps_previous),
                cmocka_unit_test(test_error_from_plain_lines),
                cmocka_unit_test(test_error_plain_multiline),
                cmocka_unit_test(test_warnings_are_not_errors),
                cmocka_unit_test(test_classify_build_failures),
                cmocka_unit_test(test_classify_infra_failures),
                cmocka_unit_test(test_classify_first_cause_wins),
                cmocka_unit_test(test_classify_remote_unreachable),
                cmocka_unit_test(test_malformed_truncated),
                cmocka_unit_test(test_malformed_unbalanced),
                cmocka_unit_test(test_malformed_numbers),
                cmocka_unit_test(test_deep_nesting),
                cmocka_unit_test(test_json_reader_details),
                cmocka_unit_test(test_nul_bytes),
                cmocka_unit_test(test_plain_lines_ignored),
                cmocka_unit_test(test_error_text_limits),
                cmocka_unit_test(test_format_status_exact),
                cmocka_unit_test(test_format_status_truncation),
                cmocka_unit_test(test_activity_table_overflow),
                cmocka_unit_test(test_builds_activity_lifecycle),
                cmocka_unit_test(test_failure_to_string),
                cmocka_unit_test(test_warnings),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
