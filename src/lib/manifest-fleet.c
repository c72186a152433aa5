/* SPDX-License-Identifier: MIT */
/* Rules across the models of one manifest, checked once every section is read. Each sorts
 * once, so a 10,000-model manifest costs O(n log n). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "manifest-parser.h"
#include "unitfile.h"
#include "validate.h"

typedef struct Key {
        const char *s; /* what is compared */
        size_t model;  /* index into p->models */
} Key;

static int key_casecmp(const void *a, const void *b) {
        const Key *x = a, *y = b;
        int c = strcasecmp(x->s, y->s);
        return c ? c : (x->model > y->model) - (x->model < y->model);
}

static int key_cmp(const void *a, const void *b) {
        const Key *x = a, *y = b;
        int c = strcmp(x->s, y->s);
        return c ? c : (x->model > y->model) - (x->model < y->model);
}

/* Sorts keys and reports every member of each run of equal keys against its neighbour. */
static void report_runs(Parser *p, Key *keys, size_t n, int (*cmp)(const void *, const void *), bool casefold,
                        const char *what) {
        qsort(keys, n, sizeof(Key), cmp);
        for (size_t i = 0; i < n; i++) {
                bool prev = i > 0 && (casefold ? strcasecmp : strcmp)(keys[i - 1].s, keys[i].s) == 0;
                bool next = i + 1 < n && (casefold ? strcasecmp : strcmp)(keys[i + 1].s, keys[i].s) == 0;
                if (!prev && !next)
                        continue;
                const Model *other = &p->models[keys[prev ? i - 1 : i + 1].model];
                _cleanup_free_ char *q = quoted(other->name);
                p->cur_model = (ssize_t) keys[i].model;
                model_error(p, p->models[keys[i].model].line, "%s model %s (line %u); rename one of them", what,
                            q ? q : "?", other->line);
        }
}

/* Names that differ only in case are distinct units, but not to the people reading
 * `deferred-builds status`, nor on a case-insensitive state directory. */
static void check_case(Parser *p, Key *keys) {
        size_t n = 0;
        for (size_t i = 0; i < p->n_models; i++)
                if (model_name_is_valid(p->models[i].name))
                        keys[n++] = (Key){ p->models[i].name, i };
        report_runs(p, keys, n, key_casecmp, true, "the name differs only in case from");
}

/* Two servers must never share a dynamic user: a 64-bit hash of a long name can be made to
 * collide. Only the hashed form can (the literal one is the name itself). */
static int check_users(Parser *p, Key *keys) {
        size_t n = 0;
        _cleanup_free_ char *names = malloc(32 * (p->n_models ? p->n_models : 1));
        if (!names)
                return -ENOMEM;
        for (size_t i = 0; i < p->n_models; i++) {
                const Model *md = &p->models[i];
                if (md->user || !model_name_is_valid(md->name))
                        continue;
                serve_user_name(md->name, names + 32 * n);
                if (startswith(names + 32 * n, "dserve_")) {
                        keys[n] = (Key){ names + 32 * n, i };
                        n++;
                }
        }
        report_runs(p, keys, n, key_cmp, false, "the hashed dynamic user name of the server is that of");
        return 0;
}

static int env_cmp(const void *a, const void *b) {
        const char *x = *(const char *const *) a, *y = *(const char *const *) b;
        size_t nx = strcspn(x, "="), ny = strcspn(y, "=");
        int c = memcmp(x, y, nx < ny ? nx : ny);
        return c ? c : (nx > ny) - (nx < ny);
}

/* systemd keeps the last Environment= of a name: an earlier one would be dropped. */
static int check_env(Parser *p, size_t i) {
        Model *md = &p->models[i];
        if (md->n_env < 2)
                return 0;
        _cleanup_free_ char **v = malloc(sizeof(char *) * md->n_env);
        if (!v)
                return -ENOMEM;
        memcpy(v, md->env, sizeof(char *) * md->n_env);
        qsort(v, md->n_env, sizeof(char *), env_cmp);
        for (size_t k = 1; k < md->n_env; k++)
                if (env_cmp(&v[k - 1], &v[k]) == 0) {
                        p->cur_model = (ssize_t) i;
                        model_error(p, md->line, "environment sets %.*s more than once; keep one",
                                    (int) strcspn(v[k], "="), v[k]);
                        break;
                }
        return 0;
}

int check_fleet(Parser *p) {
        int r;
        _cleanup_free_ Key *keys = malloc(sizeof(Key) * (p->n_models ? p->n_models : 1));
        if (!keys)
                return -ENOMEM;
        check_case(p, keys);
        if ((r = check_users(p, keys)) < 0)
                return r;
        for (size_t i = 0; i < p->n_models; i++) {
                Model *md = &p->models[i];
                if (md->invalid)
                        continue;
                if ((r = check_env(p, i)) < 0)
                        return r;
                size_t n = unit_exec_start_length(md);
                if (n > UNIT_LINE_MAX) {
                        p->cur_model = (ssize_t) i;
                        model_error(p, md->exec_line,
                                    "the server's ExecStart= line would be %zu bytes, systemd reads at most %d; "
                                    "pass fewer or shorter arguments (or a file of them)",
                                    n, UNIT_LINE_MAX);
                }
        }
        /* Last: a model skipped for another reason binds nothing. */
        return check_listen(p);
}
