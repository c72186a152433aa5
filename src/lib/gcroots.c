/* SPDX-License-Identifier: MIT */
/* Listing the GC-root folders (docs/DESIGN.md "Generation identity", "Scope and paths"). */
#include "gcroots.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dirlist.h"
#include "log.h"
#include "paths.h"
#include "published.h"
#include "rootentry.h"
#include "util.h"
#include "validate.h"

/* Store paths are not that deep; a deeper tree reports its size as unknown. */
#define DU_DEPTH_MAX 256

int classify_entry(int gen_fd, const char *name, char target[static PATH_MAX], EntryKind *ret_kind, mode_t *ret_mode) {
        struct stat st;
        int r;

        target[0] = 0;
        *ret_mode = S_IFLNK;
        if (model_name_is_valid(name)) {
                r = readlinkat_buf(gen_fd, name, target);
                if (r >= 0) {
                        *ret_kind = store_path_is_valid(target) ? ENTRY_ROOT : ENTRY_LINK_ELSEWHERE;
                        return 0;
                }
                if (r != -EINVAL)
                        return r;
                *ret_kind = ENTRY_NOT_LINK;
        } else
                *ret_kind = ENTRY_BAD_NAME;
        /* Foreign: only the message needs the file type. */
        if (fstatat(gen_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        *ret_mode = st.st_mode;
        return 0;
}

const char *file_type_name(mode_t mode) {
        if (S_ISREG(mode))
                return "a regular file";
        if (S_ISDIR(mode))
                return "a directory";
        if (S_ISLNK(mode))
                return "a symlink";
        return "a special file";
}

void warn_foreign(const char *dir, const char *name, mode_t mode, EntryKind kind, const char *target) {
        const char *what = file_type_name(mode);
        switch (kind) {
        case ENTRY_BAD_NAME:
                log_warning("Leaving %s/%s alone: it is %s whose name is not a model name, so deferred-builds "
                            "did not make it; remove it by hand if nothing needs it.",
                            dir, name, what);
                break;
        case ENTRY_NOT_LINK:
                log_warning("Leaving %s/%s alone: it is %s, not a GC root symlink made by deferred-builds; "
                            "remove it by hand if nothing needs it.",
                            dir, name, what);
                break;
        case ENTRY_LINK_ELSEWHERE:
                log_warning("Leaving %s/%s alone: it links to '%s', which is not a store path "
                            "(%s/HASH-NAME); remove it by hand if nothing needs it.",
                            dir, name, strempty(target), store_dir());
                break;
        case ENTRY_ROOT:
                break;
        }
}

int open_roots(const char *state_dir, char **ret_path, int *ret_fd) {
        _cleanup_free_ char *p = strjoin(state_dir, "/" ROOTS_SUBDIR);
        if (!p)
                return -ENOMEM;
        int fd = open(p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
                int r = -errno;
                if (r == -ENOENT)
                        return r;
                /* O_NOFOLLOW|O_DIRECTORY on a symlink fails with ENOTDIR or ELOOP: tell them apart
                 * from a plain file so the message says what to fix. */
                struct stat st;
                if ((r == -ENOTDIR || r == -ELOOP) && lstat(p, &st) >= 0 && S_ISLNK(st.st_mode))
                        return log_error_errno(-ELOOP,
                                               "%s is a symlink, not a folder: deferred-builds only prunes its "
                                               "own folder; replace the link with the folder it points to.",
                                               p);
                return log_error_errno(r, "Failed to open %s: %m; check that the state dir is right and readable.",
                                       p);
        }
        *ret_path = TAKE_PTR(p);
        *ret_fd = fd;
        return 0;
}

void root_list_free(RootList *l) {
        if (!l)
                return;
        for (size_t i = 0; i < l->n; i++) {
                free(l->entries[i].generation);
                free(l->entries[i].model);
                free(l->entries[i].path);
                free(l->entries[i].target);
        }
        free(l->entries);
        *l = (RootList){};
}

/* du: disk usage of NAME below DIR_FD and everything under it, symlinks not followed. */
static int disk_usage_at(int dir_fd, const char *name, unsigned depth, unsigned long long *sum) {
        struct stat st;
        if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        *sum += (unsigned long long) st.st_blocks * 512ULL;
        if (!S_ISDIR(st.st_mode))
                return 0;
        if (depth >= DU_DEPTH_MAX)
                return -ELOOP;
        _cleanup_close_ int fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        _cleanup_(dir_list_done) DirList l = {};
        int r = dir_list(fd, &l);
        if (r < 0)
                return r;
        for (size_t i = 0; i < l.n; i++)
                if ((r = disk_usage_at(fd, l.v[i]->d_name, depth + 1, sum)) < 0)
                        return r;
        return 0;
}

static int cmp_entry_target(const void *a, const void *b) {
        const RootEntry *x = *(RootEntry *const *) a, *y = *(RootEntry *const *) b;
        return strcmp(x->target, y->target);
}

/* Fills in sizes, walking each distinct store path once: generations with unchanged
 * models share their outputs, so most roots repeat a target. */
static int fill_sizes(RootList *l) {
        _cleanup_free_ RootEntry **v = calloc(l->n + 1, sizeof(RootEntry *));
        if (!v)
                return -ENOMEM;
        size_t k = 0;
        for (size_t i = 0; i < l->n; i++)
                if (l->entries[i].valid)
                        v[k++] = &l->entries[i];
        if (k > 0)
                qsort(v, k, sizeof(RootEntry *), cmp_entry_target);
        for (size_t i = 0; i < k; i++) {
                if (i > 0 && streq(v[i]->target, v[i - 1]->target)) {
                        v[i]->size = v[i - 1]->size;
                        continue;
                }
                unsigned long long sum = 0;
                int r = disk_usage_at(AT_FDCWD, v[i]->target, 0, &sum);
                if (r < 0)
                        log_debug("Cannot measure %s: %s; showing its size as unknown.", v[i]->target,
                                  strerror(-r));
                v[i]->size = r < 0 ? 0 : sum;
        }
        return 0;
}

static int list_generation(int roots_fd, const char *roots_path, const char *gen, char *const *live,
                           const PublishedSet *pub, RootList *l) {
        _cleanup_close_ int gen_fd = openat(roots_fd, gen, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (gen_fd < 0) {
                int r = -errno;
                if (r == -ENOENT || r == -ENOTDIR || r == -ELOOP)
                        return 0; /* gone, or not a folder: not listed */
                return log_error_errno(r, "Failed to open %s/%s: %m; check its permissions.", roots_path, gen);
        }
        _cleanup_(dir_list_done) DirList names = {};
        int r = dir_list(gen_fd, &names);
        if (r < 0)
                return log_error_errno(r, "Failed to read %s/%s: %m; check its permissions.", roots_path, gen);
        _cleanup_free_ char *gen_path = strjoin(roots_path, "/", gen);
        if (!gen_path)
                return -ENOMEM;
        _cleanup_(gen_published_done) GenPublished gp = {};
        r = gen_published_collect(pub, gen_fd, gen_path, &gp);
        if (r < 0)
                return log_error_errno(r, "Failed to inspect %s: %m.", gen_path);

        bool gen_ok = generation_is_valid(gen);
        bool gen_live = gen_ok && strv_contains(live, gen);
        for (size_t i = 0; i < names.n; i++) {
                const char *name = names.v[i]->d_name;
                EntryKind kind;
                mode_t mode;
                char target[PATH_MAX];
                r = classify_entry(gen_fd, name, target, &kind, &mode);
                if (r == -ENOENT)
                        continue;
                if (r < 0)
                        return log_error_errno(r, "Failed to inspect %s/%s/%s: %m.", roots_path, gen, name);
                /* A link with a bad name is foreign, and still worth showing where it points. */
                if (kind == ENTRY_BAD_NAME && S_ISLNK(mode) && readlinkat_buf(gen_fd, name, target) < 0)
                        target[0] = 0;

                RootEntry *entries = realloc(l->entries, sizeof(RootEntry) * (l->n + 1));
                if (!entries)
                        return -ENOMEM;
                l->entries = entries;
                RootEntry *e = &l->entries[l->n];
                *e = (RootEntry){};
                l->n++;
                e->generation = strdup(gen);
                e->model = strdup(name);
                e->path = strjoin(gen_path, "/", name);
                if (!e->generation || !e->model || !e->path)
                        return -ENOMEM;
                if (S_ISLNK(mode) && target[0] && !(e->target = strdup(target)))
                        return -ENOMEM;

                struct stat tst;
                e->valid = e->target && store_path_is_valid(e->target) && lstat(e->target, &tst) >= 0;
                e->foreign = !gen_ok || kind != ENTRY_ROOT;
                e->published = published_has(pub, &gp, name, e->target);
                e->live = gen_live || e->published;
        }
        return 0;
}

static void root_list_freep(RootList *l) {
        root_list_free(l);
}

int roots_list_full(const char *state_dir, const char *runtime_dir, char *const *live, unsigned flags,
                    RootList *ret) {
        *ret = (RootList){};
        _cleanup_(published_set_done) PublishedSet pub = {};
        int r = published_load(runtime_dir, &pub);
        if (r < 0)
                return r;

        _cleanup_free_ char *roots_path = NULL;
        _cleanup_close_ int roots_fd = -1;
        r = open_roots(state_dir, &roots_path, &roots_fd);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;

        _cleanup_(dir_list_done) DirList gens = {};
        r = dir_list(roots_fd, &gens);
        if (r < 0)
                return log_error_errno(r, "Failed to read %s: %m; check its permissions.", roots_path);

        _cleanup_(root_list_freep) RootList l = {};
        for (size_t i = 0; i < gens.n; i++) {
                const char *gen = gens.v[i]->d_name;
                if (streq(gen, ROOTS_LOCK_NAME))
                        continue;
                if ((r = list_generation(roots_fd, roots_path, gen, live, &pub, &l)) < 0)
                        return r;
        }
        if (!(flags & ROOTS_LIST_NO_SIZE) && (r = fill_sizes(&l)) < 0)
                return r;
        *ret = l;
        l = (RootList){};
        return 0;
}

int roots_list(const char *state_dir, const char *runtime_dir, char *const *live, RootList *ret) {
        return roots_list_full(state_dir, runtime_dir, live, 0, ret);
}
