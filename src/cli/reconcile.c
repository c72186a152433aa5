/* SPDX-License-Identifier: MIT */
/* deferred-builds reconcile: make what runs match the manifest.
 *
 * Why it exists: switch-to-configuration never restarts a generated unit whose drop-in
 * changed, nor stops one that disappeared, and a training pulled in by the default target
 * would hold boot in "starting" for hours. So the default target wants
 * deferred-builds-reconcile.service instead, which runs this once start-up finished, and
 * again on every switch (starting the active targets starts it, as it has exited). It is
 * idempotent: run twice, the second run finds nothing to do.
 *
 *   served, and the manifest names another derivation  -> start the retrain unit (builds
 *                                                          while the old model serves,
 *                                                          then swaps it in)
 *   served, and its running socket lacks an address   -> restart the socket, which
 *     its Listen property reports (a daemon-reload        restarts the server
 *     binds no new address of a running socket)
 *   training another derivation than the manifest's   -> restart the realise unit
 *   a build of the manifest's derivation failed        -> leave it failed (no retry storm);
 *     (the failure memory, failmem.h: a switch's          only a new derivation or
 *      reset-failed and a reboot forget unit failures)    deferred-builds realise retry
 *   anything else not running                          -> start the serve unit (its
 *                                                          Requires= starts the realise)
 *   units of a model no longer in the manifest         -> stop them, unpublish the model
 *
 * decide.c holds these rules as a table (the same facts give status its state); this file
 * carries out the action it picks.
 *
 * Every job is queued without waiting for it ("no-block"), all calls pipelined on one
 * connection: reconcile returns at once, whatever trains. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bus.h"
#include "cli.h"
#include "escape.h"
#include "previous.h"
#include "listening.h"
#include "log.h"
#include "model.h"
#include "published.h"
#include "settings.h"
#include "units.h"
#include "util.h"
#include "validate.h"

#define TARGET UNIT_TARGET
#define USEC_PER_SEC 1000000ULL
#define STARTUP_POLL_USEC (200 * 1000ULL)

static bool arg_dry_run = false;
static bool arg_wait_startup = false;
static unsigned long long arg_startup_timeout = 300; /* seconds */

static void help(void) {
        printf("Usage: %s reconcile [--wait-startup[=SECONDS]] [--dry-run]\n\n"
               "Make the running units match the manifest: start new models, retrain changed ones\n"
               "while the old model keeps serving, stop models removed from the manifest, and leave\n"
               "a model whose derivation already failed alone. Queues jobs and returns at once; it\n"
               "never waits for a training. Prints one line per action and a summary.\n\n"
               "  --wait-startup[=SECONDS]  first wait (at most SECONDS, default 300) until the\n"
               "                            manager finished starting up, so that boot reaches\n"
               "                            \"running\" while models train\n"
               "  --dry-run                 print what would be done, do nothing\n"
               "  --user                    the user manager     --system  the system manager\n"
               "  -h --help                 show this help\n",
               program_invocation_short_name);
}

static int parse_argv(int argc, char *argv[]) {
        static const struct option opts[] = {
                COMMON_OPTIONS,
                { "dry-run", no_argument, NULL, ARG_DRY_RUN },
                { "wait-startup", optional_argument, NULL, ARG_WAIT_STARTUP },
                {},
        };
        int c;
        while ((c = getopt_long(argc, argv, ":h", opts, NULL)) >= 0) {
                if (common_option(c))
                        continue;
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_DRY_RUN:
                        arg_dry_run = true;
                        break;
                case ARG_WAIT_STARTUP:
                        arg_wait_startup = true;
                        if (optarg && (safe_atou64(optarg, &arg_startup_timeout) < 0 ||
                                       arg_startup_timeout > 24ULL * 3600))
                                return operand_error(argv, "--wait-startup= takes a number of seconds (at most "
                                                           "86400)");
                        break;
                default:
                        return option_error(c, argv);
                }
        }
        if (optind < argc)
                return operand_error(argv, "takes no arguments");
        return CLI_CONTINUE;
}

/* Waits until the manager left "initializing" and "starting". A start job queued after
 * that does not hold the manager in "starting", which is the point of waiting. */
static int wait_for_startup(sd_bus *bus) {
        unsigned long long deadline = now_usec(CLOCK_MONOTONIC) + arg_startup_timeout * USEC_PER_SEC;
        bool said = false;
        for (;;) {
                _cleanup_free_ char *state = NULL;
                int r = bus_get_system_state(bus, &state);
                if (r < 0)
                        return r;
                if (!streq(state, "initializing") && !streq(state, "starting")) {
                        if (said)
                                printf("Manager start-up finished (%s).\n", state);
                        return streq(state, "stopping") ? 1 : 0;
                }
                if (now_usec(CLOCK_MONOTONIC) >= deadline) {
                        log_warning("The manager is still %s after %llu s; reconciling anyway.", state,
                                    arg_startup_timeout);
                        return 0;
                }
                if (!said) {
                        printf("Waiting for the manager to finish start-up (%s)...\n", state);
                        fflush(stdout);
                        said = true;
                }
                usleep(STARTUP_POLL_USEC);
        }
}

typedef struct Plan {
        BusCall *calls;
        size_t n_calls, alloc;
        size_t started, retrained, rebuilt, restarted, stopped, left_failed, unchanged;
        const char *generation; /* the manifest's */
        Listening listening;    /* what the kernel listens on, read when a socket runs */
        bool have_listening;
} Plan;

static void plan_done(Plan *p) {
        for (size_t i = 0; i < p->n_calls; i++)
                bus_call_done(&p->calls[i]);
        free(p->calls);
        listening_done(&p->listening);
        *p = (Plan){ 0 };
}

static int plan_call_job(Plan *p, const char *method, const char *unit, const char *mode, uint32_t job_id) {
        if (p->n_calls == p->alloc) {
                size_t na = p->alloc ? p->alloc * 2 : 64;
                BusCall *n = realloc(p->calls, na * sizeof(BusCall));
                if (!n)
                        return log_oom();
                p->calls = n;
                p->alloc = na;
        }
        char *u = strdup(unit);
        if (!u)
                return log_oom();
        p->calls[p->n_calls++] = (BusCall){ .method = method, .unit = u, .mode = mode, .job_id = job_id };
        return 0;
}

static int plan_call(Plan *p, const char *method, const char *unit, const char *mode) {
        return plan_call_job(p, method, unit, mode, 0);
}

static int plan_unit(Plan *p, const char *method, UnitKind k, const char *name, const char *mode) {
        char unit[UNIT_NAME_BUF];
        return plan_call(p, method, model_unit_name(k, name, unit), mode);
}

static void say(const char *fmt, ...) _printf_(1, 2);
static void say(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        putchar('\n');
}

/* Without a status file (e.g. the runtime directory was cleaned), the published link still
 * tells which output is served; it can only be compared when the manifest knows the output
 * (not for content-addressed derivations). */
static bool published_is(const char *runtime_dir, const Model *md) {
        if (!runtime_dir || !md->out)
                return false;
        _cleanup_free_ char *link = strjoin(runtime_dir, "/" PUBLISHED_SUBDIR "/", md->name);
        if (!link)
                return false;
        _cleanup_free_ char *resolved = realpath(link, NULL);
        return resolved && streq(resolved, md->out);
}

/* The main process of every running server of the manifest, to compare its settings. */
static int fetch_server_pids(sd_bus *bus, const Manifest *m, const UnitTable *units) {
        _cleanup_free_ UnitInfo **servers = calloc(m->n_models + 1, sizeof(UnitInfo *));
        size_t n = 0;
        if (!servers)
                return log_oom();
        for (size_t i = 0; i < m->n_models; i++) {
                const ModelUnits *mu = unit_table_find(units, m->models[i].name);
                if (mu && unit_is_active(mu->unit[UNIT_SERVE]))
                        servers[n++] = mu->unit[UNIT_SERVE];
        }
        return units_fetch_main_pid(bus, servers, n);
}

/* The Listen property of every running socket of the manifest and, when there is one,
 * what the kernel listens on, to tell whether each socket holds its addresses. */
static int fetch_sockets(Plan *p, sd_bus *bus, const Manifest *m, const UnitTable *units) {
        _cleanup_free_ UnitInfo **sockets = calloc(m->n_models + 1, sizeof(UnitInfo *));
        size_t n = 0;
        int r;
        if (!sockets)
                return log_oom();
        for (size_t i = 0; i < m->n_models; i++) {
                const ModelUnits *mu = unit_table_find(units, m->models[i].name);
                if (mu && m->models[i].n_listen > 0 && unit_is_active(mu->unit[UNIT_SOCKET]))
                        sockets[n++] = mu->unit[UNIT_SOCKET];
        }
        if (n == 0)
                return 0;
        if ((r = units_fetch_listen(bus, sockets, n)) < 0)
                return r;
        r = listening_load(&p->listening);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                log_warning("Leaving running sockets as they are: what they listen on is unknown.");
        p->have_listening = r >= 0;
        return 0;
}

typedef struct PlanHooks {
        const ModelView *v;
        const char *runtime_dir, *state_dir, *generation;
        const Plan *plan;
} PlanHooks;

/* A daemon-reload gives a running socket the Listen= of its new drop-in, but binds none of
 * the new addresses (and closes the fds of the dropped ones): an address it reports that
 * nothing listens on is one it does not hold. */
static int hook_socket(void *userdata) {
        const PlanHooks *h = userdata;
        const UnitInfo *K = model_unit(h->v, UNIT_SOCKET);
        if (!h->plan->have_listening || !unit_is_active(K) || !K->listen)
                return 0;
        for (char **a = K->listen; *a; a++) {
                ListenAddress la;
                if (listen_address_parse(*a, &la) == 0 && !listening_has(&h->plan->listening, &la))
                        return 1;
        }
        return 0;
}

static int hook_published(void *userdata) {
        const PlanHooks *h = userdata;
        return published_is(h->runtime_dir, h->v->model);
}

static int hook_settings(void *userdata) {
        const PlanHooks *h = userdata;
        return serve_settings_changed((pid_t) model_unit(h->v, UNIT_SERVE)->main_pid, h->v->model, arg_scope);
}

static int hook_previous(void *userdata) {
        const PlanHooks *h = userdata;
        char previous[PATH_MAX];
        if (!h->runtime_dir || !h->state_dir)
                return 0;
        return previous_model(h->state_dir, h->runtime_dir, h->generation, h->v->model, previous);
}

/* Carries out what decide() chose for a model of the manifest. */
static int plan_model(Plan *p, const ModelView *v, const char *runtime_dir, const char *state_dir) {
        const char *name = v->model->name;
        PlanHooks hooks = {
                .v = v, .runtime_dir = runtime_dir, .state_dir = state_dir, .generation = p->generation, .plan = p
        };
        DecideInput in;
        _cleanup_(decision_done) Decision d = { 0 };
        char unit[UNIT_NAME_BUF];
        int r;

        model_view_decide_input(v, &in);
        in.published_is_wanted = hook_published;
        in.settings_changed = hook_settings;
        in.previous_available = hook_previous;
        in.socket_stale = hook_socket;
        in.userdata = &hooks;
        if (decide(&in, &d) < 0)
                return log_oom();

        switch (d.action) {
        case ACTION_NONE:
        case ACTION_ON_ITS_WAY:
                p->unchanged++;
                return 0;
        case ACTION_RETRAIN_AGAIN:
                say("retraining %s again (drv changed during retraining)", name);
                p->retrained++;
                return plan_unit(p, "RestartUnit", UNIT_RETRAIN, name, "replace");
        case ACTION_RESTART_SOCKET:
                /* The restart propagates to the server, which Requires= the socket. */
                say("restarting the socket of %s and its server (its listen addresses changed; a running socket "
                    "binds new ones only when restarted)",
                    name);
                p->restarted++;
                return plan_unit(p, "RestartUnit", UNIT_SOCKET, name, "replace");
        case ACTION_RESTART_SERVER:
                say("restarting the server of %s (its settings changed)", name);
                p->restarted++;
                return plan_unit(p, "RestartUnit", UNIT_SERVE, name, "replace");
        case ACTION_LEAVE_SERVING:
                if (d.state == VIEW_STOPPED)
                        say("leaving %s serving its previous model: its retrain was stopped before it finished; "
                            "run deferred-builds realise %s to resume it",
                            name, name);
                else
                        say("leaving %s serving its previous model: retraining the same derivation failed before; "
                            "run deferred-builds realise %s to retry",
                            name, name);
                p->left_failed++;
                return 0;
        case ACTION_RETRAIN:
                say("retraining %s (drv changed)", name);
                p->retrained++;
                return plan_unit(p, "StartUnit", UNIT_RETRAIN, name, "replace");
        case ACTION_RESTART_TRAINING:
                say("restarting the training of %s (drv changed)", name);
                p->rebuilt++;
                if ((r = plan_unit(p, "RestartUnit", UNIT_REALISE, name, "replace")) < 0)
                        return r;
                return plan_unit(p, "StartUnit", UNIT_SERVE, name, "replace");
        case ACTION_SERVE_WHEN_BUILT:
                /* Trained by hand (deferred-builds realise): have it served when done. */
                p->unchanged++;
                return plan_unit(p, "StartUnit", UNIT_SERVE, name, "replace");
        case ACTION_LEAVE_FAILED:
                say("leaving %s failed: same derivation failed before; run deferred-builds realise %s to "
                    "retry",
                    name, name);
                p->left_failed++;
                return 0;
        case ACTION_START_AFTER_FAILURE:
                say("starting %s (drv changed since it failed)", name);
                p->started++;
                /* Clears the failure and the start-limit counter of the old derivation. */
                if ((r = plan_unit(p, "ResetFailedUnit", UNIT_REALISE, name, NULL)) < 0)
                        return r;
                return plan_unit(p, "StartUnit", UNIT_SERVE, name, "replace");
        case ACTION_LEAVE_PREVIOUS:
        case ACTION_LEAVE_PREVIOUS_SERVE:
                if (d.state == VIEW_STOPPED)
                        say("leaving %s on its previous model: its retrain was stopped before it finished; run "
                            "deferred-builds realise %s to resume it",
                            name, name);
                else
                        say("leaving %s on its previous model: retraining the same derivation failed before; run "
                            "deferred-builds realise %s to retry",
                            name, name);
                p->left_failed++;
                if (d.action == ACTION_LEAVE_PREVIOUS_SERVE)
                        return plan_unit(p, "StartUnit", UNIT_SERVE, name, "replace");
                return 0;
        case ACTION_REBUILD:
                say("rebuilding %s (drv changed)", name);
                p->rebuilt++;
                if (unit_is_failed(model_unit(v, UNIT_SERVE)) &&
                    (r = plan_unit(p, "ResetFailedUnit", UNIT_SERVE, name, NULL)) < 0)
                        return r;
                if ((r = plan_unit(p, "RestartUnit", UNIT_REALISE, name, "replace")) < 0)
                        return r;
                return plan_unit(p, "StartUnit", UNIT_SERVE, name, "replace");
        case ACTION_LEAVE_REMEMBERED:
                say("leaving %s failed: building the same derivation failed before; run deferred-builds realise "
                    "%s to retry",
                    name, name);
                p->left_failed++;
                return 0;
        case ACTION_LEAVE_SERVER_FAILED:
                say("leaving %s failed: its server %s failed; see deferred-builds logs %s, run deferred-builds "
                    "restart %s to retry",
                    name, model_unit_name(UNIT_SERVE, name, unit), name, name);
                p->left_failed++;
                return 0;
        case ACTION_START_PREVIOUS:
                /* realise publishes the previous model (previous.h), the retrain builds the
                 * new one and swaps it in. */
                say("starting %s on its previous model, retraining it (drv changed)", name);
                p->started++;
                p->retrained++;
                if ((r = plan_unit(p, "StartUnit", UNIT_SERVE, name, "replace")) < 0)
                        return r;
                return plan_unit(p, "StartUnit", UNIT_RETRAIN, name, "replace");
        case ACTION_START:
        case _DECIDE_ACTION_MAX:
                break;
        }
        say("starting %s", name);
        p->started++;
        return plan_unit(p, "StartUnit", UNIT_SERVE, name, "replace");
}

/* A model whose manifest entry no longer has `listen =`: its socket, which the server no
 * longer requires, is stopped (the server itself restarts for its changed settings). */
static int plan_stray_socket(Plan *p, const ModelView *v) {
        const UnitInfo *K = model_unit(v, UNIT_SOCKET);
        if (v->model->n_listen > 0 || unit_is_inactive(K))
                return 0;
        say("stopping the socket of %s (no listen = in the manifest)", v->model->name);
        return unit_is_failed(K) ? plan_call(p, "ResetFailedUnit", K->id, NULL) : plan_call(p, "StopUnit", K->id, "replace");
}

/* A model gone from the manifest: stop its units, server first; forget failures, so its
 * units can be unloaded. */
static int plan_removed(Plan *p, const ModelUnits *mu) {
        static const UnitKind order[] = { UNIT_SERVE, UNIT_SOCKET, UNIT_RETRAIN, UNIT_REALISE };
        bool any = false;
        int r;
        for (size_t i = 0; i < ELEMENTSOF(order); i++) {
                const UnitInfo *u = mu->unit[order[i]];
                if (!u)
                        continue;
                if (unit_is_failed(u))
                        r = plan_call(p, "ResetFailedUnit", u->id, NULL);
                else if (!streq(u->active_state, "inactive"))
                        r = plan_call(p, "StopUnit", u->id, "replace");
                else if (u->job_id > 0) {
                        /* Inactive with a queued start: once its drop-in is gone the manager
                         * refuses to stop a unit it cannot load, but the job can go. */
                        r = plan_call_job(p, "CancelJob", u->id, NULL, u->job_id);
                } else
                        continue;
                if (r < 0)
                        return r;
                any = true;
        }
        if (any) {
                say("stopping %s (removed from manifest)", mu->name);
                p->stopped++;
        }
        return any;
}

/* Removes RUNTIME/models/NAME of models no longer in the manifest: only a symlink that is
 * exactly one of our published links, never anything else. The folder is opened without
 * following a symlink in its place: this runs as root. */
static int unpublish_removed(Plan *p, const Manifest *m, char **skipped, const UnitTable *units,
                             const char *runtime_dir) {
        _cleanup_free_ char *state_dir = NULL, *models_dir = NULL;
        if (!runtime_dir)
                return 0;
        int r = path_state_dir(arg_scope, &state_dir);
        if (r < 0)
                return log_error_errno(r, "Failed to determine the state directory (set HOME or "
                                          "DEFERRED_BUILDS_STATE_DIR): %m");
        models_dir = strjoin(runtime_dir, "/" PUBLISHED_SUBDIR);
        if (!models_dir)
                return log_oom();

        _cleanup_free_ char *shown = escape_for_message(models_dir, PATH_MAX);
        if (!shown)
                return log_oom();
        _cleanup_close_ int fd = open(models_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
                if (errno == ENOENT)
                        return 0;
                if (errno == ELOOP || errno == ENOTDIR)
                        return log_error_errno(-ENOTDIR, "Refusing %s: not a directory (a symlink in its place?)",
                                               shown);
                return log_error_errno(-errno, "Failed to open %s: %m", shown);
        }
        _cleanup_closedir_ DIR *d = fdopendir(fd);
        if (!d)
                return log_error_errno(-errno, "Failed to open %s: %m", shown);
        TAKE_FD(fd);
        int ret = 0;
        struct dirent *de;
        while ((errno = 0, de = readdir(d))) {
                const char *name = de->d_name;
                if (!model_name_is_valid(name) || manifest_find(m, name) || strv_contains(skipped, name))
                        continue;

                char target[PATH_MAX];
                r = published_link_is_ours(dirfd(d), name, state_dir, target);
                /* Ours, and exactly this model's root: ROOTS/GEN/NAME, nothing else in there. */
                const char *base = strrchr(target, '/');
                if (r <= 0 || !base || !streq(base + 1, name)) {
                        _cleanup_free_ char *t = escape_for_message(target, PATH_MAX);
                        if (!target[0])
                                log_warning("Leaving %s/%s alone: not a symlink, so not a model this tool published.",
                                            shown, name);
                        else
                                log_warning("Leaving %s/%s alone: it points to %s, not to %s/" ROOTS_SUBDIR
                                            "/GENERATION/%s.",
                                            shown, name, strempty(t), state_dir, name);
                        continue;
                }
                const ModelUnits *mu = unit_table_find(units, name);
                bool said = false;
                for (UnitKind kk = 0; mu && kk < _UNIT_KIND_MAX; kk++)
                        said = said || !unit_is_inactive(mu->unit[kk]);
                if (!said) {
                        say("unpublishing %s (removed from manifest)", name);
                        p->stopped++;
                }
                if (arg_dry_run)
                        continue;
                if (unlinkat(dirfd(d), name, 0) < 0 && errno != ENOENT)
                        ret = log_error_errno(-errno, "Failed to remove the published link %s/%s: %m", shown,
                                              name);
        }
        if (errno != 0)
                return log_error_errno(-errno, "Failed to read %s: %m", models_dir);
        return ret;
}

static void print_summary(const Plan *p, const Manifest *m) {
        printf("%s%zu started, %zu retrained, %zu rebuilt, %zu restarted, %zu stopped, %zu left failed, %zu "
               "unchanged (%zu models in %s)\n",
               arg_dry_run ? "dry run, nothing done: " : "", p->started, p->retrained, p->rebuilt, p->restarted,
               p->stopped, p->left_failed, p->unchanged, m->n_models, m->path);
        fflush(stdout);
}

static int run(void) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_manifest_ Manifest *m = NULL;
        _cleanup_(unit_table_done) UnitTable units = { 0 };
        _cleanup_(plan_done) Plan plan = { 0 };
        _cleanup_strv_free_ char **skipped = NULL;
        _cleanup_free_ char *runtime_dir = NULL, *state_dir = NULL;
        int r;

        if (bus_connect(arg_scope, &bus) < 0)
                return CLI_EXIT_UNAVAILABLE;
        if (arg_wait_startup) {
                r = wait_for_startup(bus);
                if (r < 0)
                        return r;
                if (r > 0) {
                        printf("The manager is stopping: nothing to reconcile.\n");
                        return 0;
                }
        }

        /* Read after waiting: the manifest may have changed meanwhile. */
        r = cli_load_manifest(NULL, &m);
        if (r != 0) {
                log_error("Nothing was started or stopped.");
                return r;
        }
        if (manifest_skipped_names(m, &skipped) < 0)
                return -ENOMEM;
        r = path_runtime_dir(arg_scope, &runtime_dir);
        if (r < 0)
                log_warning_errno(r, "Failed to determine the runtime directory (set XDG_RUNTIME_DIR or "
                                     "DEFERRED_BUILDS_RUNTIME_DIR): %m; deciding from unit states only.");
        if (path_state_dir(arg_scope, &state_dir) < 0)
                log_warning("Failed to determine the state directory (set HOME or DEFERRED_BUILDS_STATE_DIR); "
                            "failed builds may be retried.");

        r = unit_table_load(bus, &units);
        if (r < 0)
                return r;

        /* Removed models first: their stop jobs are queued before any start. */
        for (size_t i = 0; i < units.n_models; i++) {
                const ModelUnits *mu = &units.models[i];
                if (manifest_find(m, mu->name))
                        continue;
                if (strv_contains(skipped, mu->name)) {
                        bool alive = false;
                        for (UnitKind k = 0; k < _UNIT_KIND_MAX; k++)
                                alive = alive || !unit_is_inactive(mu->unit[k]);
                        if (alive)
                                say("leaving %s as it is: its manifest entry has errors (deferred-builds check)",
                                    mu->name);
                        continue;
                }
                if ((r = plan_removed(&plan, mu)) < 0)
                        return r;
        }
        if ((r = unpublish_removed(&plan, m, skipped, &units, runtime_dir)) < 0)
                return r;

        _cleanup_free_ ModelStatus *st = malloc(sizeof(ModelStatus));
        if (!st)
                return log_oom();
        plan.generation = m->generation;
        r = fetch_server_pids(bus, m, &units);
        if (r < 0)
                return r;
        if ((r = fetch_sockets(&plan, bus, m, &units)) < 0)
                return r;
        for (size_t i = 0; i < m->n_models; i++) {
                ModelView v;
                const Model *md = &m->models[i];
                r = model_view_init(&v, md->name, md, unit_table_find(&units, md->name), runtime_dir, state_dir, st);
                if (r >= 0)
                        r = plan_model(&plan, &v, runtime_dir, state_dir);
                if (r >= 0)
                        r = plan_stray_socket(&plan, &v);
                model_view_done(&v);
                if (r < 0)
                        return r;
        }

        /* The target is the PartOf= anchor of every model unit (stopping it stops them all).
         * It wants nothing (the generator writes no .wants/ links, or a switch, which starts
         * active targets again, would retry every failed model); ignore-requirements keeps
         * it that way even if an operator adds some. The serve units that should start were
         * queued one by one above. */
        r = plan_call(&plan, "StartUnit", TARGET, "ignore-requirements");
        if (r < 0)
                return r;

        if (arg_dry_run) {
                print_summary(&plan, m);
                return 0;
        }
        r = bus_calls_run(bus, plan.calls, plan.n_calls);
        if (r < 0)
                return r;
        print_summary(&plan, m);
        if (r > 0) {
                log_error("%d of %zu jobs could not be queued (see above); the others were.", r, plan.n_calls);
                return CLI_EXIT_FAILURE;
        }
        return 0;
}

int verb_reconcile(int argc, char *argv[]) {
        int r = parse_argv(argc, argv);
        if (r != CLI_CONTINUE)
                return r;
        return run();
}
