/* SPDX-License-Identifier: MIT */
/* deferred-builds check [FILE]: validate a manifest, every problem with its line. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "log.h"
#include "util.h"

static void help(void) {
        printf("Usage: %s check [FILE]\n\n"
               "Validate FILE (default: the manifest of the scope) as the generator reads it. Every\n"
               "problem is printed as FILE:LINE: error|warning: MESSAGE. Prints\n"
               "\"configuration OK (N models)\" and exits 0 when no model would be skipped; exits 1\n"
               "when the file is rejected or a model has errors, " EXIT_STR(
                       EXIT_NOINPUT) " when it cannot be read.\n\n"
                                     "  --user      check the user manifest     --system  the system manifest (default)\n"
                                     "  -h --help   show this help\n",
               program_invocation_short_name);
}

static int parse_argv(int argc, char *argv[]) {
        int r = verb_parse_flags(argc, argv, help, NULL);
        if (r == CLI_CONTINUE && argc - optind > 1)
                return operand_error(argv, "takes at most one FILE");
        return r;
}

int verb_check(int argc, char *argv[]) {
        int r = parse_argv(argc, argv);
        if (r != CLI_CONTINUE)
                return r;

        _cleanup_free_ char *default_path = NULL;
        const char *path = optind < argc ? argv[optind] : NULL;
        if (!path) {
                r = path_manifest(arg_scope, &default_path);
                if (r < 0) {
                        log_error_errno(r, "Failed to determine the %s manifest path (set DEFERRED_BUILDS_MANIFEST "
                                           "or HOME, or name the FILE): %m",
                                        scope_to_string(arg_scope));
                        return CLI_EXIT_NOINPUT;
                }
                path = default_path;
        }

        _cleanup_manifest_ Manifest *m = NULL;
        r = manifest_load(path, &m);
        if (!m)
                return log_oom();
        if (r < 0) {
                fprintf(stderr, "%s: error: cannot read: %s%s\n", path, strerror(-r),
                        r == -ENOENT ? " (no manifest: nothing is declared)" : "");
                return CLI_EXIT_NOINPUT;
        }

        manifest_print_diags(m, stderr);
        if (m->rejected) {
                fprintf(stderr, "%s: rejected: no model would be loaded; fix the errors above.\n", path);
                return CLI_EXIT_FAILURE;
        }
        if (m->n_skipped > 0 || manifest_count_errors(m) > 0) {
                fprintf(stderr, "%s: %zu model%s would be skipped, %zu loaded; fix the errors above.\n", path,
                        m->n_skipped, m->n_skipped == 1 ? "" : "s", m->n_models);
                return CLI_EXIT_FAILURE;
        }
        printf("configuration OK (%zu models)\n", m->n_models);
        return 0;
}
