/* SPDX-License-Identifier: MIT */
/* deferred-builds realise NAME [--wait]: train (realise) one model now.
 *
 * This is the operator's retry: reconcile leaves a model whose derivation failed alone
 * (no retry storm), and points here. What "train now" means depends on what runs:
 *   - its server runs: start deferred-retrain@NAME.service, which builds the manifest's
 *     derivation while the old model keeps serving, then swaps it in;
 *   - its realise unit already realised the manifest's derivation: nothing to build;
 *   - realised an older derivation: restart the realise unit;
 *   - failed: reset the failure (and its start limit), then start it;
 *   - otherwise: start deferred-realise@NAME.service.
 * Then, unless it runs, the model's server is started too: a model realised by hand is
 * served, as one realised by reconcile is. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "bus.h"
#include "cli.h"
#include "log.h"
#include "model.h"
#include "failmem.h"
#include "units.h"
#include "util.h"

static bool arg_wait = false;

static void help(void) {
        printf("Usage: %s realise [--wait] NAME\n\n"
               "Train model NAME now and serve it: start " UNIT_REALISE_PREFIX "NAME" UNIT_SUFFIX " and\n"
               UNIT_SERVE_PREFIX "NAME" UNIT_SUFFIX ", or, while NAME is being served, " UNIT_RETRAIN_PREFIX "NAME" UNIT_SUFFIX "\n"
               "(builds, then swaps the new model in). A remembered build failure is forgotten and a\n"
               "failed unit reset first, so this is how a failed model is retried by hand.\n\n"
               "  --wait      wait until the model is trained and served, and report the result\n"
               "              (exit 1 on failure)\n"
               "  --user      the user manager     --system  the system manager (default)\n"
               "  -h --help   show this help\n",
               program_invocation_short_name);
}

static int parse_argv(int argc, char *argv[]) {
        static const VerbFlag flags[] = { { "wait", &arg_wait }, {} };
        int r = verb_parse_flags(argc, argv, help, flags);
        if (r == CLI_CONTINUE && argc - optind != 1)
                return operand_error(argv, "takes exactly one model NAME");
        return r;
}

static void report_status(const char *runtime_dir, const char *name, bool ok) {
        ModelStatus st;
        if (!runtime_dir || status_read(runtime_dir, name, &st) < 0)
                return;
        if (ok && !isempty(st.out))
                printf("model %s is ready: %s\n", name, st.out);
        else if (!ok && !isempty(st.error))
                fprintf(stderr, "model %s: %s\n", name, st.error);
}

static int run(const char *name) {
        _cleanup_manifest_ Manifest *m = NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(unit_table_done) UnitTable units = { 0 };
        _cleanup_(model_view_done) ModelView v = { 0 };
        ModelStatus st;
        _cleanup_free_ char *runtime_dir = NULL, *state_dir = NULL, *result = NULL;
        const Model *md;
        char unit[UNIT_NAME_BUF], serve[UNIT_NAME_BUF];
        int r;

        r = cli_load_manifest(NULL, &m);
        if (r != 0)
                return r;
        r = cli_model_arg(name, m, &md);
        if (r != 0)
                return r;
        if (path_runtime_dir(arg_scope, &runtime_dir) < 0)
                runtime_dir = NULL;
        if (path_state_dir(arg_scope, &state_dir) < 0)
                state_dir = NULL;

        if (bus_connect(arg_scope, &bus) < 0)
                return CLI_EXIT_UNAVAILABLE;
        r = unit_table_load(bus, &units);
        if (r < 0)
                return r;
        r = model_view_init(&v, name, md, unit_table_find(&units, name), runtime_dir, state_dir, &st);
        if (r < 0)
                return r;

        const UnitInfo *R = model_unit(&v, UNIT_REALISE), *S = model_unit(&v, UNIT_SERVE);
        const char *method = "StartUnit";
        if (unit_is_active(S)) {
                model_unit_name(UNIT_RETRAIN, name, unit);
                printf("%s is serving %s: starting %s, which builds the manifest's derivation while the old "
                       "model serves, then swaps it in.\n",
                       model_unit_name(UNIT_SERVE, name, serve), name, unit);
        } else {
                model_unit_name(UNIT_REALISE, name, unit);
                if (unit_is_active(R) && model_view_is_current(&v)) {
                        printf("%s is already realised: model %s is ready (%s).\n", unit, name,
                               v.status && !isempty(v.status->out) ? v.status->out : md->drv);
                        /* Realised but not served: serve it, as after any realise. */
                        method = NULL;
                } else if (unit_is_active(R)) {
                        method = "RestartUnit";
                        printf("%s realised another derivation: restarting it to build %s.\n", unit, md->drv);
                } else if (unit_is_failed(R)) {
                        /* Clears the failure and the start-limit counter, or a model that
                         * failed a few times could not be retried until the interval passed. */
                        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                        r = sd_bus_call_method(bus, SD_DEST, SD_PATH, SD_MANAGER, "ResetFailedUnit", &error, NULL,
                                               "s", unit);
                        if (r < 0)
                                return log_error_errno(r, "Failed to reset the failed state of %s: %s", unit,
                                                       bus_error_text(&error, r));
                        printf("%s failed before: retrying.\n", unit);
                }
        }

        /* This is the operator's retry: whatever failed before may be built again. */
        if (state_dir) {
                r = failmem_forget(state_dir, name);
                if (r < 0)
                        log_warning_errno(r, "Failed to forget the earlier failure of model %s: %m", name);
        }

        if (method) {
                r = bus_job_run(bus, method, unit, arg_wait, &result);
                if (r < 0)
                        return r;
        } else if (!(result = strdup("done")))
                return log_oom();
        /* Realised by hand, the model is served too: the serve unit waits for the realise
         * unit (After=) and the retrain restarts a running server itself. */
        bool serve_too = !unit_is_active(S);
        if (!arg_wait) {
                if (serve_too && (r = bus_job_run(bus, "StartUnit", model_unit_name(UNIT_SERVE, name, serve), false,
                                                  NULL)) < 0)
                        return r;
                printf("Queued %s%s%s; follow it with 'deferred-builds status %s' or 'deferred-builds logs -f "
                       "%s'.\n",
                       method ? unit : serve, method && serve_too ? " and " : "", method && serve_too ? serve : "",
                       name, name);
                return 0;
        }
        if (streq(result, "done")) {
                if (method) {
                        printf("%s finished.\n", unit);
                        report_status(runtime_dir, name, true);
                }
                if (!serve_too)
                        return 0;
                free(result);
                result = NULL;
                r = bus_job_run(bus, "StartUnit", model_unit_name(UNIT_SERVE, name, serve), true, &result);
                if (r < 0)
                        return r;
                if (streq(result, "done")) {
                        printf("%s started: model %s is served.\n", serve, name);
                        return 0;
                }
                fprintf(stderr, "%s: job %s. See 'deferred-builds logs %s'.\n", serve, result, name);
                return CLI_EXIT_FAILURE;
        }
        fprintf(stderr, "%s: job %s. See 'deferred-builds logs %s'.\n", unit, result, name);
        report_status(runtime_dir, name, false);
        return CLI_EXIT_FAILURE;
}

int verb_realise(int argc, char *argv[]) {
        int r = parse_argv(argc, argv);
        if (r != CLI_CONTINUE)
                return r;
        return run(argv[optind]);
}
