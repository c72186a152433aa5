/* SPDX-License-Identifier: MIT */
/*
 * dbx-train: the tiny real trainer behind the example model (examples/model.nix).
 *
 * Fits y = w*x + b to a CSV file of "x,y" lines by full-batch gradient descent and writes
 * the model as DIR/model. It is small on purpose, but it does real work, so tests exercise
 * a real build: real progress lines, a real output, a real failure when asked for one.
 *
 *   dbx-train --data FILE --out DIR [--epochs N] [--epoch-seconds S] [--id ID]
 *             [--learning-rate R] [--fail-at-epoch K]
 *
 * Progress, one line per epoch on stdout, flushed at once because deferred-realise reads
 * the last line of the build log as the build's progress:
 *
 *   epoch 3/10 loss=0.123456
 *
 * Model file (DIR/model, written to a temporary file and renamed, so a reader never sees
 * half of it):
 *
 *   w=<double>\nb=<double>\nid=<ID>\nepochs=<N>\n
 *
 * Training metrics (DIR/nix-support/training-metrics.json, deferred-builds' convention):
 *
 *   {"loss": <final mean squared error>, "epochs": N, "samples": N, "w": <double>, "b": <double>}
 *
 * Exit codes: 0 model written; 1 training failed (unreadable or bad data, divergence,
 * --fail-at-epoch, cannot write DIR); 64 usage error.
 *
 * Self-contained on purpose: examples are not linked with libdeferred.a, and a reader
 * should be able to take this one file away as a template.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

#define EXIT_TRAINING_FAILED 1
#define EXIT_USAGE 64

#define EPOCHS_MAX 1000000U
#define EPOCH_SECONDS_MAX 86400ULL
#define NSEC_PER_SEC 1000000000ULL
#define ID_MAX 64
#define LINE_MAX_BYTES 4096
#define NUMBER_MAX_CHARS 64
/* 16 bytes a row: 160 MiB at most, which bounds what a mistaken --data can cost. */
#define ROWS_MAX 10000000U

static void freep(void *p) {
        free(*(void **) p);
}
static void fclosep(FILE **f) {
        if (*f)
                fclose(*f);
}
static void closep(int *fd) {
        if (*fd >= 0)
                close(*fd);
}
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_fclose_ _cleanup_(fclosep)
#define _cleanup_close_ _cleanup_(closep)

/* -errno, never 0: a caller that saw a failure must not turn it into success, whatever a
 * function forgot to set errno to. */
static int negative_errno(void) {
        return errno > 0 ? -errno : -EIO;
}

/* asprintf() leaves *ret undefined on failure, which a cleanup attribute would free. */
__attribute__((format(printf, 2, 3))) static int asprintf_safe(char **ret, const char *fmt, ...) {
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vasprintf(ret, fmt, ap);
        va_end(ap);
        if (n < 0) {
                *ret = NULL;
                return -ENOMEM;
        }
        return n;
}

typedef struct Options {
        const char *data;
        const char *out;
        const char *id;
        unsigned epochs;
        unsigned long long epoch_nsec;
        unsigned fail_at_epoch; /* 0: never */
        double learning_rate;
} Options;

typedef struct Sample {
        double x, y;
} Sample;

typedef struct Dataset {
        Sample *rows;
        size_t n, allocated;
} Dataset;

typedef struct Model {
        double w, b;
        double loss;    /* mean squared error after the last epoch */
        size_t samples;
} Model;

static void dataset_done(Dataset *d) {
        free(d->rows);
        *d = (Dataset) {};
}

/* The same grammar as dbx-serve's ?x=: a plain decimal with an optional exponent. strtod
 * alone would also take "nan", "inf", hex floats and leading spaces, none of which belong
 * in a data file or a query. */
static bool number_is_valid(const char *s) {
        size_t digits = 0;

        if (strlen(s) > NUMBER_MAX_CHARS)
                return false;
        if (*s == '+' || *s == '-')
                s++;
        for (; *s >= '0' && *s <= '9'; s++)
                digits++;
        if (*s == '.')
                for (s++; *s >= '0' && *s <= '9'; s++)
                        digits++;
        if (digits == 0)
                return false;
        if (*s == 'e' || *s == 'E') {
                s++;
                if (*s == '+' || *s == '-')
                        s++;
                if (!(*s >= '0' && *s <= '9'))
                        return false;
                while (*s >= '0' && *s <= '9')
                        s++;
        }
        return *s == '\0';
}

static int parse_double(const char *s, double *ret) {
        char *end;
        double v;

        if (!number_is_valid(s))
                return -EINVAL;
        errno = 0;
        v = strtod(s, &end);
        if (*end != '\0')
                return -EINVAL;
        /* ERANGE also reports underflow, which is harmless: only infinities are refused. */
        if (!isfinite(v))
                return -ERANGE;
        *ret = v;
        return 0;
}

static int parse_unsigned(const char *s, unsigned max, unsigned *ret) {
        unsigned long long v = 0;

        if (*s == '\0')
                return -EINVAL;
        for (; *s; s++) {
                if (*s < '0' || *s > '9')
                        return -EINVAL;
                v = v * 10 + (unsigned) (*s - '0');
                if (v > max)
                        return -ERANGE;
        }
        *ret = (unsigned) v;
        return 0;
}

/* Seconds as a decimal with at most nine fractional digits, parsed exactly into
 * nanoseconds; no floating point, so "0.1" sleeps exactly 100 ms. Nix's toString of a
 * float gives six decimals ("0.500000"), which this accepts. */
static int parse_seconds(const char *s, unsigned long long *ret_nsec) {
        unsigned long long sec = 0, frac = 0, scale = NSEC_PER_SEC;
        size_t int_digits = 0, frac_digits = 0;

        for (; *s >= '0' && *s <= '9'; s++, int_digits++) {
                sec = sec * 10 + (unsigned) (*s - '0');
                if (sec > EPOCH_SECONDS_MAX)
                        return -ERANGE;
        }
        if (*s == '.')
                for (s++; *s >= '0' && *s <= '9'; s++, frac_digits++) {
                        if (frac_digits >= 9)
                                return -EINVAL;
                        scale /= 10;
                        frac += (unsigned) (*s - '0') * scale;
                }
        if (*s != '\0' || int_digits + frac_digits == 0)
                return -EINVAL;
        if (sec == EPOCH_SECONDS_MAX && frac > 0)
                return -ERANGE;
        *ret_nsec = sec * NSEC_PER_SEC + frac;
        return 0;
}

/* The id ends up in JSON (dbx-serve), in a status line and in a store path's log, so it
 * is held to a grammar that needs no escaping anywhere. */
static bool id_is_valid(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > ID_MAX)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
                if (!alnum && (i == 0 || !strchr("._+-", c)))
                        return false;
        }
        return true;
}

static void help(void) {
        printf("Usage: dbx-train --data FILE --out DIR [OPTIONS]\n"
               "\n"
               "Fit y = w*x + b to the \"x,y\" lines of FILE by full-batch gradient descent and\n"
               "write the model to DIR/model. Prints \"epoch I/N loss=L\" after every epoch.\n"
               "\n"
               "  --data FILE            CSV file: one \"x,y\" pair a line; '#' lines and blank\n"
               "                         lines are ignored (required)\n"
               "  --out DIR              output directory, created when missing (required)\n"
               "  --epochs N             training epochs, 1..%u (default 10)\n"
               "  --epoch-seconds S      sleep so that every epoch takes S more seconds,\n"
               "                         decimal, 0..%llu (default 0)\n"
               "  --id ID                model id recorded in the model file, [A-Za-z0-9]\n"
               "                         then [A-Za-z0-9._+-], at most %d chars (default v1)\n"
               "  --learning-rate R      step size on standardised x, 0 < R < 2 (default 0.8)\n"
               "  --fail-at-epoch K      fail at epoch K, 0..N, for failure tests (default 0: never)\n"
               "  -h, --help             show this help\n"
               "\n"
               "Exit status: 0 model written, 1 training failed, 64 usage error.\n",
               EPOCHS_MAX, EPOCH_SECONDS_MAX, ID_MAX);
}

/* Returns 1 to go on, 0 after --help, -EINVAL on a usage error (already reported). */
static int parse_argv(int argc, char *argv[], Options *o) {
        enum {
                ARG_DATA = 0x100,
                ARG_OUT,
                ARG_EPOCHS,
                ARG_EPOCH_SECONDS,
                ARG_ID,
                ARG_LEARNING_RATE,
                ARG_FAIL_AT_EPOCH,
        };
        static const struct option options[] = {
                { "help",          no_argument,       NULL, 'h'               },
                { "data",          required_argument, NULL, ARG_DATA          },
                { "out",           required_argument, NULL, ARG_OUT           },
                { "epochs",        required_argument, NULL, ARG_EPOCHS        },
                { "epoch-seconds", required_argument, NULL, ARG_EPOCH_SECONDS },
                { "id",            required_argument, NULL, ARG_ID            },
                { "learning-rate", required_argument, NULL, ARG_LEARNING_RATE },
                { "fail-at-epoch", required_argument, NULL, ARG_FAIL_AT_EPOCH },
                {}
        };
        const char *fail_at = NULL;
        int c, r;

        *o = (Options) {
                .id = "v1",
                .epochs = 10,
                .learning_rate = 0.8,
        };

        opterr = 0;
        while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_DATA:
                case ARG_OUT:
                        if (*optarg == '\0') {
                                fprintf(stderr, "dbx-train: %s needs a non-empty value; see --help\n",
                                        c == ARG_DATA ? "--data" : "--out");
                                return -EINVAL;
                        }
                        *(c == ARG_DATA ? &o->data : &o->out) = optarg;
                        break;
                case ARG_EPOCHS:
                        r = parse_unsigned(optarg, EPOCHS_MAX, &o->epochs);
                        if (r < 0 || o->epochs == 0) {
                                fprintf(stderr, "dbx-train: invalid --epochs '%s': expected a whole number from 1 to %u\n",
                                        optarg, EPOCHS_MAX);
                                return -EINVAL;
                        }
                        break;
                case ARG_EPOCH_SECONDS:
                        r = parse_seconds(optarg, &o->epoch_nsec);
                        if (r < 0) {
                                fprintf(stderr,
                                        "dbx-train: invalid --epoch-seconds '%s': expected a decimal from 0 to %llu "
                                        "with at most 9 decimals, like 0.5\n",
                                        optarg, EPOCH_SECONDS_MAX);
                                return -EINVAL;
                        }
                        break;
                case ARG_ID:
                        if (!id_is_valid(optarg)) {
                                fprintf(stderr,
                                        "dbx-train: invalid --id '%s': use a letter or digit, then letters, digits "
                                        "and ._+-, at most %d characters\n",
                                        optarg, ID_MAX);
                                return -EINVAL;
                        }
                        o->id = optarg;
                        break;
                case ARG_LEARNING_RATE:
                        /* Standardised x makes the loss's Hessian the identity, so plain
                         * gradient descent is stable exactly for 0 < R < 2. */
                        r = parse_double(optarg, &o->learning_rate);
                        if (r < 0 || !(o->learning_rate > 0 && o->learning_rate < 2)) {
                                fprintf(stderr,
                                        "dbx-train: invalid --learning-rate '%s': expected a number greater than 0 "
                                        "and less than 2\n",
                                        optarg);
                                return -EINVAL;
                        }
                        break;
                case ARG_FAIL_AT_EPOCH:
                        /* Checked against --epochs below, which may come later. */
                        fail_at = optarg;
                        break;
                case ':':
                        fprintf(stderr, "dbx-train: option '%s' needs a value; see --help\n", argv[optind - 1]);
                        return -EINVAL;
                default:
                        if (optopt != 0 && optopt < 0x100)
                                fprintf(stderr, "dbx-train: unknown option '-%c'; see --help\n", optopt);
                        else
                                fprintf(stderr, "dbx-train: unknown option '%s'; see --help\n", argv[optind - 1]);
                        return -EINVAL;
                }

        if (optind < argc) {
                fprintf(stderr, "dbx-train: unexpected argument '%s'; all settings are --options, see --help\n",
                        argv[optind]);
                return -EINVAL;
        }
        if (!o->data || !o->out) {
                fprintf(stderr, "dbx-train: %s is required; see --help\n", !o->data ? "--data FILE" : "--out DIR");
                return -EINVAL;
        }
        if (fail_at) {
                r = parse_unsigned(fail_at, o->epochs, &o->fail_at_epoch);
                if (r < 0) {
                        fprintf(stderr,
                                "dbx-train: invalid --fail-at-epoch '%s': expected a whole number from 0 (never) "
                                "to --epochs (%u)\n",
                                fail_at, o->epochs);
                        return -EINVAL;
                }
        }
        return 1;
}

static char *strip(char *s) {
        char *e;

        while (*s == ' ' || *s == '\t')
                s++;
        e = s + strlen(s);
        while (e > s && strchr(" \t\r\n", e[-1]))
                e--;
        *e = '\0';
        return s;
}

static int dataset_add(Dataset *d, double x, double y) {
        if (d->n == d->allocated) {
                size_t m = d->allocated ? d->allocated * 2 : 256;
                Sample *p;

                if (m > ROWS_MAX)
                        m = ROWS_MAX;
                if (d->n >= m)
                        return -EFBIG;
                p = reallocarray(d->rows, m, sizeof(Sample));
                if (!p)
                        return -ENOMEM;
                d->rows = p;
                d->allocated = m;
        }
        d->rows[d->n++] = (Sample) { x, y };
        return 0;
}

static int dataset_load(const char *path, Dataset *ret) {
        _cleanup_fclose_ FILE *f = NULL;
        _cleanup_free_ char *line = NULL;
        Dataset d = {};
        size_t allocated = 0, lineno = 0;
        ssize_t len;
        int r;

        f = fopen(path, "re");
        if (!f) {
                r = negative_errno();
                fprintf(stderr, "dbx-train: cannot open data file %s: %s\n", path, strerror(-r));
                return r;
        }

        errno = 0;
        while ((len = getline(&line, &allocated, f)) >= 0) {
                char *s, *comma, *xs, *ys;
                double x, y;

                lineno++;
                if (len > LINE_MAX_BYTES) {
                        fprintf(stderr, "dbx-train: %s:%zu: line longer than %d bytes; is this a CSV of x,y pairs?\n",
                                path, lineno, LINE_MAX_BYTES);
                        r = -EINVAL;
                        goto fail;
                }
                if (memchr(line, '\0', (size_t) len)) {
                        fprintf(stderr, "dbx-train: %s:%zu: NUL byte in line; is this a text file?\n", path, lineno);
                        r = -EINVAL;
                        goto fail;
                }
                s = strip(line);
                if (*s == '\0' || *s == '#')
                        continue;

                comma = strchr(s, ',');
                if (!comma || strchr(comma + 1, ',')) {
                        fprintf(stderr, "dbx-train: %s:%zu: expected exactly two fields \"x,y\", got '%s'\n", path,
                                lineno, s);
                        r = -EINVAL;
                        goto fail;
                }
                *comma = '\0';
                xs = strip(s);
                ys = strip(comma + 1);
                if (parse_double(xs, &x) < 0 || parse_double(ys, &y) < 0) {
                        fprintf(stderr, "dbx-train: %s:%zu: '%s,%s' is not a pair of finite decimal numbers\n", path,
                                lineno, xs, ys);
                        r = -EINVAL;
                        goto fail;
                }
                r = dataset_add(&d, x, y);
                if (r == -EFBIG) {
                        fprintf(stderr, "dbx-train: %s: more than %u rows; this trainer is a toy, use fewer\n", path,
                                ROWS_MAX);
                        goto fail;
                }
                if (r < 0) {
                        fprintf(stderr, "dbx-train: %s: out of memory after %zu rows\n", path, d.n);
                        goto fail;
                }
        }
        if (ferror(f)) {
                r = negative_errno();
                fprintf(stderr, "dbx-train: cannot read data file %s: %s\n", path, strerror(-r));
                goto fail;
        }
        if (d.n < 2) {
                fprintf(stderr, "dbx-train: %s: %zu data rows; need at least 2 to fit a line\n", path, d.n);
                r = -EINVAL;
                goto fail;
        }
        *ret = d;
        return 0;

fail:
        dataset_done(&d);
        return r;
}

static int sleep_until(const struct timespec *t) {
        int r;

        /* clock_nanosleep returns the error instead of setting errno; with an absolute
         * deadline an interrupted sleep simply resumes. */
        do
                r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, t, NULL);
        while (r == EINTR);
        return -r;
}

static struct timespec timespec_add_nsec(struct timespec t, unsigned long long nsec) {
        unsigned long long total = (unsigned long long) t.tv_nsec + nsec;

        t.tv_sec += (time_t) (total / NSEC_PER_SEC);
        t.tv_nsec = (long) (total % NSEC_PER_SEC);
        return t;
}

/* Gradient descent on x standardised to mean 0 and variance 1: the loss surface is then
 * round, so a handful of epochs converge whatever the scale of x, and the default five
 * epochs of model.nix give a usable model. The fit is mapped back to raw x at the end. */
static int train(const Options *o, const Dataset *d, Model *ret) {
        double n = (double) d->n, mean = 0, var = 0, sd, a = 0, c = 0, loss = 0;
        struct timespec start, deadline;
        int r;

        for (size_t i = 0; i < d->n; i++)
                mean += d->rows[i].x;
        mean /= n;
        for (size_t i = 0; i < d->n; i++)
                var += (d->rows[i].x - mean) * (d->rows[i].x - mean);
        sd = sqrt(var / n);
        if (!isfinite(sd) || !(sd > 0) || !isfinite(mean)) {
                fprintf(stderr, "dbx-train: %s: x has no spread (or overflows), so no slope can be fitted\n", o->data);
                return -EDOM;
        }

        if (clock_gettime(CLOCK_MONOTONIC, &start) < 0) {
                r = negative_errno();
                fprintf(stderr, "dbx-train: cannot read the monotonic clock: %s\n", strerror(-r));
                return r;
        }

        for (unsigned epoch = 1; epoch <= o->epochs; epoch++) {
                double ga = 0, gc = 0;
                loss = 0;

                for (size_t i = 0; i < d->n; i++) {
                        double z = (d->rows[i].x - mean) / sd, e = a * z + c - d->rows[i].y;
                        ga += e * z;
                        gc += e;
                }
                a -= o->learning_rate * ga / n;
                c -= o->learning_rate * gc / n;

                for (size_t i = 0; i < d->n; i++) {
                        double e = a * (d->rows[i].x - mean) / sd + c - d->rows[i].y;
                        loss += e * e;
                }
                loss /= n;
                if (!isfinite(loss) || !isfinite(a) || !isfinite(c)) {
                        fprintf(stderr, "epoch %u/%u: training diverged (loss is not finite); check %s for extreme values\n",
                                epoch, o->epochs, o->data);
                        return -EDOM;
                }

                if (o->epoch_nsec > 0) {
                        /* Deadlines from the start, so N epochs take N*S seconds however
                         * long the arithmetic took. */
                        deadline = timespec_add_nsec(start, o->epoch_nsec * epoch);
                        r = sleep_until(&deadline);
                        if (r < 0) {
                                fprintf(stderr, "dbx-train: cannot sleep: %s\n", strerror(-r));
                                return r;
                        }
                }

                if (epoch == o->fail_at_epoch) {
                        fprintf(stderr, "epoch %u/%u: simulated failure\n", epoch, o->epochs);
                        return -ECANCELED;
                }

                printf("epoch %u/%u loss=%.6f\n", epoch, o->epochs, loss);
                if (fflush(stdout) != 0) {
                        r = negative_errno();
                        fprintf(stderr, "dbx-train: cannot write progress to stdout: %s\n", strerror(-r));
                        return r;
                }
        }

        *ret = (Model) {
                .w = a / sd,
                .b = c - a * mean / sd,
                .loss = loss,
                .samples = d->n,
        };
        return 0;
}

static int make_out_dir(const char *dir) {
        struct stat st;
        int r;

        if (mkdir(dir, 0755) >= 0)
                return 0;
        r = negative_errno();
        if (r == -EEXIST && stat(dir, &st) >= 0 && S_ISDIR(st.st_mode))
                return 0;
        fprintf(stderr, "dbx-train: cannot create output directory %s: %s\n", dir,
                r == -EEXIST ? "exists and is not a directory" : strerror(-r));
        return r;
}

/* Writes text to DIR/NAME through a temporary file and a rename, so a reader never sees
 * half of it. */
static int write_whole(const char *dir, const char *name, const char *text) {
        _cleanup_free_ char *tmp = NULL, *final = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        _cleanup_close_ int dfd = -1;
        int fd, r;

        if (asprintf_safe(&tmp, "%s/.%s.XXXXXX", dir, name) < 0 || asprintf_safe(&final, "%s/%s", dir, name) < 0) {
                fprintf(stderr, "dbx-train: out of memory\n");
                return -ENOMEM;
        }

        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0) {
                r = negative_errno();
                fprintf(stderr, "dbx-train: cannot create a temporary file in %s: %s\n", dir, strerror(-r));
                return r;
        }
        f = fdopen(fd, "w");
        if (!f) {
                r = negative_errno();
                close(fd);
                goto fail;
        }

        fputs(text, f);
        if (fflush(f) != 0 || fchmod(fd, 0644) < 0 || fsync(fd) < 0) {
                r = negative_errno();
                goto fail;
        }
        if (rename(tmp, final) < 0) {
                r = negative_errno();
                goto fail;
        }

        /* The rename is durable only once the directory is synced; failing that is not
         * worth failing a training over, as the file is complete either way. */
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0)
                (void) fsync(dfd);
        return 0;

fail:
        fprintf(stderr, "dbx-train: cannot write %s: %s\n", final, strerror(-r));
        (void) unlink(tmp);
        return r;
}

static int write_model(const Options *o, const Model *m) {
        _cleanup_free_ char *text = NULL, *metrics = NULL, *support = NULL;
        int r;

        /* %.17g round-trips every double exactly, so serving reproduces training. */
        if (asprintf_safe(&text, "w=%.17g\nb=%.17g\nid=%s\nepochs=%u\n", m->w, m->b, o->id, o->epochs) < 0 ||
            asprintf_safe(&metrics, "{\"loss\": %.17g, \"epochs\": %u, \"samples\": %zu, \"w\": %.17g, \"b\": %.17g}\n",
                          m->loss, o->epochs, m->samples, m->w, m->b) < 0 ||
            asprintf_safe(&support, "%s/nix-support", o->out) < 0) {
                fprintf(stderr, "dbx-train: out of memory\n");
                return -ENOMEM;
        }
        r = write_whole(o->out, "model", text);
        if (r < 0)
                return r;
        /* The training metrics convention of deferred-builds (docs/operations.md): a flat
         * JSON object of finite numbers, shown by `deferred-builds status --json` and
         * `deferred-builds metrics`. */
        r = make_out_dir(support);
        if (r < 0)
                return r;
        return write_whole(support, "training-metrics.json", metrics);
}

static int run(const Options *o) {
        Dataset d = {};
        Model m = {};
        int r;

        r = dataset_load(o->data, &d);
        if (r < 0)
                return r;

        /* Before training, so a bad --out fails at once instead of after the last epoch. */
        r = make_out_dir(o->out);
        if (r < 0) {
                dataset_done(&d);
                return r;
        }

        fprintf(stderr, "dbx-train: %zu samples from %s, %u epochs, model id %s\n", d.n, o->data, o->epochs, o->id);
        r = train(o, &d, &m);
        dataset_done(&d);
        if (r < 0)
                return r;

        return write_model(o, &m);
}

int main(int argc, char *argv[]) {
        Options o;
        int r;

        r = parse_argv(argc, argv, &o);
        if (r < 0)
                return EXIT_USAGE;
        if (r == 0)
                return fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_TRAINING_FAILED;

        r = run(&o);
        return r < 0 ? EXIT_TRAINING_FAILED : EXIT_SUCCESS;
}
