/* SPDX-License-Identifier: MIT */
/* Training metrics a model's output carries (trainmetrics.h). The file comes from a build
 * anyone could have written, so it is read bounded, with the bounded JSON reader, and any
 * deviation from the convention drops the whole file with a warning rather than showing
 * half of it. */
#include "trainmetrics.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "jsonread.h"
#include "log.h"
#include "util.h"

int train_metric_name_is_valid(const char *name, size_t len) {
        if (len == 0 || len > TRAIN_METRIC_NAME_MAX)
                return 0;
        for (size_t i = 0; i < len; i++) {
                char c = name[i];
                bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
                if (!letter && !(i > 0 && c >= '0' && c <= '9'))
                        return 0;
        }
        return 1;
}

/* A JSON number at the cursor, as a double: the reader checks the grammar, strtod() the
 * value (the C locale: the CLI never calls setlocale). */
static int number(Cursor *c, double *ret) {
        const unsigned char *start = c->p;
        unsigned long long ignored;
        bool valid;
        if (json_number(c, &ignored, &valid) < 0)
                return -EINVAL;
        char buf[64];
        size_t len = (size_t) (c->p - start);
        if (len >= sizeof buf)
                return -EINVAL;
        memcpy(buf, start, len);
        buf[len] = 0;
        const char *digits = buf[0] == '-' ? buf + 1 : buf;
        if (digits[0] == '0' && digits[1] >= '0' && digits[1] <= '9')
                return -EINVAL; /* JSON has no leading zeros; the log reader lets them pass */
        char *end;
        errno = 0;
        double v = strtod(buf, &end);
        if (*end || !isfinite(v))
                return -ERANGE;
        *ret = v;
        return 0;
}

int train_metrics_parse(const char *data, size_t size, TrainMetrics *ret, const char **why) {
        Cursor c = { (const unsigned char *) data, (const unsigned char *) data + size };
        ret->n = 0;
#define BAD(reason)              \
        do {                     \
                *why = (reason); \
                ret->n = 0;      \
                return -EBADMSG; \
        } while (0)

        int more = json_object_open(&c);
        if (more < 0)
                BAD("it is not a JSON object");
        while (more > 0) {
                char name[TRAIN_METRIC_NAME_MAX + 2];
                JsonString s = { .buf = name, .cap = sizeof name - 1 };
                if (json_read_string(&c, &s) < 0)
                        BAD("a member name is not a JSON string");
                if (s.full || !train_metric_name_is_valid(name, s.len))
                        BAD("a metric name is not [A-Za-z_][A-Za-z0-9_]* of at most 64 characters");
                name[s.len] = 0;
                for (size_t i = 0; i < ret->n; i++)
                        if (streq(ret->v[i].name, name))
                                BAD("a metric name appears twice");
                if (ret->n >= TRAIN_METRICS_MAX)
                        BAD("it has more than 64 metrics");
                if (json_member_colon(&c) < 0)
                        BAD("a member has no ':'");
                TrainMetric *m = &ret->v[ret->n];
                int r = number(&c, &m->value);
                if (r == -ERANGE)
                        BAD("a value is not a finite number");
                if (r < 0)
                        BAD("a value is not a number (strings, objects, arrays, true, false and null are "
                            "not metrics)");
                memcpy(m->name, name, s.len + 1);
                ret->n++;
                more = json_object_next(&c);
                if (more < 0)
                        BAD("a member is followed by neither ',' nor '}'");
        }
        json_skip_ws(&c);
        if (c.p != c.end)
                BAD("something follows the object");
#undef BAD
        return 0;
}

int train_metrics_read(const char *out, TrainMetrics *ret) {
        _cleanup_free_ char *path = strjoin(out, "/" TRAIN_METRICS_PATH), *data = NULL;
        size_t size;
        ret->n = 0;
        if (!path)
                return -ENOMEM;
        /* O_NONBLOCK: a FIFO planted there does not hang the reader; fstat then refuses it. */
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
                int r = -errno;
                if (r == -ENOENT || r == -ENOTDIR)
                        return -ENOENT;
                return log_warning_errno(r, "Failed to open training metrics %s: %m; ignoring them.", path);
        }
        struct stat st;
        if (fstat(fd, &st) < 0)
                return log_warning_errno(-errno, "Failed to stat training metrics %s: %m; ignoring them.", path);
        if (!S_ISREG(st.st_mode))
                return log_warning_errno(-EBADMSG, "Training metrics %s are not a regular file; ignoring them.", path);
        int r = read_full_fd(fd, TRAIN_METRICS_MAX_BYTES, &data, &size);
        if (r == -EFBIG)
                return log_warning_errno(r, "Training metrics %s are over %d bytes; ignoring them.", path,
                                         TRAIN_METRICS_MAX_BYTES);
        if (r < 0)
                return r == -ENOMEM
                        ? r
                        : log_warning_errno(r, "Failed to read training metrics %s: %m; ignoring them.", path);
        const char *why = NULL;
        r = train_metrics_parse(data, size, ret, &why);
        if (r < 0)
                return log_warning_errno(r,
                                         "Training metrics %s are malformed: %s; ignoring them (the convention: a "
                                         "flat JSON object of finite numbers, see docs/operations.md).",
                                         path, why);
        return 0;
}
