/* SPDX-License-Identifier: MIT */
/* The readiness and socket keys of a [model.NAME] section: ready-url =, start-timeout =
 * and listen = (docs/manifest.md "Readiness, start timeout and sockets"). Each value is
 * checked against what systemd or the readiness helper does with it (netaddr.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "manifest-parser.h"
#include "netaddr.h"

/* The bound of the other timeouts: far below where systemd's microseconds overflow. */
#define START_TIMEOUT_MAX (100ULL * 365 * 24 * 3600)

static void bad(Parser *p, const char *key, const char *value, const char *why) {
        _cleanup_free_ char *q = quoted(value);
        model_error(p, p->line, "%s %s %s", key, q ? q : "?", why);
}

static void twice(Parser *p, const char *key) {
        model_error(p, p->line, "key '%s' is set twice; keep one", key);
}

static int handle_ready_url(Parser *p, Model *md, const char *value) {
        if (md->ready_url) {
                twice(p, "ready-url");
                return 0;
        }
        md->ready_url = strdup(value);
        if (!md->ready_url)
                return -ENOMEM;
        if (!ready_url_is_valid(value))
                bad(p, "ready-url", value,
                    "is not a readiness URL: http://HOST[:PORT]/PATH with HOST an IPv4 address, a bracketed IPv6 "
                    "address or localhost (no https, no names to look up)");
        return 0;
}

static void handle_start_timeout(Parser *p, Model *md, const char *value) {
        unsigned long long v;
        if (md->has_start_timeout)
                twice(p, "start-timeout");
        else if (streq(value, "infinity")) {
                md->has_start_timeout = true;
                md->start_timeout_infinity = true;
        } else if (safe_atou64(value, &v) < 0 || v == 0 || v > START_TIMEOUT_MAX)
                bad(p, "start-timeout", value,
                    "is not a number of seconds from 1 to 100 years, or infinity (no unit suffixes)");
        else {
                md->has_start_timeout = true;
                md->start_timeout = v;
        }
}

static int handle_listen(Parser *p, Model *md, const char *value) {
        if (!listen_address_is_valid(value)) {
                bad(p, "listen", value,
                    "is not an address systemd listens on as written: PORT, IPV4:PORT, [IPV6]:PORT or an absolute "
                    "socket path of at most 107 bytes from [A-Za-z0-9._/-]");
                return 0;
        }
        if (strv_contains(md->listen, value)) {
                bad(p, "listen", value, "is given twice; systemd cannot bind one address twice");
                return 0;
        }
        return strv_extend(&md->listen, &md->n_listen, value);
}

int handle_readiness_key(Parser *p, const char *key, const char *value) {
        Model *md = &p->models[p->cur_model];
        if (streq(key, "ready-url"))
                return handle_ready_url(p, md, value);
        if (streq(key, "start-timeout")) {
                handle_start_timeout(p, md, value);
                return 0;
        }
        if (streq(key, "listen"))
                return handle_listen(p, md, value);
        return 1;
}
