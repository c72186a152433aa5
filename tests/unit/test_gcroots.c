/* SPDX-License-Identifier: MIT */
/* GC-root folders: which generations are live, and what prune removes and keeps.
 *
 * Every case builds a real tree in a temporary folder: a fake store (NIX_STORE_DIR, which
 * validate.c honours for tests), STATE/roots, RUNTIME/models and a fake system root
 * (DEFERRED_BUILDS_SYSTEM_ROOT). Prune cases assert the exact set of survivors as a
 * listing of STATE/roots, and the exact counters. Real Nix roots are exercised by
 * tests/integration/activation.sh. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "gcroots.h"
#include "generation.h"
#include "live.h"
#include "paths.h"
#include "published.h"
#include "log.h"
#include "manifest.h"
#include "util.h"

typedef struct Fixture {
        char *dir;   /* temporary folder */
        char *store; /* DIR/store = NIX_STORE_DIR */
        char *state; /* DIR/state */
        char *run;   /* DIR/run (runtime dir) */
        char *sys;   /* DIR/sys = DEFERRED_BUILDS_SYSTEM_ROOT */
        unsigned n_store;
} Fixture;

static Fixture F;

static char *xjoin(const char *a, const char *b) {
        char *s = strjoin(a, b);
        assert_non_null(s);
        return s;
}

static int setup(void **state) {
        (void) state;
        char tmpl[] = "/tmp/test-gcroots.XXXXXX";
        assert_non_null(mkdtemp(tmpl));
        F = (Fixture){ .dir = strdup(tmpl) };
        F.store = xjoin(F.dir, "/store");
        F.state = xjoin(F.dir, "/state");
        F.run = xjoin(F.dir, "/run");
        F.sys = xjoin(F.dir, "/sys");
        assert_int_equal(mkdir_p(F.store, 0755), 0);
        assert_int_equal(mkdir_p(F.sys, 0755), 0);
        setenv("NIX_STORE_DIR", F.store, 1);
        setenv("DEFERRED_BUILDS_SYSTEM_ROOT", F.sys, 1);
        return 0;
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
        (void) st;
        (void) flag;
        (void) ftw;
        return remove(p) < 0 ? -1 : 0;
}

static int teardown(void **state) {
        (void) state;
        nftw(F.dir, rm_cb, 32, FTW_DEPTH | FTW_PHYS);
        free(F.dir);
        free(F.store);
        free(F.state);
        free(F.run);
        free(F.sys);
        unsetenv("NIX_STORE_DIR");
        unsetenv("DEFERRED_BUILDS_SYSTEM_ROOT");
        return 0;
}

/* A fresh fake store path STORE/<32 base-32 chars>-NAME holding one small file. */
static char *mkstore(const char *name) {
        static const char alphabet[] = "0123456789abcdfghijklmnpqrsvwxyz";
        char hash[33];
        unsigned v = ++F.n_store;
        for (int i = 0; i < 32; i++)
                hash[i] = alphabet[(v * 7u + (unsigned) i * 13u + (unsigned) i * v) % 32];
        hash[32] = 0;
        char *p = strjoin(F.store, "/", hash, "-", name);
        assert_non_null(p);
        assert_int_equal(write_file_atomic(p, "weights\n", 8, 0644, 0), 0);
        return p;
}

static char *state_path(const char *rel) {
        return strjoin(F.state, "/roots/", rel);
}

static void mklink(const char *target, const char *path) {
        _cleanup_free_ char *dir = strdup(path);
        *strrchr(dir, '/') = 0;
        assert_int_equal(mkdir_p(dir, 0755), 0);
        assert_int_equal(symlink(target, path), 0);
}

/* STATE/roots/GEN/MODEL -> target */
static void mkroot(const char *gen, const char *model, const char *target) {
        _cleanup_free_ char *p = strjoin(F.state, "/roots/", gen, "/", model);
        mklink(target, p);
}

/* RUNTIME/models/MODEL -> target */
static void publish(const char *model, const char *target) {
        _cleanup_free_ char *p = strjoin(F.run, "/models/", model);
        mklink(target, p);
}

static void mkfile(const char *path, const char *text) {
        _cleanup_free_ char *dir = strdup(path);
        *strrchr(dir, '/') = 0;
        assert_int_equal(mkdir_p(dir, 0755), 0);
        assert_int_equal(write_file_atomic(path, text, strlen(text), 0644, 0), 0);
}

static bool exists(const char *p) {
        struct stat st;
        return lstat(p, &st) == 0;
}

/* The listing of STATE/roots, one sorted line per entry: "GEN/" for folders, "GEN/M@"
 * for symlinks, "GEN/M" for anything else. Symlinks are never followed. */
static char **tree_lines;
static size_t tree_n;
static size_t tree_skip;
static int tree_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
        (void) ftw;
        if (strlen(p) <= tree_skip)
                return 0;
        const char *rel = p + tree_skip + 1;
        const char *suffix = flag == FTW_D || flag == FTW_DP ? "/" : S_ISLNK(st->st_mode) ? "@" : "";
        assert_int_equal(strv_push(&tree_lines, &tree_n, strjoin(rel, suffix)), 0);
        return 0;
}
static int cmp_line(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}
static char *tree(void) {
        _cleanup_free_ char *root = xjoin(F.state, "/roots");
        tree_lines = NULL;
        tree_n = 0;
        tree_skip = strlen(root);
        if (exists(root))
                assert_int_equal(nftw(root, tree_cb, 32, FTW_PHYS), 0);
        if (tree_n)
                qsort(tree_lines, tree_n, sizeof(char *), cmp_line);
        char *out = strdup("");
        for (size_t i = 0; i < tree_n; i++) {
                char *n = strjoin(out, tree_lines[i], " ");
                free(out);
                out = n;
        }
        strv_free(tree_lines);
        tree_lines = NULL;
        assert_non_null(out);
        return out;
}

#define assert_tree(expected)                                     \
        do {                                                      \
                _cleanup_free_ char *_t = tree();                 \
                assert_string_equal(_t, expected);                \
        } while (0)

static PruneStats prune_ok(char *const *live, bool dry_run) {
        PruneStats st;
        assert_int_equal(roots_prune(F.state, F.run, live, dry_run, &st), 0);
        return st;
}

#define assert_stats(st, links, dirs, kept_, foreign, deleted)            \
        do {                                                              \
                assert_int_equal((st).removed_links, (links));            \
                assert_int_equal((st).removed_dirs, (dirs));              \
                assert_int_equal((st).kept, (kept_));                     \
                assert_int_equal((st).ignored_foreign, (foreign));        \
                assert_int_equal((st).deleted_generations, (deleted));    \
        } while (0)

/* ---------------------------------------------------------------------------------- */

static void test_live_generation_kept(void **state) {
        (void) state;
        _cleanup_free_ char *a = mkstore("alpha"), *b = mkstore("beta");
        mkroot("gen-live", "alpha", a);
        mkroot("gen-live", "beta", b);
        char *live[] = { "gen-live", NULL };
        PruneStats st = prune_ok(live, false);
        assert_stats(st, 0, 0, 2, 0, 0);
        assert_tree(".lock gen-live/ gen-live/alpha@ gen-live/beta@ ");
}

static void test_deleted_generation_removed(void **state) {
        (void) state;
        _cleanup_free_ char *a = mkstore("alpha"), *b = mkstore("beta");
        mkroot("gen-live", "alpha", a);
        mkroot("gen-old", "alpha", a);
        mkroot("gen-old", "beta", b);
        char *live[] = { "gen-live", NULL };
        PruneStats st = prune_ok(live, false);
        assert_stats(st, 2, 1, 1, 0, 1);
        assert_tree(".lock gen-live/ gen-live/alpha@ ");
        /* Only the links went: the store paths behind them are Nix's to collect. */
        assert_true(exists(a));
        assert_true(exists(b));
}

static void test_published_root_kept(void **state) {
        (void) state;
        _cleanup_free_ char *a = mkstore("alpha"), *b = mkstore("beta");
        mkroot("gen-old", "alpha", a);
        mkroot("gen-old", "beta", b);
        _cleanup_free_ char *served = state_path("gen-old/alpha");
        publish("alpha", served);
        char *live[] = { "gen-new", NULL };
        PruneStats st = prune_ok(live, false);
        assert_stats(st, 1, 0, 1, 0, 1);
        assert_tree(".lock gen-old/ gen-old/alpha@ ");
}

static void test_published_relative_link_kept(void **state) {
        (void) state;
        _cleanup_free_ char *a = mkstore("alpha");
        mkroot("gen-old", "alpha", a);
        /* RUNTIME/models/alpha -> ../../state/roots/gen-old/alpha */
        publish("alpha", "../../state/roots/gen-old/alpha");
        char *live[] = { NULL };
        PruneStats st = prune_ok(live, false);
        assert_stats(st, 0, 0, 1, 0, 1);
        assert_tree(".lock gen-old/ gen-old/alpha@ ");
}

/* Published links name a root, not a store path: another root with the same output in
 * another deleted generation still goes. */
static void test_published_compares_paths_not_store_targets(void **state) {
        (void) state;
        _cleanup_free_ char *a = mkstore("alpha");
        mkroot("gen-1", "alpha", a);
        mkroot("gen-2", "alpha", a);
        _cleanup_free_ char *served = state_path("gen-2/alpha");
        publish("alpha", served);
        char *live[] = { "gen-3", NULL };
        PruneStats st = prune_ok(live, false);
        assert_stats(st, 1, 1, 1, 0, 2);
        assert_tree(".lock gen-2/ gen-2/alpha@ ");
}

/* In the system scope the published link names the store path itself (the server's user
 * cannot traverse the realise user's private state dir): every root of that store path
 * stays, roots of other outputs go. */
static void test_published_store_path_keeps_its_roots(void **state) {
        (void) state;
        _cleanup_free_ char *a = mkstore("alpha"), *b = mkstore("beta");
        mkroot("gen-1", "alpha", a);
        mkroot("gen-2", "alpha", a);
        mkroot("gen-2", "beta", b);
        publish("alpha", a);
        char *live[] = { "gen-3", NULL };
        PruneStats st = prune_ok(live, false);
        assert_stats(st, 1, 0, 2, 0, 2);
        assert_tree(".lock gen-1/ gen-1/alpha@ gen-2/ gen-2/alpha@ ");
}

/* A link naming the store path however it is spelled (relative, a doubled slash, a
 * trailing "/.") names it directly: every root of that store path stays. */
static void test_published_store_path_other_spelling_keeps_its_roots(void **state) {
        (void) state;
        _cleanup_free_ char *a = mkstore("alpha"), *b = mkstore("beta"), *c = mkstore("gamma");
        mkroot("gen-1", "alpha", a);
        mkroot("gen-1", "beta", b);
        mkroot("gen-1", "gamma", c);
        _cleanup_free_ char *rel = strjoin("../../store/", strrchr(a, '/') + 1);
        publish("alpha", rel);
        _cleanup_free_ char *dbl = xjoin("/", b);
        publish("beta", dbl);
        _cleanup_free_ char *dot = xjoin(F.store, "/./");
        _cleanup_free_ char *dotted = xjoin(dot, strrchr(c, '/') + 1);
        publish("gamma", dotted);
        char *live[] = { "gen-2", NULL };
        PruneStats st = prune_ok(live, false);
        assert_stats(st, 0, 0, 3, 0, 1);
        assert_tree(".lock gen-1/ gen-1/alpha@ gen-1/beta@ gen-1/gamma@ ");
}

/* A link to the root ending in "/." (like a trailing slash) still names that root. */
static void test_published_dot_suffix_kept(void **state) {
        (void) state;
        _cleanup_free_ char *a = mkstore("alpha"), *b = mkstore("beta");
        mkroot("gen-old", "alpha", a);
        mkroot("gen-old", "beta", b);
        _cleanup_free_ char *served = state_path("gen-old/alpha/./");
        publish("alpha", served);
        char *live[] = { NULL };
        PruneStats st = prune_ok(live, false);
        assert_stats(st, 1, 0, 1, 0, 1);
        assert_tree(".lock gen-old/ gen-old/alpha@ ");
}

/* The published link may spell the state dir differently (a symlinked /var): the root
 * is recognised by what the path names, not by its spelling. */
static void test_published_through_other_spelling_kept(void **state) {
        (void) state;
        _cleanup_free_ char *a = mkstore("alpha");
        mkroot("gen-old", "alpha", a);
        _cleanup_free_ char *alias = xjoin(F.dir, "/state-alias");
        assert_int_equal(symlink(F.state, alias), 0);
        _cleanup_free_ char *served = xjoin(alias, "/roots/gen-old/alpha");
        publish("alpha", served);
        char *live[] = { NULL };
        PruneStats st = prune_ok(live, false);
        assert_stats(st, 0, 0, 1, 0, 1);
        assert_tree(".lock gen-old/ gen-old/alpha@ ");
}

/* A published link may go through a symlink below STATE/roots (which prune itself never
 * follows) or end in a slash: it still names that root, and the root stays. */
static void test_published_through_symlinked_folder_kept(void **state) {
        (void) state;
        _cleanup_free_ char *a = mkstore("alpha"), *b = mkstore("beta");
        mkroot("gen-old", "alpha", a);
        mkroot("gen-old", "beta", b);
        mkroot("gen-older", "beta", b);
        _cleanup_free_ char *current = state_path("current");
        assert_int_equal(symlink("gen-old", current), 0);
        _cleanup_free_ char *served = state_path("current/alpha");
        publish("alpha", served);
        _cleanup_free_ char *slashed = state_path("gen-older/beta/");
        publish("beta", slashed);
        char *live[] = { NULL };
        PruneStats st = prune_ok(live, false);
        assert_stats(st, 1, 0, 2, 1, 2);
        assert_tree(".lock current@ gen-old/ gen-old/alpha@ gen-older/ gen-older/beta@ ");
}

/* A live generation is only counted: its symlinks with model names are kept roots, read or
 * not, and nothing in it is looked at as foreign or touched. */
static void test_live_generation_counted_from_listing(void **state) {
        (void) state;
        _cleanup_free_ char *a = mkstore("alpha");
        mkroot("gen-live", "alpha", a);
        mkroot("gen-live", "etc", "/etc/passwd");
        mkroot("gen-live", ".hidden", a);
        _cleanup_free_ char *notes = state_path("gen-live/notes");
        mkfile(notes, "mine\n");
        _cleanup_free_ char *sub = state_path("gen-live/sub");
        assert_int_equal(mkdir_p(sub, 0755), 0);
        char *live[] = { "gen-live", NULL };
        PruneStats st = prune_ok(live, false);
        assert_stats(st, 0, 0, 2, 0, 0);
        assert_tree(".lock gen-live/ gen-live/.hidden@ gen-live/alpha@ gen-live/etc@ gen-live/notes gen-live/sub/ ");
}

static void test_foreign_regular_file_kept(void **state) {
        (void) state;
        _cleanup_free_ char *a = mkstore("alpha");
        mkroot("gen-old", "alpha", a);
        _cleanup_free_ char *notes = state_path("gen-old/notes");
        mkfile(notes, "mine\n");
        char *live[] = { NULL };
        PruneStats st = prune_ok(live, false);
        assert_stats(st, 1, 0, 0, 1, 1);
        assert_tree(".lock gen-old/ gen-old/notes ");
}

static void test_foreign_directory_kept(void **state) {
        (void) state;
        _cleanup_free_ char *a = mkstore("alpha");
        mkroot("gen-old", "alpha", a);
        /* A folder named like a model, holding a link into the store: not ours either. */
        mkroot("gen-old/beta", "inner", a);
        _cleanup_free_ char *empty = state_path("gen-old/gamma");
        assert_int_equal(mkdir_p(empty, 0755), 0);
        char *live[] = { NULL };
        PruneStats st = prune_ok(live, false);
        assert_stats(st, 1, 0, 0, 2, 1);
        assert_tree(".lock gen-old/ gen-old/beta/ gen-old/beta/inner@ gen-old/gamma/ ");
}

static void test_links_outside_store_kept(void **state) {
        (void) state;
        _cleanup_free_ char *a = mkstore("alpha");
        _cleanup_free_ char *evil = strjoin(F.store, "-evil/0123456789abcdfghijklmnpqrsvwxyz-x");
        _cleanup_free_ char *dotdot = strjoin(F.store, "/../etc");
        _cleanup_free_ char *inside = strjoin(a, "/sub");
        _cleanup_free_ char *bare = strdup(F.store);
        mkroot("gen-old", "etc", "/etc/passwd");
        mkroot("gen-old", "prefix", evil);     /* shares the store's prefix, is not in it */
        mkroot("gen-old", "dotdot", dotdot);   /* climbs out of the store */
        mkroot("gen-old", "inside", inside);   /* below a store path, not a store path */
        mkroot("gen-old", "bare", bare);       /* the store itself */
        mkroot("gen-old", "relative", "alpha"); /* relative */
        mkroot("gen-old", "ok", a);
        char *live[] = { NULL };
        PruneStats st = prune_ok(live, false);
        assert_stats(st, 1, 0, 0, 6, 1);
        assert_tree(".lock gen-old/ gen-old/bare@ gen-old/dotdot@ gen-old/etc@ gen-old/inside@ gen-old/prefix@ "
                    "gen-old/relative@ ");
}

static void test_bad_model_names_kept(void **state) {
        (void) state;
        _cleanup_free_ char *a = mkstore("alpha");
        mkroot("gen-old", ".hidden", a);
        mkroot("gen-old", "with space", a);
        mkroot("gen-old", "-dash", a);
        mkroot("gen-old", ".0_alpha", a); /* what nix's replaceSymlink leaves while it works */
        mkroot("gen-old", "alpha", a);
        char *live[] = { NULL };
        PruneStats st = prune_ok(live, false);
        assert_stats(st, 1, 0, 0, 4, 1);
        assert_tree(".lock gen-old/ gen-old/-dash@ gen-old/.0_alpha@ gen-old/.hidden@ gen-old/with space@ ");
}

static void test_bad_generation_folders_kept(void **state) {
        (void) state;
        _cleanup_free_ char *a = mkstore("alpha");
        mkroot("-bad", "alpha", a);
        mkroot(".tmp", "alpha", a);
        _cleanup_free_ char *stray = state_path("stray-file");
        mkfile(stray, "x\n");
        char *live[] = { NULL };
        PruneStats st = prune_ok(live, false);
        assert_stats(st, 0, 0, 0, 3, 0);
        assert_tree("-bad/ -bad/alpha@ .lock .tmp/ .tmp/alpha@ stray-file ");
}

/* A generation "folder" that is a symlink is never followed: what it points at stays. */
static void test_symlinked_generation_not_followed(void **state) {
        (void) state;
        _cleanup_free_ char *a = mkstore("alpha");
        _cleanup_free_ char *elsewhere = xjoin(F.dir, "/elsewhere");
        _cleanup_free_ char *victim = xjoin(elsewhere, "/alpha");
        mklink(a, victim);
        _cleanup_free_ char *gen = state_path("gen-old");
        mklink(elsewhere, gen);
        char *live[] = { NULL };
        PruneStats st = prune_ok(live, false);
        assert_stats(st, 0, 0, 0, 1, 0);
        assert_tree(".lock gen-old@ ");
        assert_true(exists(victim));
}

static void test_empty_deleted_folder_removed(void **state) {
        (void) state;
        _cleanup_free_ char *empty = state_path("gen-empty");
        assert_int_equal(mkdir_p(empty, 0755), 0);
        _cleanup_free_ char *live_dir = state_path("gen-live");
        assert_int_equal(mkdir_p(live_dir, 0755), 0);
        char *live[] = { "gen-live", NULL };
        PruneStats st = prune_ok(live, false);
        assert_stats(st, 0, 1, 0, 0, 1);
        assert_tree(".lock gen-live/ ");
}

static void test_dry_run_removes_nothing(void **state) {
        (void) state;
        _cleanup_free_ char *a = mkstore("alpha"), *b = mkstore("beta");
        mkroot("gen-live", "alpha", a);
        mkroot("gen-old", "alpha", a);
        mkroot("gen-old", "beta", b);
        mkroot("gen-older", "beta", b);
        _cleanup_free_ char *notes = state_path("gen-older/notes");
        mkfile(notes, "mine\n");
        char *live[] = { "gen-live", NULL };
        PruneStats dry = prune_ok(live, true);
        assert_stats(dry, 3, 1, 1, 1, 2);
        /* Not even the lock file is created by a dry run. */
        assert_tree("gen-live/ gen-live/alpha@ gen-old/ gen-old/alpha@ gen-old/beta@ gen-older/ gen-older/beta@ "
                    "gen-older/notes ");
        /* The real run does what the dry run said. */
        PruneStats real = prune_ok(live, false);
        assert_memory_equal(&dry, &real, sizeof dry);
        assert_tree(".lock gen-live/ gen-live/alpha@ gen-older/ gen-older/notes ");
}

static void test_missing_roots_dir_is_fine(void **state) {
        (void) state;
        char *live[] = { NULL };
        PruneStats st = prune_ok(live, false);
        assert_stats(st, 0, 0, 0, 0, 0);
        assert_false(exists(F.state));
}

static void test_unreadable_published_dir_prunes_nothing(void **state) {
        (void) state;
        _cleanup_free_ char *a = mkstore("alpha");
        mkroot("gen-old", "alpha", a);
        /* RUNTIME/models exists but is not a folder: which roots are served is unknown. */
        _cleanup_free_ char *models = xjoin(F.run, "/models");
        mkfile(models, "not a folder\n");
        char *live[] = { NULL };
        PruneStats st;
        assert_int_equal(roots_prune(F.state, F.run, live, false, &st), -ENOTDIR);
        assert_stats(st, 0, 0, 0, 0, 0);
        assert_tree("gen-old/ gen-old/alpha@ ");
}

static void test_roots_symlink_refused(void **state) {
        (void) state;
        _cleanup_free_ char *a = mkstore("alpha");
        _cleanup_free_ char *real = xjoin(F.dir, "/real-roots");
        _cleanup_free_ char *victim = xjoin(real, "/gen-old/alpha");
        mklink(a, victim);
        _cleanup_free_ char *roots = xjoin(F.state, "/roots");
        mklink(real, roots);
        char *live[] = { NULL };
        assert_int_equal(roots_prune(F.state, F.run, live, false, NULL), -ELOOP);
        assert_true(exists(victim));
}

static void test_null_live_rejected(void **state) {
        (void) state;
        _cleanup_free_ char *a = mkstore("alpha");
        mkroot("gen-old", "alpha", a);
        assert_int_equal(roots_prune(F.state, F.run, NULL, false, NULL), -EINVAL);
        assert_tree("gen-old/ gen-old/alpha@ ");
}

/* A second prune waits for the first one's lock instead of interleaving with it. */
static void test_prune_waits_for_lock(void **state) {
        (void) state;
        _cleanup_free_ char *a = mkstore("alpha");
        mkroot("gen-old", "alpha", a);
        _cleanup_free_ char *lock = state_path(".lock");
        _cleanup_close_ int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(flock(fd, LOCK_EX), 0);
        int pipefd[2];
        assert_int_equal(pipe(pipefd), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                /* The child inherits the locked description: it holds the lock for 300 ms. */
                close(pipefd[0]);
                assert_int_equal(write(pipefd[1], "x", 1), 1);
                usleep(300 * 1000);
                _exit(0);
        }
        close(pipefd[1]);
        char c;
        assert_int_equal(read(pipefd[0], &c, 1), 1);
        close(pipefd[0]);
        close(TAKE_FD(fd)); /* only the child holds it now */

        unsigned long long t0 = now_usec(CLOCK_MONOTONIC);
        char *live[] = { NULL };
        PruneStats st = prune_ok(live, false);
        unsigned long long waited = now_usec(CLOCK_MONOTONIC) - t0;
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(waited >= 200 * 1000);
        assert_stats(st, 1, 1, 0, 0, 1);
        assert_tree(".lock ");
}

/* ---------------------------------------------------------------------------------- */
/* Live generations                                                                     */

/* A fake toplevel DIR/tops/NAME whose manifest (at REL) declares `generation = GEN`. */
static char *mktoplevel(const char *name, const char *rel, const char *gen) {
        char *top = strjoin(F.dir, "/tops/", name);
        assert_non_null(top);
        assert_int_equal(mkdir_p(top, 0755), 0);
        if (rel) {
                _cleanup_free_ char *m = strjoin(top, "/", rel);
                _cleanup_free_ char *text = strjoin("[deferred-builds]\nversion = 1\ngeneration = ", gen, "\n");
                mkfile(m, text);
        }
        return top;
}

static void syslink(const char *rel, const char *target) {
        _cleanup_free_ char *p = strjoin(F.sys, rel);
        mklink(target, p);
}

static char *joined(char **l) {
        char *out = strdup("");
        for (char **i = l; i && *i; i++) {
                char *n = strjoin(out, *i, " ");
                free(out);
                out = n;
        }
        assert_non_null(out);
        return out;
}

static void test_live_generations_from_every_source(void **state) {
        (void) state;
        _cleanup_free_ char *cur = mktoplevel("cur", "deferred-builds/manifest.ini", "g-current");
        _cleanup_free_ char *booted = mktoplevel("booted", "etc/deferred-builds/manifest.ini", "g-booted");
        _cleanup_free_ char *one = mktoplevel("one", "deferred-builds/manifest.ini", "g-one");
        _cleanup_free_ char *named = mktoplevel("named", "deferred-builds/manifest.ini", "g-named");
        _cleanup_free_ char *gpu = mktoplevel("gpu", "deferred-builds/manifest.ini", "g-gpu");
        _cleanup_free_ char *extra = mktoplevel("extra", "deferred-builds/manifest.ini", "g-extra");
        _cleanup_free_ char *bare = mktoplevel("bare", NULL, NULL); /* a system without deferred-builds */
        _cleanup_free_ char *other = mktoplevel("other", "deferred-builds/manifest.ini", "g-not-a-system");
        /* Both manifests present: the toplevel link wins over etc/. */
        _cleanup_free_ char *both = mktoplevel("both", "deferred-builds/manifest.ini", "g-both");
        _cleanup_free_ char *both_etc = strjoin(both, "/etc/deferred-builds/manifest.ini");
        mkfile(both_etc, "[deferred-builds]\nversion = 1\ngeneration = g-both-etc\n");

        syslink("/run/current-system", cur);
        syslink("/run/booted-system", booted);
        syslink("/nix/var/nix/profiles/system-1-link", one);
        syslink("/nix/var/nix/profiles/system-2-link", cur); /* the same system twice */
        syslink("/nix/var/nix/profiles/system-3-link", "/nonexistent/gone"); /* dangling */
        syslink("/nix/var/nix/profiles/system-4-link", bare);
        syslink("/nix/var/nix/profiles/system-5-link", both);
        syslink("/nix/var/nix/profiles/system", "system-1-link");
        syslink("/nix/var/nix/profiles/per-user-1-link", other); /* not a system profile */
        syslink("/nix/var/nix/profiles/system-profiles/lab-1-link", named);
        _cleanup_free_ char *spec = strjoin(cur, "/specialisation/gpu");
        mklink(gpu, spec);

        char *extras[] = { extra, "/nonexistent/toplevel", NULL };
        _cleanup_strv_free_ char **live = NULL;
        assert_int_equal(live_generations(extras, &live), 0);
        _cleanup_free_ char *got = joined(live);
        assert_string_equal(got, "g-booted g-both g-current g-extra g-gpu g-named g-one ");
}

static void test_live_generations_empty_system(void **state) {
        (void) state;
        _cleanup_strv_free_ char **live = NULL;
        assert_int_equal(live_generations(NULL, &live), 0);
        assert_non_null(live);
        assert_null(live[0]);
}

/* A manifest in the store without `generation =` is named by its store basename, the
 * same name manifest_load() gives it. */
static void test_store_manifest_named_by_basename(void **state) {
        (void) state;
        _cleanup_free_ char *m = strjoin(F.store, "/0123456789abcdfghijklmnpqrsvwxyz-deferred-builds-manifest.ini");
        mkfile(m, "[deferred-builds]\nversion = 1\n");
        _cleanup_free_ char *top = mktoplevel("cur", NULL, NULL);
        _cleanup_free_ char *link = strjoin(top, "/deferred-builds/manifest.ini");
        mklink(m, link);
        syslink("/run/current-system", top);

        _cleanup_strv_free_ char **live = NULL;
        assert_int_equal(live_generations(NULL, &live), 0);
        _cleanup_free_ char *got = joined(live);
        assert_string_equal(got, "0123456789abcdfghijklmnpqrsvwxyz-deferred-builds-manifest.ini ");

        _cleanup_manifest_ Manifest *parsed = NULL;
        assert_int_equal(manifest_load(link, &parsed), 0);
        assert_string_equal(parsed->generation, live[0]);
}

/* Manifests this build rejects still name their generation: an older build may have made
 * roots under it, and a bootable generation must not lose them. */
static void test_rejected_manifests_keep_their_generation(void **state) {
        (void) state;
        /* Wrong version, explicit generation. */
        _cleanup_free_ char *t1 = mktoplevel("v2", NULL, NULL);
        _cleanup_free_ char *m1 = strjoin(t1, "/deferred-builds/manifest.ini");
        mkfile(m1, "[deferred-builds]\nversion = 2\ngeneration = g-version2\n");
        /* Syntax error, no generation, in the store: its basename. */
        _cleanup_free_ char *s2 = strjoin(F.store, "/1123456789abcdfghijklmnpqrsvwxyz-broken.ini");
        mkfile(s2, "[deferred-builds]\nversion = 1\nthis is not ini\n");
        _cleanup_free_ char *t2 = mktoplevel("broken", NULL, NULL);
        _cleanup_free_ char *m2 = strjoin(t2, "/deferred-builds/manifest.ini");
        mklink(s2, m2);
        /* Refused before its header is parsed (an indented line): the header is scanned. */
        _cleanup_free_ char *t3 = mktoplevel("indented", NULL, NULL);
        _cleanup_free_ char *m3 = strjoin(t3, "/deferred-builds/manifest.ini");
        mkfile(m3, "[deferred-builds]\nversion = 1\ngeneration = g-indented\n[model.a]\n  drv = x\n");
        /* Not a file at all, outside the store: "local". */
        _cleanup_free_ char *t4 = mktoplevel("dir", NULL, NULL);
        _cleanup_free_ char *m4 = strjoin(t4, "/deferred-builds/manifest.ini");
        assert_int_equal(mkdir_p(m4, 0755), 0);

        syslink("/nix/var/nix/profiles/system-1-link", t1);
        syslink("/nix/var/nix/profiles/system-2-link", t2);
        syslink("/nix/var/nix/profiles/system-3-link", t3);
        syslink("/nix/var/nix/profiles/system-4-link", t4);
        _cleanup_strv_free_ char **live = NULL;
        assert_int_equal(live_generations(NULL, &live), 0);
        _cleanup_free_ char *got = joined(live);
        assert_string_equal(got, "1123456789abcdfghijklmnpqrsvwxyz-broken.ini g-indented g-version2 local ");
}

/* When a manifest exists but cannot be read, liveness is unknown: fail, do not guess. */
static void test_unreadable_manifest_fails(void **state) {
        (void) state;
        _cleanup_free_ char *top = mktoplevel("loop", NULL, NULL);
        _cleanup_free_ char *m = strjoin(top, "/deferred-builds/manifest.ini");
        mklink("manifest.ini", m); /* a link to itself: ELOOP */
        syslink("/run/current-system", top);
        _cleanup_strv_free_ char **live = NULL;
        assert_int_equal(live_generations(NULL, &live), -ELOOP);
        assert_null(live);
}

/* Toplevels are found through link chains the way the kernel follows them: relative
 * targets (with ".."), links to links, folders reached through a symlink, a toplevel
 * given relative to the current folder, and a specialisation linking back to its parent. */
static void test_live_generations_through_link_chains(void **state) {
        (void) state;
        _cleanup_free_ char *one = mktoplevel("one", "deferred-builds/manifest.ini", "g-one");
        _cleanup_free_ char *two = mktoplevel("two", "deferred-builds/manifest.ini", "g-two");
        _cleanup_free_ char *three = mktoplevel("three", "deferred-builds/manifest.ini", "g-three");
        _cleanup_free_ char *four = mktoplevel("four", "deferred-builds/manifest.ini", "g-four");
        _cleanup_free_ char *spec = mktoplevel("spec", "deferred-builds/manifest.ini", "g-spec");
        _cleanup_free_ char *alias = xjoin(F.dir, "/tops-alias");
        assert_int_equal(symlink("tops", alias), 0);

        syslink("/nix/var/nix/profiles/hop", one);
        syslink("/nix/var/nix/profiles/system-1-link", "hop"); /* a link to a link */
        syslink("/nix/var/nix/profiles/system-2-link", "../../../../../tops/two");
        _cleanup_free_ char *via_alias = xjoin(alias, "/three"); /* a symlinked folder on the way */
        syslink("/nix/var/nix/profiles/system-3-link", via_alias);
        _cleanup_free_ char *spec_link = strjoin(one, "/specialisation/gpu");
        mklink("../../spec", spec_link);
        _cleanup_free_ char *back = strjoin(spec, "/specialisation/parent");
        mklink("../../one", back); /* a cycle: one -> spec -> one */
        _cleanup_free_ char *rel = xjoin(F.dir, "/rel-link");
        assert_int_equal(symlink("tops/four", rel), 0);

        int cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(cwd >= 0);
        assert_int_equal(chdir(F.dir), 0);
        char *extras[] = { "rel-link", NULL };
        _cleanup_strv_free_ char **live = NULL;
        int r = live_generations(extras, &live);
        assert_int_equal(fchdir(cwd), 0);
        close(cwd);
        assert_int_equal(r, 0);
        _cleanup_free_ char *got = joined(live);
        assert_string_equal(got, "g-four g-one g-spec g-three g-two ");
}

/* A profile link that loops cannot be resolved: liveness is unknown, so nothing is live. */
static void test_looping_toplevel_fails(void **state) {
        (void) state;
        _cleanup_free_ char *one = mktoplevel("one", "deferred-builds/manifest.ini", "g-one");
        syslink("/run/current-system", one);
        syslink("/nix/var/nix/profiles/system-1-link", "system-1-link");
        _cleanup_strv_free_ char **live = NULL;
        assert_int_equal(live_generations(NULL, &live), -ELOOP);
        assert_null(live);
}

static void test_relative_system_root_rejected(void **state) {
        (void) state;
        setenv("DEFERRED_BUILDS_SYSTEM_ROOT", "relative/dir", 1);
        _cleanup_strv_free_ char **live = NULL;
        assert_int_equal(live_generations(NULL, &live), -EINVAL);
}

/* ---------------------------------------------------------------------------------- */
/* Listing                                                                              */

static void test_roots_list_fields(void **state) {
        (void) state;
        _cleanup_free_ char *a = mkstore("alpha");
        _cleanup_free_ char *gone = strjoin(F.store, "/2223456789abcdfghijklmnpqrsvwxyz-gone");
        mkroot("gen-live", "alpha", a);
        mkroot("gen-old", "alpha", a);
        mkroot("gen-old", "beta", gone);
        mkroot("gen-old", "etc", "/etc/passwd");
        _cleanup_free_ char *served = state_path("gen-old/alpha");
        publish("alpha", served);
        _cleanup_free_ char *notes = state_path("gen-old/notes");
        mkfile(notes, "x\n");

        char *live[] = { "gen-live", NULL };
        RootList l = {};
        assert_int_equal(roots_list(F.state, F.run, live, &l), 0);
        assert_int_equal(l.n, 5);
        const char *want[][2] = { { "gen-live", "alpha" }, { "gen-old", "alpha" }, { "gen-old", "beta" },
                                  { "gen-old", "etc" },    { "gen-old", "notes" } };
        for (size_t i = 0; i < l.n; i++) {
                assert_string_equal(l.entries[i].generation, want[i][0]);
                assert_string_equal(l.entries[i].model, want[i][1]);
        }
        const RootEntry *e = l.entries;
        assert_true(e[0].valid && e[0].live && !e[0].published && !e[0].foreign);
        assert_string_equal(e[0].target, a);
        _cleanup_free_ char *p0 = state_path("gen-live/alpha");
        assert_string_equal(e[0].path, p0);
        assert_true(e[0].size > 0);
        assert_true(e[1].valid && e[1].live && e[1].published && !e[1].foreign);
        assert_int_equal(e[1].size, e[0].size);
        assert_true(!e[2].valid && !e[2].live && !e[2].published && !e[2].foreign);
        assert_int_equal(e[2].size, 0);
        assert_true(!e[3].valid && !e[3].live && e[3].foreign);
        assert_string_equal(e[3].target, "/etc/passwd");
        assert_true(!e[4].valid && e[4].foreign);
        assert_null(e[4].target);
        root_list_free(&l);
        assert_int_equal(l.n, 0);

        assert_int_equal(roots_list_full(F.state, NULL, live, ROOTS_LIST_NO_SIZE, &l), 0);
        assert_int_equal(l.entries[0].size, 0);
        assert_false(l.entries[1].live); /* no runtime dir: nothing is published */
        root_list_free(&l);
}

static void test_roots_list_missing_state(void **state) {
        (void) state;
        RootList l = {};
        assert_int_equal(roots_list(F.state, F.run, NULL, &l), 0);
        assert_int_equal(l.n, 0);
        root_list_free(&l);
}

/* published_link_is_ours() of RUNTIME/models/NAME, with the target it saw. */
static int link_is_ours(const char *name, char target[static PATH_MAX]) {
        _cleanup_free_ char *dir = strjoin(F.run, "/models");
        assert_non_null(dir);
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(fd >= 0);
        return published_link_is_ours(fd, name, F.state, target);
}

/* Reconcile's rule, the same as prune's: a link into a generation folder of STATE/roots,
 * however spelled, is ours; a link elsewhere, or something that is not a link, is not. */
static void test_published_link_is_ours(void **state) {
        (void) state;
        _cleanup_free_ char *out = mkstore("m");
        mkroot("g1", "a", out);
        _cleanup_free_ char *root = state_path("g1/a");
        char target[PATH_MAX];

        publish("plain", root);
        assert_int_equal(link_is_ours("plain", target), 1);
        assert_string_equal(target, root);
        /* Relative, doubled slashes, a trailing "/.": the same entry. */
        publish("relative", "../../state/roots/g1/a");
        assert_int_equal(link_is_ours("relative", target), 1);
        _cleanup_free_ char *odd = strjoin(F.state, "//roots//g1//a/.");
        publish("odd", odd);
        assert_int_equal(link_is_ours("odd", target), 1);
        /* Through a link to the state dir. */
        _cleanup_free_ char *alias = strjoin(F.dir, "/state-alias");
        assert_int_equal(symlink(F.state, alias), 0);
        _cleanup_free_ char *via = strjoin(alias, "/roots/g1/a");
        publish("via-alias", via);
        assert_int_equal(link_is_ours("via-alias", target), 1);

        /* A prefix that only looks like ours: STATE/roots-evil/g1/a. */
        _cleanup_free_ char *evil = strjoin(F.state, "/roots-evil/g1/a");
        mklink(out, evil);
        publish("lookalike", evil);
        assert_int_equal(link_is_ours("lookalike", target), 0);
        assert_string_equal(target, evil);
        /* STATE/roots/../roots-evil/g1/a spells the prefix and leaves it. */
        _cleanup_free_ char *escape = strjoin(F.state, "/roots/../roots-evil/g1/a");
        publish("escape", escape);
        assert_int_equal(link_is_ours("escape", target), 0);
        /* A store path, a generation folder itself, a regular file, a missing name. */
        publish("store", out);
        assert_int_equal(link_is_ours("store", target), 0);
        _cleanup_free_ char *gen = state_path("g1");
        publish("folder", gen);
        assert_int_equal(link_is_ours("folder", target), 0);
        _cleanup_free_ char *file = strjoin(F.run, "/models/file");
        mkfile(file, "x");
        assert_int_equal(link_is_ours("file", target), 0);
        assert_string_equal(target, "");
        assert_int_equal(link_is_ours("missing", target), -ENOENT);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void) {
        /* Prune warns about every foreign entry, as it should; keep the TAP stream readable
         * unless asked. cmocka's own failure messages are not affected. */
        if (!getenv("TEST_GCROOTS_VERBOSE"))
                log_set_max_level(LOG_CRIT);
        const struct CMUnitTest tests[] = {
                T(test_live_generation_kept),
                T(test_deleted_generation_removed),
                T(test_published_root_kept),
                T(test_published_relative_link_kept),
                T(test_published_compares_paths_not_store_targets),
                T(test_published_store_path_other_spelling_keeps_its_roots),
                T(test_published_dot_suffix_kept),
                T(test_published_through_other_spelling_kept),
                T(test_published_store_path_keeps_its_roots),
                T(test_published_through_symlinked_folder_kept),
                T(test_live_generation_counted_from_listing),
                T(test_foreign_regular_file_kept),
                T(test_foreign_directory_kept),
                T(test_links_outside_store_kept),
                T(test_bad_model_names_kept),
                T(test_bad_generation_folders_kept),
                T(test_symlinked_generation_not_followed),
                T(test_empty_deleted_folder_removed),
                T(test_dry_run_removes_nothing),
                T(test_missing_roots_dir_is_fine),
                T(test_unreadable_published_dir_prunes_nothing),
                T(test_roots_symlink_refused),
                T(test_null_live_rejected),
                T(test_prune_waits_for_lock),
                T(test_live_generations_from_every_source),
                T(test_live_generations_empty_system),
                T(test_store_manifest_named_by_basename),
                T(test_rejected_manifests_keep_their_generation),
                T(test_unreadable_manifest_fails),
                T(test_live_generations_through_link_chains),
                T(test_looping_toplevel_fails),
                T(test_relative_system_root_rejected),
                T(test_roots_list_fields),
                T(test_roots_list_missing_state),
                T(test_published_link_is_ours),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
