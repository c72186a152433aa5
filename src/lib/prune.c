/* SPDX-License-Identifier: MIT */
/* Pruning the GC roots of deleted generations. Prune deletes, so everything here leans
 * towards keeping: only symlinks whose target is a top-level store path are removed, with
 * unlinkat() on a folder opened O_NOFOLLOW, so a link planted below STATE/roots can never
 * steer a removal elsewhere. */
#include "gcroots.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

#include "dirlist.h"
#include "log.h"
#include "paths.h"
#include "published.h"
#include "rootentry.h"
#include "util.h"
#include "validate.h"

#define LOCK_POLL_MAX_USEC (50 * 1000)

/* Takes the prune lock, STATE/roots/.lock: two prunes (activation and the GC service's
 * ExecStartPre) must not interleave. Polls rather than blocks so that a stuck holder
 * costs a bounded wait, never a hung activation. */
static int roots_lock(int roots_fd, const char *roots_path, int *ret_fd) {
        _cleanup_close_ int fd =
                openat(roots_fd, ROOTS_LOCK_NAME, O_RDWR | O_CREAT | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0600);
        if (fd < 0) {
                int r = -errno;
                return log_error_errno(r,
                                       "Failed to open lock file %s/" ROOTS_LOCK_NAME ": %m; check that the "
                                       "state dir is writable (prune needs root for the system scope).",
                                       roots_path);
        }
        unsigned long long deadline = now_usec(CLOCK_MONOTONIC) + ROOTS_LOCK_TIMEOUT_USEC;
        unsigned long long delay = 1000;
        for (;;) {
                if (flock(fd, LOCK_EX | LOCK_NB) >= 0)
                        break;
                int r = -errno;
                if (r == -EINTR)
                        continue;
                if (r != -EWOULDBLOCK)
                        return log_error_errno(r, "Failed to lock %s/" ROOTS_LOCK_NAME ": %m.", roots_path);
                if (now_usec(CLOCK_MONOTONIC) >= deadline)
                        return log_error_errno(-EBUSY,
                                               "Another prune has held %s/" ROOTS_LOCK_NAME " for %llu s; not "
                                               "pruning now. Find it with 'fuser %s/" ROOTS_LOCK_NAME "' or "
                                               "retry later.",
                                               roots_path, ROOTS_LOCK_TIMEOUT_USEC / 1000000ULL, roots_path);
                struct timespec ts = { .tv_sec = 0, .tv_nsec = (long) (delay * 1000ULL) };
                (void) nanosleep(&ts, NULL);
                delay = delay * 2 > LOCK_POLL_MAX_USEC ? LOCK_POLL_MAX_USEC : delay * 2;
        }
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* Counts the roots of a live generation; nothing in it is touched. A live generation
 * is only ever counted, so its roots are told by name and file type, as listed: reading
 * every link of every kept generation on each activation would cost one system call per
 * root for a number in a message. Entries the file system does not type are looked at. */
static void count_live_roots(int gen_fd, const DirList *names, PruneStats *stats) {
        for (size_t i = 0; i < names->n; i++) {
                const struct dirent64 *de = names->v[i];
                if (!model_name_is_valid(de->d_name))
                        continue;
                unsigned char type = de->d_type;
                struct stat st;
                if (type == DT_UNKNOWN && fstatat(gen_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) >= 0 &&
                    S_ISLNK(st.st_mode))
                        type = DT_LNK;
                if (type == DT_LNK)
                        stats->kept++;
        }
}

static void warn_not_generation_folder(const char *gen_path, mode_t mode, PruneStats *stats) {
        log_warning("Leaving %s alone: it is %s, not a generation folder made by deferred-builds; remove it by "
                    "hand if nothing needs it.",
                    gen_path, file_type_name(mode));
        stats->ignored_foreign++;
}

/* Prunes STATE/roots/GEN, listed with file type `type` (DT_*). */
static int prune_generation(int roots_fd, const char *roots_path, const char *gen, unsigned char type,
                            char *const *live, const PublishedSet *pub, bool dry_run, PruneStats *stats) {
        _cleanup_free_ char *gen_path = strjoin(roots_path, "/", gen);
        if (!gen_path)
                return -ENOMEM;
        /* A folder, as listed, is opened straight away (and O_NOFOLLOW below holds even if
         * it was swapped for a link since); anything else is looked at for the message. */
        struct stat gst;
        if (type != DT_DIR) {
                if (fstatat(roots_fd, gen, &gst, AT_SYMLINK_NOFOLLOW) < 0) {
                        int r = -errno;
                        if (r == -ENOENT)
                                return 0;
                        return log_warning_errno(r, "Failed to inspect %s: %m; skipping it.", gen_path);
                }
                if (!S_ISDIR(gst.st_mode)) {
                        warn_not_generation_folder(gen_path, gst.st_mode, stats);
                        return 0;
                }
        }
        if (!generation_is_valid(gen)) {
                log_warning("Leaving %s alone: its name is not a generation name, so deferred-builds did not make "
                            "it; remove it by hand if nothing needs it.",
                            gen_path);
                stats->ignored_foreign++;
                return 0;
        }

        _cleanup_close_ int gen_fd = openat(roots_fd, gen, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (gen_fd < 0) {
                int r = -errno;
                if (r == -ENOENT)
                        return 0;
                /* Replaced by a link or a file since it was listed: not ours to follow. */
                if ((r == -ENOTDIR || r == -ELOOP) && fstatat(roots_fd, gen, &gst, AT_SYMLINK_NOFOLLOW) >= 0 &&
                    !S_ISDIR(gst.st_mode)) {
                        warn_not_generation_folder(gen_path, gst.st_mode, stats);
                        return 0;
                }
                return log_warning_errno(r, "Failed to open %s: %m; skipping it. Check its permissions.", gen_path);
        }
        _cleanup_(dir_list_done) DirList names = {};
        int r = dir_list(gen_fd, &names);
        if (r < 0)
                return log_warning_errno(r, "Failed to read %s: %m; skipping it. Check its permissions.", gen_path);

        if (strv_contains(live, gen)) {
                count_live_roots(gen_fd, &names, stats);
                return 0;
        }

        stats->deleted_generations++;
        _cleanup_(gen_published_done) GenPublished gp = {};
        r = gen_published_collect(pub, gen_fd, gen_path, &gp);
        if (r < 0) {
                if (r == -ENOMEM)
                        return r;
                return log_warning_errno(r, "Failed to inspect %s: %m; leaving it, since its models may be served.",
                                         gen_path);
        }

        int ret = 0;
        size_t remaining = 0;
        for (size_t i = 0; i < names.n; i++) {
                /* This loop runs once per root, thousands of times: nothing in it allocates,
                 * and a root costs two system calls, readlinkat() and unlinkat(). */
                const char *name = names.v[i]->d_name;
                char target[PATH_MAX];
                EntryKind kind;
                mode_t mode;
                r = classify_entry(gen_fd, name, target, &kind, &mode);
                if (r == -ENOENT)
                        continue;
                if (r < 0) {
                        log_warning_errno(r, "Failed to inspect %s/%s: %m; leaving it.", gen_path, name);
                        remaining++;
                        ret = ret < 0 ? ret : r;
                        continue;
                }
                if (kind != ENTRY_ROOT) {
                        warn_foreign(gen_path, name, mode, kind, target);
                        stats->ignored_foreign++;
                        remaining++;
                        continue;
                }
                if (published_has(pub, &gp, name, target)) {
                        log_debug("Keeping %s/%s: a model is served from it.", gen_path, name);
                        stats->kept++;
                        remaining++;
                        continue;
                }
                if (dry_run) {
                        log_info("Would remove GC root %s/%s -> %s", gen_path, name, target);
                        stats->removed_links++;
                        continue;
                }
                if (unlinkat(gen_fd, name, 0) < 0) {
                        r = -errno;
                        if (r == -ENOENT)
                                continue;
                        log_warning_errno(r,
                                          "Failed to remove GC root %s/%s: %m; its store path stays alive until "
                                          "it is removed.",
                                          gen_path, name);
                        stats->kept++;
                        remaining++;
                        ret = ret < 0 ? ret : r;
                        continue;
                }
                log_debug("Removed GC root %s/%s -> %s", gen_path, name, target);
                stats->removed_links++;
        }

        if (remaining > 0)
                return ret;
        if (dry_run) {
                log_info("Would remove empty folder %s", gen_path);
                stats->removed_dirs++;
                return ret;
        }
        if (unlinkat(roots_fd, gen, AT_REMOVEDIR) < 0) {
                r = -errno;
                /* Not empty after all (something was added meanwhile) or already gone: fine. */
                if (r == -ENOTEMPTY || r == -EEXIST || r == -ENOENT)
                        return ret;
                log_warning_errno(r, "Failed to remove empty folder %s: %m; remove it by hand.", gen_path);
                return ret < 0 ? ret : r;
        }
        log_debug("Removed empty folder %s", gen_path);
        stats->removed_dirs++;
        return ret;
}

int roots_prune(const char *state_dir, const char *runtime_dir, char *const *live, bool dry_run, PruneStats *stats) {
        PruneStats unused;
        if (!stats)
                stats = &unused;
        *stats = (PruneStats){};
        if (!live)
                return log_error_errno(-EINVAL, "roots_prune() needs the list of live generations; not pruning.");

        _cleanup_(published_set_done) PublishedSet pub = {};
        int r = published_load(runtime_dir, &pub);
        if (r < 0)
                return r;

        _cleanup_free_ char *roots_path = NULL;
        _cleanup_close_ int roots_fd = -1;
        r = open_roots(state_dir, &roots_path, &roots_fd);
        if (r == -ENOENT)
                return 0; /* no root was ever made */
        if (r < 0)
                return r;

        _cleanup_close_ int lock_fd = -1;
        if (!dry_run && (r = roots_lock(roots_fd, roots_path, &lock_fd)) < 0)
                return r;

        _cleanup_(dir_list_done) DirList gens = {};
        r = dir_list(roots_fd, &gens);
        if (r < 0)
                return log_error_errno(r, "Failed to read %s: %m; check its permissions.", roots_path);

        int ret = 0;
        for (size_t i = 0; i < gens.n; i++) {
                const struct dirent64 *de = gens.v[i];
                if (streq(de->d_name, ROOTS_LOCK_NAME))
                        continue;
                r = prune_generation(roots_fd, roots_path, de->d_name, de->d_type, live, &pub, dry_run, stats);
                if (r < 0 && ret == 0)
                        ret = r;
        }
        return ret;
}
