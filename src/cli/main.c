/* SPDX-License-Identifier: MIT */
/* deferred-builds: the operator CLI. Global options, then a verb and its own options
 * (deferred-builds(8)). Each verb lives in the file named for it. */
#include <assert.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "unitname.h"
#include "log.h"
#include "util.h"

Scope arg_scope = SCOPE_SYSTEM;

typedef struct Verb {
        const char *name;
        int (*run)(int argc, char *argv[]);
} Verb;

static const Verb verbs[] = {
        { "status", verb_status },       { "list", verb_list },   { "realise", verb_realise },
        { "restart", verb_restart },     { "logs", verb_logs },   { "check", verb_check },
        { "roots", verb_roots },         { "prune", verb_prune }, { "reconcile", verb_reconcile },
        { "metrics", verb_metrics },     { "history", verb_history },
};

bool common_option(int c) {
        switch (c) {
        case ARG_USER:
                arg_scope = SCOPE_USER;
                return true;
        case ARG_SYSTEM:
                arg_scope = SCOPE_SYSTEM;
                return true;
        default:
                return false;
        }
}

void verb_getopt_reset(void) {
        /* optind 0 makes glibc re-initialise getopt (and forget a previous "+" mode). */
        optind = 0;
        opterr = 0;
}

int option_error(int c, char *argv[]) {
        const char *arg = argv[optind - 1];
        if (c == ':')
                fprintf(stderr, "%s %s: option '%s' needs a value; see '%s %s --help'.\n",
                        program_invocation_short_name, argv[0], arg, program_invocation_short_name, argv[0]);
        else
                fprintf(stderr, "%s %s: unknown option '%s'; see '%s %s --help'.\n", program_invocation_short_name,
                        argv[0], arg, program_invocation_short_name, argv[0]);
        return CLI_EXIT_USAGE;
}

int verb_parse_flags(int argc, char *argv[], void (*help)(void), const VerbFlag *flags) {
        enum { FLAG_FIRST = 0x200 };
        struct option opts[3 + VERB_FLAGS_MAX + 1] = { COMMON_OPTIONS };
        size_t n = 0;
        for (; flags && flags[n].name; n++) {
                assert(n < VERB_FLAGS_MAX);
                opts[3 + n] = (struct option){ flags[n].name, no_argument, NULL, FLAG_FIRST + (int) n };
        }
        int c;
        while ((c = getopt_long(argc, argv, ":h", opts, NULL)) >= 0) {
                if (common_option(c))
                        continue;
                if (c == 'h') {
                        help();
                        return 0;
                }
                if (c < FLAG_FIRST || c >= FLAG_FIRST + (int) n)
                        return option_error(c, argv);
                *flags[c - FLAG_FIRST].value = true;
        }
        return CLI_CONTINUE;
}

int operand_error(char *argv[], const char *what) {
        fprintf(stderr, "%s %s: %s; see '%s %s --help'.\n", program_invocation_short_name, argv[0], what,
                program_invocation_short_name, argv[0]);
        return CLI_EXIT_USAGE;
}

static void help(void) {
        printf("Usage: %s [--user|--system] COMMAND [OPTIONS] [ARGS]\n\n"
               "Operate deferred model builds: models declared as Nix derivations, trained in the\n"
               "background by " UNIT_REALISE_PREFIX "NAME" UNIT_SUFFIX " and served by " UNIT_SERVE_PREFIX
               "NAME" UNIT_SUFFIX ".\n\n"
               "Commands:\n"
               "  status [NAME...]        state of every model (--json)\n"
               "  list                    model names from the manifest (--json)\n"
               "  realise NAME            start training NAME (--wait waits for the result)\n"
               "  restart NAME            restart NAME's server (--if-active, --no-block)\n"
               "  logs NAME               NAME's journal entries (-n N, -f)\n"
               "  check [FILE]            validate the manifest\n"
               "  roots                   GC roots per generation (--json)\n"
               "  history                 each system generation's models, which is served (--json)\n"
               "  prune                   remove GC roots of dead generations (--dry-run)\n"
               "  reconcile               make running units match the manifest\n"
               "                          (--wait-startup[=SECONDS], --dry-run)\n"
               "  metrics                 every model as OpenMetrics text (--output FILE)\n\n"
               "Options:\n"
               "  --user      talk to the user service manager (default when\n"
               "              DEFERRED_BUILDS_SCOPE=user)\n"
               "  --system    talk to the system service manager (default)\n"
               "  -h --help   show this help; COMMAND --help shows a command's options\n\n"
               "Exit status: 0 success, 1 failure, " EXIT_STR(EXIT_USAGE) " usage error, " EXIT_STR(
                       EXIT_NOINPUT) " manifest unreadable or\n"
                                     "model unknown, " EXIT_STR(
                                             EXIT_UNAVAILABLE) " service manager unreachable. See deferred-builds(8).\n",
               program_invocation_short_name);
}

static int run(int argc, char *argv[]) {
        static const struct option opts[] = {
                { "help", no_argument, NULL, 'h' },
                { "user", no_argument, NULL, ARG_USER },
                { "system", no_argument, NULL, ARG_SYSTEM },
                {},
        };

        const char *e = getenv("DEFERRED_BUILDS_SCOPE");
        arg_scope = e && streq(e, "user") ? SCOPE_USER : SCOPE_SYSTEM;

        opterr = 0;
        int c;
        /* "+": stop at the verb; what follows belongs to it. */
        while ((c = getopt_long(argc, argv, "+:h", opts, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_USER:
                case ARG_SYSTEM:
                        common_option(c);
                        break;
                default:
                        fprintf(stderr, "%s: unknown option '%s'; see '%s --help'.\n", program_invocation_short_name,
                                argv[optind - 1], program_invocation_short_name);
                        return CLI_EXIT_USAGE;
                }

        if (optind >= argc) {
                fprintf(stderr, "%s: no command given; see '%s --help'.\n", program_invocation_short_name,
                        program_invocation_short_name);
                return CLI_EXIT_USAGE;
        }
        const char *name = argv[optind];
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (streq(verbs[i].name, name)) {
                        int vargc = argc - optind;
                        char **vargv = argv + optind;
                        verb_getopt_reset();
                        return verbs[i].run(vargc, vargv);
                }
        fprintf(stderr, "%s: unknown command '%s'; see '%s --help'.\n", program_invocation_short_name, name,
                program_invocation_short_name);
        return CLI_EXIT_USAGE;
}

int main(int argc, char *argv[]) {
        log_setup("deferred-builds", LOG_TARGET_STDERR);
        int r = run(argc, argv);
        return r < 0 ? CLI_EXIT_FAILURE : r;
}
