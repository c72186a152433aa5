/* SPDX-License-Identifier: MIT */
/* deferred-realise: builds (realises) one model's derivation through nix-daemon, keeps it
 * with a GC root in the generation's folder and publishes it for its server
 * (docs/DESIGN.md, man/deferred-realise.8). Started by deferred-realise@NAME.service and,
 * with "swap", by deferred-retrain@NAME.service. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "realise.h"
#include "util.h"

static void help(FILE *f) {
        fprintf(f,
                "Usage: deferred-realise [--manifest FILE] realise NAME\n"
                "       deferred-realise [--manifest FILE] swap NAME\n"
                "       deferred-realise [--manifest FILE] import NAME\n"
                "       deferred-realise make-bundle DRV OUT\n"
                "\n"
                "Builds model NAME of the deferred-builds manifest with nix-store --realise through\n"
                "nix-daemon, keeps it with a GC root in STATE/" ROOTS_SUBDIR "/GENERATION/NAME, and publishes it as\n"
                "RUNTIME/" PUBLISHED_SUBDIR "/NAME. \"swap\" does the same while the old model keeps serving, then\n"
                "repoints the published link; the old GC root is kept until pruned. \"import\" (run as\n"
                "root before either) puts the model's derivations back into the store from the bundle\n"
                "the manifest names, when they are missing. \"make-bundle\" writes the bundle of DRV\n"
                "into the new directory OUT (the builder of a Nix derivation).\n"
                "\n"
                "  -m, --manifest FILE   manifest to read (default $DEFERRED_BUILDS_MANIFEST, else the\n"
                "                        scope's default, see deferred-realise(8))\n"
                "  -h, --help            show this help\n"
                "\n"
                "Exit status: 0 ready, " EXIT_STR(EXIT_USAGE) " usage, " EXIT_STR(EXIT_BUILD_FAILED) " build failed, "
                EXIT_STR(EXIT_NOINPUT) " model not in manifest, " EXIT_STR(EXIT_UNAVAILABLE) " .drv\n"
                "missing from the store (no bundle, no substituter has it), " EXIT_STR(EXIT_ROOT_OCCUPIED) " GC root path\n"
                "occupied, " EXIT_STR(EXIT_TEMPFAIL) " nix-daemon unavailable after retries or the .drv to be imported\n"
                "again, 1 other failure.\n");
}

static int parse_argv(int argc, char *argv[], Context *c, const char **verb_ret, const char **extra_ret) {
        static const struct option options[] = {
                { "manifest", required_argument, NULL, 'm' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        int opt;
        while ((opt = getopt_long(argc, argv, "+m:h", options, NULL)) >= 0)
                switch (opt) {
                case 'm':
                        c->manifest_arg = optarg;
                        break;
                case 'h':
                        help(stdout);
                        return 0;
                default:
                        help(stderr);
                        return -EINVAL;
                }

        const char *verb = optind < argc ? argv[optind] : "";
        int want = streq(verb, "make-bundle") ? 3 : 2;
        if (argc - optind != want) {
                fprintf(stderr, "deferred-realise: expected a command (realise, swap or import) and a model name, "
                                "or make-bundle DRV OUT; see --help.\n");
                return -EINVAL;
        }
        if (streq(verb, "realise") || streq(verb, "swap") || streq(verb, "import"))
                *verb_ret = verb;
        else if (streq(verb, "make-bundle")) {
                *verb_ret = verb;
                *extra_ret = argv[optind + 2];
        } else {
                fprintf(stderr, "deferred-realise: unknown command '%s': use realise, swap, import or make-bundle; "
                                "see --help.\n",
                        verb);
                return -EINVAL;
        }
        c->swap = streq(verb, "swap");
        c->model_name = argv[optind + 1];
        return 1;
}

/* Dies of the signal systemd sent us (after nix-store stopped), so that systemd sees the
 * clean stop it asked for rather than an exit status. */
static void die_of_signal(int sig) {
        sigset_t mask;
        signal(sig, SIG_DFL);
        sigemptyset(&mask);
        sigaddset(&mask, sig);
        sigprocmask(SIG_UNBLOCK, &mask, NULL);
        raise(sig);
}

int main(int argc, char *argv[]) {
        Context c = { .signal_fd = -1 };
        int terminate_signal = 0;

        log_setup("deferred-realise", LOG_TARGET_STDERR);
        const char *verb = NULL, *extra = NULL;
        int r = parse_argv(argc, argv, &c, &verb, &extra);
        if (r <= 0)
                return r < 0 ? EXIT_USAGE : EXIT_OK;

        if (streq(verb, "make-bundle"))
                return bundle_make_run(c.model_name, extra);
        r = streq(verb, "import") ? bundle_import_run(&c) : realise_run(&c);
        terminate_signal = c.terminate_signal;
        context_done(&c);
        if (terminate_signal)
                die_of_signal(terminate_signal);
        return r < 0 ? EXIT_GENERIC : r;
}
