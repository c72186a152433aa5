/* SPDX-License-Identifier: MIT */
/* deferred-builds roots [--json] and prune [--dry-run]: the GC roots that keep trained
 * models in the store, one folder per generation (docs/DESIGN.md "Generation identity").
 *
 * What is live: in the system scope, every generation reachable from a system profile
 * (live_generations()) plus the generation of the current manifest; in the user scope
 * there are no system generations, so only the current manifest's generation. Published
 * models (RUNTIME/models/NAME) are always kept. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "format.h"
#include "gcroots.h"
#include "live.h"
#include "log.h"
#include "util.h"

static bool arg_json = false;
static bool arg_dry_run = false;

static void help_roots(void) {
        printf("Usage: %s roots [--json]\n\n"
               "List the GC roots of trained models, per generation: STATE/" ROOTS_SUBDIR "/GEN/MODEL -> store\n"
               "path, whether its generation is live, whether it is published (being served), and\n"
               "the size of its store path.\n\n"
               "  --json      print a JSON array of objects instead of a table\n"
               "  --user      the user's roots     --system  the system's (default)\n"
               "  -h --help   show this help\n",
               program_invocation_short_name);
}

static void help_prune(void) {
        printf("Usage: %s prune [--dry-run]\n\n"
               "Remove the GC roots of generations that are no longer live, so that the next\n"
               "nix-collect-garbage can delete their models. Only our own symlinks into the store\n"
               "are removed, never anything else. Published models are always kept. In the user\n"
               "scope there are no system generations: only the current manifest's generation is\n"
               "live.\n\n"
               "  --dry-run   print what would be removed, remove nothing\n"
               "  --user      the user's roots     --system  the system's (default)\n"
               "  -h --help   show this help\n",
               program_invocation_short_name);
}

static int parse_argv(int argc, char *argv[], bool prune) {
        static const VerbFlag roots_flags[] = { { "json", &arg_json }, {} };
        static const VerbFlag prune_flags[] = { { "dry-run", &arg_dry_run }, {} };
        int r = verb_parse_flags(argc, argv, prune ? help_prune : help_roots, prune ? prune_flags : roots_flags);
        if (r == CLI_CONTINUE && optind < argc)
                return operand_error(argv, "takes no arguments");
        return r;
}

/* The live generations of this scope (see the top of this file). */
static int live_set(char ***ret) {
        _cleanup_strv_free_ char **live = NULL;
        size_t n = 0;
        int r;

        if (arg_scope == SCOPE_SYSTEM) {
                r = live_generations(NULL, &live);
                if (r < 0)
                        return log_error_errno(r, "Failed to determine the live system generations: %m");
                n = strv_length(live);
        }

        _cleanup_free_ char *path = NULL;
        _cleanup_manifest_ Manifest *m = NULL;
        if (path_manifest(arg_scope, &path) >= 0 && manifest_load(path, &m) >= 0 && m && !m->rejected &&
            m->generation && !strv_contains(live, m->generation))
                if (strv_extend(&live, &n, m->generation) < 0)
                        return log_oom();
        if (!live) { /* an empty, NULL-terminated list */
                live = calloc(1, sizeof(char *));
                if (!live)
                        return log_oom();
        }
        *ret = TAKE_PTR(live);
        return 0;
}

static int dirs(char **state_dir, char **runtime_dir) {
        int r = path_state_dir(arg_scope, state_dir);
        if (r < 0)
                return log_error_errno(r, "Failed to determine the state directory (set HOME or "
                                          "DEFERRED_BUILDS_STATE_DIR): %m");
        if (path_runtime_dir(arg_scope, runtime_dir) < 0)
                *runtime_dir = NULL; /* no published links to protect then */
        return 0;
}

static void print_roots_json(const RootList *l) {
        fputs("[", stdout);
        for (size_t i = 0; i < l->n; i++) {
                const RootEntry *e = &l->entries[i];
                fputs(i ? ",\n {\"generation\":" : "\n {\"generation\":", stdout);
                json_string(stdout, e->generation);
                fputs(",\"model\":", stdout);
                json_string(stdout, e->model);
                fputs(",\"path\":", stdout);
                json_string(stdout, e->path);
                fputs(",\"target\":", stdout);
                json_string(stdout, e->target);
                printf(",\"valid\":%s,\"live\":%s,\"published\":%s,\"size\":%llu}", e->valid ? "true" : "false",
                       e->live ? "true" : "false", e->published ? "true" : "false", e->size);
        }
        fputs(l->n ? "\n]\n" : "]\n", stdout);
}

static void print_roots_table(const RootList *l, const char *state_dir) {
        size_t wg = strlen("GENERATION"), wm = strlen("MODEL");
        unsigned long long total = 0;
        size_t live = 0, published = 0;
        bool colour = colour_enabled();

        if (l->n == 0) {
                printf("No GC roots below %s/roots.\n", state_dir);
                return;
        }
        for (size_t i = 0; i < l->n; i++) {
                if (utf8_columns(l->entries[i].generation) > wg)
                        wg = utf8_columns(l->entries[i].generation);
                if (utf8_columns(l->entries[i].model) > wm)
                        wm = utf8_columns(l->entries[i].model);
        }
        printf("%s%-*s  %-*s  %-4s  %-9s  %8s  %s%s\n", colour ? ANSI_BOLD : "", (int) wg, "GENERATION", (int) wm,
               "MODEL", "LIVE", "PUBLISHED", "SIZE", "TARGET", colour ? ANSI_RESET : "");
        for (size_t i = 0; i < l->n; i++) {
                const RootEntry *e = &l->entries[i];
                char size[32];
                format_size(size, sizeof size, e->size);
                printf("%-*s  %-*s  %-4s  %-9s  %8s  %s%s\n", (int) wg, e->generation, (int) wm, e->model,
                       e->live ? "yes" : "no", e->published ? "yes" : "no", e->size ? size : "-",
                       e->target ? e->target : "(not a symlink)", e->valid ? "" : " (invalid: not ours or gone)");
                total += e->size;
                live += e->live;
                published += e->published;
        }
        char t[32];
        format_size(t, sizeof t, total);
        printf("%zu roots, %zu live, %zu published, %s in total.\n", l->n, live, published, t);
}

int verb_roots(int argc, char *argv[]) {
        _cleanup_free_ char *state_dir = NULL, *runtime_dir = NULL;
        _cleanup_strv_free_ char **live = NULL;
        RootList l = { 0 };
        int r = parse_argv(argc, argv, false);
        if (r != CLI_CONTINUE)
                return r;

        if ((r = dirs(&state_dir, &runtime_dir)) < 0 || (r = live_set(&live)) < 0)
                return r;
        r = roots_list(state_dir, runtime_dir, live, &l);
        if (r < 0)
                return log_error_errno(r, "Failed to list the GC roots below %s/roots: %m", state_dir);
        if (arg_json)
                print_roots_json(&l);
        else
                print_roots_table(&l, state_dir);
        root_list_free(&l);
        if (fflush(stdout) != 0)
                return log_error_errno(-errno, "Failed to write the list of roots: %m");
        return 0;
}

int verb_prune(int argc, char *argv[]) {
        _cleanup_free_ char *state_dir = NULL, *runtime_dir = NULL;
        _cleanup_strv_free_ char **live = NULL;
        PruneStats stats = { 0 };
        int r = parse_argv(argc, argv, true);
        if (r != CLI_CONTINUE)
                return r;

        if ((r = dirs(&state_dir, &runtime_dir)) < 0 || (r = live_set(&live)) < 0)
                return r;
        if (!live || !live[0]) {
                /* No live generation at all is a broken setup (no system profile, no
                 * manifest), not a reason to drop every trained model. */
                log_error("No live generation found (no system profile with a deferred-builds manifest, no "
                          "readable manifest for the %s scope): refusing to prune, as that would remove every "
                          "root below %s/roots.",
                          scope_to_string(arg_scope), state_dir);
                return CLI_EXIT_FAILURE;
        }

        r = roots_prune(state_dir, runtime_dir, live, arg_dry_run, &stats);
        if (r < 0)
                return log_error_errno(r, "Failed to prune the GC roots below %s/roots: %m", state_dir);
        printf("%s %zu root link%s and %zu generation folder%s; kept %zu root%s; left %zu foreign entr%s alone.\n",
               arg_dry_run ? "Would remove" : "Removed", stats.removed_links, stats.removed_links == 1 ? "" : "s",
               stats.removed_dirs, stats.removed_dirs == 1 ? "" : "s", stats.kept, stats.kept == 1 ? "" : "s",
               stats.ignored_foreign, stats.ignored_foreign == 1 ? "y" : "ies");
        if (!arg_dry_run && stats.removed_links > 0)
                printf("The store paths are deleted by the next garbage collection (nix-collect-garbage).\n");
        return 0;
}
