/* SPDX-License-Identifier: MIT */
#include "fileio.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "util.h"

/* glibc 2.36 has renameat2(), but keep the raw call so older libcs build too. */
static int rename_noreplace(int dirfd, const char *from, const char *to) {
        if (syscall(SYS_renameat2, dirfd, from, dirfd, to, RENAME_NOREPLACE) >= 0)
                return 0;
        if (errno != EINVAL && errno != ENOSYS)
                return -errno;
        /* File systems without RENAME_NOREPLACE: link() also refuses to replace. */
        if (linkat(dirfd, from, dirfd, to, 0) < 0)
                return -errno;
        (void) unlinkat(dirfd, from, 0);
        return 0;
}

/* The process's umask, read once: fchmod() is only needed when it would narrow `mode`. */
static mode_t current_umask(void) {
        static mode_t cached = (mode_t) -1;
        if (cached == (mode_t) -1) {
                cached = umask(0);
                umask(cached);
        }
        return cached;
}

static int tempname(const char *name, char *buf, size_t size) {
        static unsigned long counter;
        static pid_t pid;
        if (pid == 0)
                pid = getpid();
        const char *base = strrchr(name, '/');
        size_t dirlen = base ? (size_t) (base - name + 1) : 0;
        unsigned long long r = now_usec(1 /* CLOCK_MONOTONIC */) ^ ((unsigned long long) pid << 20) ^ ++counter;
        int n = snprintf(buf, size, "%.*s.#%s.%06llx", (int) dirlen, name, base ? base + 1 : name, r & 0xffffffULL);
        return n > 0 && (size_t) n < size ? 0 : -ENAMETOOLONG;
}

int write_file_atomic_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode, unsigned flags) {
        char tmp[4096];
        int r;

        for (int attempt = 0;; attempt++) {
                r = tempname(name, tmp, sizeof tmp);
                if (r < 0)
                        return r;
                _cleanup_close_ int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
                if (fd < 0) {
                        if (errno == EEXIST && attempt < 16)
                                continue;
                        return -errno;
                }
                const char *p = data;
                size_t left = len;
                while (left > 0) {
                        ssize_t k = write(fd, p, left);
                        if (k < 0) {
                                if (errno == EINTR)
                                        continue;
                                r = -errno;
                                goto fail;
                        }
                        p += k;
                        left -= (size_t) k;
                }
                if ((mode & current_umask()) != 0 && fchmod(fd, mode) < 0) {
                        r = -errno;
                        goto fail;
                }
                if ((flags & WRITE_FSYNC) && fsync(fd) < 0) {
                        r = -errno;
                        goto fail;
                }
                if (flags & WRITE_NOREPLACE)
                        r = rename_noreplace(dirfd, tmp, name);
                else
                        r = renameat(dirfd, tmp, dirfd, name) < 0 ? -errno : 0;
                if (r < 0)
                        goto fail;
                break;
        fail:
                (void) unlinkat(dirfd, tmp, 0);
                return r;
        }

        if (flags & WRITE_FSYNC) {
                _cleanup_close_ int dfd = -1;
                const char *slash = strrchr(name, '/');
                if (slash) {
                        _cleanup_free_ char *dir = strndup(name, (size_t) (slash - name) + 1);
                        if (!dir)
                                return -ENOMEM;
                        dfd = openat(dirfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                } else
                        dfd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (dfd >= 0)
                        (void) fsync(dfd);
        }
        return 0;
}

int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, unsigned flags) {
        return write_file_atomic_at(AT_FDCWD, path, data, len, mode, flags);
}

int symlink_atomic_at(const char *target, int dirfd, const char *name, unsigned flags) {
        char tmp[4096];
        int r;

        for (int attempt = 0;; attempt++) {
                r = tempname(name, tmp, sizeof tmp);
                if (r < 0)
                        return r;
                if (symlinkat(target, dirfd, tmp) < 0) {
                        if (errno == EEXIST && attempt < 16)
                                continue;
                        return -errno;
                }
                break;
        }
        if (flags & WRITE_NOREPLACE)
                r = rename_noreplace(dirfd, tmp, name);
        else
                r = renameat(dirfd, tmp, dirfd, name) < 0 ? -errno : 0;
        if (r < 0) {
                (void) unlinkat(dirfd, tmp, 0);
                return r;
        }
        return 0;
}

int symlink_atomic(const char *target, const char *path, unsigned flags) {
        return symlink_atomic_at(target, AT_FDCWD, path, flags);
}

int mkdirat_p(int dirfd, const char *path, mode_t mode) {
        _cleanup_free_ char *p = strdup(path);
        if (!p)
                return -ENOMEM;
        for (char *s = p + 1;; s++) {
                bool last = *s == 0;
                if (*s != '/' && !last)
                        continue;
                char saved = *s;
                *s = 0;
                if (mkdirat(dirfd, p, mode) < 0 && errno != EEXIST)
                        return -errno;
                struct stat st;
                if (fstatat(dirfd, p, &st, 0) < 0)
                        return -errno;
                if (!S_ISDIR(st.st_mode))
                        return -ENOTDIR;
                *s = saved;
                if (last)
                        break;
        }
        return 0;
}

int mkdir_p(const char *path, mode_t mode) {
        return mkdirat_p(AT_FDCWD, path, mode);
}
