/* SPDX-License-Identifier: MIT */
/* deferred-builds history [--json]: per system generation still on disk, each model of its
 * manifest, the output its GC root keeps and whether that one is served now.
 *
 * System generations are the profile links NixOS keeps (/nix/var/nix/profiles/system-N-link
 * and system-profiles/NAME-N-link, below $DEFERRED_BUILDS_SYSTEM_ROOT in tests), newest
 * first; the current manifest is added when no profile carries it (the user scope, or a
 * system without profiles). The roots and what is published come from the same listing
 * as `roots` (gcroots.h), so the two commands never disagree. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "dirlist.h"
#include "format.h"
#include "gcroots.h"
#include "log.h"
#include "util.h"
#include "validate.h"

#define WIDEN(w, v) ((w) = (v) > (w) ? (v) : (w))

static bool arg_json = false;

static void help(void) {
        printf("Usage: %s history [--json]\n\n"
               "Show, per system generation still on disk (newest first), each model of its manifest:\n"
               "the output its GC root (STATE/" ROOTS_SUBDIR "/GEN/MODEL) keeps, and whether that is the one\n"
               "served now. The current manifest is shown too when no system generation carries it.\n\n"
               "Columns: SYSTEM (the profile link; current and booted marked), GENERATION, MODEL, OUTPUT\n"
               "(the root's store path, else the manifest's out, else -), ROOT (the generation has a\n"
               "GC root for it, and its store path exists), SERVED.\n\n"
               "  --json      print a JSON array of generations instead of a table\n"
               "  --user      the user's models     --system  the system's (default)\n"
               "  -h --help   show this help\n",
               program_invocation_short_name);
}

typedef struct System {
        char *profile; /* the link's name below the profiles folder, or NULL: the current manifest */
        unsigned long long number;
        char *toplevel; /* resolved, or NULL */
        bool current, booted;
        Manifest *manifest; /* NULL when it has none */
} System;

typedef struct Systems {
        System *v;
        size_t n;
} Systems;

static void systems_done(Systems *s) {
        for (size_t i = 0; i < s->n; i++) {
                free(s->v[i].profile);
                free(s->v[i].toplevel);
                manifest_free(s->v[i].manifest);
        }
        free(s->v);
        *s = (Systems){ 0 };
}

static System *systems_add(Systems *s) {
        System *v = realloc(s->v, sizeof(System) * (s->n + 1));
        if (!v)
                return NULL;
        s->v = v;
        s->v[s->n] = (System){ 0 };
        return &s->v[s->n++];
}

/* N of "PREFIXN-link" (prefix "system-", or "NAME-" for system-profiles), or 0. */
static unsigned long long link_number(const char *name) {
        const char *end = endswith(name, "-link") ? name + strlen(name) - strlen("-link") : NULL;
        if (!end)
                return 0;
        const char *p = end;
        while (p > name && p[-1] >= '0' && p[-1] <= '9')
                p--;
        if (p == end || p == name || p[-1] != '-')
                return 0;
        char buf[24];
        size_t len = (size_t) (end - p);
        if (len >= sizeof buf)
                return 0;
        memcpy(buf, p, len);
        buf[len] = 0;
        unsigned long long n;
        return safe_atou64(buf, &n) < 0 ? 0 : n;
}

/* Loads TOPLEVEL's manifest (the link the module adds, else /etc's). A system without one
 * has no models; one that cannot be read is shown with none, and warned about. */
static int load_toplevel_manifest(System *sys) {
        static const char *const rel[] = { "/" TOPLEVEL_MANIFEST, "/" TOPLEVEL_MANIFEST_ETC };
        for (size_t i = 0; i < ELEMENTSOF(rel); i++) {
                _cleanup_free_ char *p = strjoin(sys->toplevel, rel[i]);
                if (!p)
                        return log_oom();
                Manifest *m = NULL;
                int r = manifest_load(p, &m);
                if (r == -ENOENT) {
                        manifest_free(m);
                        continue;
                }
                if (!m)
                        return log_oom();
                if (r < 0 || m->rejected)
                        log_warning("Manifest %s of system %s %s; showing no models for it.", p, sys->profile,
                                    r < 0 ? "cannot be read" : "is rejected");
                sys->manifest = m;
                return 0;
        }
        return 0;
}

/* system-N first, newest first; then the named profiles (system-profiles/) as listed. */
static int cmp_system(const void *a, const void *b) {
        const System *x = a, *y = b;
        bool xs = startswith(x->profile, "system-") != NULL, ys = startswith(y->profile, "system-") != NULL;
        if (xs != ys)
                return xs ? -1 : 1;
        if (xs && x->number != y->number)
                return x->number > y->number ? -1 : 1;
        return strcmp(x->profile, y->profile);
}

static int add_profiles(Systems *s, const char *root, const char *subdir, const char *prefix, const char *current,
                        const char *booted) {
        _cleanup_free_ char *dir = strjoin(root, "/nix/var/nix/profiles", subdir);
        if (!dir)
                return log_oom();
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
                if (errno == ENOENT || errno == ENOTDIR)
                        return 0;
                return log_error_errno(-errno, "Failed to open %s: %m", dir);
        }
        _cleanup_(dir_list_done) DirList l = {};
        int r = dir_list(fd, &l);
        if (r < 0)
                return log_error_errno(r, "Failed to read %s: %m", dir);
        for (size_t i = 0; i < l.n; i++) {
                const char *name = l.v[i]->d_name;
                unsigned long long n = link_number(name);
                if (n == 0 || (prefix && !startswith(name, prefix)) || name[0] == '.')
                        continue;
                _cleanup_free_ char *path = strjoin(dir, "/", name);
                if (!path)
                        return log_oom();
                _cleanup_free_ char *top = realpath(path, NULL);
                if (!top)
                        continue; /* a dangling link: that system is gone */
                System *sys = systems_add(s);
                if (!sys || !(sys->profile = strjoin(subdir[0] ? subdir + 1 : "", subdir[0] ? "/" : "", name)))
                        return log_oom();
                sys->number = n;
                sys->current = current && streq(top, current);
                sys->booted = booted && streq(top, booted);
                sys->toplevel = TAKE_PTR(top);
                if ((r = load_toplevel_manifest(sys)) < 0)
                        return r;
        }
        return 0;
}

static bool generation_shown(const Systems *s, const char *gen) {
        for (size_t i = 0; i < s->n; i++)
                if (s->v[i].manifest && s->v[i].manifest->generation && streq(s->v[i].manifest->generation, gen))
                        return true;
        return false;
}

static int load_systems(Systems *s) {
        const char *root = getenv("DEFERRED_BUILDS_SYSTEM_ROOT");
        int r;
        if (isempty(root) || streq(root, "/"))
                root = "";
        else if (!absolute_path_is_valid(root))
                return log_error_errno(-EINVAL, "DEFERRED_BUILDS_SYSTEM_ROOT='%s' is not an absolute, normalized path.",
                                       root);

        if (arg_scope == SCOPE_SYSTEM) {
                _cleanup_free_ char *cur_link = strjoin(root, "/run/current-system"),
                                    *boot_link = strjoin(root, "/run/booted-system");
                if (!cur_link || !boot_link)
                        return log_oom();
                _cleanup_free_ char *current = realpath(cur_link, NULL), *booted = realpath(boot_link, NULL);
                if ((r = add_profiles(s, root, "", "system-", current, booted)) < 0 ||
                    (r = add_profiles(s, root, "/system-profiles", NULL, current, booted)) < 0)
                        return r;
                if (s->n > 1)
                        qsort(s->v, s->n, sizeof(System), cmp_system);
        }

        _cleanup_free_ char *path = NULL;
        _cleanup_manifest_ Manifest *m = NULL;
        if (path_manifest(arg_scope, &path) >= 0 && manifest_load(path, &m) >= 0 && m && !m->rejected &&
            m->generation && !generation_shown(s, m->generation)) {
                System *sys = systems_add(s);
                if (!sys)
                        return log_oom();
                sys->manifest = TAKE_PTR(m);
        }
        return 0;
}

static const RootEntry *find_root(const RootList *l, const char *gen, const char *model) {
        for (size_t i = 0; i < l->n; i++)
                if (!l->entries[i].foreign && streq(l->entries[i].generation, gen) && streq(l->entries[i].model, model))
                        return &l->entries[i];
        return NULL;
}

/* What a model of a generation shows: its root (NULL: none, or gone), the output. */
static const char *output_of(const Model *md, const RootEntry *e) {
        return e && e->valid ? e->target : md->out;
}

static void print_json(const Systems *s, const RootList *l) {
        fputs("[", stdout);
        for (size_t i = 0; i < s->n; i++) {
                const System *sys = &s->v[i];
                const Manifest *m = sys->manifest;
                fputs(i ? ",\n {\"system\":" : "\n {\"system\":", stdout);
                json_string(stdout, sys->profile);
                if (sys->number)
                        printf(",\"number\":%llu", sys->number);
                else
                        fputs(",\"number\":null", stdout);
                fputs(",\"toplevel\":", stdout);
                json_string(stdout, sys->toplevel);
                printf(",\"current\":%s,\"booted\":%s,\"generation\":", sys->current ? "true" : "false",
                       sys->booted ? "true" : "false");
                json_string(stdout, m && !m->rejected ? m->generation : NULL);
                fputs(",\"models\":[", stdout);
                for (size_t k = 0; m && k < m->n_models; k++) {
                        const Model *md = &m->models[k];
                        const RootEntry *e = find_root(l, m->generation, md->name);
                        fputs(k ? ",{\"name\":" : "{\"name\":", stdout);
                        json_string(stdout, md->name);
                        fputs(",\"drv\":", stdout);
                        json_string(stdout, md->drv);
                        fputs(",\"wanted_out\":", stdout);
                        json_string(stdout, md->out);
                        fputs(",\"root\":", stdout);
                        json_string(stdout, e ? e->path : NULL);
                        fputs(",\"out\":", stdout);
                        json_string(stdout, output_of(md, e));
                        printf(",\"rooted\":%s,\"served\":%s}", e && e->valid ? "true" : "false",
                               e && e->published ? "true" : "false");
                }
                fputs("]}", stdout);
        }
        fputs(s->n ? "\n]\n" : "]\n", stdout);
}

static void print_table(const Systems *s, const RootList *l) {
        size_t ws = strlen("SYSTEM"), wg = strlen("GENERATION"), wm = strlen("MODEL");
        bool colour = colour_enabled();
        char label[PATH_MAX];

        for (size_t i = 0; i < s->n; i++) {
                const System *sys = &s->v[i];
                snprintf(label, sizeof label, "%s%s%s", sys->profile ? sys->profile : "(manifest)",
                         sys->current ? " (current)" : "", sys->booted ? " (booted)" : "");
                WIDEN(ws, utf8_columns(label));
                if (sys->manifest && sys->manifest->generation)
                        WIDEN(wg, utf8_columns(sys->manifest->generation));
                for (size_t k = 0; sys->manifest && k < sys->manifest->n_models; k++)
                        WIDEN(wm, strlen(sys->manifest->models[k].name));
        }
        printf("%s%-*s  %-*s  %-*s  %-4s  %-6s  %s%s\n", colour ? ANSI_BOLD : "", (int) ws, "SYSTEM", (int) wg,
               "GENERATION", (int) wm, "MODEL", "ROOT", "SERVED", "OUTPUT", colour ? ANSI_RESET : "");
        for (size_t i = 0; i < s->n; i++) {
                const System *sys = &s->v[i];
                const Manifest *m = sys->manifest;
                snprintf(label, sizeof label, "%s%s%s", sys->profile ? sys->profile : "(manifest)",
                         sys->current ? " (current)" : "", sys->booted ? " (booted)" : "");
                const char *gen = m && !m->rejected && m->generation ? m->generation : "-";
                if (!m || m->n_models == 0) {
                        printf("%-*s  %-*s  %-*s  %-4s  %-6s  %s\n", (int) ws, label, (int) wg, gen, (int) wm, "-", "-",
                               "-", m ? "(no models)" : "(no manifest)");
                        continue;
                }
                for (size_t k = 0; k < m->n_models; k++) {
                        const Model *md = &m->models[k];
                        const RootEntry *e = find_root(l, m->generation, md->name);
                        char out[300];
                        format_store_path(out, sizeof out, output_of(md, e));
                        bool served = e && e->published;
                        printf("%-*s  %-*s  %-*s  %-4s  %s%-6s%s  %s\n", (int) ws, k == 0 ? label : "", (int) wg,
                               k == 0 ? gen : "", (int) wm, md->name, e && e->valid ? "yes" : "no",
                               colour && served ? ANSI_GREEN : "", served ? "yes" : "no",
                               colour && served ? ANSI_RESET : "", out);
                }
        }
        if (s->n == 0)
                printf("No system generation and no manifest found.\n");
}

int verb_history(int argc, char *argv[]) {
        static const VerbFlag flags[] = { { "json", &arg_json }, {} };
        _cleanup_free_ char *state_dir = NULL, *runtime_dir = NULL;
        _cleanup_(systems_done) Systems s = { 0 };
        RootList l = { 0 };
        int r = verb_parse_flags(argc, argv, help, flags);
        if (r != CLI_CONTINUE)
                return r;
        if (optind < argc)
                return operand_error(argv, "takes no arguments");

        r = path_state_dir(arg_scope, &state_dir);
        if (r < 0)
                return log_error_errno(r,
                                       "Failed to determine the state directory (set HOME or "
                                       "DEFERRED_BUILDS_STATE_DIR): %m");
        if (path_runtime_dir(arg_scope, &runtime_dir) < 0)
                runtime_dir = NULL; /* nothing published can be told */
        if ((r = load_systems(&s)) < 0)
                return r;
        r = roots_list_full(state_dir, runtime_dir, NULL, ROOTS_LIST_NO_SIZE, &l);
        if (r < 0)
                return log_error_errno(r, "Failed to list the GC roots below %s/" ROOTS_SUBDIR ": %m", state_dir);
        if (arg_json)
                print_json(&s, &l);
        else
                print_table(&s, &l);
        root_list_free(&l);
        if (fflush(stdout) != 0)
                return log_error_errno(-errno, "Failed to write the history: %m");
        return 0;
}
