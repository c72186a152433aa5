/* SPDX-License-Identifier: MIT */
/* deferred-builds-generator: turns the manifest into unit drop-ins (systemd.generator(7)).
 *
 * It reads one file and writes below the output directory; it talks to no other process
 * (no D-Bus, no nix-daemon) and runs nothing. A bad manifest or a bad model is logged and
 * skipped (exit 0): only an unusable output directory is fatal. Every file is written to a
 * hidden temp name and renamed into place without replacing anything, so a generator that
 * is killed leaves no half-written unit. Output is sorted and byte-identical across runs. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "escape.h"
#include "exitcode.h"
#include "fileio.h"
#include "log.h"
#include "manifest.h"
#include "onfailure.h"
#include "paths.h"
#include "unitfile.h"
#include "unitname.h"
#include "util.h"
#include "validate.h"

/* Different names: an instance drop-in masks a template drop-in of the same name. */
#define TEMPLATE_DROPIN_NAME "40-deferred-builds-manifest.conf"
#define DROPIN_NAME "50-deferred-builds-model.conf"

static const char *const templates[] = {
        UNIT_TEMPLATE(UNIT_REALISE_PREFIX),
        UNIT_TEMPLATE(UNIT_RETRAIN_PREFIX),
        UNIT_TEMPLATE(UNIT_SERVE_PREFIX),
        UNIT_RECONCILE,
};

static int write_dropin(int dirfd, const char *unit, const char *name, const char *text) {
        _cleanup_free_ char *dir = strjoin(unit, ".d");
        _cleanup_free_ char *path = strjoin(unit, ".d/", name);
        if (!dir || !path)
                return log_oom();
        if (mkdirat(dirfd, dir, 0755) < 0 && errno != EEXIST)
                return log_error_errno(-errno, "Failed to create %s in the output directory: %m", dir);
        int r = write_file_atomic_at(dirfd, path, text, strlen(text), 0644, WRITE_NOREPLACE);
        if (r < 0)
                return log_error_errno(r, "Failed to write %s: %m", path);
        return 0;
}

/* dir/<wants_of>.wants/<unit> -> ../<template>: relative, so the link means the same in
 * every unit directory and for every scope. */
static int add_wants(int dirfd, const char *wants_of, const char *unit, const char *template) {
        _cleanup_free_ char *dir = strjoin(wants_of, ".wants");
        _cleanup_free_ char *link = strjoin(wants_of, ".wants/", unit);
        _cleanup_free_ char *target = strjoin("../", template);
        if (!dir || !link || !target)
                return log_oom();
        if (mkdirat(dirfd, dir, 0755) < 0 && errno != EEXIST)
                return log_error_errno(-errno, "Failed to create %s in the output directory: %m", dir);
        int r = symlink_atomic_at(target, dirfd, link, WRITE_NOREPLACE);
        if (r < 0)
                return log_error_errno(r, "Failed to link %s: %m", link);
        return 0;
}

/* OnFailure= for the training and serving units of a model that names alert units: a
 * drop-in for those models only, so the realise units of the others stay the plain
 * template. systemd starts the units when the unit enters "failed", which a failure that
 * Restart= retries does not (until the start limit gives up). */
static int write_on_failure(int dirfd, const Model *md, const char *source) {
        static const UnitKind kinds[] = { UNIT_REALISE, UNIT_RETRAIN, UNIT_SERVE };
        _cleanup_free_ char *text = NULL;
        if (on_failure_dropin(md, source, &text) < 0)
                return log_oom();
        for (size_t k = 0; text && k < ELEMENTSOF(kinds); k++) {
                char unit[UNIT_NAME_BUF];
                int r = write_dropin(dirfd, model_unit_name(kinds[k], md->name, unit), ON_FAILURE_DROPIN_NAME, text);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int generate(Manifest *m, Scope scope, int dirfd) {
        const char *source = m->path;
        const char *real = manifest_real_path(m);
        if (!real)
                return log_oom();
        _cleanup_free_ char *state_dir = NULL;
        int r = path_state_dir(scope, &state_dir);
        if (r < 0)
                return log_error_errno(r, "Failed to determine the state directory (set HOME or "
                                          "DEFERRED_BUILDS_STATE_DIR): %m");
        /* The manifest path as given is written unquoted as SourcePath=; the resolved one and
         * the state directory go quoted into Environment=. */
        if (!unit_path_is_valid(source) || !absolute_path_is_valid(real) || !absolute_path_is_valid(state_dir)) {
                _cleanup_free_ char *s = escape_for_message(source, PATH_MAX), *rs = escape_for_message(real, PATH_MAX),
                                    *sd = escape_for_message(state_dir, PATH_MAX);
                log_error("Manifest path %s (%s) or state directory %s is not a clean absolute path (normalized, "
                          "printable UTF-8, no backslash), not generating units.",
                          strempty(s), strempty(rs), strempty(sd));
                return 0;
        }

        _cleanup_free_ char *tmpl = NULL;
        r = unit_template_dropin(scope, real, state_dir, source, &tmpl);
        if (r < 0)
                return log_oom();
        for (size_t i = 0; i < ELEMENTSOF(templates); i++)
                if ((r = write_dropin(dirfd, templates[i], TEMPLATE_DROPIN_NAME, tmpl)) < 0)
                        return r;

        const char *wanted_by = scope == SCOPE_USER ? "default.target" : "multi-user.target";
        r = add_wants(dirfd, wanted_by, UNIT_RECONCILE, UNIT_RECONCILE);
        if (r < 0)
                return r;

        for (size_t i = 0; i < m->n_models; i++) {
                const Model *md = &m->models[i];
                char serve[UNIT_NAME_BUF];
                model_unit_name(UNIT_SERVE, md->name, serve);

                _cleanup_free_ char *stext = NULL;
                if (unit_serve_dropin(md, scope, source, &stext) < 0)
                        return log_oom();
                /* Only the server gets a per-model file. Its realise unit is the template as
                 * it is (deferred-realise reads the model's derivation from the manifest): one
                 * file and directory fewer per model to write at every boot and reload, and
                 * for the manager to load. No deferred-builds.target.wants/ link either:
                 * switch-to-configuration starts every active target again, and a target that
                 * wanted the servers would so retry every failed training on every switch.
                 * Reconcile starts each server. */
                if ((r = write_dropin(dirfd, serve, DROPIN_NAME, stext)) < 0)
                        return r;
                if (md->n_listen > 0) {
                        /* Instantiates units/deferred-serve@.socket, which has no Listen*=
                         * of its own: an instance without this drop-in cannot load. */
                        char sock[UNIT_NAME_BUF];
                        _cleanup_free_ char *ktext = NULL;
                        if (unit_socket_dropin(md, source, &ktext) < 0)
                                return log_oom();
                        if ((r = write_dropin(dirfd, model_unit_name(UNIT_SOCKET, md->name, sock), DROPIN_NAME,
                                              ktext)) < 0)
                                return r;
                }
                if ((r = write_on_failure(dirfd, md, source)) < 0)
                        return r;
        }
        log_debug("Generated units for %zu models from %s.", m->n_models, source);
        return 0;
}

static int run(const char *dest) {
        Scope scope = scope_from_environment();
        _cleanup_free_ char *path = NULL;
        int r = path_manifest(scope, &path);
        if (r < 0) {
                log_error_errno(r, "Failed to determine the manifest path (set DEFERRED_BUILDS_MANIFEST): %m");
                return 0;
        }

        _cleanup_free_ char *shown = escape_for_message(path, PATH_MAX);
        if (!shown)
                return log_oom();
        _cleanup_manifest_ Manifest *m = NULL;
        r = manifest_load(path, &m);
        if (r == -ENOENT) {
                log_debug("No manifest at %s, no deferred models.", shown);
                return 0;
        }
        if (!m)
                return log_oom();
        manifest_log_diags(m);
        if (r < 0 || m->rejected) {
                log_error("Manifest %s rejected, no deferred-builds units generated; check it with "
                          "'deferred-builds check %s'.",
                          shown, shown);
                return 0;
        }

        _cleanup_close_ int dirfd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0)
                return log_error_errno(-errno, "Failed to open output directory %s: %m", dest);
        return generate(m, scope, dirfd);
}

static int check(const char *path) {
        _cleanup_free_ char *shown = escape_for_message(path, PATH_MAX);
        _cleanup_manifest_ Manifest *m = NULL;
        int r = manifest_load(path, &m);
        if (!m || !shown)
                return log_oom();
        if (r < 0) {
                fprintf(stderr, "%s: error: cannot read: %s\n", shown, strerror(-r));
                return 1;
        }
        manifest_print_diags(m, stderr);
        if (m->rejected || manifest_count_errors(m) > 0) {
                fprintf(stderr, "%s: %s\n", shown,
                        m->rejected ? "rejected, no model would be loaded"
                                    : "some models would be skipped");
                return 1;
        }
        printf("configuration OK (%zu models)\n", m->n_models);
        return 0;
}

static void help(void) {
        printf("Usage: %1$s NORMAL_DIR [EARLY_DIR LATE_DIR]\n"
               "       %1$s --check FILE\n\n"
               "systemd generator for deferred-builds: reads the manifest (default\n"
               "/etc/deferred-builds/manifest.ini, or $DEFERRED_BUILDS_MANIFEST) and writes\n"
               "a drop-in for " UNIT_SERVE_PREFIX "NAME" UNIT_SUFFIX ", which pulls in " UNIT_REALISE_PREFIX
               "NAME" UNIT_SUFFIX ".\n\n"
               "  -c --check FILE   validate FILE, print every problem with its line; exit 1 on errors\n"
               "  -h --help         show this help\n\n"
               "See deferred-builds-generator(8) and deferred-builds.ini(5).\n",
               program_invocation_short_name);
}

int main(int argc, char *argv[]) {
        static const struct option opts[] = {
                { "check", required_argument, NULL, 'c' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        int c;
        while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) >= 0)
                switch (c) {
                case 'c':
                        log_setup(GENERATOR_NAME, LOG_TARGET_STDERR);
                        return check(optarg);
                case 'h':
                        help();
                        return 0;
                default:
                        return EXIT_USAGE;
                }

        int n = argc - optind;
        if (n != 1 && n != 3) {
                fprintf(stderr, "%s: expected one or three output directories, got %d; see --help\n",
                        program_invocation_short_name, n);
                return EXIT_USAGE;
        }
        /* Generators run before the journal: systemd.generator(7) says log to /dev/kmsg.
         * Under a user manager (and in tests) stderr reaches the manager's log. */
        log_setup(GENERATOR_NAME, scope_from_environment() == SCOPE_USER ? LOG_TARGET_STDERR : LOG_TARGET_KMSG);
        int r = run(argv[optind]);
        return r < 0 ? 1 : 0;
}
