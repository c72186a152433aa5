/* SPDX-License-Identifier: MIT */
/* The decision table (src/cli/decide.c): for each situation a model can be in, the state
 * status shows and what reconcile does. Every row of both tables is reached by a case. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "decide.h"
#include "util.h"

#define DRV "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-m.drv"
#define OLD "/nix/store/zyxwvsrqpnmlkjihgfdcba9876543210-m.drv"
#define NOW 1800000000ULL

/* "active/running", "failed/failed", "activating/auto-restart", "inactive/dead+start" (a job) */
static UnitInfo *unit(UnitInfo *u, const char *spec) {
        static char buf[8][64];
        static int k;
        if (!spec)
                return NULL;
        char *b = buf[k++ % 8];
        snprintf(b, 64, "%s", spec);
        char *job = strchr(b, '+'), *slash = strchr(b, '/');
        if (job)
                *job++ = 0;
        *slash = 0;
        *u = (UnitInfo){
                .id = "x", .active_state = b, .sub_state = slash + 1, .job_type = job ? job : "", .job_id = job ? 7 : 0
        };
        return u;
}

typedef struct Case {
        const char *what;
        const char *R, *S, *T;
        const char *st_drv;
        const char *waiting;
        const char *want_error; /* a substring, or NULL for none */
        unsigned long long last_output;
        ModelState st; /* _MODEL_STATE_MAX: no status file */
        int published, settings, previous;
        ModelViewState want_state;
        DecideAction want_action;
        bool removed;
        bool failmem;
        bool alarm;
        int socket; /* the running socket lacks an address */
} Case;

#define NOST _MODEL_STATE_MAX

static const Case cases[] = {
        { "removed, its server still runs", "active/exited", "active/running", NULL, NULL, NULL, NULL, 0, NOST, 0, 0, 0,
          VIEW_REMOVED, ACTION_NONE, true, false, false, 0 },
        { "a silent retrain", "active/exited", "active/running", "activating/start", DRV, NULL, NULL, NOW - 700,
          MODEL_STATE_TRAINING, 0, 0, 0, VIEW_SILENT, ACTION_NONE, false, false, false, 0 },
        { "retraining, drv unchanged", "active/exited", "active/running", "activating/start", DRV, NULL, NULL, NOW - 5,
          MODEL_STATE_TRAINING, 0, 0, 0, VIEW_SERVING, ACTION_NONE, false, false, false, 0 },
        { "retraining, drv changed meanwhile", "active/exited", "active/running", "activating/start", OLD, NULL, NULL,
          NOW - 5, MODEL_STATE_TRAINING, 0, 0, 0, VIEW_SERVING, ACTION_RETRAIN_AGAIN, false, false, false, 0 },
        { "a stopped retrain", "active/exited", "active/running", "inactive/dead", DRV, NULL, "stopped by SIGTERM", 0,
          MODEL_STATE_STOPPED, 0, 0, 0, VIEW_STOPPED, ACTION_LEAVE_SERVING, false, false, false, 0 },
        { "a failed retrain unit", "active/exited", "active/running", "failed/failed", OLD, NULL,
          "retraining failed, the previous model keeps serving: boom", 0, MODEL_STATE_READY, 0, 0, 0, VIEW_SERVING,
          ACTION_RETRAIN, false, false, true, 0 },
        { "a failed retrain, status file", "active/exited", "active/running", NULL, DRV, NULL, "retraining failed", 0,
          MODEL_STATE_FAILED, 0, 0, 0, VIEW_SERVING, ACTION_LEAVE_SERVING, false, false, true, 0 },
        { "a failed retrain, failure memory", "active/exited", "active/running", NULL, OLD, NULL,
          "retraining failed, the previous model keeps serving: remembered", 0, MODEL_STATE_READY, 0, 0, 0,
          VIEW_SERVING, ACTION_LEAVE_SERVING, false, true, true, 0 },
        { "serving, settings changed", "active/exited", "active/running", NULL, DRV, NULL, NULL, 0, MODEL_STATE_READY,
          0, 1, 0, VIEW_SERVING, ACTION_RESTART_SERVER, false, false, false, 0 },
        { "serving, current", "active/exited", "active/running", NULL, DRV, NULL, NULL, 0, MODEL_STATE_READY, 0, 0, 0,
          VIEW_SERVING, ACTION_NONE, false, false, false, 0 },
        { "serving, no status file, link current, settings changed", "active/exited", "active/running", NULL, NULL,
          NULL, NULL, 0, NOST, 1, 1, 0, VIEW_SERVING, ACTION_RESTART_SERVER, false, false, false, 0 },
        { "serving, no status file, link current", "active/exited", "active/running", NULL, NULL, NULL, NULL, 0, NOST,
          1, 0, 0, VIEW_SERVING, ACTION_NONE, false, false, false, 0 },
        { "serving, drv changed", "active/exited", "active/running", NULL, OLD, NULL, NULL, 0, MODEL_STATE_READY, 0, 0,
          0, VIEW_SERVING, ACTION_RETRAIN, false, false, false, 0 },
        { "server failed", "active/exited", "failed/failed", NULL, DRV, NULL, "server deferred-serve@m.service failed",
          0, MODEL_STATE_READY, 0, 0, 0, VIEW_FAILED, ACTION_LEAVE_SERVER_FAILED, false, false, true, 0 },
        { "realise failed, same drv", "failed/failed", NULL, NULL, DRV, NULL, "boom", 0, MODEL_STATE_FAILED, 0, 0, 0,
          VIEW_FAILED, ACTION_LEAVE_FAILED, false, false, true, 0 },
        { "realise failed, remembered", "failed/failed", NULL, NULL, NULL, NULL, "deferred-realise@m.service failed", 0,
          NOST, 0, 0, 0, VIEW_FAILED, ACTION_LEAVE_FAILED, false, true, true, 0 },
        { "realise failed, drv changed since", "failed/failed", NULL, NULL, OLD, NULL, "boom", 0, MODEL_STATE_FAILED, 0,
          0, 0, VIEW_FAILED, ACTION_START_AFTER_FAILURE, false, false, true, 0 },
        { "substituting", "activating/start", "inactive/dead+start", NULL, DRV, NULL, NULL, 0, MODEL_STATE_SUBSTITUTING,
          0, 0, 0, VIEW_SUBSTITUTING, ACTION_NONE, false, false, false, 0 },
        { "waiting for a cache", "activating/start", "inactive/dead+start", NULL, DRV,
          "unable to download 'http://c/nix-cache-info': refused; retrying in 350 ms", NULL, 0, MODEL_STATE_PENDING, 0,
          0, 0, VIEW_WAITING, ACTION_NONE, false, false, false, 0 },
        { "pending in realise", "activating/start", NULL, NULL, DRV, NULL, NULL, 0, MODEL_STATE_PENDING, 0, 0, 0,
          VIEW_PENDING, ACTION_SERVE_WHEN_BUILT, false, false, false, 0 },
        { "silent training", "activating/start", "inactive/dead+start", NULL, DRV, NULL, NULL, NOW - 601,
          MODEL_STATE_TRAINING, 0, 0, 0, VIEW_SILENT, ACTION_NONE, false, false, false, 0 },
        { "training another drv", "activating/start", "inactive/dead+start", NULL, OLD, NULL, NULL, NOW - 1,
          MODEL_STATE_TRAINING, 0, 0, 0, VIEW_TRAINING, ACTION_RESTART_TRAINING, false, false, false, 0 },
        { "realise retried", "activating/auto-restart", NULL, NULL, DRV, NULL, "realise failed and is retried: boom", 0,
          MODEL_STATE_FAILED, 0, 0, 0, VIEW_TRAINING, ACTION_SERVE_WHEN_BUILT, false, false, false, 0 },
        { "ready, a retrain of this drv failed, server stopped", "active/exited", NULL, NULL, DRV, NULL,
          "retraining failed", 0, MODEL_STATE_FAILED, 0, 0, 0, VIEW_READY, ACTION_LEAVE_PREVIOUS_SERVE, false, false,
          true, 0 },
        { "ready, a retrain was stopped, server stopped", "active/exited", NULL, NULL, DRV, NULL, NULL, 0,
          MODEL_STATE_STOPPED, 0, 0, 0, VIEW_STOPPED, ACTION_LEAVE_PREVIOUS_SERVE, false, false, false, 0 },
        { "ready, remembered failure, server stopped", "active/exited", NULL, NULL, OLD, NULL, "remembered", 0,
          MODEL_STATE_READY, 0, 0, 0, VIEW_READY, ACTION_LEAVE_PREVIOUS_SERVE, false, true, true, 0 },
        { "ready, a retrain of this drv failed, server starting", "active/exited", "activating/start", NULL, DRV, NULL,
          "retraining failed", 0, MODEL_STATE_FAILED, 0, 0, 0, VIEW_READY, ACTION_LEAVE_PREVIOUS, false, false, true, 0 },
        { "ready, a retrain stopped, server starting", "active/exited", "activating/start", NULL, DRV, NULL, NULL, 0,
          MODEL_STATE_STOPPED, 0, 0, 0, VIEW_STOPPED, ACTION_LEAVE_PREVIOUS, false, false, false, 0 },
        { "ready, remembered, server starting", "active/exited", "activating/start", NULL, OLD, NULL, NULL, 0,
          MODEL_STATE_READY, 0, 0, 0, VIEW_READY, ACTION_LEAVE_PREVIOUS, false, true, true, 0 },
        { "realised another drv", "active/exited", "failed/failed", NULL, OLD, NULL, NULL, 0, MODEL_STATE_READY, 0, 0,
          0, VIEW_FAILED, ACTION_REBUILD, false, false, true, 0 },
        { "realised, no status file, link stale", "active/exited", NULL, NULL, NULL, NULL, NULL, 0, NOST, 0, 0, 0,
          VIEW_READY, ACTION_REBUILD, false, false, false, 0 },
        { "ready, server restarting", "active/exited", "activating/auto-restart", NULL, DRV, NULL,
          "exited and is restarted", 0, MODEL_STATE_READY, 0, 0, 0, VIEW_READY, ACTION_ON_ITS_WAY, false, false,
          false, 0 },
        { "a realise job queued", "inactive/dead+start", NULL, NULL, NULL, NULL, NULL, 0, NOST, 0, 0, 0, VIEW_PENDING,
          ACTION_ON_ITS_WAY, false, false, false, 0 },
        { "a server job queued", NULL, "inactive/dead+start", NULL, NULL, NULL, NULL, 0, NOST, 0, 0, 0, VIEW_PENDING,
          ACTION_ON_ITS_WAY, false, false, false, 0 },
        { "stopped realise, units quiet", "inactive/dead", NULL, NULL, DRV, NULL, "stopped by SIGTERM", 0,
          MODEL_STATE_STOPPED, 0, 0, 0, VIEW_STOPPED, ACTION_START, false, false, false, 0 },
        { "failed, the units forgot", NULL, NULL, NULL, DRV, NULL, "boom", 0, MODEL_STATE_FAILED, 0, 0, 0, VIEW_FAILED,
          ACTION_START, false, false, true, 0 },
        { "failed, remembered only", NULL, NULL, NULL, NULL, NULL, "remembered", 0, NOST, 0, 0, 0, VIEW_FAILED,
          ACTION_LEAVE_REMEMBERED, false, true, true, 0 },
        { "ready, nothing running, previous model", NULL, NULL, NULL, DRV, NULL, NULL, 0, MODEL_STATE_READY, 0, 0, 1,
          VIEW_READY, ACTION_START_PREVIOUS, false, false, false, 0 },
        { "never started", NULL, NULL, NULL, NULL, NULL, NULL, 0, NOST, 0, 0, 0, VIEW_PENDING, ACTION_START, false,
          false, false, 0 },
        { "serving, the socket lacks an address", "active/exited", "active/running", NULL, DRV, NULL, NULL, 0,
          MODEL_STATE_READY, 0, 1, 0, VIEW_SERVING, ACTION_RESTART_SOCKET, false, false, false, 1 },
        { "serving, no status file, link current, the socket lacks an address", "active/exited", "active/running",
          NULL, NULL, NULL, NULL, 0, NOST, 1, 1, 0, VIEW_SERVING, ACTION_RESTART_SOCKET, false, false, false, 1 },
        { "retraining, the socket lacks an address: the swap comes first", "active/exited", "active/running",
          "activating/start", DRV, NULL, NULL, NOW - 5, MODEL_STATE_TRAINING, 0, 0, 0, VIEW_SERVING, ACTION_NONE,
          false, false, false, 1 },
};

static int lazy_published(void *u) {
        return ((const Case *) u)->published;
}
static int lazy_settings(void *u) {
        return ((const Case *) u)->settings;
}
static int lazy_previous(void *u) {
        return ((const Case *) u)->previous;
}
static int lazy_socket(void *u) {
        return ((const Case *) u)->socket;
}

static void run_case(const Case *c, Decision *d) {
        UnitInfo r, s, t;
        StatusInfo st = { 0 }, fm = { 0 };
        bool stopped = c->st == MODEL_STATE_STOPPED;
        char err[128];
        snprintf(err, sizeof err, "%s",
                 stopped ? "the previous model keeps serving: stopped by SIGTERM before the build"
                         : c->T && streq(c->T, "failed/failed")
                         ? "retraining failed, the previous model keeps serving: boom"
                         : "boom");
        if (c->st != NOST)
                st = (StatusInfo){ .state = c->st,
                                   .drv = (char *) c->st_drv,
                                   .out = (char *) "",
                                   .last_line = (char *) "epoch 3",
                                   .error = c->st == MODEL_STATE_FAILED || stopped ||
                                                   (c->T && streq(c->T, "failed/failed"))
                                           ? err
                                           : (char *) "",
                                   .waiting = (char *) (c->waiting ? c->waiting : ""),
                                   .started = NOW - 1000,
                                   .last_output = c->last_output };
        fm = (StatusInfo){ .state = MODEL_STATE_FAILED, .drv = (char *) DRV, .error = (char *) "remembered" };
        DecideInput in = {
                .name = "m",
                .in_manifest = !c->removed,
                .drv = c->removed ? NULL : DRV,
                .realise = unit(&r, c->R),
                .serve = unit(&s, c->S),
                .retrain = unit(&t, c->T),
                .status = c->st != NOST ? &st : NULL,
                .failed = c->failmem ? &fm : NULL,
                .now = NOW,
                .silent_after = 600,
                .published_is_wanted = lazy_published,
                .settings_changed = lazy_settings,
                .previous_available = lazy_previous,
                .socket_stale = lazy_socket,
                .userdata = (void *) c,
        };
        assert_int_equal(decide(&in, d), 0);
}

static void test_every_case(void **state) {
        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const Case *c = &cases[i];
                Decision d;
                run_case(c, &d);
                if (d.state != c->want_state || d.action != c->want_action || d.alarm != c->alarm)
                        fail_msg("%s: got %s/%s alarm=%d (rows %u/%u), want %s/%s alarm=%d", c->what,
                                 model_view_state_to_string(d.state), decide_action_to_string(d.action), d.alarm,
                                 d.state_row, d.action_row, model_view_state_to_string(c->want_state),
                                 decide_action_to_string(c->want_action), c->alarm);
                if (c->want_error && (!d.error || !strstr(d.error, c->want_error)))
                        fail_msg("%s: error '%s' lacks '%s'", c->what, strempty(d.error), c->want_error);
                if (!c->want_error && c->want_state != VIEW_STOPPED && d.error && !c->alarm &&
                    c->want_action != ACTION_SERVE_WHEN_BUILT)
                        fail_msg("%s: unexpected error '%s'", c->what, d.error);
                decision_done(&d);
        }
}

/* Each row of each table decides at least one case: no row is dead. */
static void test_every_row_is_reached(void **state) {
        (void) state;
        bool srow[64] = { false }, arow[64] = { false };
        assert_true(decide_state_rows() <= 64 && decide_action_rows() <= 64);
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                Decision d;
                run_case(&cases[i], &d);
                srow[d.state_row] = arow[d.action_row] = true;
                decision_done(&d);
        }
        /* A removed model decides the first action row; the rows reconcile reaches are the rest. */
        for (unsigned i = 0; i < decide_state_rows(); i++)
                if (!srow[i])
                        fail_msg("state row %u is reached by no case", i);
        for (unsigned i = 0; i < decide_action_rows(); i++)
                if (!arow[i])
                        fail_msg("action row %u is reached by no case", i);
}

static void test_details(void **state) {
        (void) state;
        Decision d;
        run_case(&cases[20], &d); /* silent training */
        assert_int_equal(d.state, VIEW_SILENT);
        assert_string_equal(d.detail, "silent for 601 s");
        assert_int_equal(d.lead, UNIT_REALISE);
        decision_done(&d);
        run_case(&cases[18], &d); /* waiting */
        assert_string_equal(d.detail,
                            "waiting for a cache: unable to download 'http://c/nix-cache-info': refused; "
                            "retrying in 350 ms");
        decision_done(&d);
        run_case(&cases[1], &d); /* a silent retrain: from the retrain unit, still retraining */
        assert_true(d.retraining);
        assert_int_equal(d.lead, UNIT_RETRAIN);
        decision_done(&d);
        /* Output a second before the limit is not silence. */
        Case c = cases[20];
        c.last_output = NOW - 599;
        run_case(&c, &d);
        assert_int_equal(d.state, VIEW_TRAINING);
        decision_done(&d);
        for (int s = 0; s < _VIEW_STATE_MAX; s++)
                assert_string_not_equal(model_view_state_to_string((ModelViewState) s), "unknown");
        assert_string_equal(model_view_state_to_string(VIEW_STOPPED), "stopped");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_every_case),
                cmocka_unit_test(test_every_row_is_reached),
                cmocka_unit_test(test_details),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
