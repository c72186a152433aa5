/* SPDX-License-Identifier: MIT */
/* Small helpers shared by every binary: cleanup attributes and string utilities. */
#pragma once

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _warn_unused_ __attribute__((warn_unused_result))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
/* A struct iovec over a NUL-terminated string, without its NUL (for writev, sendmsg). */
#define IOVEC_STR(s) ((struct iovec){ .iov_base = (void *) (s), .iov_len = strlen(s) })

static inline void freep(void *p) {
        free(*(void **) p);
}
static inline void fclosep(FILE **f) {
        if (*f)
                fclose(*f);
}
static inline void closep(int *fd) {
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}
static inline void closedirp(DIR **d) {
        if (*d)
                closedir(*d);
}
void strv_free(char **l);
static inline void strv_freep(char ***l) {
        strv_free(*l);
}

#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_fclose_ _cleanup_(fclosep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_closedir_ _cleanup_(closedirp)
#define _cleanup_strv_free_ _cleanup_(strv_freep)

/* Hands ownership out of a cleanup variable. */
#define TAKE_PTR(p)                                \
        ({                                         \
                __typeof__(p) _p_ = (p);           \
                (p) = NULL;                        \
                _p_;                               \
        })
#define TAKE_FD(fd)                                \
        ({                                         \
                int _fd_ = (fd);                   \
                (fd) = -1;                         \
                _fd_;                              \
        })

/* Plain loops rather than memcpy()/memset(): the sizes are small, and every bound is
 * checked by the caller, next to the arithmetic that computes it. */
static inline void copy_bytes(char *dst, const void *src, size_t n) {
        const unsigned char *s = src;
        for (size_t i = 0; i < n; i++)
                dst[i] = (char) s[i];
}
static inline void fill_bytes(char *dst, char c, size_t n) {
        for (size_t i = 0; i < n; i++)
                dst[i] = c;
}

static inline bool streq(const char *a, const char *b) {
        return strcmp(a, b) == 0;
}
static inline bool streq_ptr(const char *a, const char *b) {
        if (!a || !b)
                return a == b;
        return strcmp(a, b) == 0;
}
static inline const char *strempty(const char *s) {
        return s ? s : "";
}
static inline bool isempty(const char *s) {
        return !s || !*s;
}
const char *startswith(const char *s, const char *prefix);
bool endswith(const char *s, const char *suffix);

/* Returns a newly allocated string, or NULL on allocation failure. */
char *strjoin_many(const char *first, ...) __attribute__((sentinel));
#define strjoin(...) strjoin_many(__VA_ARGS__, NULL)
int asprintf_safe(char **ret, const char *fmt, ...) _printf_(2, 3);

/* NULL-terminated string vectors. */
size_t strv_length(char *const *l);
int strv_push(char ***l, size_t *n, char *value); /* takes ownership of value */
int strv_extend(char ***l, size_t *n, const char *value);
bool strv_contains(char *const *l, const char *s);
/* strcmp() of two char * array elements: a qsort()/bsearch() comparator. */
int strcmp_ptr(const void *a, const void *b);

/* Parses a decimal unsigned 64-bit number; no sign, no spaces, no trailing junk. */
int safe_atou64(const char *s, unsigned long long *ret);

/* Doubles the allocation *buf of *size bytes (first bytes when it is empty). Returns 0, or
 * -ENOMEM leaving *buf and *size as they were. */
int realloc_double(char **buf, size_t *size, size_t first);

/* Reads a whole file (at most max bytes) through an open fd; fails with -EFBIG past max. */
int read_full_fd(int fd, size_t max, char **ret, size_t *ret_size);
int read_full_file(const char *path, size_t max, char **ret, size_t *ret_size);

/* Monotonic and wall-clock helpers. */
unsigned long long now_usec(int clock);
