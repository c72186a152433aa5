/* SPDX-License-Identifier: MIT */
/* GC-root folders: which generations are live, listing the roots, pruning the roots of
 * deleted generations (docs/DESIGN.md "Generation identity", "Scope and paths").
 *
 * Prune deletes; everything here leans towards keeping. A generation whose manifest cannot
 * be read makes live_generations() fail rather than leave it out; published links are
 * matched by the entry they name (its folder's identity and its name); only symlinks
 * whose target is a top-level store path are ever removed, with unlinkat() on a folder
 * opened O_NOFOLLOW, so a link planted below STATE/roots can never steer a removal
 * somewhere else. */
#include "gcroots.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

#include "log.h"
#include "manifest.h"
#include "util.h"
#include "validate.h"

#define TOPLEVEL_MANIFEST "deferred-builds/manifest.ini"
#define TOPLEVEL_MANIFEST_ETC "etc/deferred-builds/manifest.ini"
#define HEADER_SECTION "deferred-builds"
/* A header is at the top of a manifest; this much is enough to find it in a file the
 * parser refused to read whole. */
#define HEADER_SCAN_BYTES (64 * 1024)
/* NixOS specialisations are one level deep; one more level costs nothing and keeps a
 * hand-made nesting live. Cycles are cut by the set of toplevels already seen. */
#define SPECIALISATION_DEPTH_MAX 2
/* Store paths are not that deep; a deeper tree reports its size as unknown. */
#define DU_DEPTH_MAX 256
#define LOCK_POLL_MAX_USEC (50 * 1000)

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Reads a symlink's target into buf, NUL-terminated. -EINVAL: not a symlink. */
static int readlinkat_buf(int dir_fd, const char *name, char buf[static PATH_MAX]) {
        ssize_t n = readlinkat(dir_fd, name, buf, PATH_MAX);
        if (n < 0) {
                int e = errno;
                return e > 0 ? -e : -EIO;
        }
        if (n >= PATH_MAX)
                return -ENAMETOOLONG;
        buf[n] = 0;
        return 0;
}

/* The entries of one directory, as getdents64() returns them: names and file types
 * (d_type, DT_UNKNOWN where the file system does not say), without "." and "..", sorted
 * by name. The records stay in one buffer: listing a folder of a hundred roots costs two
 * system calls (the second says the end), and no entry costs an allocation of its own. */
typedef struct DirList {
        char *buf;
        struct dirent64 **v;
        size_t n;
} DirList;

static void dir_list_done(DirList *l) {
        free(l->buf);
        free(l->v);
        *l = (DirList){};
}

static int cmp_dirent(const void *a, const void *b) {
        return strcmp((*(struct dirent64 *const *) a)->d_name, (*(struct dirent64 *const *) b)->d_name);
}

#define DIR_LIST_BUF_MIN (32 * 1024)

/* Lists the folder open at dir_fd (which stays the caller's). It reads through the fd's
 * own offset, so the fd must be freshly opened and listed once. Reading all names before
 * acting on any keeps removals from disturbing the iteration and makes every log come out
 * in one order. */
static int dir_list(int dir_fd, DirList *ret) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0, used = 0;
        for (;;) {
                /* Room for at least one more record of the longest name. */
                if (size - used < sizeof(struct dirent64) + NAME_MAX + 1) {
                        size_t nsize = size == 0 ? DIR_LIST_BUF_MIN : size * 2;
                        char *nb = realloc(buf, nsize);
                        if (!nb)
                                return -ENOMEM;
                        buf = nb;
                        size = nsize;
                }
                ssize_t k = getdents64(dir_fd, buf + used, size - used);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                used += (size_t) k;
        }

        size_t n = 0;
        for (size_t off = 0; off < used; off += ((struct dirent64 *) (void *) (buf + off))->d_reclen)
                n++;
        _cleanup_free_ struct dirent64 **v = calloc(n + 1, sizeof(struct dirent64 *));
        if (!v)
                return -ENOMEM;
        size_t k = 0;
        for (size_t off = 0; off < used;) {
                struct dirent64 *de = (struct dirent64 *) (void *) (buf + off);
                off += de->d_reclen;
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        v[k++] = de;
        }
        if (k > 1)
                qsort(v, k, sizeof(struct dirent64 *), cmp_dirent);
        *ret = (DirList){ .buf = TAKE_PTR(buf), .v = TAKE_PTR(v), .n = k };
        return 0;
}

/* ---------------------------------------------------------------------------------- */
/* Live generations                                                                     */

/* The generation a manifest gets from where it lives: the basename of its resolved path
 * when that is a top-level store path, else "local" (manifest.c, generation_default). */
static int generation_from_location(const char *manifest_path, char **ret) {
        _cleanup_free_ char *rp = realpath(manifest_path, NULL);
        const char *rest = rp ? startswith(rp, store_dir()) : NULL;
        if (rest && rest[0] == '/' && !strchr(rest + 1, '/') && generation_is_valid(rest + 1))
                *ret = strdup(rest + 1);
        else
                *ret = strdup("local");
        return *ret ? 0 : -ENOMEM;
}

static char *strip(char *s) {
        while (*s == ' ' || *s == '\t')
                s++;
        size_t n = strlen(s);
        while (n > 0 && strchr(" \t\r", s[n - 1]))
                s[--n] = 0;
        return s;
}

/* Finds `generation = X` in the [deferred-builds] section of a manifest that the parser
 * refused before reading its header (a NUL byte, an over-long or indented line, over
 * 1 MiB). An older deferred-builds may have accepted that file and made roots under X, so
 * X stays live. Returns 1 with *ret set, 0 when there is none. */
static int header_generation_scan(const char *manifest_path, char **ret) {
        _cleanup_close_ int fd = open(manifest_path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return 0;
        struct stat st;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
                return 0;
        _cleanup_free_ char *buf = malloc(HEADER_SCAN_BYTES + 1);
        if (!buf)
                return -ENOMEM;
        size_t size = 0;
        while (size < HEADER_SCAN_BYTES) {
                ssize_t k = read(fd, buf + size, HEADER_SCAN_BYTES - size);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                size += (size_t) k;
        }
        buf[size] = 0;

        bool in_header = false;
        for (char *line = buf, *next; line && line < buf + size; line = next) {
                char *nl = strchr(line, '\n');
                next = nl ? nl + 1 : NULL;
                if (nl)
                        *nl = 0;
                char *s = strip(line);
                if (s[0] == '[') {
                        char *close = strchr(s, ']');
                        if (close)
                                *close = 0;
                        in_header = streq(s + 1, HEADER_SECTION);
                        continue;
                }
                char *eq = strpbrk(s, "=:");
                if (!in_header || !eq)
                        continue;
                *eq = 0;
                char *value = strip(eq + 1);
                if (streq(strip(s), "generation") && generation_is_valid(value)) {
                        *ret = strdup(value);
                        return *ret ? 1 : -ENOMEM;
                }
        }
        return 0;
}

int manifest_generation(const char *manifest_path, char **ret) {
        _cleanup_manifest_ Manifest *m = NULL;
        int r = manifest_load(manifest_path, &m);
        if (r == -ENOENT || r == -ENOTDIR)
                return -ENOENT;
        if (r < 0)
                return log_error_errno(r,
                                       "Failed to read manifest %s: %m. Its generation cannot be told, so no GC "
                                       "root can be pruned safely; make it readable or delete that system "
                                       "generation.",
                                       manifest_path);
        if (m->generation) {
                *ret = strdup(m->generation);
                return *ret ? 0 : -ENOMEM;
        }
        /* manifest_load() names a manifest even when it rejects its content, except when it
         * refuses to read the file at all: derive the name as it would have. */
        r = header_generation_scan(manifest_path, ret);
        if (r != 0)
                return r < 0 ? r : 0;
        return generation_from_location(manifest_path, ret);
}

int toplevel_generation(const char *toplevel, char **ret) {
        _cleanup_free_ char *p = strjoin(toplevel, "/" TOPLEVEL_MANIFEST);
        if (!p)
                return -ENOMEM;
        int r = manifest_generation(p, ret);
        if (r != -ENOENT)
                return r;
        free(p);
        p = strjoin(toplevel, "/" TOPLEVEL_MANIFEST_ETC);
        if (!p)
                return -ENOMEM;
        return manifest_generation(p, ret);
}

typedef struct LiveSet {
        char **gens;
        size_t n_gens;
        char **seen; /* resolved toplevels already visited */
        size_t n_seen;
} LiveSet;

static void live_set_done(LiveSet *s) {
        strv_free(s->gens);
        strv_free(s->seen);
}

static int live_add_toplevel(LiveSet *s, const char *toplevel, unsigned depth);

/* The entries of a folder that names live generations. A missing folder names none; one
 * that cannot be read fails, since prune could no longer tell what is live. `what` starts
 * the message ("System generations cannot be told..."). */
static int live_dir_list(const char *dir, const char *what, DirList *ret) {
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
                int r = -errno;
                if (r == -ENOENT || r == -ENOTDIR)
                        return 0;
                return log_error_errno(r, "Failed to open %s: %m. %s cannot be told, so no GC root can be pruned "
                                          "safely; make it readable.",
                                       dir, what);
        }
        int r = dir_list(fd, ret);
        if (r < 0)
                return log_error_errno(r, "Failed to read %s: %m. No GC root can be pruned safely.", dir);
        return 0;
}

/* Every TOPLEVEL/specialisation/NAME is a toplevel of its own. */
static int live_add_specialisations(LiveSet *s, const char *toplevel, unsigned depth) {
        _cleanup_free_ char *dir = strjoin(toplevel, "/specialisation");
        if (!dir)
                return -ENOMEM;
        _cleanup_(dir_list_done) DirList l = {};
        int r = live_dir_list(dir, "Its generations", &l);
        if (r < 0)
                return r;
        for (size_t i = 0; i < l.n; i++) {
                _cleanup_free_ char *sub = strjoin(dir, "/", l.v[i]->d_name);
                if (!sub)
                        return -ENOMEM;
                r = live_add_toplevel(s, sub, depth + 1);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Follows the symlink chain of the last component of PATH (a profile link to its store
 * path, a specialisation link to its own toplevel) the way the kernel does: a relative
 * target is taken from the folder that holds the link. Leaves in ret a path to the same
 * file whose last component is not a symlink; folders above it are left for the kernel
 * to resolve, so nothing is normalized by hand. That costs one readlink per hop, where
 * realpath() costs one per component of every path on the way; the manifest below is
 * then found (and realpath()'d by manifest_load()) through a short path. Fails like
 * realpath() would: -ENOENT for a dangling link, -ELOOP past 40 hops. */
static int resolve_last_component(const char *path, char ret[static PATH_MAX]) {
        size_t len = strlen(path);
        if (len >= PATH_MAX)
                return -ENAMETOOLONG;
        memcpy(ret, path, len + 1);
        for (unsigned hops = 0;; hops++) {
                char target[PATH_MAX];
                int r = readlinkat_buf(AT_FDCWD, ret, target);
                if (r == -EINVAL)
                        return 0; /* not a symlink: ret is the file itself */
                if (r < 0)
                        return r;
                if (hops >= 40) /* the kernel's own limit (MAXSYMLINKS) */
                        return -ELOOP;
                /* An absolute target replaces the path, a relative one its last component
                 * (a link without a folder in its spelling is in the current folder). */
                char *slash = strrchr(ret, '/');
                size_t keep = target[0] == '/' || !slash ? 0 : (size_t) (slash - ret) + 1;
                size_t tlen = strlen(target);
                if (keep + tlen >= PATH_MAX)
                        return -ENAMETOOLONG;
                memcpy(ret + keep, target, tlen + 1);
        }
}

static int live_add_toplevel(LiveSet *s, const char *toplevel, unsigned depth) {
        char rp[PATH_MAX];
        int r = resolve_last_component(toplevel, rp);
        if (r < 0) {
                if (r == -ENOENT || r == -ENOTDIR)
                        return 0; /* no such system: nothing to keep */
                return log_error_errno(r,
                                       "Failed to resolve system toplevel %s: %m. Its generation cannot be told, so "
                                       "no GC root can be pruned safely; repair or remove that link.",
                                       toplevel);
        }
        /* Two links to one store path (a profile and /run/current-system) resolve to one
         * spelling: its manifest is read once. Another spelling of it only costs a second
         * read, and specialisations linking back are cut by the depth limit. */
        if (strv_contains(s->seen, rp))
                return 0;
        if ((r = strv_extend(&s->seen, &s->n_seen, rp)) < 0)
                return r;

        _cleanup_free_ char *gen = NULL;
        r = toplevel_generation(rp, &gen);
        if (r >= 0) {
                log_debug("System %s (%s) is generation %s.", toplevel, rp, gen);
                if (!strv_contains(s->gens, gen) && (r = strv_push(&s->gens, &s->n_gens, TAKE_PTR(gen))) < 0)
                        return r;
        } else if (r != -ENOENT)
                return r;

        if (depth >= SPECIALISATION_DEPTH_MAX)
                return 0;
        return live_add_specialisations(s, rp, depth);
}

/* Names a profile generation link the way the glob "system-*-link" would (prefix given),
 * or, for system-profiles/, any "NAME-N-link". Liberal on purpose: more live is safer. */
static bool profile_link_matches(const char *name, const char *prefix) {
        if (prefix)
                return startswith(name, prefix) && endswith(name, "-link") &&
                       strlen(name) >= strlen(prefix) + strlen("-link");
        return endswith(name, "-link") && name[0] != '.';
}

static int live_add_profiles(LiveSet *s, const char *dir, const char *prefix) {
        _cleanup_(dir_list_done) DirList l = {};
        int r = live_dir_list(dir, "System generations", &l);
        if (r < 0)
                return r;
        for (size_t i = 0; i < l.n; i++) {
                if (!profile_link_matches(l.v[i]->d_name, prefix))
                        continue;
                _cleanup_free_ char *p = strjoin(dir, "/", l.v[i]->d_name);
                if (!p)
                        return -ENOMEM;
                r = live_add_toplevel(s, p, 0);
                if (r < 0)
                        return r;
        }
        return 0;
}

int live_generations(char *const *extra_toplevels, char ***ret) {
        const char *root = getenv("DEFERRED_BUILDS_SYSTEM_ROOT");
        if (isempty(root))
                root = "";
        else if (!absolute_path_is_valid(root))
                return log_error_errno(-EINVAL,
                                       "DEFERRED_BUILDS_SYSTEM_ROOT='%s' is not an absolute, normalized path; set "
                                       "it to the folder that stands for / (tests only) or unset it.",
                                       root);
        else if (streq(root, "/"))
                root = "";

        _cleanup_(live_set_done) LiveSet s = {};
        int r;
        static const char *const fixed[] = { "/run/current-system", "/run/booted-system" };
        for (size_t i = 0; i < ELEMENTSOF(fixed); i++) {
                _cleanup_free_ char *p = strjoin(root, fixed[i]);
                if (!p)
                        return -ENOMEM;
                if ((r = live_add_toplevel(&s, p, 0)) < 0)
                        return r;
        }

        _cleanup_free_ char *profiles = strjoin(root, "/nix/var/nix/profiles");
        _cleanup_free_ char *named = strjoin(root, "/nix/var/nix/profiles/system-profiles");
        if (!profiles || !named)
                return -ENOMEM;
        if ((r = live_add_profiles(&s, profiles, "system-")) < 0)
                return r;
        if ((r = live_add_profiles(&s, named, NULL)) < 0)
                return r;

        for (char *const *t = extra_toplevels; t && *t; t++)
                if ((r = live_add_toplevel(&s, *t, 0)) < 0)
                        return r;

        if (s.n_gens > 0)
                qsort(s.gens, s.n_gens, sizeof(char *), cmp_str);
        else if (!(s.gens = calloc(1, sizeof(char *))))
                return -ENOMEM;
        *ret = TAKE_PTR(s.gens);
        return 0;
}

/* ---------------------------------------------------------------------------------- */
/* Published links                                                                      */

typedef struct Published {
        char *path;       /* the link's target as written, made absolute, without trailing '/' */
        const char *name; /* its last component (in path), or NULL when that names no entry */
        bool direct;      /* path is a store path (see PublishedSet) */
        bool have_dir;    /* the folder holding that entry exists: dir_dev/dir_ino identify it */
        dev_t dir_dev;
        ino_t dir_ino;
} Published;

typedef struct PublishedSet {
        /* The links that name a store path themselves (system scope: the serve user cannot
         * traverse the realise user's private state dir) come first, n_direct of them,
         * sorted by path: every root of such a store path is kept. */
        Published *items;
        size_t n, n_direct;
} PublishedSet;

static void published_set_done(PublishedSet *s) {
        for (size_t i = 0; i < s->n; i++)
                free(s->items[i].path);
        free(s->items);
}

static int cmp_cstr(const void *a, const void *b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

static bool sorted_contains(const char *const *v, size_t n, const char *s) {
        return n > 0 && bsearch(&s, v, n, sizeof(char *), cmp_cstr);
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
static int published_load(const char *runtime_dir, PublishedSet *ret) {
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

/* The names of the roots in one generation folder that published links name, sorted. */
typedef struct GenPublished {
        const char **names;
        size_t n;
} GenPublished;

static void gen_published_done(GenPublished *g) {
        free(g->names);
        *g = (GenPublished){};
}

/* Collects the published entries of the folder open at gen_fd, spelled gen_path: those
 * whose link names this very folder (same device and inode, however the state dir is
 * spelled), and, failing that, those spelled GEN_PATH/NAME. One fstat() per folder, none
 * when nothing is published; a folder that cannot be inspected is an error (the caller
 * keeps everything in it). */
static int gen_published_collect(const PublishedSet *s, int gen_fd, const char *gen_path, GenPublished *ret) {
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
                qsort(ret->names, ret->n, sizeof(char *), cmp_cstr);
        return 0;
}

/* Whether the root NAME (linking to root_target, NULL if unknown) of a generation folder
 * is published: a link names it, or names its store path directly. No system call. */
static bool published_has(const PublishedSet *s, const GenPublished *g, const char *name, const char *root_target) {
        if (sorted_contains(g->names, g->n, name))
                return true;
        return root_target && s->n_direct > 0 &&
               bsearch(root_target, s->items, s->n_direct, sizeof(Published), cmp_published_path);
}

/* ---------------------------------------------------------------------------------- */
/* Classifying entries                                                                  */

typedef enum EntryKind {
        ENTRY_ROOT,
        ENTRY_BAD_NAME,
        ENTRY_NOT_LINK,
        ENTRY_LINK_ELSEWHERE,
} EntryKind;

/* Decides whether GEN_FD/NAME is one of our roots. The link is read first: for a root
 * (the common case, thousands per prune) that one system call is all it takes, and
 * nothing is allocated. On ENTRY_ROOT and ENTRY_LINK_ELSEWHERE, target holds the link's
 * target, else it is empty; *ret_mode gets the entry's file type. Returns -ENOENT when
 * the entry vanished meanwhile. */
static int classify_entry(int gen_fd, const char *name, char target[static PATH_MAX], EntryKind *ret_kind,
                          mode_t *ret_mode) {
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

static const char *file_type_name(mode_t mode) {
        if (S_ISREG(mode))
                return "a regular file";
        if (S_ISDIR(mode))
                return "a directory";
        if (S_ISLNK(mode))
                return "a symlink";
        return "a special file";
}

static void warn_foreign(const char *dir, const char *name, mode_t mode, EntryKind kind, const char *target) {
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

/* Opens STATE/roots without following a symlink in its place. Returns -ENOENT silently. */
static int open_roots(const char *state_dir, char **ret_path, int *ret_fd) {
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

/* ---------------------------------------------------------------------------------- */
/* Listing                                                                              */

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

/* ---------------------------------------------------------------------------------- */
/* Pruning                                                                              */

/* Takes the prune lock, STATE/roots/.lock: two prunes (activation and the GC service's
 * ExecStartPre) must not interleave. Polls rather than blocks so that a stuck holder
 * costs a bounded wait, never a hung activation. */
static int roots_lock(int roots_fd, const char *roots_path, int *ret_fd) {
        _cleanup_close_ int fd = openat(roots_fd, ROOTS_LOCK_NAME,
                                        O_RDWR | O_CREAT | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0600);
        if (fd < 0) {
                int r = -errno;
                return log_error_errno(r, "Failed to open lock file %s/" ROOTS_LOCK_NAME ": %m; check that the "
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
                        log_warning_errno(r, "Failed to remove GC root %s/%s: %m; its store path stays alive until "
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
