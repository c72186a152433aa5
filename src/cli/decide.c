/* SPDX-License-Identifier: MIT */
/* The facts about a model are computed once into a bit set; each table is read top down
 * and the first row whose needed facts all hold and whose forbidden facts all fail wins.
 * The facts marked lazy cost I/O (a link resolved, /proc read): they are computed only when
 * a row that names them is reached. */
#include "decide.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unitname.h"
#include "util.h"

enum {
        F_MANIFEST,
        F_S_ACTIVE,
        F_S_FAILED,
        F_S_AUTORESTART, /* activating, in auto-restart */
        F_S_BUSY,        /* activating, deactivating, or a job */
        F_S_JOB,
        F_S_START_JOB,
        F_S_INACTIVE,
        F_R_ACTIVE,
        F_R_FAILED,
        F_R_ACTIVATING,
        F_R_AUTORESTART,
        F_R_JOB,
        F_R_START_JOB,
        F_T_RUNNING, /* activating, or a start job */
        F_T_FAILED,
        F_HAS_STATUS,
        F_SAME_DRV,  /* the status file names the manifest's drv */
        F_OTHER_DRV, /* it names another one */
        F_READY_SAME,
        F_FAILED_SAME,
        F_STOPPED_SAME,
        F_BUILD_FAILED, /* the failure memory names the manifest's drv */
        F_ST_PENDING,
        F_ST_SUBSTITUTING,
        F_WAITING,
        F_SILENT,
        /* lazy */
        F_L_PUBLISHED,
        F_L_SETTINGS,
        F_L_PREVIOUS,
        F_L_SOCKET, /* the running socket does not hold every address of its Listen= */
        _F_MAX,
};
#define B(f) (UINT64_C(1) << (f))
#define LAZY (B(F_L_PUBLISHED) | B(F_L_SETTINGS) | B(F_L_PREVIOUS) | B(F_L_SOCKET))

typedef enum ErrorKind {
        E_NONE,
        E_RETRAIN_FAILED,     /* the status file's error, said as a failed retrain */
        E_RETRAIN_REMEMBERED, /* the failure memory's, said as a failed retrain */
        E_SERVER_FAILED,
        E_REALISE_FAILED,
        E_REALISE_RETRIED,   /* only when realise is in auto-restart */
        E_SERVER_RESTARTING, /* only when the server is in auto-restart */
        E_STATUS,            /* the status file's error, if any */
        E_REMEMBERED,        /* the failure memory's error, if any */
        E_STOPPED,
} ErrorKind;

enum { LEAD_NONE = -1, LEAD_REMOVED = -2 };

typedef struct StateRow {
        uint64_t need, forbid;
        ModelViewState state;
        int lead;
        ErrorKind error;
        bool alarm;
} StateRow;

typedef struct ActionRow {
        uint64_t need, forbid;
        DecideAction action;
} ActionRow;

#define SERVE_RETRAINING (B(F_MANIFEST) | B(F_S_ACTIVE) | B(F_T_RUNNING))
#define SERVE (B(F_MANIFEST) | B(F_S_ACTIVE))
#define M B(F_MANIFEST)

static const StateRow state_rows[] = {
        { 0, M, VIEW_REMOVED, LEAD_REMOVED, E_NONE, false },
        { SERVE_RETRAINING | B(F_SILENT), 0, VIEW_SILENT, UNIT_RETRAIN, E_NONE, false },
        { SERVE_RETRAINING, 0, VIEW_SERVING, UNIT_SERVE, E_NONE, false },
        { SERVE | B(F_STOPPED_SAME), B(F_T_RUNNING), VIEW_STOPPED, UNIT_RETRAIN, E_STOPPED, false },
        { SERVE | B(F_T_FAILED), B(F_T_RUNNING), VIEW_SERVING, UNIT_SERVE, E_RETRAIN_FAILED, true },
        { SERVE | B(F_FAILED_SAME), B(F_T_RUNNING), VIEW_SERVING, UNIT_SERVE, E_RETRAIN_FAILED, true },
        { SERVE | B(F_BUILD_FAILED), B(F_T_RUNNING), VIEW_SERVING, UNIT_SERVE, E_RETRAIN_REMEMBERED, true },
        { M | B(F_S_ACTIVE), 0, VIEW_SERVING, UNIT_SERVE, E_NONE, false },
        { M | B(F_S_FAILED), 0, VIEW_FAILED, UNIT_SERVE, E_SERVER_FAILED, true },
        { M | B(F_R_FAILED), 0, VIEW_FAILED, UNIT_REALISE, E_REALISE_FAILED, true },
        { M | B(F_R_ACTIVATING) | B(F_ST_SUBSTITUTING), 0, VIEW_SUBSTITUTING, UNIT_REALISE, E_REALISE_RETRIED, false },
        { M | B(F_R_ACTIVATING) | B(F_ST_PENDING) | B(F_WAITING), 0, VIEW_WAITING, UNIT_REALISE, E_REALISE_RETRIED,
          false },
        { M | B(F_R_ACTIVATING) | B(F_ST_PENDING), 0, VIEW_PENDING, UNIT_REALISE, E_REALISE_RETRIED, false },
        { M | B(F_R_ACTIVATING) | B(F_SILENT), 0, VIEW_SILENT, UNIT_REALISE, E_REALISE_RETRIED, false },
        { M | B(F_R_ACTIVATING), 0, VIEW_TRAINING, UNIT_REALISE, E_REALISE_RETRIED, false },
        { M | B(F_R_ACTIVE) | B(F_STOPPED_SAME), 0, VIEW_STOPPED, UNIT_RETRAIN, E_STOPPED, false },
        { M | B(F_R_ACTIVE) | B(F_FAILED_SAME), 0, VIEW_READY, UNIT_REALISE, E_RETRAIN_FAILED, true },
        { M | B(F_R_ACTIVE) | B(F_BUILD_FAILED), 0, VIEW_READY, UNIT_REALISE, E_RETRAIN_REMEMBERED, true },
        { M | B(F_R_ACTIVE), 0, VIEW_READY, UNIT_REALISE, E_SERVER_RESTARTING, false },
        { M | B(F_R_JOB), 0, VIEW_PENDING, UNIT_REALISE, E_NONE, false },
        { M | B(F_S_JOB), 0, VIEW_PENDING, UNIT_SERVE, E_NONE, false },
        /* No unit says anything: the status file of the last run does, or the failure
         * memory (a switch's reset-failed, or a reboot, forgot the unit's failure). */
        { M | B(F_STOPPED_SAME), 0, VIEW_STOPPED, LEAD_NONE, E_STOPPED, false },
        { M | B(F_FAILED_SAME), 0, VIEW_FAILED, LEAD_NONE, E_STATUS, true },
        { M | B(F_BUILD_FAILED), 0, VIEW_FAILED, LEAD_NONE, E_REMEMBERED, true },
        { M | B(F_READY_SAME), 0, VIEW_READY, LEAD_NONE, E_NONE, false },
        { M, 0, VIEW_PENDING, LEAD_NONE, E_NONE, false },
};

/* reconcile's rows (reconcile.c says why each). A model removed from the manifest is not
 * decided here: reconcile stops all of its units. */
static const ActionRow action_rows[] = {
        { 0, M, ACTION_NONE },
        { SERVE_RETRAINING, B(F_OTHER_DRV), ACTION_NONE },
        { SERVE_RETRAINING, 0, ACTION_RETRAIN_AGAIN },
        /* Nor does a daemon-reload rebind a running socket: an address new to its Listen=
         * is not bound until the socket restarts, which restarts the server too. */
        { M | B(F_S_ACTIVE) | B(F_READY_SAME) | B(F_L_SOCKET), 0, ACTION_RESTART_SOCKET },
        { M | B(F_S_ACTIVE) | B(F_L_PUBLISHED) | B(F_L_SOCKET), B(F_HAS_STATUS), ACTION_RESTART_SOCKET },
        /* A switch reloads a changed serve drop-in but never restarts the server: the
         * running process still has the old settings. */
        { M | B(F_S_ACTIVE) | B(F_READY_SAME) | B(F_L_SETTINGS), 0, ACTION_RESTART_SERVER },
        { M | B(F_S_ACTIVE) | B(F_READY_SAME), 0, ACTION_NONE },
        { M | B(F_S_ACTIVE) | B(F_L_PUBLISHED) | B(F_L_SETTINGS), B(F_HAS_STATUS), ACTION_RESTART_SERVER },
        { M | B(F_S_ACTIVE) | B(F_L_PUBLISHED), B(F_HAS_STATUS), ACTION_NONE },
        { M | B(F_S_ACTIVE) | B(F_FAILED_SAME), 0, ACTION_LEAVE_SERVING },
        { M | B(F_S_ACTIVE) | B(F_STOPPED_SAME), 0, ACTION_LEAVE_SERVING },
        { M | B(F_S_ACTIVE) | B(F_BUILD_FAILED), 0, ACTION_LEAVE_SERVING },
        { M | B(F_S_ACTIVE), 0, ACTION_RETRAIN },
        { M | B(F_R_ACTIVATING) | B(F_OTHER_DRV), 0, ACTION_RESTART_TRAINING },
        { M | B(F_R_ACTIVATING) | B(F_S_START_JOB), 0, ACTION_NONE },
        { M | B(F_R_ACTIVATING), 0, ACTION_SERVE_WHEN_BUILT },
        { M | B(F_R_FAILED) | B(F_SAME_DRV), 0, ACTION_LEAVE_FAILED },
        { M | B(F_R_FAILED) | B(F_BUILD_FAILED), 0, ACTION_LEAVE_FAILED },
        { M | B(F_R_FAILED), 0, ACTION_START_AFTER_FAILURE },
        /* A retrain of this derivation failed; the realised model is the previous one. */
        { M | B(F_R_ACTIVE) | B(F_FAILED_SAME) | B(F_S_INACTIVE), 0, ACTION_LEAVE_PREVIOUS_SERVE },
        { M | B(F_R_ACTIVE) | B(F_STOPPED_SAME) | B(F_S_INACTIVE), 0, ACTION_LEAVE_PREVIOUS_SERVE },
        { M | B(F_R_ACTIVE) | B(F_BUILD_FAILED) | B(F_S_INACTIVE), 0, ACTION_LEAVE_PREVIOUS_SERVE },
        { M | B(F_R_ACTIVE) | B(F_FAILED_SAME), 0, ACTION_LEAVE_PREVIOUS },
        { M | B(F_R_ACTIVE) | B(F_STOPPED_SAME), 0, ACTION_LEAVE_PREVIOUS },
        { M | B(F_R_ACTIVE) | B(F_BUILD_FAILED), 0, ACTION_LEAVE_PREVIOUS },
        { M | B(F_R_ACTIVE) | B(F_HAS_STATUS), B(F_READY_SAME), ACTION_REBUILD },
        { M | B(F_R_ACTIVE), B(F_READY_SAME) | B(F_HAS_STATUS) | B(F_L_PUBLISHED), ACTION_REBUILD },
        /* The unit forgot the failure (reset-failed, a reboot); the failure memory did not. */
        { M | B(F_BUILD_FAILED), 0, ACTION_LEAVE_REMEMBERED },
        { M | B(F_S_FAILED), 0, ACTION_LEAVE_SERVER_FAILED },
        { M | B(F_S_BUSY), 0, ACTION_ON_ITS_WAY },
        { M | B(F_R_START_JOB), 0, ACTION_ON_ITS_WAY },
        /* After a reboot, the previous model serves while the manifest's trains. */
        { M | B(F_L_PREVIOUS), 0, ACTION_START_PREVIOUS },
        { M, 0, ACTION_START },
};

static const char *const state_names[_VIEW_STATE_MAX] = {
        [VIEW_PENDING] = "pending",   [VIEW_WAITING] = "waiting", [VIEW_SUBSTITUTING] = "substituting",
        [VIEW_TRAINING] = "training", [VIEW_SILENT] = "silent",   [VIEW_READY] = "ready",
        [VIEW_SERVING] = "serving",   [VIEW_STOPPED] = "stopped", [VIEW_FAILED] = "failed",
        [VIEW_REMOVED] = "removed",
};

static const char *const action_names[_DECIDE_ACTION_MAX] = {
        [ACTION_NONE] = "none",
        [ACTION_ON_ITS_WAY] = "on-its-way",
        [ACTION_RETRAIN_AGAIN] = "retrain-again",
        [ACTION_RESTART_SOCKET] = "restart-socket",
        [ACTION_RESTART_SERVER] = "restart-server",
        [ACTION_LEAVE_SERVING] = "leave-serving",
        [ACTION_RETRAIN] = "retrain",
        [ACTION_RESTART_TRAINING] = "restart-training",
        [ACTION_SERVE_WHEN_BUILT] = "serve-when-built",
        [ACTION_LEAVE_FAILED] = "leave-failed",
        [ACTION_START_AFTER_FAILURE] = "start-after-failure",
        [ACTION_LEAVE_PREVIOUS] = "leave-previous",
        [ACTION_LEAVE_PREVIOUS_SERVE] = "leave-previous-serve",
        [ACTION_REBUILD] = "rebuild",
        [ACTION_LEAVE_REMEMBERED] = "leave-remembered",
        [ACTION_LEAVE_SERVER_FAILED] = "leave-server-failed",
        [ACTION_START_PREVIOUS] = "start-previous",
        [ACTION_START] = "start",
};

unsigned decide_state_rows(void) {
        return ELEMENTSOF(state_rows);
}

unsigned decide_action_rows(void) {
        return ELEMENTSOF(action_rows);
}

const char *model_view_state_to_string(ModelViewState s) {
        return s >= 0 && s < _VIEW_STATE_MAX ? state_names[s] : "unknown";
}

const char *decide_action_to_string(DecideAction a) {
        return a >= 0 && a < _DECIDE_ACTION_MAX ? action_names[a] : "unknown";
}

/* When a training last showed life: its last log line, else its start. */
static unsigned long long quiet_since(const StatusInfo *st) {
        return st->last_output > st->started ? st->last_output : st->started;
}

static uint64_t facts_of(const DecideInput *in) {
        const UnitInfo *R = in->realise, *S = in->serve, *T = in->retrain;
        const StatusInfo *st = in->status, *fm = in->failed;
        uint64_t f = 0;
#define SET(bit, cond)               \
        do {                         \
                if (cond)            \
                        f |= B(bit); \
        } while (0)
        SET(F_MANIFEST, in->in_manifest);
        SET(F_S_ACTIVE, unit_is_active(S));
        SET(F_S_FAILED, unit_is_failed(S));
        SET(F_S_AUTORESTART, unit_is_activating(S) && streq(S->sub_state, "auto-restart"));
        SET(F_S_BUSY, unit_is_activating(S) || (S && streq(S->active_state, "deactivating")) || unit_has_job(S, NULL));
        SET(F_S_JOB, unit_has_job(S, NULL));
        SET(F_S_START_JOB, unit_has_job(S, "start"));
        SET(F_S_INACTIVE, unit_is_inactive(S));
        SET(F_R_ACTIVE, unit_is_active(R));
        SET(F_R_FAILED, unit_is_failed(R));
        SET(F_R_ACTIVATING, unit_is_activating(R));
        SET(F_R_AUTORESTART, unit_is_activating(R) && streq(R->sub_state, "auto-restart"));
        SET(F_R_JOB, unit_has_job(R, NULL));
        SET(F_R_START_JOB, unit_has_job(R, "start"));
        SET(F_T_RUNNING, unit_is_activating(T) || unit_has_job(T, "start"));
        SET(F_T_FAILED, unit_is_failed(T));

        bool same = st && in->status_error == 0 && in->drv && streq(st->drv, in->drv);
        SET(F_HAS_STATUS, st);
        SET(F_SAME_DRV, same);
        SET(F_OTHER_DRV, st && !isempty(st->drv) && !same);
        SET(F_READY_SAME, in->in_manifest && same && st->state == MODEL_STATE_READY);
        SET(F_FAILED_SAME, same && st->state == MODEL_STATE_FAILED);
        SET(F_STOPPED_SAME, same && st->state == MODEL_STATE_STOPPED);
        SET(F_BUILD_FAILED, in->in_manifest && fm && in->drv && streq(fm->drv, in->drv));
        SET(F_ST_PENDING, st && st->state == MODEL_STATE_PENDING);
        SET(F_ST_SUBSTITUTING, st && st->state == MODEL_STATE_SUBSTITUTING);
        SET(F_WAITING, st && !isempty(st->waiting));
        SET(F_SILENT,
            st && st->state == MODEL_STATE_TRAINING && in->silent_after > 0 &&
                    in->now >= quiet_since(st) + in->silent_after);
#undef SET
        return f;
}

typedef struct Facts {
        uint64_t set, known; /* known: the lazy facts computed so far */
        const DecideInput *in;
} Facts;

static bool lazy(const Facts *fs, int bit) {
        int (*fn)(void *) = bit == F_L_PUBLISHED ? fs->in->published_is_wanted
                : bit == F_L_SETTINGS            ? fs->in->settings_changed
                : bit == F_L_PREVIOUS            ? fs->in->previous_available
                                                 : fs->in->socket_stale;
        return fn && fn(fs->in->userdata) > 0;
}

/* Whether a row matches; the eager facts are checked first, so a lazy one is computed
 * only for a row that would otherwise match. */
static bool row_matches(Facts *fs, uint64_t need, uint64_t forbid) {
        if ((fs->set & need & ~LAZY) != (need & ~LAZY) || (fs->set & forbid & ~LAZY) != 0)
                return false;
        for (int bit = F_L_PUBLISHED; bit <= F_L_SOCKET; bit++) {
                if (!((need | forbid) & B(bit)))
                        continue;
                if (!(fs->known & B(bit))) {
                        fs->known |= B(bit);
                        if (lazy(fs, bit))
                                fs->set |= B(bit);
                }
                if (((need & B(bit)) && !(fs->set & B(bit))) || ((forbid & B(bit)) && (fs->set & B(bit))))
                        return false;
        }
        return true;
}

static const char *text_or_null(const StatusInfo *i, bool ok) {
        return ok && i && !isempty(i->error) ? i->error : NULL;
}

/* A failed retrain, said once: the realise helper's text already starts with it. */
static int retrain_error(char **ret, const char *err, const char *name) {
        static const char phrase[] = "retraining failed, the previous model keeps serving";
        if (err && startswith(err, phrase))
                return asprintf_safe(ret, "%s", err);
        if (err)
                return asprintf_safe(ret, "%s: %s", phrase, err);
        return asprintf_safe(ret, "%s; see deferred-builds logs %s", phrase, name);
}

static int error_of(ErrorKind k, uint64_t f, const DecideInput *in, char **ret) {
        const char *serr = text_or_null(in->status, in->status_error == 0), *ferr = text_or_null(in->failed, true);
        char unit[UNIT_NAME_BUF];
        *ret = NULL;
        switch (k) {
        case E_NONE:
                return 0;
        case E_RETRAIN_FAILED:
                return retrain_error(ret, serr, in->name);
        case E_RETRAIN_REMEMBERED:
                return retrain_error(ret, ferr, in->name);
        case E_SERVER_FAILED:
                return asprintf_safe(ret, "server %s failed; see deferred-builds logs %s",
                                     model_unit_name(UNIT_SERVE, in->name, unit), in->name);
        case E_REALISE_FAILED:
                if (serr)
                        return asprintf_safe(ret, "%s", serr);
                return asprintf_safe(ret, "%s failed; see deferred-builds logs %s",
                                     model_unit_name(UNIT_REALISE, in->name, unit), in->name);
        case E_REALISE_RETRIED:
                if (!(f & B(F_R_AUTORESTART)))
                        return 0;
                return asprintf_safe(ret, "realise failed and is retried%s%s", serr ? ": " : "", strempty(serr));
        case E_SERVER_RESTARTING:
                if (!(f & B(F_S_AUTORESTART)))
                        return 0;
                return asprintf_safe(ret, "server %s exited and is restarted; see deferred-builds logs %s",
                                     model_unit_name(UNIT_SERVE, in->name, unit), in->name);
        case E_STATUS:
                return serr ? asprintf_safe(ret, "%s", serr) : 0;
        case E_REMEMBERED:
                return ferr ? asprintf_safe(ret, "%s", ferr) : 0;
        case E_STOPPED:
                if (serr)
                        return asprintf_safe(ret, "%s", serr);
                return asprintf_safe(ret, "stopped before the build finished; deferred-builds realise %s resumes it",
                                     in->name);
        }
        return 0;
}

static int removed_lead(const DecideInput *in) {
        return !unit_is_inactive(in->serve) ? UNIT_SERVE : !unit_is_inactive(in->realise) ? UNIT_REALISE : UNIT_RETRAIN;
}

int decide(const DecideInput *in, Decision *d) {
        Facts fs = { .set = facts_of(in), .in = in };
        *d = (Decision){ .lead = LEAD_NONE };

        for (size_t i = 0; i < ELEMENTSOF(state_rows); i++) {
                const StateRow *row = &state_rows[i];
                if (!row_matches(&fs, row->need, row->forbid))
                        continue;
                d->state = row->state;
                d->state_row = (unsigned) i;
                d->lead = row->lead == LEAD_REMOVED ? removed_lead(in) : row->lead;
                d->alarm = row->alarm;
                d->retraining = (fs.set & SERVE_RETRAINING) == SERVE_RETRAINING;
                if (error_of(row->error, fs.set, in, &d->error) < 0)
                        return -ENOMEM;
                break;
        }
        if (d->state == VIEW_SILENT) {
                d->silent_sec = in->now - quiet_since(in->status);
                if (asprintf_safe(&d->detail, "silent for %llu s", d->silent_sec) < 0)
                        goto oom;
        } else if (d->state == VIEW_WAITING &&
                   asprintf_safe(&d->detail, "waiting for a cache: %s", in->status->waiting) < 0)
                goto oom;

        for (size_t i = 0; i < ELEMENTSOF(action_rows); i++)
                if (row_matches(&fs, action_rows[i].need, action_rows[i].forbid)) {
                        d->action = action_rows[i].action;
                        d->action_row = (unsigned) i;
                        break;
                }
        return 0;
oom:
        decision_done(d);
        return -ENOMEM;
}

void decision_done(Decision *d) {
        free(d->error);
        free(d->detail);
        d->error = d->detail = NULL;
}
