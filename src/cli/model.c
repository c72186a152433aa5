/* SPDX-License-Identifier: MIT */
/* One model as the operator sees it: its manifest entry, its status file and its units,
 * folded into one state by decide.c, whose action table reconcile reads from the same
 * facts, so that status and reconcile never disagree. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "failmem.h"
#include "log.h"
#include "model.h"
#include "units.h"
#include "util.h"
#include "validate.h"

int cli_load_manifest(const char *path_arg, Manifest **ret) {
        _cleanup_free_ char *path = NULL;
        int r;

        if (path_arg)
                path = strdup(path_arg);
        else {
                r = path_manifest(arg_scope, &path);
                if (r == -ENOMEM)
                        return log_oom();
                if (r < 0) {
                        log_error_errno(r, "Failed to determine the %s manifest path (set DEFERRED_BUILDS_MANIFEST "
                                           "or HOME): %m",
                                        scope_to_string(arg_scope));
                        return CLI_EXIT_NOINPUT;
                }
        }
        if (!path)
                return log_oom();

        _cleanup_manifest_ Manifest *m = NULL;
        r = manifest_load(path, &m);
        if (!m || r == -ENOMEM)
                return log_oom();
        if (r == -ENOENT) {
                log_error("No manifest at %s: no models are declared for the %s scope. Set "
                          "DEFERRED_BUILDS_MANIFEST, or pass %s for the other scope.",
                          path, scope_to_string(arg_scope), arg_scope == SCOPE_USER ? "--system" : "--user");
                return CLI_EXIT_NOINPUT;
        }
        if (r < 0) {
                log_error_errno(r, "Failed to read manifest %s: %m", path);
                return CLI_EXIT_NOINPUT;
        }
        if (m->rejected) {
                manifest_print_diags(m, stderr);
                log_error("Manifest %s is rejected as a whole, so no model can be loaded from it; fix the errors "
                          "above ('deferred-builds check %s').",
                          path, path);
                return CLI_EXIT_NOINPUT;
        }
        if (m->n_skipped > 0)
                log_warning("Manifest %s: %zu model%s skipped for errors; see 'deferred-builds check %s'.", path,
                            m->n_skipped, m->n_skipped == 1 ? "" : "s", path);
        *ret = TAKE_PTR(m);
        return 0;
}

int manifest_skipped_names(const Manifest *m, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        size_t n = 0;
        for (size_t i = 0; i < m->n_diags; i++) {
                const Diag *d = &m->diags[i];
                if (d->level != DIAG_ERROR || !d->model || strv_contains(l, d->model))
                        continue;
                if (strv_extend(&l, &n, d->model) < 0)
                        return log_oom();
        }
        *ret = TAKE_PTR(l);
        return 0;
}

int cli_model_arg(const char *name, const Manifest *m, const Model **md) {
        if (!model_name_is_valid(name)) {
                log_error("'%s' is not a model name: 1 to %d characters from [A-Za-z0-9_-], starting with a letter "
                          "or digit.",
                          name, MODEL_NAME_MAX);
                return CLI_EXIT_USAGE;
        }
        if (m) {
                *md = manifest_find(m, name);
                if (!*md) {
                        log_error("Model %s is not in the manifest %s; 'deferred-builds list' shows the models it "
                                  "declares.",
                                  name, m->path);
                        return CLI_EXIT_NOINPUT;
                }
        }
        return 0;
}

UnitInfo *model_unit(const ModelView *v, UnitKind k) {
        return v->units ? v->units->unit[k] : NULL;
}

bool model_view_status_drv_is(const ModelView *v, const char *drv) {
        return v->status && v->status_error == 0 && drv && streq(v->status->drv, drv);
}

bool model_view_build_failed(const ModelView *v) {
        return v->model && v->failed && v->model->drv && streq(v->failed->drv, v->model->drv);
}

bool model_view_is_current(const ModelView *v) {
        return v->model && v->status && v->status->state == MODEL_STATE_READY &&
               model_view_status_drv_is(v, v->model->drv);
}

#define IN_SET_STATE(x, a, b, c) ((x) == (a) || (x) == (b) || (x) == (c))

unsigned long long arg_silent_after = SILENT_AFTER_DEFAULT_SEC;

static int set_error(ModelView *v, const char *fmt, ...) _printf_(2, 3);
static int set_error(ModelView *v, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        free(v->error);
        int r = vasprintf(&v->error, fmt, ap);
        va_end(ap);
        if (r < 0) {
                v->error = NULL;
                return -ENOMEM;
        }
        return 0;
}

void model_view_decide_input(const ModelView *v, DecideInput *ret) {
        *ret = (DecideInput){
                .name = v->name,
                .in_manifest = v->model != NULL,
                .drv = v->model ? v->model->drv : NULL,
                .realise = model_unit(v, UNIT_REALISE),
                .serve = model_unit(v, UNIT_SERVE),
                .retrain = model_unit(v, UNIT_RETRAIN),
                .status = v->status,
                .status_error = v->status_error,
                .failed = v->failed,
                .now = (unsigned long long) time(NULL),
                .silent_after = arg_silent_after,
        };
}

static int derive(ModelView *v) {
        DecideInput in;
        Decision d;
        model_view_decide_input(v, &in);
        if (decide(&in, &d) < 0)
                return -ENOMEM;
        v->view_state = d.state;
        v->state = model_view_state_to_string(d.state);
        v->lead = d.lead >= 0 ? model_unit(v, (UnitKind) d.lead) : NULL;
        v->retraining = d.retraining;
        v->alarm = d.alarm;
        v->detail = TAKE_PTR(d.detail);
        /* Without a reason of its own, an unreadable status file's error stays. */
        if (d.error) {
                free(v->error);
                v->error = TAKE_PTR(d.error);
        }
        decision_done(&d);
        return 0;
}

static void status_info_free(StatusInfo *i) {
        if (!i)
                return;
        free(i->drv);
        free(i->out);
        free(i->last_line);
        free(i->error);
        free(i->waiting);
        free(i);
}

static StatusInfo *status_info_new(const ModelStatus *st) {
        StatusInfo *i = calloc(1, sizeof(StatusInfo));
        if (!i)
                return NULL;
        *i = (StatusInfo){
                .state = st->state,
                .drv = strdup(st->drv),
                .out = strdup(st->out),
                .last_line = strdup(st->last_line),
                .error = strdup(st->error),
                .waiting = strdup(st->waiting),
                .started = st->started,
                .last_output = st->last_output,
                .finished = st->finished,
                .done = st->done,
                .expected = st->expected,
                .attempts = st->attempts,
        };
        if (!i->drv || !i->out || !i->last_line || !i->error || !i->waiting) {
                status_info_free(i);
                return NULL;
        }
        return i;
}

int model_view_init(ModelView *v, const char *name, const Model *md, const ModelUnits *u, const char *runtime_dir,
                    const char *state_dir, ModelStatus *scratch) {
        *v = (ModelView){ .name = name, .model = md, .units = u };

        if (state_dir && md) {
                int r = failmem_read(state_dir, name, scratch);
                if (r >= 0 && scratch->state == MODEL_STATE_FAILED) {
                        v->failed = status_info_new(scratch);
                        if (!v->failed)
                                return log_oom();
                } else if (r == -ENOMEM)
                        return log_oom();
        }

        if (runtime_dir) {
                int r = status_read(runtime_dir, name, scratch);
                if (r >= 0) {
                        v->status = status_info_new(scratch);
                        if (!v->status)
                                return log_oom();
                } else if (r == -ENOMEM)
                        return log_oom();
                else if (r != -ENOENT && r != -ENOTDIR) {
                        v->status_error = r;
                        if (set_error(v, "status file %s/" STATUS_SUBDIR "/%s unreadable: %s", runtime_dir, name,
                                      r == -EBADMSG && !isempty(scratch->error) ? scratch->error : strerror(-r)) < 0)
                                return log_oom();
                }
        }

        if (derive(v) < 0)
                return log_oom();

        return 0;
}

/* The status file's time for the state derived, when the file describes that state: the
 * realise helper stamps when a training started and when it ended. */
static unsigned long long status_time_usec(const ModelView *v) {
        const StatusInfo *st = v->status;
        unsigned long long t = 0;
        if (!st || !v->state)
                return 0;
        if (IN_SET_STATE(v->view_state, VIEW_TRAINING, VIEW_SUBSTITUTING, VIEW_PENDING) ||
            IN_SET_STATE(v->view_state, VIEW_WAITING, VIEW_SILENT, VIEW_SILENT)) {
                if (IN_SET_STATE(st->state, MODEL_STATE_TRAINING, MODEL_STATE_SUBSTITUTING, MODEL_STATE_PENDING))
                        t = st->started;
        } else if (v->view_state == VIEW_FAILED || v->view_state == VIEW_STOPPED) {
                if (st->state == MODEL_STATE_FAILED || st->state == MODEL_STATE_STOPPED)
                        t = st->finished ? st->finished : st->started;
        } else if (streq(v->state, "ready")) {
                if (st->state == MODEL_STATE_READY)
                        t = st->finished;
        }
        return t * 1000000ULL;
}

bool model_view_needs_unit_time(const ModelView *v) {
        return v->lead && status_time_usec(v) == 0;
}

void model_view_update_since(ModelView *v) {
        unsigned long long t = status_time_usec(v);
        if (t == 0 && v->lead)
                t = v->lead->state_change_usec;
        v->since = t;
}

void model_view_done(ModelView *v) {
        status_info_free(v->status);
        status_info_free(v->failed);
        free(v->error);
        free(v->detail);
        *v = (ModelView){ 0 };
}
