/* SPDX-License-Identifier: MIT */
/* `deferred-realise import NAME`: before a training, puts the model's derivations back into
 * the store from the bundle the manifest names (src/lib/bundle.h), and roots them for the
 * training. The realise units run it as root (ExecStartPre=+): nix-daemon accepts an
 * unsigned `nix-store --import` only from a trusted user, and root always is one.
 *
 * Order matters for a garbage collector running meanwhile: the root comes first, pointing
 * at the .drv even before it exists, then the import (whose paths the daemon holds with
 * temporary roots until the permanent root protects them). The root is
 * STATE/roots/GEN/.NAME.drv (a name no model can have), registered as an indirect root in
 * Nix's gcroots/auto; deferred-realise removes it when the training ends, after which the
 * output's own root keeps what is needed. Directories and links made here below the state
 * directory are handed to the directory's owner (the realise user), through file
 * descriptors opened without following symlinks.
 *
 * A model without a bundle, or whose .drv is already in the store, needs no import. */
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "bundle.h"
#include "fileio.h"
#include "log.h"
#include "realise.h"
#include "util.h"
#include "validate.h"

extern char **environ;

int run_piped(char *const *argv, const char *in, size_t in_len, int out_fd, Buf *out, size_t out_max) {
        int in_pipe[2] = { -1, -1 }, out_pipe[2] = { -1, -1 };
        _cleanup_close_ int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        sigset_t def;
        pid_t pid;
        int r;

        if (null_fd < 0)
                return -errno;
        if ((in && pipe2(in_pipe, O_CLOEXEC) < 0) || (out && pipe2(out_pipe, O_CLOEXEC) < 0)) {
                r = -errno;
                goto close_pipes;
        }
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, in ? in_pipe[0] : null_fd, STDIN_FILENO);
        posix_spawn_file_actions_adddup2(&fa, out ? out_pipe[1] : out_fd >= 0 ? out_fd : null_fd, STDOUT_FILENO);
        /* The child gets default signal handling and an empty mask, whatever ours are. */
        posix_spawnattr_init(&attr);
        sigfillset(&def);
        posix_spawnattr_setsigdefault(&attr, &def);
        sigemptyset(&def);
        posix_spawnattr_setsigmask(&attr, &def);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
        r = -posix_spawnp(&pid, argv[0], &fa, &attr, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        if (r < 0)
                goto close_pipes;
        if (in) {
                close(in_pipe[0]);
                in_pipe[0] = -1;
        }
        if (out) {
                close(out_pipe[1]);
                out_pipe[1] = -1;
        }

        /* Only one side is a pipe in every use here (a producer or a consumer), so writing
         * all, then reading all, cannot deadlock. A child that stops reading early gets
         * EPIPE on our side, not a SIGPIPE. */
        r = 0;
        void (*old)(int) = signal(SIGPIPE, SIG_IGN);
        for (size_t done = 0; in && done < in_len;) {
                ssize_t n = write(in_pipe[1], in + done, in_len - done);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = -errno;
                        break;
                }
                done += (size_t) n;
        }
        signal(SIGPIPE, old);
        if (in) {
                close(in_pipe[1]);
                in_pipe[1] = -1;
        }
        while (out && r == 0) {
                if (out->cap - out->len < 65536) {
                        size_t cap = out->cap ? out->cap * 2 : 1 << 20;
                        char *p = realloc(out->data, cap);
                        if (!p) {
                                r = -ENOMEM;
                                break;
                        }
                        out->data = p;
                        out->cap = cap;
                }
                ssize_t n = read(out_pipe[0], out->data + out->len, out->cap - out->len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        r = -errno;
                else if (n == 0)
                        break;
                else if ((out->len += (size_t) n) > out_max)
                        r = -EFBIG;
        }
        if (out) {
                close(out_pipe[0]);
                out_pipe[0] = -1;
        }
        int status;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return r < 0 ? r : -errno;
        if (r < 0)
                return r;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);

close_pipes:
        for (int i = 0; i < 2; i++) {
                if (in_pipe[i] >= 0)
                        close(in_pipe[i]);
                if (out_pipe[i] >= 0)
                        close(out_pipe[i]);
        }
        return r;
}

int drv_is_valid(const char *nix_store, const char *drv) {
        /* --print-invalid: exit 0 either way, the path printed when invalid; any other
         * exit is a failure to ask (the daemon is down), not an answer. */
        char *argv[] = { (char *) nix_store, (char *) "--check-validity", (char *) "--print-invalid", (char *) drv,
                         NULL };
        Buf out = { 0 };
        int r = run_piped(argv, NULL, 0, -1, &out, 65536);
        bool invalid = out.len > 0;
        buf_done(&out);
        if (r != 0)
                return r < 0 ? r : -EIO;
        return !invalid;
}

/* An absolute program path from the environment variable, else the first candidate that
 * is executable. NULL when there is none. */
static const char *find_program(const char *env, const char *const *candidates) {
        const char *e = getenv(env);
        if (!isempty(e))
                return e[0] == '/' && access(e, X_OK) >= 0 ? e : NULL;
        for (; *candidates; candidates++)
                if (access(*candidates, X_OK) >= 0)
                        return *candidates;
        return NULL;
}

/* Opens (making it when missing) the folder NAME below parent_fd without following a
 * symlink, owned by uid:gid. */
static int open_owned_dir(int parent_fd, const char *name, uid_t uid, gid_t gid, int *ret) {
        if (mkdirat(parent_fd, name, 0755) < 0 && errno != EEXIST)
                return -errno;
        int fd = openat(parent_fd, name, O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        struct stat st;
        if (fstat(fd, &st) < 0 || ((st.st_uid != uid || st.st_gid != gid) && fchown(fd, uid, gid) < 0)) {
                int r = -errno;
                close(fd);
                return r;
        }
        *ret = fd;
        return 0;
}

/* 64-bit FNV-1a: a short, stable name for the gcroots/auto link of a root. */
static uint64_t fnv1a(const char *s) {
        uint64_t h = 0xcbf29ce484222325ULL;
        for (; *s; s++)
                h = (h ^ (unsigned char) *s) * 0x100000001b3ULL;
        return h;
}

/* STATE/roots/GEN/.NAME.drv -> DRV, registered in gcroots/auto. */
static int root_drv(Context *c, const char *drv) {
        _cleanup_close_ int state_fd = -1, roots_fd = -1, gen_fd = -1;
        _cleanup_free_ char *name = strjoin(".", c->md->name, ".drv");
        _cleanup_free_ char *root = strjoin(c->root_dir, "/", name ? name : "");
        struct stat st;
        int r;

        if (!name || !root)
                return log_oom();
        if ((r = mkdir_p(c->state_dir, 0755)) < 0)
                return log_error_errno(r, "Failed to create the state directory %s: %m", c->state_dir);
        state_fd = open(c->state_dir, O_DIRECTORY | O_CLOEXEC);
        if (state_fd < 0 || fstat(state_fd, &st) < 0)
                return log_error_errno(-errno, "Failed to open the state directory %s: %m", c->state_dir);
        if ((r = open_owned_dir(state_fd, "roots", st.st_uid, st.st_gid, &roots_fd)) < 0 ||
            (r = open_owned_dir(roots_fd, c->manifest->generation, st.st_uid, st.st_gid, &gen_fd)) < 0)
                return log_error_errno(r, "Failed to make the GC root folder %s: %m", c->root_dir);
        if ((r = symlink_atomic_at(drv, gen_fd, name, 0)) < 0)
                return log_error_errno(r, "Failed to make GC root %s: %m", root);
        if (fchownat(gen_fd, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
                return log_error_errno(-errno, "Failed to hand GC root %s to its folder's owner: %m", root);

        const char *state = getenv("NIX_STATE_DIR");
        _cleanup_free_ char *auto_dir = strjoin(isempty(state) ? "/nix/var/nix" : state, "/gcroots/auto");
        char link[PATH_MAX];
        if (!auto_dir)
                return log_oom();
        snprintf(link, sizeof link, "%s/deferred-builds-%016llx", auto_dir, (unsigned long long) fnv1a(root));
        if ((r = mkdir_p(auto_dir, 0755)) < 0 || (r = symlink_atomic(root, link, 0)) < 0)
                return log_error_errno(r, "Failed to register GC root %s in %s: %m", root, auto_dir);
        return 0;
}

static int import_stream(Context *c, const char *nix_store, const char *xz, size_t *ret_n) {
        const char *bundle = c->md->bundle;
        _cleanup_free_ char *format_path = strjoin(bundle, "/" BUNDLE_FORMAT_FILE);
        _cleanup_free_ char *stream_path = strjoin(bundle, "/" BUNDLE_STREAM_FILE);
        _cleanup_free_ char *format = NULL;
        size_t format_len;
        int r;

        if (!format_path || !stream_path)
                return log_oom();
        if ((r = read_full_file(format_path, 4096, &format, &format_len)) < 0)
                return log_error_errno(r, "Failed to read bundle %s of model %s (%s): %m", bundle, c->md->name,
                                       format_path);
        if (!streq(format, BUNDLE_FORMAT_LINE "\n")) {
                log_error("Bundle %s of model %s has a format this version of deferred-builds cannot read: %.100s",
                          bundle, c->md->name, format);
                return -EPROTONOSUPPORT;
        }

        Buf stream = { 0 };
        char *xz_argv[] = { (char *) xz, (char *) "-dc", stream_path, NULL };
        r = run_piped(xz_argv, NULL, 0, -1, &stream, BUNDLE_STREAM_MAX);
        char last[PATH_MAX] = "";
        if (r == 0 && bundle_stream_check(stream.data, stream.len, ret_n, last) < 0)
                r = -EBADMSG;
        if (r == 0 && !streq(last, c->md->drv)) {
                log_error("Bundle %s holds the derivations of %s, not of %s (model %s): refusing to import it.",
                          bundle, last, c->md->drv, c->md->name);
                r = -EBADMSG;
        } else if (r == -EBADMSG)
                log_error("Bundle %s of model %s is damaged: its stream is not a list of derivations.", bundle,
                          c->md->name);
        else if (r != 0)
                log_error("Failed to decompress bundle %s of model %s with %s (%s).", bundle, c->md->name, xz,
                          r < 0 ? strerror(-r) : "it failed");
        if (r == 0) {
                char *import_argv[] = { (char *) nix_store, (char *) "--import", NULL };
                r = run_piped(import_argv, stream.data, stream.len, -1, NULL, 0);
                if (r != 0)
                        log_error("nix-store --import of bundle %s (model %s) failed (%s); nix-daemon accepts it "
                                  "only from a trusted user such as root.",
                                  bundle, c->md->name, r < 0 ? strerror(-r) : "see above");
        }
        buf_done(&stream);
        return r == 0 ? 0 : r < 0 ? r : -EIO;
}

int bundle_import_run(Context *c) {
        static const char *const nix_stores[] = { "/run/current-system/sw/bin/nix-store",
                                                  "/nix/var/nix/profiles/default/bin/nix-store", "/usr/bin/nix-store",
                                                  NULL };
        static const char *const xzs[] = { "/run/current-system/sw/bin/xz", "/usr/bin/xz", "/bin/xz", NULL };
        struct stat st;
        int r;

        if ((r = parse_scope(c)) != 0 || (r = load_model(c)) != 0 || (r = setup_paths(c)) != 0)
                return r;
        if (!c->md->bundle) {
                log_debug("Model %s has no bundle: nothing to import.", c->md->name);
                return EXIT_OK;
        }
        if (setenv("NIX_REMOTE", "daemon", 0) < 0)
                return log_oom();
        if (root_drv(c, c->md->drv) < 0)
                return EXIT_GENERIC;

        const char *nix_store = find_program("DEFERRED_BUILDS_NIX_STORE", nix_stores);
        const char *xz = find_program("DEFERRED_BUILDS_XZ", xzs);
        /* The file may exist unregistered (a store shared with a VM, a half-finished
         * deletion): ask the store, unless the file is not even there. */
        if (nix_store && stat(c->md->drv, &st) >= 0 && drv_is_valid(nix_store, c->md->drv) > 0) {
                log_debug("Derivation %s of model %s is in the store: nothing to import.", c->md->drv, c->md->name);
                return EXIT_OK;
        }
        if (!nix_store || !xz) {
                log_error("Cannot import bundle %s of model %s: %s not found (set %s).", c->md->bundle, c->md->name,
                          nix_store ? "xz" : "nix-store", nix_store ? "DEFERRED_BUILDS_XZ" : "DEFERRED_BUILDS_NIX_STORE");
                return EXIT_GENERIC;
        }
        unsigned long long start = now_usec(CLOCK_MONOTONIC);
        size_t n = 0;
        if (import_stream(c, nix_store, xz, &n) < 0)
                return EXIT_GENERIC;
        if (drv_is_valid(nix_store, c->md->drv) <= 0) {
                log_error("Imported bundle %s, but derivation %s of model %s is still not in the store.", c->md->bundle,
                          c->md->drv, c->md->name);
                return EXIT_GENERIC;
        }
        log_info("Imported the %zu derivations of model %s from bundle %s in %llu ms.", n, c->md->name, c->md->bundle,
                 (now_usec(CLOCK_MONOTONIC) - start) / 1000ULL);
        return EXIT_OK;
}
