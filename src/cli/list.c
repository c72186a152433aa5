/* SPDX-License-Identifier: MIT */
/* deferred-builds list: the model names of the manifest, one per line. */
#include <errno.h>
#include <stdio.h>

#include "cli.h"
#include "format.h"
#include "log.h"
#include "model.h"
#include "util.h"

static bool arg_json = false;

static void help(void) {
        printf("Usage: %s list [--json]\n\n"
               "Print the names of the models the manifest declares, one per line, sorted.\n"
               "Models skipped for errors are not listed ('deferred-builds check' names them).\n\n"
               "  --json      print a JSON array of names\n"
               "  --user      the user manifest     --system  the system manifest (default)\n"
               "  -h --help   show this help\n",
               program_invocation_short_name);
}

static int parse_argv(int argc, char *argv[]) {
        static const VerbFlag flags[] = { { "json", &arg_json }, {} };
        int r = verb_parse_flags(argc, argv, help, flags);
        if (r == CLI_CONTINUE && optind < argc)
                return operand_error(argv, "takes no arguments");
        return r;
}

int verb_list(int argc, char *argv[]) {
        int r = parse_argv(argc, argv);
        if (r != CLI_CONTINUE)
                return r;

        _cleanup_manifest_ Manifest *m = NULL;
        r = cli_load_manifest(NULL, &m);
        if (r != 0)
                return r;

        if (arg_json) {
                fputs("[", stdout);
                for (size_t i = 0; i < m->n_models; i++) {
                        fputs(i ? "," : "", stdout);
                        json_string(stdout, m->models[i].name);
                }
                fputs("]\n", stdout);
        } else
                for (size_t i = 0; i < m->n_models; i++)
                        puts(m->models[i].name);

        if (fflush(stdout) != 0)
                return log_error_errno(-errno, "Failed to write the model list: %m");
        return 0;
}
