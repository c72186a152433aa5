/* SPDX-License-Identifier: MIT */
/* The models a monitoring verb reports on (views.h), from one ListUnitsByPatterns call and
 * one pipelined round of state-change times: `status` and `metrics` show the same views. */
#include "views.h"

#include <errno.h>
#include <stdlib.h>

#include "bus.h"
#include "cli.h"
#include "log.h"
#include "util.h"

static char *resolve_published(const char *runtime_dir, const char *name) {
        if (!runtime_dir)
                return NULL;
        _cleanup_free_ char *link = strjoin(runtime_dir, "/" PUBLISHED_SUBDIR "/", name);
        return link ? realpath(link, NULL) : NULL;
}

static bool name_wanted(char **names, const char *name) {
        return !names || !names[0] || strv_contains(names, name);
}

int view_set_load(ViewSet *s, char **names) {
        _cleanup_strv_free_ char **skipped = NULL;
        _cleanup_free_ ModelStatus *scratch = NULL;
        _cleanup_free_ UnitInfo **leads = NULL;
        size_t n_leads = 0;
        int r;

        *s = (ViewSet){ 0 };
        r = cli_load_manifest(NULL, &s->manifest);
        if (r != 0)
                return r;
        Manifest *m = s->manifest;
        for (char **i = names; i && *i; i++)
                if ((r = cli_model_arg(*i, NULL, NULL)) != 0)
                        return r;
        if (manifest_skipped_names(m, &skipped) < 0)
                return -ENOMEM;
        r = path_runtime_dir(arg_scope, &s->runtime_dir);
        if (r < 0)
                log_warning_errno(r, "Failed to determine the runtime directory (set XDG_RUNTIME_DIR or "
                                     "DEFERRED_BUILDS_RUNTIME_DIR): %m; showing unit states only.");
        if (path_state_dir(arg_scope, &s->state_dir) < 0)
                s->state_dir = NULL;
        if (bus_connect(arg_scope, &s->bus) < 0)
                return CLI_EXIT_UNAVAILABLE;
        if ((r = unit_table_load(s->bus, &s->units)) < 0)
                return r;

        size_t max = m->n_models + s->units.n_models;
        s->views = calloc(max + 1, sizeof(ModelView));
        s->published = calloc(max + 1, sizeof(char *));
        scratch = malloc(sizeof(ModelStatus));
        leads = calloc(max + 1, sizeof(UnitInfo *));
        if (!s->views || !s->published || !scratch || !leads)
                return log_oom();

        for (size_t i = 0; i < m->n_models; i++) {
                const Model *md = &m->models[i];
                if (!name_wanted(names, md->name))
                        continue;
                r = model_view_init(&s->views[s->n], md->name, md, unit_table_find(&s->units, md->name), s->runtime_dir,
                                    s->state_dir, scratch);
                s->n++;
                if (r < 0)
                        return r;
        }
        /* Models no longer in the manifest, while any of their units still runs or failed. */
        for (size_t i = 0; i < s->units.n_models; i++) {
                const ModelUnits *mu = &s->units.models[i];
                if (manifest_find(m, mu->name) || strv_contains(skipped, mu->name) || !name_wanted(names, mu->name))
                        continue;
                bool alive = false;
                for (UnitKind k = 0; k < _UNIT_KIND_MAX; k++)
                        alive = alive || !unit_is_inactive(mu->unit[k]);
                if (!alive)
                        continue;
                r = model_view_init(&s->views[s->n], mu->name, NULL, mu, s->runtime_dir, NULL, scratch);
                s->n++;
                if (r < 0)
                        return r;
        }

        for (size_t i = 0; i < s->n; i++)
                if (model_view_needs_unit_time(&s->views[i]))
                        leads[n_leads++] = s->views[i].lead;
        if ((r = units_fetch_state_change(s->bus, leads, n_leads)) < 0)
                return r;
        for (size_t i = 0; i < s->n; i++) {
                model_view_update_since(&s->views[i]);
                s->published[i] = resolve_published(s->runtime_dir, s->views[i].name);
        }
        return 0;
}

void view_set_done(ViewSet *s) {
        for (size_t i = 0; i < s->n; i++) {
                model_view_done(&s->views[i]);
                free(s->published[i]);
        }
        free(s->views);
        free(s->published);
        unit_table_done(&s->units);
        sd_bus_flush_close_unref(s->bus);
        manifest_free(s->manifest);
        free(s->runtime_dir);
        free(s->state_dir);
        *s = (ViewSet){ 0 };
}
