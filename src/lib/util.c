/* SPDX-License-Identifier: MIT */
#include "util.h"

#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <time.h>

void strv_free(char **l) {
        if (!l)
                return;
        for (char **i = l; *i; i++)
                free(*i);
        free(l);
}

const char *startswith(const char *s, const char *prefix) {
        size_t l = strlen(prefix);
        if (strncmp(s, prefix, l) != 0)
                return NULL;
        return s + l;
}

bool endswith(const char *s, const char *suffix) {
        size_t ls = strlen(s), lx = strlen(suffix);
        return ls >= lx && memcmp(s + ls - lx, suffix, lx) == 0;
}

char *strjoin_many(const char *first, ...) {
        va_list ap;
        size_t len = 0;
        const char *p;

        va_start(ap, first);
        for (p = first; p; p = va_arg(ap, const char *))
                len += strlen(p);
        va_end(ap);

        char *r = malloc(len + 1), *w = r;
        if (!r)
                return NULL;
        va_start(ap, first);
        for (p = first; p; p = va_arg(ap, const char *)) {
                size_t l = strlen(p);
                memcpy(w, p, l);
                w += l;
        }
        va_end(ap);
        *w = 0;
        return r;
}

int asprintf_safe(char **ret, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        int r = vasprintf(ret, fmt, ap);
        va_end(ap);
        if (r < 0) {
                *ret = NULL;
                return -ENOMEM;
        }
        return 0;
}

size_t strv_length(char *const *l) {
        size_t n = 0;
        if (l)
                while (l[n])
                        n++;
        return n;
}

int strv_push(char ***l, size_t *n, char *value) {
        if (!value)
                return -ENOMEM;
        /* Capacity is the next power of two above n + 1 (room for the NULL): grow when
         * n + 1 reaches one. */
        size_t need = *n + 2;
        if (!*l || ((*n + 1) & *n) == 0) {
                size_t cap = 4;
                while (cap < need)
                        cap *= 2;
                char **nl = realloc(*l, sizeof(char *) * cap);
                if (!nl) {
                        free(value);
                        return -ENOMEM;
                }
                *l = nl;
        }
        (*l)[(*n)++] = value;
        (*l)[*n] = NULL;
        return 0;
}

int strv_extend(char ***l, size_t *n, const char *value) {
        return strv_push(l, n, strdup(value));
}

bool strv_contains(char *const *l, const char *s) {
        if (l)
                for (; *l; l++)
                        if (streq(*l, s))
                                return true;
        return false;
}

int strcmp_ptr(const void *a, const void *b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

int safe_atou64(const char *s, unsigned long long *ret) {
        unsigned long long v = 0;
        if (!s || !*s)
                return -EINVAL;
        for (const char *p = s; *p; p++) {
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                unsigned d = (unsigned) (*p - '0');
                if (v > (~0ULL - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
        }
        *ret = v;
        return 0;
}

int realloc_double(char **buf, size_t *size, size_t first) {
        size_t nsize = *size == 0 ? first : *size * 2;
        char *nb = realloc(*buf, nsize);
        if (!nb)
                return -ENOMEM;
        *buf = nb;
        *size = nsize;
        return 0;
}

int read_full_fd(int fd, size_t max, char **ret, size_t *ret_size) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0, alloc = 0;
        /* size never exceeds max here, so the buffer stops growing past it. */
        for (;;) {
                int r;
                if (size + 1 >= alloc && (r = realloc_double(&buf, &alloc, 4097)) < 0)
                        return r;
                ssize_t k = read(fd, buf + size, alloc - 1 - size);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        break;
                size += (size_t) k;
                if (size > max)
                        return -EFBIG;
        }
        buf[size] = 0;
        *ret = TAKE_PTR(buf);
        if (ret_size)
                *ret_size = size;
        return 0;
}

int read_full_file(const char *path, size_t max, char **ret, size_t *ret_size) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        struct stat st;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (!S_ISREG(st.st_mode))
                return -EBADFD; /* a FIFO, socket or device is never a manifest */
        return read_full_fd(fd, max, ret, ret_size);
}

unsigned long long now_usec(int clock) {
        struct timespec ts;
        clock_gettime(clock, &ts);
        return (unsigned long long) ts.tv_sec * 1000000ULL + (unsigned long long) ts.tv_nsec / 1000ULL;
}
