/* SPDX-License-Identifier: MIT */
/* `deferred-realise make-bundle DRV OUT`: writes the derivation bundle of DRV into the
 * directory OUT (src/lib/bundle.h). It runs as the builder of a Nix derivation
 * (nixos-module/bundle.nix) whose only input is DRV as a plain path, so the build sees
 * DRV's closure (every .drv and source) and nothing is built. It reads the .drv files
 * itself, because inside a build there is no store to ask, and Nix's exportReferencesGraph
 * would add the outputs of every .drv, which do not exist yet.
 *
 * xz is $DEFERRED_BUILDS_XZ, else "xz" from PATH; it runs single-threaded so that the same
 * closure always gives the same bytes. */
#include <fcntl.h>
#include <limits.h>
#include <search.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "bundle.h"
#include "fileio.h"
#include "log.h"
#include "realise.h"
#include "util.h"
#include "validate.h"

/* A .drv file is small; nixpkgs' largest are a few MiB. */
#define DRV_FILE_MAX (64U * 1024 * 1024)

typedef struct Walk {
        void *seen; /* tsearch tree of every path met; its strings are owned by `owned` */
        char **owned;
        size_t n_owned;
        char **sources; /* non-.drv paths (borrowed from `owned`), in the order met */
        size_t n_sources, cap_sources;
        size_t n_drvs;
        Buf stream;
} Walk;

static int cmp_tree(const void *a, const void *b) {
        return strcmp(a, b);
}

static void free_nothing(void *p) {
        (void) p;
}

static void walk_done(Walk *w) {
        tdestroy(w->seen, free_nothing);
        strv_free(w->owned);
        free(w->sources);
        buf_done(&w->stream);
}

/* Records path as seen. Returns 1 when it is new (*ret: the kept copy), 0 when it was
 * seen before, -ENOMEM. */
static int walk_see(Walk *w, const char *path, const char **ret) {
        if (tfind(path, &w->seen, cmp_tree))
                return 0;
        int r = strv_extend(&w->owned, &w->n_owned, path);
        if (r < 0)
                return r;
        const char *copy = w->owned[w->n_owned - 1];
        if (!tsearch(copy, &w->seen, cmp_tree))
                return -ENOMEM;
        *ret = copy;
        return 1;
}

static int walk_add_source(Walk *w, const char *path) {
        if (w->n_sources == w->cap_sources) {
                size_t cap = w->cap_sources ? 2 * w->cap_sources : 64;
                const char **p = realloc(w->sources, cap * sizeof *p);
                if (!p)
                        return -ENOMEM;
                w->sources = (char **) p;
                w->cap_sources = cap;
        }
        w->sources[w->n_sources++] = (char *) path;
        return 0;
}

/* Adds drv and, first, everything it references (depth first: the stream must name a
 * path's references before the path, as `nix-store --import` adds them in order). */
static int walk_drv(Walk *w, const char *drv, unsigned depth) {
        _cleanup_free_ char *text = NULL;
        size_t len;
        _cleanup_strv_free_ char **refs = NULL;
        size_t n_refs = 0;
        int r;

        if (depth > 100000)
                return log_error_errno(-ELOOP, "Derivation %s is nested too deeply.", drv);
        if ((r = read_full_file(drv, DRV_FILE_MAX, &text, &len)) < 0)
                return log_error_errno(r, "Failed to read derivation %s: %m", drv);
        if ((r = drv_parse_references(text, len, &refs, &n_refs)) < 0)
                return r == -ENOMEM ? log_oom()
                                    : log_error_errno(r, "Failed to parse derivation %s: not a derivation this "
                                                         "version of deferred-builds can read.",
                                                      drv);
        for (size_t i = 0; i < n_refs; i++) {
                const char *kept = NULL;
                r = walk_see(w, refs[i], &kept);
                if (r < 0)
                        return log_oom();
                if (r == 0)
                        continue;
                r = endswith(kept, ".drv") ? walk_drv(w, kept, depth + 1) : walk_add_source(w, kept);
                if (r < 0)
                        return r == -ENOMEM ? log_oom() : r;
        }
        if (bundle_stream_add(&w->stream, drv, text, len, refs, n_refs) < 0)
                return log_oom();
        w->n_drvs++;
        return 0;
}

static int cmp_strp(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static int write_sources(Walk *w, int dir_fd) {
        Buf b = { 0 };
        qsort(w->sources, w->n_sources, sizeof *w->sources, cmp_strp);
        for (size_t i = 0; i < w->n_sources; i++) {
                size_t l = strlen(w->sources[i]);
                char *p = realloc(b.data, b.len + l + 1);
                if (!p) {
                        buf_done(&b);
                        return log_oom();
                }
                b.data = p;
                memcpy(b.data + b.len, w->sources[i], l);
                b.data[b.len + l] = '\n';
                b.len += l + 1;
        }
        int r = write_file_atomic_at(dir_fd, BUNDLE_SOURCES_FILE, b.data ? b.data : "", b.len, 0444, 0);
        buf_done(&b);
        return r < 0 ? log_error_errno(r, "Failed to write %s: %m", BUNDLE_SOURCES_FILE) : 0;
}

/* Compresses the stream into dir_fd/BUNDLE_STREAM_FILE with xz. */
static int write_stream(Walk *w, int dir_fd) {
        const char *xz = getenv("DEFERRED_BUILDS_XZ");
        if (isempty(xz))
                xz = "xz";
        _cleanup_close_ int out = openat(dir_fd, BUNDLE_STREAM_FILE, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
        if (out < 0)
                return log_error_errno(-errno, "Failed to create %s: %m", BUNDLE_STREAM_FILE);
        char *argv[] = { (char *) xz, (char *) "-c", (char *) "-6", (char *) "-T1", (char *) "--check=crc64", NULL };
        int r = run_piped(argv, w->stream.data, w->stream.len, out, NULL, 0);
        if (r < 0)
                return log_error_errno(r, "Failed to run %s to compress the bundle: %m", xz);
        if (r > 0) {
                log_error("%s failed to compress the bundle (status %d).", xz, r);
                return -EIO;
        }
        return 0;
}

int bundle_make_run(const char *drv, const char *out_dir) {
        Walk w = { 0 };
        const char *kept = NULL;
        int r;

        if (!drv_path_is_valid(drv)) {
                log_error("'%s' is not a derivation in the store (%s/<hash>-<name>.drv).", drv, store_dir());
                return EXIT_USAGE;
        }
        if (mkdir(out_dir, 0755) < 0)
                return log_error_errno(-errno, "Failed to create %s: %m", out_dir), EXIT_GENERIC;
        _cleanup_close_ int dir_fd = open(out_dir, O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0)
                return log_error_errno(-errno, "Failed to open %s: %m", out_dir), EXIT_GENERIC;

        r = walk_see(&w, drv, &kept);
        if (r > 0)
                r = walk_drv(&w, kept, 0);
        if (r >= 0 && bundle_stream_finish(&w.stream) < 0)
                r = log_oom();
        if (r >= 0)
                r = write_sources(&w, dir_fd);
        if (r >= 0)
                r = write_stream(&w, dir_fd);
        if (r >= 0 && (r = write_file_atomic_at(dir_fd, BUNDLE_FORMAT_FILE, BUNDLE_FORMAT_LINE "\n",
                                                strlen(BUNDLE_FORMAT_LINE "\n"), 0444, 0)) < 0)
                log_error_errno(r, "Failed to write %s: %m", BUNDLE_FORMAT_FILE);
        if (r >= 0)
                log_info("Bundle of %s: %zu derivations (%zu bytes before compression), %zu sources.", drv, w.n_drvs,
                         w.stream.len, w.n_sources);
        walk_done(&w);
        return r < 0 ? EXIT_GENERIC : EXIT_OK;
}
