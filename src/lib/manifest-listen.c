/* SPDX-License-Identifier: MIT */
/* The rule across the models' listen = addresses: no two sockets may claim what the kernel
 * lets only one of them listen on (netaddr.h listen_addresses_collide). Sorted once, so a
 * 10,000-model manifest costs O(n log n). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "manifest-parser.h"
#include "netaddr.h"

typedef struct Entry {
        ListenAddress a;
        const char *text; /* as written in the manifest */
        size_t model;     /* index into p->models */
} Entry;

/* Paths together, then by port: within a port the dual-stack wildcards first, then
 * 0.0.0.0, then single addresses in order, so that equal addresses are neighbours. */
static int entry_cmp(const void *x, const void *y) {
        const Entry *a = x, *b = y;
        int c = (a->a.kind != LISTEN_UNIX) - (b->a.kind != LISTEN_UNIX);
        if (c)
                return c;
        if (a->a.kind == LISTEN_UNIX)
                c = strcmp(a->a.path, b->a.path);
        else {
                c = (a->a.port > b->a.port) - (a->a.port < b->a.port);
                if (!c)
                        c = (a->a.kind > b->a.kind) - (a->a.kind < b->a.kind);
                if (!c)
                        c = memcmp(a->a.addr, b->a.addr, sizeof a->a.addr);
        }
        return c ? c : (a->model > b->model) - (a->model < b->model);
}

static bool same_group(const Entry *a, const Entry *b) {
        if (a->a.kind == LISTEN_UNIX || b->a.kind == LISTEN_UNIX)
                return a->a.kind == b->a.kind && streq(a->a.path, b->a.path);
        return a->a.port == b->a.port;
}

/* An entry that collides with e[i], or SIZE_MAX. The candidates suffice because of the
 * order: the first two of the group (wildcards come first), the first two 0.0.0.0 ones,
 * and the neighbours (an equal address, or the first single IPv4 address after 0.0.0.0). */
static size_t partner(const Entry *e, size_t g0, size_t g1, size_t any4, size_t i) {
        size_t cand[] = { g0, g0 + 1, any4, any4 + 1, i - 1, i + 1 };
        for (size_t k = 0; k < sizeof cand / sizeof cand[0]; k++) {
                size_t j = cand[k];
                if (j >= g0 && j < g1 && j != i && listen_addresses_collide(&e[i].a, &e[j].a))
                        return j;
        }
        return SIZE_MAX;
}

static void why(char *buf, size_t n, const Entry *a, const Entry *b) {
        const Entry *wild = a->a.kind == LISTEN_ANY || (a->a.kind == LISTEN_ANY4 && b->a.kind != LISTEN_ANY) ? a : b;
        _cleanup_free_ char *q = quoted(wild->text);
        if (a->a.kind == LISTEN_UNIX)
                snprintf(buf, n, "the same socket path");
        else if (a->a.kind == b->a.kind && memcmp(a->a.addr, b->a.addr, sizeof a->a.addr) == 0)
                snprintf(buf, n, "the same address and port");
        else
                snprintf(buf, n, "%s listens on port %u of every %s address", q ? q : "?", (unsigned) wild->a.port,
                         wild->a.kind == LISTEN_ANY ? "IPv6 and IPv4" : "IPv4");
}

static void report(Parser *p, const Entry *e, const Entry *o) {
        const Model *md = &p->models[e->model], *other = &p->models[o->model];
        _cleanup_free_ char *qe = quoted(e->text), *qo = quoted(o->text), *qn = quoted(other->name);
        char reason[128];
        why(reason, sizeof reason, e, o);
        p->cur_model = (ssize_t) e->model;
        if (e->model == o->model) {
                /* The pair is found from both ends: one message says it. */
                if (!md->invalid)
                        model_error(p, md->line, "listen %s and listen %s cannot both be bound (%s); keep one",
                                    qe ? qe : "?", qo ? qo : "?", reason);
        } else
                model_error(p, md->line,
                            "listen %s cannot be bound while model %s (line %u) listens on %s (%s); give each model "
                            "its own address or port",
                            qe ? qe : "?", qn ? qn : "?", other->line, qo ? qo : "?", reason);
}

int check_listen(Parser *p) {
        size_t n = 0, total = 0;
        for (size_t i = 0; i < p->n_models; i++)
                if (!p->models[i].invalid)
                        total += p->models[i].n_listen;
        if (total < 2)
                return 0;
        _cleanup_free_ Entry *e = malloc(sizeof(Entry) * total);
        _cleanup_free_ size_t *hit = malloc(sizeof(size_t) * total);
        if (!e || !hit)
                return -ENOMEM;
        for (size_t i = 0; i < p->n_models; i++) {
                const Model *md = &p->models[i];
                if (md->invalid)
                        continue;
                for (size_t k = 0; k < md->n_listen; k++)
                        if (listen_address_parse(md->listen[k], &e[n].a) == 0) {
                                e[n].text = md->listen[k];
                                e[n].model = i;
                                n++;
                        }
        }
        qsort(e, n, sizeof(Entry), entry_cmp);
        /* Partners first, reports after: a report marks its model invalid, not its entries. */
        for (size_t g0 = 0, g1; g0 < n; g0 = g1) {
                size_t any4 = SIZE_MAX;
                for (g1 = g0; g1 < n && same_group(&e[g0], &e[g1]); g1++)
                        if (any4 == SIZE_MAX && e[g1].a.kind == LISTEN_ANY4)
                                any4 = g1;
                for (size_t i = g0; i < g1; i++)
                        hit[i] = partner(e, g0, g1, any4, i);
        }
        for (size_t i = 0; i < n; i++)
                if (hit[i] != SIZE_MAX)
                        report(p, &e[i], &e[hit[i]]);
        return 0;
}
