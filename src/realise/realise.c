/* SPDX-License-Identifier: MIT */
/* The decisions of deferred-realise, in the order they are taken:
 *
 *   1. the model must be in the manifest (66); its .drv in the store, else, with a bundle
 *      (whose import ran before us, bundle-import.c) 75 so that systemd imports it again,
 *      without one Nix is asked to substitute it, and 69 when it cannot;
 *   2. its GC root path STATE/roots/GEN/NAME and its published path RUNTIME/models/NAME
 *      must be free or hold our own symlinks (73): nothing that is not ours is touched;
 *   3. nix-store --realise DRV!OUTPUT --add-root ROOT through nix-daemon, with progress;
 *      a build failure is final (65), an infrastructure failure (daemon down, GC race) is
 *      retried with exponential backoff within a time budget, then 75;
 *   4. the root is resolved to the output (content-addressed derivations have no out= in
 *      the manifest) and RUNTIME/models/NAME is pointed at it atomically.
 *
 * Functions below return 0 to go on, a positive exit status once the outcome is decided
 * (and reported), or -errno for an unexpected error (exit 1).
 *
 * The fast path (output already built) runs exactly one process, nix-store, which is a
 * no-op for a valid output apart from re-registering the root: re-running the unit is
 * cheap, and it also repairs a deleted root. */
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>

#include "fileio.h"
#include "log.h"
#include "failmem.h"
#include "previous.h"
#include "realise.h"
#include "util.h"
#include "validate.h"

void context_done(Context *c) {
        manifest_free(c->manifest);
        free(c->manifest_path);
        free(c->state_dir);
        free(c->runtime_dir);
        free(c->root_dir);
        free(c->root);
        free(c->nix_root);
        free(c->nix_root_made);
        free(c->published);
        free(c->nix_store);
        if (c->signal_fd >= 0)
                close(c->signal_fd);
        *c = (Context){ .signal_fd = -1 };
}

/* Marks the model failed with an error: status file, STATUS=, journal. Returns status. */
static int fail(Context *c, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(Context *c, int status, const char *fmt, ...) {
        char text[2048];
        /* A failed swap changed nothing for the server: say so, once, first. A stop is
         * not a failure: its own words say what happened. */
        int n = !c->swap ? 0
                : c->terminate_signal
                ? snprintf(text, sizeof text, "the previous model keeps serving: ")
                : snprintf(text, sizeof text, "retraining failed, the previous model keeps serving: ");
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(text + n, sizeof text - (size_t) n, fmt, ap);
        va_end(ap);

        c->st.state = c->terminate_signal ? MODEL_STATE_STOPPED : MODEL_STATE_FAILED;
        c->st.waiting[0] = 0;
        c->st.finished = (unsigned long long) time(NULL);
        status_set(c->st.error, sizeof c->st.error, text);
        if (c->runtime_dir)
                report_status(c);
        /* The unit's failed state does not last: remember what failed, so that nothing but a
         * new derivation or an operator builds it again. */
        if (status == EXIT_BUILD_FAILED && c->state_dir) {
                int r = failmem_remember(c->state_dir, &c->st);
                if (r < 0)
                        log_warning_errno(r, "Failed to remember the failure of model %s below %s: %m",
                                          c->model_name, c->state_dir);
        }
        report_notify("failed %s: %.200s", c->model_name, text);
        report_event(c, LOG_ERR, "%s", text);
        return status;
}

int parse_scope(Context *c) {
        const char *e = getenv("DEFERRED_BUILDS_SCOPE");
        if (isempty(e) || streq(e, "system"))
                c->scope = SCOPE_SYSTEM;
        else if (streq(e, "user"))
                c->scope = SCOPE_USER;
        else {
                log_error("DEFERRED_BUILDS_SCOPE=%s is neither 'system' nor 'user'; fix the environment of the unit.",
                          e);
                return EXIT_USAGE;
        }
        return 0;
}

static void parse_retry_budget(Context *c) {
        const char *e = getenv("DEFERRED_BUILDS_RETRY_BUDGET");
        c->retry_budget_sec = RETRY_BUDGET_DEFAULT_SEC;
        if (isempty(e))
                return;
        unsigned long long v;
        if (safe_atou64(e, &v) < 0 || v > 7ULL * 24 * 3600)
                log_warning("DEFERRED_BUILDS_RETRY_BUDGET=%s is not a number of seconds (at most a week), using %llu.",
                            e, RETRY_BUDGET_DEFAULT_SEC);
        else
                c->retry_budget_sec = v;
}

int load_model(Context *c) {
        int r;
        if (!model_name_is_valid(c->model_name)) {
                log_error("'%s' is not a model name ([A-Za-z0-9][A-Za-z0-9_-]{0,63}); see --help.", c->model_name);
                return EXIT_USAGE;
        }
        if (c->manifest_arg)
                c->manifest_path = strdup(c->manifest_arg);
        else if ((r = path_manifest(c->scope, &c->manifest_path)) < 0) {
                if (r == -ENOMEM)
                        return log_oom();
                log_error_errno(r,
                                "Failed to find the manifest path (set DEFERRED_BUILDS_MANIFEST or pass "
                                "--manifest): %m");
                return EXIT_NOINPUT;
        }
        if (!c->manifest_path)
                return log_oom();

        r = manifest_load(c->manifest_path, &c->manifest);
        if (!c->manifest || r == -ENOMEM)
                return log_oom();
        if (r < 0) {
                log_error_errno(r, "Failed to read manifest %s, cannot realise model %s: %m", c->manifest_path,
                                c->model_name);
                return EXIT_NOINPUT;
        }
        if (c->manifest->rejected) {
                manifest_log_diags(c->manifest);
                log_error("Manifest %s was rejected, cannot realise model %s; check it with 'deferred-builds check "
                          "%s'.",
                          c->manifest_path, c->model_name, c->manifest_path);
                return EXIT_NOINPUT;
        }
        c->md = manifest_find(c->manifest, c->model_name);
        if (!c->md) {
                manifest_log_diags(c->manifest);
                log_error("Model %s is not in manifest %s (or was skipped for errors, see above); nothing to "
                          "realise. Check the manifest with 'deferred-builds check %s'.",
                          c->model_name, c->manifest_path, c->manifest_path);
                return EXIT_NOINPUT;
        }
        if (!generation_is_valid(c->manifest->generation)) {
                log_error("Manifest %s has no usable generation identity ('%s'), cannot name the GC root folder.",
                          c->manifest_path, c->manifest->generation);
                return EXIT_NOINPUT;
        }
        return 0;
}

int setup_paths(Context *c) {
        const Model *md = c->md;
        const char *gen = c->manifest->generation;
        int r;

        if ((r = path_state_dir(c->scope, &c->state_dir)) < 0)
                return log_error_errno(r, "Failed to find the state directory (set DEFERRED_BUILDS_STATE_DIR): %m");
        if ((r = path_runtime_dir(c->scope, &c->runtime_dir)) < 0)
                return log_error_errno(r, "Failed to find the runtime directory (set DEFERRED_BUILDS_RUNTIME_DIR): %m");

        c->root_dir = strjoin(c->state_dir, "/" ROOTS_SUBDIR "/", gen);
        c->root = strjoin(c->root_dir, "/", md->name);
        c->published = strjoin(c->runtime_dir, "/" PUBLISHED_SUBDIR "/", md->name);
        if (!c->root_dir || !c->root || !c->published)
                return log_oom();

        /* nix-store names the root of an output other than "out" ROOT-OUTPUT. Such a root is
         * made under a hidden name no model can have (names have no '.') and then moved to
         * ROOT by a second nix-store call; "out" gets ROOT directly. */
        if (streq(md->output, "out")) {
                c->nix_root = strdup(c->root);
                c->nix_root_made = strdup(c->root);
        } else {
                c->nix_root = strjoin(c->root_dir, "/.", md->name, ".tmp");
                c->nix_root_made = c->nix_root ? strjoin(c->nix_root, "-", md->output) : NULL;
        }
        if (!c->nix_root || !c->nix_root_made)
                return log_oom();
        return 0;
}

static int find_nix_store(Context *c) {
        static const char *const candidates[] = {
                "/run/current-system/sw/bin/nix-store",
                "/nix/var/nix/profiles/default/bin/nix-store",
                "/usr/bin/nix-store",
        };
        const char *e = getenv("DEFERRED_BUILDS_NIX_STORE");
        if (!isempty(e)) {
                if (e[0] != '/' || access(e, X_OK) < 0)
                        return fail(c, EXIT_GENERIC,
                                    "DEFERRED_BUILDS_NIX_STORE=%s is not an executable absolute path; fix the "
                                    "unit's environment",
                                    e);
                c->nix_store = strdup(e);
                return c->nix_store ? 0 : log_oom();
        }
        for (size_t i = 0; i < ELEMENTSOF(candidates); i++)
                if (access(candidates[i], X_OK) >= 0) {
                        c->nix_store = strdup(candidates[i]);
                        return c->nix_store ? 0 : log_oom();
                }
        return fail(c, EXIT_GENERIC,
                    "nix-store not found at /run/current-system/sw/bin, /nix/var/nix/profiles/default/bin or "
                    "/usr/bin: install Nix or set DEFERRED_BUILDS_NIX_STORE");
}

static void init_status(Context *c) {
        ModelStatus prev;
        unsigned attempts = 1;
        /* attempts counts the runs for this derivation: a new drv starts again at 1. */
        if (status_read(c->runtime_dir, c->md->name, &prev) >= 0 && streq(prev.drv, c->md->drv) &&
            prev.attempts < UINT_MAX)
                attempts = prev.attempts + 1;

        c->st = (ModelStatus){ .state = MODEL_STATE_PENDING, .attempts = attempts };
        status_set(c->st.model, sizeof c->st.model, c->md->name);
        status_set(c->st.drv, sizeof c->st.drv, c->md->drv);
        status_set(c->st.out, sizeof c->st.out, strempty(c->md->out));
        status_set(c->st.generation, sizeof c->st.generation, c->manifest->generation);
        status_set(c->st.root, sizeof c->st.root, c->root);
        c->st.started = (unsigned long long) time(NULL);
        report_status(c);
}

/* The .drv missing for good: with a bundle, its import (ExecStartPre) failed or a GC took
 * the .drv since, and a new start imports it again (75); without one, no substituter had
 * it (69). */
static int fail_no_drv(Context *c) {
        if (c->md->bundle)
                return fail(c, EXIT_TEMPFAIL,
                            "derivation %s of model %s is not in the store: importing it from bundle %s failed "
                            "(see 'deferred-builds logs %s'), or a garbage collection removed it meanwhile; "
                            "systemd tries again",
                            c->md->drv, c->md->name, c->md->bundle, c->md->name);
        return fail(c, EXIT_UNAVAILABLE,
                    "derivation %s of model %s is not in the store and no substituter has it: the manifest names "
                    "no bundle to import it from. Deploy a system built with bundles, copy the derivation "
                    "(nix-copy-closure %s), or add a binary cache that holds it, then start the unit again",
                    c->md->drv, c->md->name, c->md->drv);
}

/* After a failed nix-store run: whether the .drv is not (or no longer) valid. Its file
 * may exist unregistered (a store shared with a VM), so the store is asked. */
static bool drv_missing(const Context *c) {
        struct stat st;
        if (stat(c->md->drv, &st) < 0)
                return errno == ENOENT;
        return drv_is_valid(c->nix_store, c->md->drv) == 0;
}

static int check_drv(Context *c) {
        struct stat st;
        if (stat(c->md->drv, &st) >= 0)
                return 0;
        int r = -errno;
        if (r == -ENOENT) {
                if (c->md->bundle)
                        return fail_no_drv(c);
                /* nix-store --realise substitutes a missing .drv when a cache has it. */
                log_info("Derivation %s of model %s is not in the store; asking the substituters for it.",
                         c->md->drv, c->md->name);
                return 0;
        }
        errno = -r;
        return fail(c, EXIT_UNAVAILABLE, "cannot check derivation %s of model %s in the store: %m", c->md->drv,
                    c->md->name);
}

/* Removes STATE/roots/GEN/.NAME.drv, the root `deferred-realise import` gave the .drv for
 * this training: once the training ended, the output's root (or a new import) takes over. */
static void drop_drv_root(Context *c) {
        if (!c->md || !c->md->bundle || !c->root_dir)
                return;
        _cleanup_free_ char *path = strjoin(c->root_dir, "/.", c->md->name, ".drv");
        char target[PATH_MAX];
        ssize_t n = path ? readlink(path, target, sizeof target - 1) : -1;
        if (n < 0)
                return;
        target[n] = 0;
        if (streq(target, c->md->drv) && unlink(path) < 0)
                log_warning_errno(-errno, "Failed to remove GC root %s, ignoring: %m", path);
}

static const char *file_kind(mode_t m) {
        return S_ISREG(m) ? "regular file" : S_ISDIR(m) ? "directory" : S_ISLNK(m) ? "symlink" : "special file";
}

/* A path that must be free or one of our symlinks. into_store: the link must point at a
 * store path (GC roots); else at anything (the published link points at a root). */
static int check_ours(Context *c, const char *path, bool into_store, const char *what) {
        struct stat st;
        if (lstat(path, &st) < 0) {
                if (errno == ENOENT)
                        return 0;
                return log_error_errno(-errno, "Failed to check %s %s: %m", what, path);
        }
        if (!S_ISLNK(st.st_mode))
                return fail(c, EXIT_ROOT_OCCUPIED,
                            "%s %s of model %s is occupied by a %s, not by a deferred-builds symlink: refusing to "
                            "touch it. Move it away (it may be someone's data), then start the unit again",
                            what, path, c->md->name, file_kind(st.st_mode));
        if (!into_store)
                return 0;
        char target[PATH_MAX];
        ssize_t n = readlink(path, target, sizeof target - 1);
        if (n < 0)
                return log_error_errno(-errno, "Failed to read %s %s: %m", what, path);
        target[n] = 0;
        if (!store_path_is_valid(target))
                return fail(c, EXIT_ROOT_OCCUPIED,
                            "%s %s of model %s is a symlink to %s, which is not a store path: not ours, refusing to "
                            "touch it. Move it away, then start the unit again",
                            what, path, c->md->name, target);
        return 0;
}

static int check_paths(Context *c) {
        int r = mkdir_p(c->root_dir, 0755);
        if (r == -ENOTDIR || r == -EEXIST)
                return fail(c, EXIT_ROOT_OCCUPIED,
                            "GC root folder %s of model %s cannot be created: something that is not a directory is "
                            "in the way. Move it away, then start the unit again",
                            c->root_dir, c->md->name);
        if (r < 0)
                return log_error_errno(r, "Failed to create GC root folder %s: %m", c->root_dir);
        if ((r = check_ours(c, c->root, true, "GC root path")) != 0)
                return r;
        if (!streq(c->nix_root_made, c->root) && (r = check_ours(c, c->nix_root_made, true, "GC root path")) != 0)
                return r;
        return check_ours(c, c->published, false, "published model path");
}

static int push_option(char ***argv, size_t *n, const char *name, const char *value) {
        int r;
        if ((r = strv_extend(argv, n, "--option")) < 0 || (r = strv_extend(argv, n, name)) < 0 ||
            (r = strv_extend(argv, n, value)) < 0)
                return r;
        return 0;
}

static int build_argv(Context *c, char ***ret) {
        const Model *md = c->md;
        _cleanup_strv_free_ char **argv = NULL;
        size_t n = 0;
        char num[32];
        int r;

        _cleanup_free_ char *installable = strjoin(md->drv, "!", md->output);
        if (!installable)
                return -ENOMEM;
        const char *fixed[] = { c->nix_store, "--realise", installable,       "--add-root",
                                c->nix_root,  "--log-format", "internal-json", "-v" };
        for (size_t i = 0; i < ELEMENTSOF(fixed); i++)
                if ((r = strv_extend(&argv, &n, fixed[i])) < 0)
                        return r;
        if (md->has_max_silent_time) {
                snprintf(num, sizeof num, "%llu", md->max_silent_time);
                if ((r = push_option(&argv, &n, "max-silent-time", num)) < 0)
                        return r;
        }
        if (md->has_timeout) {
                snprintf(num, sizeof num, "%llu", md->timeout);
                if ((r = push_option(&argv, &n, "timeout", num)) < 0)
                        return r;
        }
        if (md->builders && (r = push_option(&argv, &n, "builders", md->builders)) < 0)
                return r;
        if (md->substituters && (r = push_option(&argv, &n, "substituters", md->substituters)) < 0)
                return r;
        if (md->trusted_public_keys && (r = push_option(&argv, &n, "trusted-public-keys", md->trusted_public_keys)) < 0)
                return r;
        /* extra-*: added to the daemon's own lists, which a trusted client's plain settings
         * would replace (the build closure would lose the system caches). */
        if (md->extra_substituters &&
            (r = push_option(&argv, &n, "extra-substituters", md->extra_substituters)) < 0)
                return r;
        if (md->extra_trusted_public_keys &&
            (r = push_option(&argv, &n, "extra-trusted-public-keys", md->extra_trusted_public_keys)) < 0)
                return r;
        if (md->builders_use_substitutes >= 0 &&
            (r = push_option(&argv, &n, "builders-use-substitutes", md->builders_use_substitutes ? "true" : "false")) < 0)
                return r;
        *ret = TAKE_PTR(argv);
        return 0;
}

/* One line saying why nix-store failed: Nix's error, else how it ended. */
static void failure_text(const NixRun *run, char *buf, size_t size) {
        const NixProgress *p = &run->progress;
        if (p->error[0] && p->last_line[0] && !strstr(p->error, p->last_line))
                snprintf(buf, size, "%s (last log line: %s)", p->error, p->last_line);
        else if (p->error[0])
                snprintf(buf, size, "%s", p->error);
        else if (run->term_signal)
                snprintf(buf, size, "nix-store was killed by %s", signal_name(run->term_signal, (char[16]){ 0 }));
        else
                snprintf(buf, size, "nix-store exited with status %d without saying why", run->exit_code);
}

static int realise_with_retries(Context *c, NixRun *run) {
        _cleanup_strv_free_ char **argv = NULL;
        int r = build_argv(c, &argv);
        if (r < 0)
                return log_oom();

        unsigned long long first = now_usec(CLOCK_MONOTONIC);
        for (unsigned attempt = 1;; attempt++) {
                report_event(c, LOG_INFO, "%s model %s: nix-store --realise %s!%s --add-root %s%s",
                             attempt == 1 ? "Realising" : "Retrying", c->md->name, c->md->drv, c->md->output,
                             c->nix_root, c->swap ? " (swap: the current model keeps serving)" : "");
                report_notify("realising %s: %s%s", c->md->name, c->md->drv, attempt == 1 ? "" : " (retry)");
                r = nix_run(c, argv, true, run);
                if (r < 0)
                        return fail(c, EXIT_GENERIC, "cannot run %s for model %s: %s", c->nix_store, c->md->name,
                                    strerror(-r));
                if (run->exit_code == 0)
                        return 0;

                char why[NIXLOG_ERROR_MAX + NIXLOG_LINE_MAX + 64];
                failure_text(run, why, sizeof why);
                /* Nix's message ends with a full stop; ours go on after it. */
                size_t wl = strlen(why);
                while (wl > 0 && why[wl - 1] == '.')
                        why[--wl] = 0;
                if (c->terminate_signal)
                        return fail(c, EXIT_GENERIC,
                                    "stopped by %s before the build of %s finished; deferred-builds realise %s "
                                    "resumes it",
                                    signal_name(c->terminate_signal, (char[16]){ 0 }), c->md->drv, c->md->name);

                if (drv_missing(c))
                        return fail_no_drv(c);
                NixFailure kind = nixlog_classify(&run->progress);
                if (kind == NIX_FAILURE_BUILD)
                        return fail(c, EXIT_BUILD_FAILED,
                                    "build of model %s failed: %s. Not retrying: fix the model and deploy a new "
                                    "manifest, or retry by hand with 'deferred-builds realise %s'",
                                    c->md->name, why, c->md->name);

                /* Everything else (daemon down, connection reset, the GC race of
                 * NixOS/nix#6757, a signal) may pass: back off and try again. */
                unsigned long long delay = attempt - 1 < 6 ? 1ULL << (attempt - 1) : RETRY_DELAY_MAX_SEC;
                if (delay > RETRY_DELAY_MAX_SEC)
                        delay = RETRY_DELAY_MAX_SEC;
                unsigned long long spent = (now_usec(CLOCK_MONOTONIC) - first) / 1000000ULL;
                if (spent + delay > c->retry_budget_sec)
                        return fail(c, EXIT_TEMPFAIL,
                                    "cannot realise model %s after %u attempts in %llus (retry budget %llus): %s. "
                                    "Is nix-daemon running? systemd tries again later",
                                    c->md->name, attempt, spent, c->retry_budget_sec, why);

                c->st.state = MODEL_STATE_PENDING;
                snprintf(c->st.error, sizeof c->st.error, "waiting for nix-daemon, retry %u in %llus: %.300s",
                         attempt, delay, why);
                report_status(c);
                report_notify("waiting for nix-daemon, retry %u in %llus: %.300s", attempt, delay, why);
                log_warning("Realising model %s failed (%s); waiting for nix-daemon, retry %u in %llus.", c->md->name,
                            why, attempt, delay);
                if (sleep_interruptible(c, delay * 1000000ULL) > 0)
                        return fail(c, EXIT_GENERIC, "stopped by %s while waiting for nix-daemon",
                                    signal_name(c->terminate_signal, (char[16]){ 0 }));
        }
}

/* Reads a symlink that must point at a valid, existing store path. */
static int read_root(const char *path, char *target, size_t size) {
        ssize_t n = readlink(path, target, size - 1);
        if (n < 0)
                return -errno;
        target[n] = 0;
        if (!store_path_is_valid(target))
                return -EBADMSG;
        struct stat st;
        if (lstat(target, &st) < 0)
                return -errno;
        return 0;
}

/* For outputs other than "out": makes ROOT from the hidden root Nix made, then drops that. */
static int move_root(Context *c, const char *made, const char *out) {
        char *argv[] = { c->nix_store, (char *) "--realise", (char *) out, (char *) "--add-root", c->root, NULL };
        NixRun run;
        int r = nix_run(c, argv, false, &run);
        if (r < 0 || run.exit_code != 0)
                return fail(c, EXIT_TEMPFAIL, "cannot add GC root %s for output %s of model %s: nix-store failed%s",
                            c->root, out, c->md->name, r < 0 ? " to start" : "; systemd tries again later");
        char target[PATH_MAX];
        if (read_root(made, target, sizeof target) >= 0 && streq(target, out) && unlink(made) < 0)
                log_warning_errno(-errno, "Failed to remove temporary GC root %s, ignoring: %m", made);
        return 0;
}

static int publish(Context *c, const NixRun *run) {
        const Model *md = c->md;
        char out[PATH_MAX];
        int r;

        /* nix-store prints the root it made; expect ours, accept another in our folder. */
        const char *made = c->nix_root_made;
        const char *printed = run->printed;
        const char *rest = startswith(printed, c->root_dir);
        if (rest && rest[0] == '/' && !strchr(rest + 1, '/') && !streq(printed, made)) {
                log_warning("nix-store made GC root %s where %s was expected; using it.", printed, made);
                made = printed;
        }
        r = read_root(made, out, sizeof out);
        if (r < 0)
                return fail(c, EXIT_GENERIC,
                            "nix-store succeeded but GC root %s of model %s is not a symlink to an existing store "
                            "path (%s); start the unit again",
                            made, md->name, strerror(-r));
        if (!streq(made, c->root) && (r = move_root(c, made, out)) != 0)
                return r;

        status_set(c->st.out, sizeof c->st.out, out);
        if (md->out && !streq(md->out, out))
                report_event(c, LOG_WARNING,
                             "Model %s: output %s differs from out=%s in the manifest (content-addressed, or a "
                             "different Nix version); publishing %s.",
                             md->name, out, md->out, out);

        _cleanup_free_ char *models_dir = strjoin(c->runtime_dir, "/" PUBLISHED_SUBDIR);
        if (!models_dir)
                return log_oom();
        r = mkdir_p(models_dir, 0755);
        if (r < 0)
                return fail(c, EXIT_GENERIC, "cannot create %s to publish model %s: %s", models_dir, md->name,
                            strerror(-r));
        char old[PATH_MAX] = "";
        ssize_t n = readlink(c->published, old, sizeof old - 1);
        old[n > 0 ? n : 0] = 0;
        r = symlink_atomic(c->root, c->published, 0);
        if (r < 0)
                return fail(c, r == -EISDIR ? EXIT_ROOT_OCCUPIED : EXIT_GENERIC, "cannot publish model %s at %s: %s",
                            md->name, c->published, strerror(-r));

        r = failmem_forget(c->state_dir, md->name);
        if (r < 0)
                log_warning_errno(r, "Failed to forget an earlier failure of model %s: %m", md->name);
        r = previous_remember(c->state_dir, md->name, c->root);
        if (r < 0)
                log_warning_errno(r, "Failed to record %s as the model last published for %s: %m", c->root, md->name);
        c->st.state = MODEL_STATE_READY;
        c->st.finished = (unsigned long long) time(NULL);
        c->st.done = run->progress.done;
        c->st.expected = run->progress.expected;
        c->st.error[0] = 0;
        report_status(c);
        report_notify("ready %s: %s", md->name, out);
        if (c->swap && old[0] && !streq(old, c->root))
                report_event(c, LOG_INFO,
                             "Model %s swapped: %s now points at %s (%s); the previous root %s is kept until "
                             "'deferred-builds prune'.",
                             md->name, c->published, c->root, out, old);
        else
                report_event(c, LOG_INFO, "Model %s is ready: %s, GC root %s, published at %s.", md->name, out, c->root,
                             c->published);
        return 0;
}

int realise_run(Context *c) {
        NixRun run = { .exit_code = -1 };
        int r;

        c->start_usec = now_usec(CLOCK_MONOTONIC);
        if ((r = parse_scope(c)) != 0 || (r = load_model(c)) != 0)
                return r;
        parse_retry_budget(c);
        if ((r = setup_paths(c)) != 0)
                return r;
        if ((r = signals_setup(c)) < 0)
                return log_error_errno(r, "Failed to set up signal handling: %m");
        /* The unit sets NIX_REMOTE=daemon (system scope); a manual run goes through the
         * daemon too, unless told otherwise: roots are registered by the daemon. */
        if (setenv("NIX_REMOTE", "daemon", 0) < 0)
                return log_oom();

        init_status(c);
        if (!c->swap && (r = serve_previous(c)) != 0)
                return r > 0 ? 0 : r;
        if ((r = check_drv(c)) != 0 || (r = check_paths(c)) != 0 || (r = find_nix_store(c)) != 0)
                return r;
        r = realise_with_retries(c, &run);
        if (r == 0)
                r = publish(c, &run);
        drop_drv_root(c);
        return r;
}
