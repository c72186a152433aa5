/* SPDX-License-Identifier: MIT */
#include "dirlist.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int readlinkat_buf(int dir_fd, const char *name, char buf[static PATH_MAX]) {
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

void dir_list_done(DirList *l) {
        free(l->buf);
        free(l->v);
        *l = (DirList){};
}

static int cmp_dirent(const void *a, const void *b) {
        return strcmp((*(struct dirent64 *const *) a)->d_name, (*(struct dirent64 *const *) b)->d_name);
}

#define DIR_LIST_BUF_MIN (32 * 1024)

int dir_list(int dir_fd, DirList *ret) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0, used = 0;
        for (;;) {
                int r;
                /* Room for at least one more record of the longest name. */
                if (size - used < sizeof(struct dirent64) + NAME_MAX + 1 &&
                    (r = realloc_double(&buf, &size, DIR_LIST_BUF_MIN)) < 0)
                        return r;
                ssize_t k = getdents64(dir_fd, buf + used, size - used);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
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
