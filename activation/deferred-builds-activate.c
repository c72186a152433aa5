/* SPDX-License-Identifier: MIT */
/* deferred-builds-activate: run from NixOS system.activationScripts on every switch and
 * boot. Prunes the GC-root folders of system generations that no longer exist
 * (src/lib/gcroots.h), so their trained models can be garbage-collected.
 *
 * An activation script that fails makes `nixos-rebuild switch` report failure, and one
 * that hangs stalls boot. So this program never fails: every error is logged to stderr
 * and it exits 0; only a usage error exits EXIT_USAGE (the module appends `|| true` anyway). It
 * touches nothing but STATE/roots, and it is quiet unless it removed something.
 * The manual is man/deferred-builds-activate.8; keep the two in step. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "exitcode.h"
#include "gcroots.h"
#include "live.h"
#include "log.h"
#include "paths.h"
#include "util.h"

typedef struct Args {
        char **system_configs; /* extra live toplevels */
        size_t n_system_configs;
        const char *state_dir;   /* NULL: the system default */
        const char *runtime_dir; /* NULL: the system default */
        bool dry_run;
        bool quiet;
} Args;

static void args_done(Args *a) {
        strv_free(a->system_configs);
}

static void help(FILE *f) {
        fputs("Usage: deferred-builds-activate [--system-config TOPLEVEL] [--state-dir DIR]\n"
              "                                [--runtime-dir DIR] [--dry-run] [-q]\n"
              "\n"
              "Removes the GC roots of models whose system generation is gone, so the next\n"
              "garbage collection can free them. Run by the NixOS activation script; always\n"
              "exits 0 except on a usage error (" EXIT_STR(
                      EXIT_USAGE) ").\n"
                                  "\n"
                                  "  --system-config TOPLEVEL  also keep this toplevel's generation (repeatable;\n"
                                  "                            default: $systemConfig when set)\n"
                                  "  --state-dir DIR           default: $DEFERRED_BUILDS_STATE_DIR or /var/lib/deferred-builds\n"
                                  "  --runtime-dir DIR         default: $DEFERRED_BUILDS_RUNTIME_DIR or /run/deferred-builds\n"
                                  "  --dry-run                 remove nothing; tell what would go\n"
                                  "  -q, --quiet               print errors only\n"
                                  "  -h, --help                show this help\n"
                                  "\n"
                                  "See deferred-builds-activate(8).\n",
              f);
}

/* Returns 1 to run, 0 to exit successfully (--help), -EINVAL on a usage error. */
static int parse_args(int argc, char **argv, Args *a) {
        enum { ARG_SYSTEM_CONFIG = 0x100, ARG_STATE_DIR, ARG_RUNTIME_DIR, ARG_DRY_RUN };
        static const struct option options[] = {
                { "system-config", required_argument, NULL, ARG_SYSTEM_CONFIG },
                { "state-dir", required_argument, NULL, ARG_STATE_DIR },
                { "runtime-dir", required_argument, NULL, ARG_RUNTIME_DIR },
                { "dry-run", no_argument, NULL, ARG_DRY_RUN },
                { "quiet", no_argument, NULL, 'q' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        int c, r;
        opterr = 0; /* our own messages, which say what to do */
        while ((c = getopt_long(argc, argv, "+qh", options, NULL)) >= 0) {
                switch (c) {
                case ARG_SYSTEM_CONFIG:
                        if (isempty(optarg)) {
                                log_error("deferred-builds-activate: --system-config needs a toplevel path.");
                                return -EINVAL;
                        }
                        if ((r = strv_extend(&a->system_configs, &a->n_system_configs, optarg)) < 0)
                                return r;
                        break;
                case ARG_STATE_DIR:
                case ARG_RUNTIME_DIR:
                        if (isempty(optarg) || optarg[0] != '/') {
                                log_error("deferred-builds-activate: --%s needs an absolute path, got '%s'.",
                                          c == ARG_STATE_DIR ? "state-dir" : "runtime-dir", strempty(optarg));
                                return -EINVAL;
                        }
                        *(c == ARG_STATE_DIR ? &a->state_dir : &a->runtime_dir) = optarg;
                        break;
                case ARG_DRY_RUN:
                        a->dry_run = true;
                        break;
                case 'q':
                        a->quiet = true;
                        break;
                case 'h':
                        help(stdout);
                        return 0;
                case '?':
                default:
                        if (optopt > 0 && optopt < 0x100)
                                log_error("deferred-builds-activate: option '-%c' is unknown; see --help.", optopt);
                        else
                                log_error("deferred-builds-activate: option '%s' is unknown or lacks its "
                                          "argument; see --help.",
                                          argv[optind - 1]);
                        return -EINVAL;
                }
        }
        if (optind < argc) {
                log_error("deferred-builds-activate: unexpected argument '%s'; it takes options only, see --help.",
                          argv[optind]);
                return -EINVAL;
        }
        if (a->n_system_configs == 0) {
                /* The NixOS activation script exports the toplevel being activated. */
                const char *sc = getenv("systemConfig");
                if (!isempty(sc) && (r = strv_extend(&a->system_configs, &a->n_system_configs, sc)) < 0)
                        return r;
        }
        return 1;
}

static int run(const Args *a) {
        _cleanup_free_ char *state_default = NULL, *runtime_default = NULL;
        const char *state_dir = a->state_dir, *runtime_dir = a->runtime_dir;
        int r;

        if (!state_dir) {
                if ((r = path_state_dir(SCOPE_SYSTEM, &state_default)) < 0)
                        return log_error_errno(r, "deferred-builds: cannot tell the state dir: %m; not pruning GC "
                                                  "roots.");
                state_dir = state_default;
        }
        if (!runtime_dir) {
                if ((r = path_runtime_dir(SCOPE_SYSTEM, &runtime_default)) < 0)
                        return log_error_errno(r, "deferred-builds: cannot tell the runtime dir: %m; not pruning GC "
                                                  "roots.");
                runtime_dir = runtime_default;
        }

        /* No roots folder, nothing to prune: the common case before the first training, and
         * quiet, without even looking for live generations. */
        _cleanup_free_ char *roots = strjoin(state_dir, "/" ROOTS_SUBDIR);
        if (!roots)
                return log_oom();
        struct stat rst;
        if (lstat(roots, &rst) < 0 && errno == ENOENT)
                return 0;

        _cleanup_strv_free_ char **live = NULL;
        r = live_generations(a->system_configs, &live);
        if (r < 0)
                return log_error_errno(r, "deferred-builds: cannot tell which system generations are live (%m); "
                                          "not pruning GC roots this time.");
        if (!live[0]) {
                /* This program runs from a system that has deferred-builds, so that system has a
                 * manifest. Finding none means we are looking in the wrong place: deleting every
                 * root would be the worst possible answer. */
                log_warning("deferred-builds: found no system generation with a deferred-builds manifest "
                            "(looked at /run/current-system, /run/booted-system, the system profiles%s); not "
                            "pruning GC roots. Pass --system-config TOPLEVEL if they live elsewhere.",
                            a->n_system_configs > 0 ? " and --system-config" : "");
                return 0;
        }

        PruneStats st;
        r = roots_prune(state_dir, runtime_dir, live, a->dry_run, &st);
        if (st.removed_links > 0 || st.removed_dirs > 0) {
                if (!a->quiet)
                        printf("deferred-builds: %s %zu roots of %zu deleted generations, kept %zu\n",
                               a->dry_run ? "would prune" : "pruned", st.removed_links, st.deleted_generations,
                               st.kept);
                fflush(stdout);
        }
        if (r < 0)
                return log_error_errno(r, "deferred-builds: pruning GC roots in %s/roots did not finish: %m. The "
                                          "next activation or 'deferred-builds prune' tries again.",
                                       state_dir);
        return 0;
}

int main(int argc, char **argv) {
        log_setup("deferred-builds-activate", LOG_TARGET_STDERR);
        _cleanup_(args_done) Args a = {};
        int r = parse_args(argc, argv, &a);
        if (r < 0)
                return r == -ENOMEM ? (log_oom(), 0) : EXIT_USAGE;
        if (r == 0)
                return 0;
        if (a.quiet)
                log_set_max_level(LOG_ERR);
        (void) run(&a);
        /* Never fail the activation: everything that went wrong has been logged. */
        return 0;
}
