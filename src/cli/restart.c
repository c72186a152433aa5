/* SPDX-License-Identifier: MIT */
/* deferred-builds restart NAME [--if-active] [--no-block]: restart a model's server, e.g.
 * to load a model that was swapped in. deferred-retrain@NAME.service runs
 * `restart --if-active NAME` after it published a new model, and so waits until the new
 * server is up (with a ready-url, until it answers). */
#include <stdio.h>
#include <stdlib.h>

#include "bus.h"
#include "cli.h"
#include "log.h"
#include "model.h"
#include "units.h"
#include "util.h"

static bool arg_if_active = false;
static bool arg_no_block = false;

static void help(void) {
        printf("Usage: %s restart [--if-active] [--no-block] NAME\n\n"
               "Restart " UNIT_SERVE_PREFIX "NAME" UNIT_SUFFIX ", the server of model NAME.\n\n"
               "  --if-active  only if it is running (try-restart); a stopped server stays stopped\n"
               "  --no-block   queue the restart and return; by default wait until it finished\n"
               "  --user       the user manager     --system  the system manager (default)\n"
               "  -h --help    show this help\n",
               program_invocation_short_name);
}

static int parse_argv(int argc, char *argv[]) {
        static const VerbFlag flags[] = { { "if-active", &arg_if_active }, { "no-block", &arg_no_block }, {} };
        int r = verb_parse_flags(argc, argv, help, flags);
        if (r == CLI_CONTINUE && argc - optind != 1)
                return operand_error(argv, "takes exactly one model NAME");
        return r;
}

static int run(const char *name) {
        _cleanup_manifest_ Manifest *m = NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *state = NULL, *result = NULL;
        const Model *md;
        char unit[UNIT_NAME_BUF];
        int r;

        r = cli_load_manifest(NULL, &m);
        if (r != 0)
                return r;
        r = cli_model_arg(name, m, &md);
        if (r != 0)
                return r;
        model_unit_name(UNIT_SERVE, name, unit);

        if (bus_connect(arg_scope, &bus) < 0)
                return CLI_EXIT_UNAVAILABLE;
        if (arg_if_active) {
                r = bus_get_active_state(bus, unit, &state);
                if (r < 0)
                        return r;
                if (!streq(state, "active") && !streq(state, "activating") && !streq(state, "reloading")) {
                        printf("%s is %s: not restarted.\n", unit, state);
                        return 0;
                }
        }

        r = bus_job_run(bus, arg_if_active ? "TryRestartUnit" : "RestartUnit", unit, !arg_no_block, &result);
        if (r < 0)
                return r;
        if (arg_no_block) {
                printf("Queued restart of %s.\n", unit);
                return 0;
        }
        if (!streq(result, "done")) {
                fprintf(stderr, "Restart of %s: job %s. See 'deferred-builds logs %s'.\n", unit, result, name);
                return CLI_EXIT_FAILURE;
        }
        printf("Restarted %s.\n", unit);
        return 0;
}

int verb_restart(int argc, char *argv[]) {
        int r = parse_argv(argc, argv);
        if (r != CLI_CONTINUE)
                return r;
        return run(argv[optind]);
}
