/* SPDX-License-Identifier: MIT */
/* The generation of a manifest and of a system toplevel (docs/DESIGN.md "Generation
 * identity"). */
#include "generation.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "paths.h"
#include "log.h"
#include "manifest.h"
#include "util.h"
#include "validate.h"

#define HEADER_SECTION "deferred-builds"
/* A header is at the top of a manifest; this much is enough to find it in a file the
 * parser refused to read whole. */
#define HEADER_SCAN_BYTES (64 * 1024)

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
