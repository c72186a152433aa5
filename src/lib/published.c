/* SPDX-License-Identifier: MIT */
/* The links RUNTIME/models/NAME, and which roots they keep. */
#include "published.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dirlist.h"
#include "log.h"
#include "paths.h"
#include "util.h"
#include "validate.h"

void published_set_done(PublishedSet *s) {
        for (size_t i = 0; i < s->n; i++)
                free(s->items[i].path);
        free(s->items);
}

static bool sorted_contains(const char *const *v, size_t n, const char *s) {
        return n > 0 && bsearch(&s, v, n, sizeof(char *), strcmp_ptr);
}

/* Direct links first, each group by path. */
static int cmp_published(const void *a, const void *b) {
        const Published *x = a, *y = b;
        if (x->direct != y->direct)
                return x->direct ? -1 : 1;
        return strcmp(x->path, y->path);
}

static int cmp_published_path(const void *key, const void *item) {
        return strcmp(key, ((const Published *) item)->path);
}

/* The folder published_locate() looked at last: the links of one deployment all name
 * entries of one generation folder, which is then looked at once. */
typedef struct DirCache {
        char path[PATH_MAX];
        int error; /* 0, or -errno of stat(path) */
        struct stat st;
} DirCache;

/* Finds the entry a published path names: the folder that holds its last component
 * (resolved, following every symlink on the way, as the kernel would) and that component's
 * name. Trailing slashes and "/." are dropped first, so a link spelled
 * STATE/roots/GEN/MODEL/ still keeps that root; an entry of the store folder is respelled
 * STORE/NAME, so the link names that store path directly. Leaves have_dir false when the
 * folder cannot be found: a link can then only match by its spelling. Returns 0 or -ENOMEM. */
static int published_locate(Published *p, DirCache *cache, const struct stat *store_st) {
        size_t len = strlen(p->path);
        /* "X/" and "X/." both name X (following it when it is a link). */
        while (len > 1 && (p->path[len - 1] == '/' || (p->path[len - 1] == '.' && p->path[len - 2] == '/')))
                p->path[--len] = 0;
        const char *slash = strrchr(p->path, '/');
        if (!slash || isempty(slash + 1) || streq(slash + 1, ".") || streq(slash + 1, ".."))
                return 0; /* a folder, not an entry in one */
        p->name = slash + 1;
        size_t dlen = slash == p->path ? 1 : (size_t) (slash - p->path); /* "/NAME" lives in "/" */
        if (dlen >= sizeof(cache->path))
                return 0;
        if (strncmp(cache->path, p->path, dlen) != 0 || cache->path[dlen] != 0) {
                memcpy(cache->path, p->path, dlen);
                cache->path[dlen] = 0;
                cache->error = stat(cache->path, &cache->st) < 0 ? -errno : 0;
        }
        if (cache->error < 0 || !S_ISDIR(cache->st.st_mode))
                return 0;
        p->have_dir = true;
        p->dir_dev = cache->st.st_dev;
        p->dir_ino = cache->st.st_ino;
        /* An entry of the store folder however spelled (relative, "//", "/./") names that
         * store path directly: spell it as the roots do. */
        if (store_st && p->dir_dev == store_st->st_dev && p->dir_ino == store_st->st_ino) {
                _cleanup_free_ char *canon = strjoin(store_dir(), "/", p->name);
                if (!canon)
                        return -ENOMEM;
                if (!store_path_is_valid(canon))
                        return 0;
                free(p->path);
                p->path = TAKE_PTR(canon);
                p->name = strrchr(p->path, '/') + 1;
        }
        return 0;
}

/* Reads the links RUNTIME/models/NAME, once per prune: a root is then matched against
 * them without a system call of its own. A missing folder publishes nothing; an
 * unreadable one is an error, since prune could no longer tell which roots are being
 * served. */
int published_load(const char *runtime_dir, PublishedSet *ret) {
        if (!runtime_dir)
                return 0;
        _cleanup_free_ char *dir = strjoin(runtime_dir, "/" PUBLISHED_SUBDIR);
        if (!dir)
                return -ENOMEM;
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
                int r = -errno;
                if (r == -ENOENT)
                        return 0;
                return log_error_errno(r,
                                       "Failed to open %s: %m. The models being served cannot be told, so no GC "
                                       "root is pruned; make it readable or pass the right runtime dir.",
                                       dir);
        }
        _cleanup_(dir_list_done) DirList l = {};
        int r = dir_list(fd, &l);
        if (r < 0)
                return log_error_errno(r, "Failed to read %s: %m. No GC root is pruned.", dir);

        struct stat store_st;
        bool have_store = stat(store_dir(), &store_st) >= 0 && S_ISDIR(store_st.st_mode);
        DirCache cache = {};
        for (size_t i = 0; i < l.n; i++) {
                const char *name = l.v[i]->d_name;
                char target[PATH_MAX];
                r = readlinkat_buf(fd, name, target);
                if (r < 0) {
                        if (r == -EINVAL || r == -ENOENT)
                                continue; /* not a link (not ours), or swapped away meanwhile */
                        return log_error_errno(r, "Failed to read link %s/%s: %m. No GC root is pruned.", dir, name);
                }
                Published *items = realloc(ret->items, sizeof(Published) * (ret->n + 1));
                if (!items)
                        return -ENOMEM;
                ret->items = items;
                Published *p = &ret->items[ret->n];
                *p = (Published){};
                p->path = target[0] == '/' ? strjoin(target) : strjoin(dir, "/", target);
                if (!p->path)
                        return -ENOMEM;
                ret->n++;
                if ((r = published_locate(p, &cache, have_store ? &store_st : NULL)) < 0)
                        return r;
        }

        for (size_t i = 0; i < ret->n; i++)
                if ((ret->items[i].direct = store_path_is_valid(ret->items[i].path)))
                        ret->n_direct++;
        if (ret->n > 1)
                qsort(ret->items, ret->n, sizeof(Published), cmp_published);
        return 0;
}

int published_link_is_ours(int dir_fd, const char *name, const char *state_dir, char *target) {
        char buf[PATH_MAX];
        char *t = target ? target : buf;
        t[0] = 0;
        int r = readlinkat_buf(dir_fd, name, t);
        if (r == -EINVAL)
                return 0; /* not a symlink */
        if (r < 0)
                return r;

        /* The folder that holds the entry the link names: "X/" and "X/." name X itself. */
        char dir[PATH_MAX + 4];
        size_t len = strlen(t);
        while (len > 1 && (t[len - 1] == '/' || (t[len - 1] == '.' && t[len - 2] == '/')))
                len--;
        const char *slash = memrchr(t, '/', len);
        if (!slash)
                return 0; /* an entry of RUNTIME/models itself */
        size_t dlen = slash == t ? 1 : (size_t) (slash - t);
        copy_bytes(dir, t, dlen);
        /* Its parent as the kernel resolves it, after following every link on the way. */
        copy_bytes(dir + dlen, "/..", 4);

        _cleanup_free_ char *roots = strjoin(state_dir, "/" ROOTS_SUBDIR);
        if (!roots)
                return -ENOMEM;
        struct stat want, got;
        if (stat(roots, &want) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (fstatat(dir_fd, dir, &got, 0) < 0)
                return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
        return got.st_dev == want.st_dev && got.st_ino == want.st_ino;
}

void gen_published_done(GenPublished *g) {
        free(g->names);
        *g = (GenPublished){};
}

/* Collects the published entries of the folder open at gen_fd, spelled gen_path: those
 * whose link names this very folder (same device and inode, however the state dir is
 * spelled), and, failing that, those spelled GEN_PATH/NAME. One fstat() per folder, none
 * when nothing is published; a folder that cannot be inspected is an error (the caller
 * keeps everything in it). */
int gen_published_collect(const PublishedSet *s, int gen_fd, const char *gen_path, GenPublished *ret) {
        *ret = (GenPublished){};
        if (s->n == 0)
                return 0;
        struct stat st = {};
        bool have_st = false;
        for (size_t i = 0; i < s->n && !have_st; i++)
                if (s->items[i].have_dir) {
                        if (fstat(gen_fd, &st) < 0)
                                return -errno;
                        have_st = true;
                }
        if (!(ret->names = calloc(s->n, sizeof(char *))))
                return -ENOMEM;
        for (size_t i = 0; i < s->n; i++) {
                const Published *p = &s->items[i];
                if (p->name && p->have_dir && have_st && p->dir_dev == st.st_dev && p->dir_ino == st.st_ino) {
                        ret->names[ret->n++] = p->name;
                        continue;
                }
                const char *rest = startswith(p->path, gen_path);
                if (rest && rest[0] == '/' && rest[1])
                        ret->names[ret->n++] = rest + 1;
        }
        if (ret->n > 1)
                qsort(ret->names, ret->n, sizeof(char *), strcmp_ptr);
        return 0;
}

/* Whether the root NAME (linking to root_target, NULL if unknown) of a generation folder
 * is published: a link names it, or names its store path directly. No system call. */
bool published_has(const PublishedSet *s, const GenPublished *g, const char *name, const char *root_target) {
        if (sorted_contains(g->names, g->n, name))
                return true;
        return root_target && s->n_direct > 0 &&
                bsearch(root_target, s->items, s->n_direct, sizeof(Published), cmp_published_path);
}
