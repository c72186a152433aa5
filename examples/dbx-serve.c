/* SPDX-License-Identifier: MIT */
/*
 * dbx-serve: the tiny real HTTP/1.1 inference server for the example model.
 *
 *   dbx-serve [--listen ADDR:PORT]... [--any-address] [--model DIR]
 *
 * Sockets: those passed by systemd socket activation (LISTEN_FDS) when there are any,
 * otherwise one per --listen, where ADDR is a numeric IPv4 address or a bracketed IPv6
 * address ("127.0.0.1:8080", "[::1]:8080"); PORT 0 picks a free port, and the log line
 * "listening on ADDR:PORT" says which. Non-loopback addresses are refused unless
 * --any-address is given, so a typo cannot publish a model to the network.
 *
 * Model: DIR/model, where DIR is --model or else $DEFERRED_MODEL_PATH (the unit's
 * RUNTIME/models/NAME, a symlink chain into /nix/store). The chain is resolved once, at
 * start: a retrain swaps the link and restarts this server, so what it serves never
 * changes under it, and /model reports the store path actually loaded.
 *
 * Endpoints (every response carries Content-Length and "Connection: close"):
 *   GET /predict?x=NUMBER  200 {"model":"ID","x":X,"y":Y}\n
 *   GET /healthz           200 ok\n
 *   GET /model             200 {"id":"ID","path":"RESOLVED","w":W,"b":B}\n
 *   anything else          404, 405 (method), 400 (bad request or x), 408 (timeout),
 *                          431 (head over 8 KiB), 505 (HTTP version), each with the body
 *                          {"error":"MESSAGE"}\n
 * HEAD is accepted wherever GET is. Numbers are printed in the shortest form that reads
 * back as the same double. NUMBER is a plain decimal with optional sign, fraction and
 * exponent; percent-encoding is decoded, '+' is taken literally.
 *
 * One thread, one poll() loop, at most 64 connections (when all are taken, a new one
 * replaces the oldest), 8 KiB per request head, 5 s to send it: a slow or hostile client
 * costs bounded memory and time and cannot lock the others out. Logs start and stop
 * only, not requests.
 *
 * Readiness: sd_notify "READY=1\nSTATUS=serving model ID" once every socket listens (a
 * no-op without NOTIFY_SOCKET). SIGTERM and SIGINT close everything and exit 0.
 *
 * Exit codes: 0 stopped by SIGTERM or SIGINT; 1 runtime failure (model unreadable or
 * invalid, cannot listen, poll failure); 64 usage error.
 *
 * Fuzzing: http_response() maps request bytes to response bytes with no I/O; a harness
 * can "#define DBX_SERVE_NO_MAIN" and #include this file to drive it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

#define EXIT_RUNTIME 1
#define EXIT_USAGE 64

#define REQUEST_MAX 8192
#define CLIENTS_MAX 64
#define LISTEN_MAX 16
#define READ_TIMEOUT_USEC (5 * USEC_PER_SEC)
#define WRITE_TIMEOUT_USEC (5 * USEC_PER_SEC)
/* After the response, reading (and dropping) what the client still sends for a moment
 * keeps the kernel from answering unread data with a reset that can destroy the response
 * before the client has read it. */
#define LINGER_USEC (1 * USEC_PER_SEC)
/* When accept() runs out of file descriptors, stop accepting for a moment instead of
 * spinning on a listening socket that stays readable. */
#define ACCEPT_BACKOFF_USEC (100 * USEC_PER_MSEC)
#define ACCEPT_BATCH 16
#define USEC_PER_SEC 1000000ULL
#define USEC_PER_MSEC 1000ULL
#define MODEL_FILE_MAX 4096
#define ID_MAX 64
#define NUMBER_MAX_CHARS 64
#define DOUBLE_CHARS 32

static void freep(void *p) {
        free(*(void **) p);
}
static void closep(int *fd) {
        if (*fd >= 0)
                close(*fd);
}
#define _cleanup_free_ _cleanup_(freep)
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

static uint64_t now_usec(void) {
        struct timespec ts;

        /* CLOCK_MONOTONIC cannot fail with a valid clock id and pointer. */
        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

/* ---------------------------------------------------------------------------------------
 * Grammars and number formatting, shared in spirit (and letter) with dbx-train.c. */

/* strtod alone would also take "nan", "inf", hex floats and leading spaces. */
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
        v = strtod(s, &end);
        if (*end != '\0')
                return -EINVAL;
        /* Underflow to zero or a subnormal is fine; only infinities are refused. */
        if (!isfinite(v))
                return -ERANGE;
        *ret = v;
        return 0;
}

/* The id is put into JSON and log lines unescaped, which is safe because of this
 * grammar; dbx-train enforces the same one. */
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

/* Shortest "%.Ng" that reads back as the same double: 0.1 prints as 0.1, not as
 * 0.10000000000000001. The result is valid JSON for every finite v. */
static const char *format_double(char buf[static DOUBLE_CHARS], double v) {
        /* strfromd() takes no '*' precision, hence the list. */
        static const char *const formats[] = { "%.15g", "%.16g", "%.17g" };

        for (size_t i = 0; i < ELEMENTSOF(formats); i++) {
                (void) strfromd(buf, DOUBLE_CHARS, formats[i], v);
                if (strtod(buf, NULL) == v)
                        break;
        }
        return buf;
}

static int json_escape(const char *s, char **ret) {
        static const char hex[] = "0123456789abcdef";
        size_t n = strlen(s);
        char *out, *p;

        out = malloc(n * 6 + 1);
        if (!out)
                return -ENOMEM;
        p = out;
        for (; *s; s++) {
                unsigned char c = (unsigned char) *s;
                if (c == '"' || c == '\\') {
                        *p++ = '\\';
                        *p++ = (char) c;
                } else if (c < 0x20 || c == 0x7f) {
                        p = stpcpy(p, "\\u00");
                        *p++ = hex[c >> 4];
                        *p++ = hex[c & 15];
                } else
                        *p++ = (char) c;
        }
        *p = '\0';
        *ret = out;
        return 0;
}

/* ---------------------------------------------------------------------------------------
 * The model. */

typedef struct Model {
        double w, b;
        char *id;
        char *path; /* the resolved directory it was loaded from */
        char *json; /* body of GET /model, built once */
} Model;

static void model_done(Model *m) {
        free(m->id);
        free(m->path);
        free(m->json);
        *m = (Model) {};
}

static int model_parse(const char *file, char *text, Model *m) {
        bool have_w = false, have_b = false, have_id = false, have_epochs = false;
        unsigned lineno = 0;
        char *line, *next;

        for (line = text; line && *line; line = next) {
                char *eq, *value;
                bool *seen;

                lineno++;
                next = strchr(line, '\n');
                if (next)
                        *next++ = '\0';

                eq = strchr(line, '=');
                if (!eq) {
                        fprintf(stderr, "dbx-serve: %s:%u: expected KEY=VALUE\n", file, lineno);
                        return -EBADMSG;
                }
                *eq = '\0';
                value = eq + 1;

                if (strcmp(line, "w") == 0 || strcmp(line, "b") == 0) {
                        bool is_w = line[0] == 'w';
                        seen = is_w ? &have_w : &have_b;
                        if (parse_double(value, is_w ? &m->w : &m->b) < 0) {
                                fprintf(stderr, "dbx-serve: %s:%u: %s is not a finite decimal number\n", file,
                                        lineno, line);
                                return -EBADMSG;
                        }
                } else if (strcmp(line, "id") == 0) {
                        seen = &have_id;
                        if (!id_is_valid(value)) {
                                fprintf(stderr, "dbx-serve: %s:%u: invalid id '%.64s'\n", file, lineno, value);
                                return -EBADMSG;
                        }
                        if (!have_id) {
                                m->id = strdup(value);
                                if (!m->id)
                                        return -ENOMEM;
                        }
                } else if (strcmp(line, "epochs") == 0)
                        seen = &have_epochs; /* informational: nothing served depends on it */
                else
                        continue; /* newer trainers may record more */

                if (*seen) {
                        fprintf(stderr, "dbx-serve: %s:%u: %s given twice\n", file, lineno, line);
                        return -EBADMSG;
                }
                *seen = true;
        }

        if (!have_w || !have_b || !have_id) {
                fprintf(stderr, "dbx-serve: %s: missing %s; was it written by dbx-train?\n", file,
                        !have_w ? "w=" : !have_b ? "b=" : "id=");
                return -EBADMSG;
        }
        return 0;
}

/* Fills *m, which the caller releases with model_done() whether this succeeds or not. */
static int model_load(const char *dir, Model *m) {
        _cleanup_free_ char *path = NULL, *file = NULL, *text = NULL;
        _cleanup_close_ int fd = -1;
        char w[DOUBLE_CHARS], b[DOUBLE_CHARS], *escaped;
        struct stat st;
        size_t size = 0;
        int r;

        /* Resolved once: the served store path is then fixed for this process's life. */
        path = realpath(dir, NULL);
        if (!path) {
                r = negative_errno();
                fprintf(stderr, "dbx-serve: cannot resolve model directory %s: %s; has the model been built?\n", dir,
                        strerror(-r));
                return r;
        }
        if (asprintf_safe(&file, "%s/model", path) < 0)
                return -ENOMEM;

        fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                r = negative_errno();
                fprintf(stderr, "dbx-serve: cannot open model file %s: %s\n", file, strerror(-r));
                return r;
        }
        if (fstat(fd, &st) < 0) {
                r = negative_errno();
                fprintf(stderr, "dbx-serve: cannot stat model file %s: %s\n", file, strerror(-r));
                return r;
        }
        if (!S_ISREG(st.st_mode) || st.st_size > MODEL_FILE_MAX) {
                fprintf(stderr, "dbx-serve: model file %s is not a regular file of at most %d bytes\n", file,
                        MODEL_FILE_MAX);
                return -EBADMSG;
        }

        text = malloc(MODEL_FILE_MAX + 2);
        if (!text)
                return -ENOMEM;
        /* Read to EOF rather than trusting st_size, bounded all the same. */
        for (;;) {
                ssize_t n = read(fd, text + size, MODEL_FILE_MAX + 1 - size);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        r = negative_errno();
                        fprintf(stderr, "dbx-serve: cannot read model file %s: %s\n", file, strerror(-r));
                        return r;
                }
                if (n == 0)
                        break;
                size += (size_t) n;
                if (size > MODEL_FILE_MAX) {
                        fprintf(stderr, "dbx-serve: model file %s is larger than %d bytes\n", file, MODEL_FILE_MAX);
                        return -EBADMSG;
                }
        }
        text[size] = '\0';
        if (memchr(text, '\0', size)) {
                fprintf(stderr, "dbx-serve: model file %s contains a NUL byte\n", file);
                return -EBADMSG;
        }

        r = model_parse(file, text, m);
        if (r < 0)
                return r;
        m->path = path;
        path = NULL;

        r = json_escape(m->path, &escaped);
        if (r < 0)
                return r;
        r = asprintf_safe(&m->json, "{\"id\":\"%s\",\"path\":\"%s\",\"w\":%s,\"b\":%s}\n", m->id, escaped,
                          format_double(w, m->w), format_double(b, m->b));
        free(escaped);
        if (r < 0)
                return r;

        /* Which store path is served is the one fact an operator needs from this log. */
        fprintf(stderr, "dbx-serve: loaded model %s (w=%s b=%s) from %s%s%s\n", m->id, w, b, m->path,
                strcmp(dir, m->path) != 0 ? ", resolved from " : "", strcmp(dir, m->path) != 0 ? dir : "");
        return 0;
}

/* ---------------------------------------------------------------------------------------
 * HTTP: request bytes in, response bytes out, no I/O. */

static const char *status_reason(int status) {
        switch (status) {
        case 200: return "OK";
        case 400: return "Bad Request";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 408: return "Request Timeout";
        case 431: return "Request Header Fields Too Large";
        case 505: return "HTTP Version Not Supported";
        default:  return "Internal Server Error";
        }
}

static int response_make(int status, const char *content_type, const char *body, bool head, char **ret,
                         size_t *ret_len) {
        int n;

        n = asprintf_safe(ret,
                          "HTTP/1.1 %d %s\r\n"
                          "Content-Type: %s\r\n"
                          "Content-Length: %zu\r\n"
                          "%s"
                          "Connection: close\r\n"
                          "\r\n"
                          "%s",
                          status, status_reason(status), content_type, strlen(body),
                          status == 405 ? "Allow: GET, HEAD\r\n" : "", head ? "" : body);
        if (n < 0)
                return n;
        *ret_len = (size_t) n;
        return 0;
}

/* message is always one of this file's literals, so it needs no JSON escaping. */
static int response_error(int status, const char *message, bool head, char **ret, size_t *ret_len) {
        _cleanup_free_ char *body = NULL;

        if (asprintf_safe(&body, "{\"error\":\"%s\"}\n", message) < 0)
                return -ENOMEM;
        return response_make(status, "application/json", body, head, ret, ret_len);
}

/* Returns the length of the request head up to and including the blank line that ends
 * it, or 0 when it is not complete yet. Bare "\n" line ends are accepted as well as
 * "\r\n". Searching from "from" lets the caller skip what it has already searched. */
static size_t http_head_end(const char *buf, size_t len, size_t from) {
        for (size_t i = from; i < len; i++) {
                if (buf[i] != '\n')
                        continue;
                if (i + 1 < len && buf[i + 1] == '\n')
                        return i + 2;
                if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n')
                        return i + 3;
        }
        return 0;
}

static int unhex(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* Decodes %HH escapes of s[0..n) into out (NUL-terminated). '+' stays '+': a number's
 * exponent sign is the only place it can appear in a valid query here. */
static int percent_decode(const char *s, size_t n, char *out, size_t out_size) {
        size_t o = 0;

        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                if (c == '%') {
                        int hi, lo;
                        if (i + 2 >= n)
                                return -EINVAL;
                        hi = unhex(s[i + 1]);
                        lo = unhex(s[i + 2]);
                        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                                return -EINVAL;
                        c = (char) (hi << 4 | lo);
                        i += 2;
                }
                if (o + 1 >= out_size)
                        return -ENOBUFS;
                out[o++] = c;
        }
        out[o] = '\0';
        return 0;
}

/* Finds the one x=NUMBER parameter of a query string. On failure *ret_error says why, in
 * words fit for the client. */
static int query_get_x(const char *query, double *ret, const char **ret_error) {
        bool found = false;
        double x = 0;

        for (const char *p = query; p; ) {
                const char *amp = strchr(p, '&'), *end = amp ? amp : p + strlen(p), *eq;
                char key[8], value[NUMBER_MAX_CHARS + 1];

                eq = memchr(p, '=', (size_t) (end - p));
                /* A key too long for key[], or badly escaped, is not "x" and is ignored. */
                if (percent_decode(p, (size_t) ((eq ? eq : end) - p), key, sizeof key) == 0 && strcmp(key, "x") == 0) {
                        if (found) {
                                *ret_error = "x given more than once";
                                return -EINVAL;
                        }
                        found = true;
                        if (!eq || percent_decode(eq + 1, (size_t) (end - eq - 1), value, sizeof value) < 0 ||
                            parse_double(value, &x) < 0) {
                                *ret_error = "x must be a finite decimal number, like 1.5 or -2e3";
                                return -EINVAL;
                        }
                }
                p = amp ? amp + 1 : NULL;
        }
        if (!found) {
                *ret_error = "missing query parameter x, as in /predict?x=1.5";
                return -EINVAL;
        }
        *ret = x;
        return 0;
}

static int http_predict(const Model *m, const char *query, bool head, char **ret, size_t *ret_len) {
        _cleanup_free_ char *body = NULL;
        char xs[DOUBLE_CHARS], ys[DOUBLE_CHARS];
        const char *error = NULL;
        double x, y;

        if (query_get_x(query ? query : "", &x, &error) < 0)
                return response_error(400, error, head, ret, ret_len);
        y = m->w * x + m->b;
        if (!isfinite(y))
                return response_error(400, "x is so large that the prediction overflows", head, ret, ret_len);

        if (asprintf_safe(&body, "{\"model\":\"%s\",\"x\":%s,\"y\":%s}\n", m->id, format_double(xs, x),
                          format_double(ys, y)) < 0)
                return -ENOMEM;
        return response_make(200, "application/json", body, head, ret, ret_len);
}

/* Builds the whole response to the request head buf[0..len). Only the request line is
 * looked at: no header changes the answer, and the connection closes after it anyway.
 * Returns 0, or -ENOMEM. */
static int http_response(const Model *m, const char *buf, size_t len, char **ret, size_t *ret_len) {
        char line[REQUEST_MAX + 1];
        const char *nl, *method, *target, *version, *query;
        char *sp1, *sp2, *q;
        size_t n;
        bool head;

        /* RFC 9112 2.2: a server should ignore empty lines before the request line. */
        while (len > 0 && (*buf == '\r' || *buf == '\n')) {
                buf++;
                len--;
        }
        nl = memchr(buf, '\n', len);
        n = nl ? (size_t) (nl - buf) : len;
        if (n > 0 && buf[n - 1] == '\r')
                n--;
        if (n == 0 || n >= sizeof line)
                return response_error(400, "malformed request line", false, ret, ret_len);
        /* Printable ASCII only: this rules out NUL bytes before the C string handling below. */
        for (size_t i = 0; i < n; i++) {
                if (buf[i] < 0x20 || buf[i] > 0x7e)
                        return response_error(400, "malformed request line", false, ret, ret_len);
                line[i] = buf[i];
        }
        line[n] = '\0';

        sp1 = strchr(line, ' ');
        sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
        if (!sp1 || !sp2 || strchr(sp2 + 1, ' ') || sp1 == line || sp2 == sp1 + 1)
                return response_error(400, "malformed request line", false, ret, ret_len);
        *sp1 = *sp2 = '\0';
        method = line;
        target = sp1 + 1;
        version = sp2 + 1;

        if (strcmp(version, "HTTP/1.1") != 0 && strcmp(version, "HTTP/1.0") != 0) {
                if (strncmp(version, "HTTP/", 5) == 0 && version[5] >= '0' && version[5] <= '9')
                        return response_error(505, "only HTTP/1.0 and HTTP/1.1 are supported", false, ret,
                                              ret_len);
                return response_error(400, "malformed request line", false, ret, ret_len);
        }

        head = strcmp(method, "HEAD") == 0;
        if (!head && strcmp(method, "GET") != 0)
                return response_error(405, "only GET and HEAD are supported", false, ret, ret_len);

        /* Absolute form, as proxies send it: keep the path. */
        if (strncasecmp(target, "http://", 7) == 0) {
                target = strchr(target + 7, '/');
                if (!target)
                        target = "/";
        }
        if (*target != '/')
                return response_error(400, "request target must start with /", head, ret, ret_len);

        q = strchr(target, '?');
        if (q)
                *q = '\0';
        query = q ? q + 1 : NULL;

        if (strcmp(target, "/predict") == 0)
                return http_predict(m, query, head, ret, ret_len);
        if (strcmp(target, "/healthz") == 0)
                return response_make(200, "text/plain; charset=utf-8", "ok\n", head, ret, ret_len);
        if (strcmp(target, "/model") == 0)
                return response_make(200, "application/json", m->json, head, ret, ret_len);
        return response_error(404, "not found; try /predict?x=1.5, /model or /healthz", head, ret, ret_len);
}

/* ---------------------------------------------------------------------------------------
 * Sockets. */

static bool sockaddr_is_loopback(const struct sockaddr_storage *sa) {
        if (sa->ss_family == AF_INET) {
                const struct sockaddr_in *in = (const struct sockaddr_in *) sa;
                return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
        }
        if (sa->ss_family == AF_INET6) {
                const struct in6_addr *a = &((const struct sockaddr_in6 *) sa)->sin6_addr;
                return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
        }
        return false;
}

/* "127.0.0.1:8080" or "[::1]:8080"; numeric only, so no resolver is consulted. */
static int parse_listen(const char *s, struct sockaddr_storage *ret, socklen_t *ret_len) {
        char host[INET6_ADDRSTRLEN];
        const char *colon, *h;
        unsigned long port = 0;
        size_t hn;

        if (*s == '[') {
                const char *close_bracket = strchr(s, ']');
                if (!close_bracket || close_bracket[1] != ':')
                        return -EINVAL;
                h = s + 1;
                hn = (size_t) (close_bracket - h);
                colon = close_bracket + 1;
        } else {
                colon = strrchr(s, ':');
                if (!colon)
                        return -EINVAL;
                h = s;
                hn = (size_t) (colon - s);
        }
        if (hn == 0 || hn >= sizeof host)
                return -EINVAL;
        for (size_t i = 0; i < hn; i++)
                host[i] = h[i];
        host[hn] = '\0';

        if (colon[1] == '\0' || strlen(colon + 1) > 5)
                return -EINVAL;
        for (const char *p = colon + 1; *p; p++) {
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                port = port * 10 + (unsigned long) (*p - '0');
        }
        if (port > 65535)
                return -EINVAL;

        *ret = (struct sockaddr_storage) {};
        if (*s == '[') {
                struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) ret;
                if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
                        return -EINVAL;
                in6->sin6_family = AF_INET6;
                in6->sin6_port = htons((uint16_t) port);
                *ret_len = sizeof *in6;
        } else {
                struct sockaddr_in *in = (struct sockaddr_in *) ret;
                if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
                        return -EINVAL;
                in->sin_family = AF_INET;
                in->sin_port = htons((uint16_t) port);
                *ret_len = sizeof *in;
        }
        return 0;
}

/* Logs "listening on ADDR" with the address the kernel actually bound: with port 0 this
 * line is how a caller (a test) learns the port. */
static void log_listening(int fd, const char *suffix) {
        struct sockaddr_storage sa = {};
        socklen_t len = sizeof sa;
        char host[INET6_ADDRSTRLEN] = "";

        if (getsockname(fd, (struct sockaddr *) &sa, &len) < 0)
                fprintf(stderr, "dbx-serve: listening on fd %d%s\n", fd, suffix);
        else if (sa.ss_family == AF_INET) {
                const struct sockaddr_in *in = (const struct sockaddr_in *) &sa;
                (void) inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
                fprintf(stderr, "dbx-serve: listening on %s:%u%s\n", host, ntohs(in->sin_port), suffix);
        } else if (sa.ss_family == AF_INET6) {
                const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) &sa;
                (void) inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
                fprintf(stderr, "dbx-serve: listening on [%s]:%u%s\n", host, ntohs(in6->sin6_port), suffix);
        } else if (sa.ss_family == AF_UNIX) {
                const struct sockaddr_un *un = (const struct sockaddr_un *) &sa;
                size_t n = len > offsetof(struct sockaddr_un, sun_path) ? len - offsetof(struct sockaddr_un, sun_path) : 0;

                /* An abstract socket's name starts with NUL: shown with '@', as ss(8) does,
                 * and cut at the first further NUL, as it is only a log line. */
                if (n > 0 && un->sun_path[0] == '\0')
                        fprintf(stderr, "dbx-serve: listening on unix:@%.*s%s\n",
                                (int) strnlen(un->sun_path + 1, n - 1), un->sun_path + 1, suffix);
                else
                        fprintf(stderr, "dbx-serve: listening on unix:%.*s%s\n", (int) strnlen(un->sun_path, n),
                                un->sun_path, suffix);
        } else
                fprintf(stderr, "dbx-serve: listening on fd %d (address family %d)%s\n", fd, sa.ss_family, suffix);
}

static int listen_on(const char *spec, const struct sockaddr_storage *sa, socklen_t len, int *ret_fd) {
        int fd, one = 1, r;

        fd = socket(sa->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                goto fail;
        /* Restarts (a retrain restarts this server) must not wait out TIME_WAIT. */
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
                goto fail;
        /* [::1] means IPv6 only, not also IPv4's 127.0.0.1 (IPV6_V6ONLY defaults to the
         * net.ipv6.bindv6only sysctl); a v4-mapped address needs it off to bind at all. */
        if (sa->ss_family == AF_INET6 &&
            !IN6_IS_ADDR_V4MAPPED(&((const struct sockaddr_in6 *) sa)->sin6_addr) &&
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0)
                goto fail;
        if (bind(fd, (const struct sockaddr *) sa, len) < 0 || listen(fd, SOMAXCONN) < 0)
                goto fail;
        *ret_fd = fd;
        return 0;

fail:
        r = negative_errno();
        if (fd >= 0)
                close(fd);
        fprintf(stderr, "dbx-serve: cannot listen on %s: %s\n", spec, strerror(-r));
        return r;
}

/* ---------------------------------------------------------------------------------------
 * The poll loop. */

typedef enum ConnState {
        CONN_FREE,
        CONN_READING,
        CONN_WRITING,
        CONN_LINGERING,
} ConnState;

typedef struct Conn {
        int fd;
        uint64_t serial; /* tells a reused slot (and fd number) from its previous owner */
        ConnState state;
        uint64_t accepted, deadline;
        size_t len;
        char *out;
        size_t out_len, out_off;
        char buf[REQUEST_MAX];
} Conn;

typedef struct Server {
        const Model *model;
        int listen_fds[LISTEN_MAX];
        size_t n_listen;
        int signal_fd;
        uint64_t accept_resume;
        uint64_t next_serial;
        size_t n_conns;
        Conn conns[CLIENTS_MAX];
} Server;

static void conn_close(Server *s, Conn *c) {
        if (c->state == CONN_FREE)
                return;
        close(c->fd);
        free(c->out);
        c->fd = -1;
        c->out = NULL;
        c->state = CONN_FREE;
        s->n_conns--;
}

static void conn_write(Server *s, Conn *c, uint64_t now) {
        while (c->out_off < c->out_len) {
                ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno != EAGAIN && errno != EWOULDBLOCK)
                                conn_close(s, c);
                        return;
                }
                c->out_off += (size_t) n;
        }

        if (shutdown(c->fd, SHUT_WR) < 0) {
                conn_close(s, c);
                return;
        }
        free(c->out);
        c->out = NULL;
        c->state = CONN_LINGERING;
        c->deadline = now + LINGER_USEC;
}

static void conn_respond(Server *s, Conn *c, int r, uint64_t now) {
        if (r < 0) {
                /* Out of memory: nothing sensible can be said, so hang up. */
                conn_close(s, c);
                return;
        }
        c->state = CONN_WRITING;
        c->out_off = 0;
        c->deadline = now + WRITE_TIMEOUT_USEC;
        conn_write(s, c, now);
}

static void conn_read(Server *s, Conn *c, uint64_t now) {
        size_t old = c->len, end;
        ssize_t n;
        int r;

        n = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, MSG_DONTWAIT);
        if (n < 0) {
                if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                        conn_close(s, c);
                return;
        }
        if (n == 0) {
                /* The client gave up before sending a whole request head. */
                conn_close(s, c);
                return;
        }
        c->len += (size_t) n;

        end = http_head_end(c->buf, c->len, old >= 2 ? old - 2 : 0);
        if (end > 0)
                r = http_response(s->model, c->buf, end, &c->out, &c->out_len);
        else if (c->len == sizeof c->buf)
                r = response_error(431, "request head larger than 8192 bytes", false, &c->out, &c->out_len);
        else
                return;
        conn_respond(s, c, r, now);
}

static void conn_linger(Server *s, Conn *c) {
        char scratch[4096];
        ssize_t n;

        n = recv(c->fd, scratch, sizeof scratch, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
                conn_close(s, c);
}

static void conn_expire(Server *s, Conn *c) {
        char *out = NULL;
        size_t out_len;

        /* One best-effort 408 so a slow client learns why it was dropped; never waits. */
        if (c->state == CONN_READING && response_error(408, "request head not received within 5 seconds", false,
                                                       &out, &out_len) >= 0) {
                (void) send(c->fd, out, out_len, MSG_NOSIGNAL | MSG_DONTWAIT);
                free(out);
        }
        conn_close(s, c);
}

/* With every slot taken, a new connection replaces one that is finished (lingering) or
 * else the oldest: a well-behaved client sends its request at once and is answered within
 * a poll round, so whoever holds a slot longest is the likeliest to be idle or hostile.
 * Without this, 64 idle connections would lock everyone out for the 5 s read timeout. */
static void server_evict(Server *s) {
        Conn *victim = NULL;

        for (size_t i = 0; i < CLIENTS_MAX; i++) {
                Conn *c = &s->conns[i];
                if (c->state == CONN_FREE)
                        continue;
                if (c->state == CONN_LINGERING) {
                        victim = c;
                        break;
                }
                if (!victim || c->accepted < victim->accepted)
                        victim = c;
        }
        if (victim)
                conn_close(s, victim);
}

static int server_accept(Server *s, int listen_fd, uint64_t now) {
        /* A bounded batch, so that connections already accepted are read before a flood of
         * new ones can evict them. */
        for (unsigned batch = 0; batch < ACCEPT_BATCH; batch++) {
                Conn *c = NULL;
                int fd;

                fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0) {
                        switch (errno) {
                        case EAGAIN:
#if EAGAIN != EWOULDBLOCK
                        case EWOULDBLOCK:
#endif
                        case EINTR:
                        case ECONNABORTED:
                        case EPROTO:
                        case EPERM: /* a firewall rule refused this one */
                        case ENETDOWN:
                        case ENOPROTOOPT:
                        case EHOSTDOWN:
                        case ENONET:
                        case EHOSTUNREACH:
                        case EOPNOTSUPP:
                        case ENETUNREACH:
                                /* accept(2): errors of the pending connection, not of ours. */
                                return 0;
                        case EMFILE:
                        case ENFILE:
                        case ENOBUFS:
                        case ENOMEM:
                                s->accept_resume = now + ACCEPT_BACKOFF_USEC;
                                return 0;
                        default:
                                return negative_errno();
                        }
                }

                if (s->n_conns >= CLIENTS_MAX)
                        server_evict(s);
                for (size_t i = 0; i < CLIENTS_MAX; i++)
                        if (s->conns[i].state == CONN_FREE) {
                                c = &s->conns[i];
                                break;
                        }
                /* Eviction guarantees a free slot; this only keeps the analyzer honest. */
                if (!c) {
                        close(fd);
                        return 0;
                }
                c->fd = fd;
                c->state = CONN_READING;
                c->accepted = now;
                c->serial = ++s->next_serial;
                c->len = 0;
                c->out = NULL;
                c->out_len = c->out_off = 0;
                c->deadline = now + READ_TIMEOUT_USEC;
                s->n_conns++;
        }
        return 0;
}

/* Returns 0 when a signal asked to stop, -errno on a failure of the loop itself. */
static int server_run(Server *s) {
        struct pollfd pfd[1 + LISTEN_MAX + CLIENTS_MAX];
        Conn *owner[ELEMENTSOF(pfd)];
        uint64_t serial[ELEMENTSOF(pfd)];

        for (;;) {
                uint64_t now = now_usec(), wake = UINT64_MAX;
                size_t n = 0, first_listen, n_listen_polled = 0;
                int timeout, r;

                pfd[n++] = (struct pollfd) { .fd = s->signal_fd, .events = POLLIN };
                first_listen = n;
                if (now >= s->accept_resume)
                        for (size_t i = 0; i < s->n_listen; i++, n_listen_polled++)
                                pfd[n++] = (struct pollfd) { .fd = s->listen_fds[i], .events = POLLIN };
                else
                        wake = s->accept_resume;
                for (size_t i = 0; i < CLIENTS_MAX; i++) {
                        Conn *c = &s->conns[i];
                        if (c->state == CONN_FREE)
                                continue;
                        owner[n] = c;
                        serial[n] = c->serial;
                        pfd[n++] = (struct pollfd) {
                                .fd = c->fd,
                                .events = c->state == CONN_WRITING ? POLLOUT : POLLIN,
                        };
                        if (c->deadline < wake)
                                wake = c->deadline;
                }

                if (wake == UINT64_MAX)
                        timeout = -1;
                else if (wake <= now)
                        timeout = 0;
                else {
                        /* Rounded up, so the loop never wakes just before a deadline. */
                        uint64_t msec = (wake - now + USEC_PER_MSEC - 1) / USEC_PER_MSEC;
                        timeout = msec > INT_MAX ? INT_MAX : (int) msec;
                }

                r = poll(pfd, n, timeout);
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        r = negative_errno();
                        fprintf(stderr, "dbx-serve: poll failed: %s\n", strerror(-r));
                        return r;
                }
                now = now_usec();

                if (pfd[0].revents) {
                        struct signalfd_siginfo si;
                        if (read(s->signal_fd, &si, sizeof si) == (ssize_t) sizeof si) {
                                fprintf(stderr, "dbx-serve: received %s, stopping\n",
                                        si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
                                return 0;
                        }
                }

                for (size_t i = first_listen; i < first_listen + n_listen_polled; i++) {
                        if (pfd[i].revents & (POLLERR | POLLNVAL)) {
                                fprintf(stderr, "dbx-serve: listening socket %d failed, exiting\n", pfd[i].fd);
                                return -EIO;
                        }
                        if (pfd[i].revents & POLLIN) {
                                r = server_accept(s, pfd[i].fd, now);
                                if (r < 0) {
                                        fprintf(stderr, "dbx-serve: cannot accept connections: %s\n",
                                                strerror(-r));
                                        return r;
                                }
                        }
                }

                for (size_t i = first_listen + n_listen_polled; i < n; i++) {
                        Conn *c = owner[i];
                        short ev = pfd[i].revents;

                        /* Skips connections closed (or evicted and replaced) since poll(). */
                        if (ev == 0 || c->state == CONN_FREE || c->serial != serial[i])
                                continue;
                        if (ev & POLLNVAL)
                                conn_close(s, c);
                        else if (c->state == CONN_READING)
                                conn_read(s, c, now);
                        else if (c->state == CONN_WRITING)
                                conn_write(s, c, now);
                        else
                                conn_linger(s, c);
                }

                for (size_t i = 0; i < CLIENTS_MAX; i++)
                        if (s->conns[i].state != CONN_FREE && s->conns[i].deadline <= now)
                                conn_expire(s, &s->conns[i]);
        }
}

/* ---------------------------------------------------------------------------------------
 * Set-up. */

typedef struct ListenAddress {
        const char *spec; /* as given, for messages */
        struct sockaddr_storage sa;
        socklen_t len;
} ListenAddress;

typedef struct Options {
        ListenAddress listen[LISTEN_MAX];
        size_t n_listen;
        bool any_address;
        const char *model_dir;
} Options;

static void help(void) {
        printf("Usage: dbx-serve [--listen ADDR:PORT]... [--any-address] [--model DIR]\n"
               "\n"
               "Serve the linear model in DIR/model (written by dbx-train) over HTTP/1.1:\n"
               "  GET /predict?x=NUMBER   {\"model\":ID,\"x\":X,\"y\":W*X+B}\n"
               "  GET /model              {\"id\":ID,\"path\":DIR resolved,\"w\":W,\"b\":B}\n"
               "  GET /healthz            ok\n"
               "\n"
               "  --listen ADDR:PORT   listen on 127.0.0.1:PORT, [::1]:PORT or another numeric\n"
               "                       address; repeatable; PORT 0 picks a free port. Ignored\n"
               "                       when systemd passes sockets (LISTEN_FDS).\n"
               "  --any-address        allow non-loopback --listen addresses\n"
               "  --model DIR          model directory (default: $DEFERRED_MODEL_PATH)\n"
               "  -h, --help           show this help\n"
               "\n"
               "Exit status: 0 stopped by SIGTERM/SIGINT, 1 runtime failure, 64 usage error.\n");
}

/* Returns 1 to go on, 0 after --help, -EINVAL on a usage error (already reported). */
static int parse_argv(int argc, char *argv[], Options *o) {
        enum {
                ARG_LISTEN = 0x100,
                ARG_ANY_ADDRESS,
                ARG_MODEL,
        };
        static const struct option options[] = {
                { "help",        no_argument,       NULL, 'h'             },
                { "listen",      required_argument, NULL, ARG_LISTEN      },
                { "any-address", no_argument,       NULL, ARG_ANY_ADDRESS },
                { "model",       required_argument, NULL, ARG_MODEL       },
                {}
        };
        int c;

        *o = (Options) {};
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_LISTEN: {
                        ListenAddress *a;

                        if (o->n_listen >= LISTEN_MAX) {
                                fprintf(stderr, "dbx-serve: more than %d --listen addresses\n", LISTEN_MAX);
                                return -EINVAL;
                        }
                        a = &o->listen[o->n_listen++];
                        a->spec = optarg;
                        if (parse_listen(optarg, &a->sa, &a->len) < 0) {
                                fprintf(stderr,
                                        "dbx-serve: invalid --listen '%s': expected IPV4:PORT or [IPV6]:PORT with a "
                                        "numeric address and PORT 0..65535, like 127.0.0.1:8080\n",
                                        optarg);
                                return -EINVAL;
                        }
                        break;
                }
                case ARG_ANY_ADDRESS:
                        o->any_address = true;
                        break;
                case ARG_MODEL:
                        if (*optarg == '\0') {
                                fprintf(stderr, "dbx-serve: --model needs a non-empty directory; see --help\n");
                                return -EINVAL;
                        }
                        o->model_dir = optarg;
                        break;
                case ':':
                        fprintf(stderr, "dbx-serve: option '%s' needs a value; see --help\n", argv[optind - 1]);
                        return -EINVAL;
                default:
                        if (optopt != 0 && optopt < 0x100)
                                fprintf(stderr, "dbx-serve: unknown option '-%c'; see --help\n", optopt);
                        else
                                fprintf(stderr, "dbx-serve: unknown option '%s'; see --help\n", argv[optind - 1]);
                        return -EINVAL;
                }

        if (optind < argc) {
                fprintf(stderr, "dbx-serve: unexpected argument '%s'; see --help\n", argv[optind]);
                return -EINVAL;
        }
        /* Checked after the loop, as --any-address may come after --listen. */
        for (size_t i = 0; i < o->n_listen; i++)
                if (!o->any_address && !sockaddr_is_loopback(&o->listen[i].sa)) {
                        fprintf(stderr,
                                "dbx-serve: refusing to listen on non-loopback address %s: other hosts could query "
                                "the model; pass --any-address if that is intended\n",
                                o->listen[i].spec);
                        return -EINVAL;
                }
        return 1;
}

typedef struct Listeners {
        int fds[LISTEN_MAX];
        size_t n;
} Listeners;

static void listeners_done(Listeners *l) {
        for (size_t i = 0; i < l->n; i++)
                close(l->fds[i]);
        l->n = 0;
}

/* Takes the sockets systemd passed, if any: *l stays empty when there are none. */
static int listeners_take_activated(Listeners *l) {
        int n, r;

        n = sd_listen_fds(1);
        if (n < 0) {
                fprintf(stderr, "dbx-serve: invalid socket activation environment (LISTEN_FDS): %s\n", strerror(-n));
                return n;
        }
        /* Owned from here on, so that listeners_done() closes them on every path. */
        for (int i = 0; i < n; i++) {
                if (l->n >= LISTEN_MAX) {
                        fprintf(stderr, "dbx-serve: %d sockets passed by socket activation; at most %d are supported\n",
                                n, LISTEN_MAX);
                        for (int j = i; j < n; j++)
                                close(SD_LISTEN_FDS_START + j);
                        return -E2BIG;
                }
                l->fds[l->n++] = SD_LISTEN_FDS_START + i;
        }

        for (size_t i = 0; i < l->n; i++) {
                int flags;

                if (sd_is_socket(l->fds[i], AF_UNSPEC, SOCK_STREAM, 1) <= 0) {
                        fprintf(stderr,
                                "dbx-serve: fd %d from socket activation is not a listening stream socket; check the "
                                ".socket unit (ListenStream=, Accept=no)\n",
                                l->fds[i]);
                        return -ENOTSOCK;
                }
                /* accept4() must never block the loop. */
                flags = fcntl(l->fds[i], F_GETFL);
                if (flags < 0 || fcntl(l->fds[i], F_SETFL, flags | O_NONBLOCK) < 0) {
                        r = negative_errno();
                        fprintf(stderr, "dbx-serve: cannot make fd %d non-blocking: %s\n", l->fds[i], strerror(-r));
                        return r;
                }
                log_listening(l->fds[i], " (socket activation)");
        }
        return 0;
}

static int listeners_open(const Options *o, Listeners *l) {
        int r;

        for (size_t i = 0; i < o->n_listen; i++) {
                const ListenAddress *a = &o->listen[i];

                r = listen_on(a->spec, &a->sa, a->len, &l->fds[l->n]);
                if (r < 0)
                        return r;
                l->n++;
                log_listening(l->fds[l->n - 1], "");
        }
        return 0;
}

static int signals_open(int *ret_fd) {
        sigset_t mask;
        int fd, r;

        /* MSG_NOSIGNAL covers send(); this covers anything else that writes to a socket. */
        (void) signal(SIGPIPE, SIG_IGN);

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                goto fail;
        fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
        if (fd < 0)
                goto fail;
        *ret_fd = fd;
        return 0;

fail:
        r = negative_errno();
        fprintf(stderr, "dbx-serve: cannot set up signal handling: %s\n", strerror(-r));
        return r;
}

/* Returns 0 after SIGTERM/SIGINT, -EINVAL with *ret_usage set on a usage error that needed
 * the environment to be seen, other -errno on a runtime failure; every error is reported. */
static int run(const Options *o, bool *ret_usage) {
        _cleanup_free_ Server *s = NULL;
        _cleanup_close_ int signal_fd = -1;
        Listeners l = {};
        Model m = {};
        const char *dir;
        int r;

        *ret_usage = false;
        dir = o->model_dir;
        if (!dir) {
                dir = getenv("DEFERRED_MODEL_PATH");
                if (dir && *dir == '\0')
                        dir = NULL;
        }
        if (!dir) {
                fprintf(stderr, "dbx-serve: no model: set DEFERRED_MODEL_PATH or pass --model DIR\n");
                *ret_usage = true;
                return -EINVAL;
        }

        /* Always, so that LISTEN_FDS is unset and the fds are closed on every exit path. */
        r = listeners_take_activated(&l);
        if (r < 0)
                goto finish;
        if (l.n > 0 && o->n_listen > 0)
                fprintf(stderr, "dbx-serve: using the socket(s) from socket activation, ignoring --listen\n");
        if (l.n == 0 && o->n_listen == 0) {
                fprintf(stderr, "dbx-serve: nothing to listen on: give --listen 127.0.0.1:PORT or start me from a "
                                "systemd socket unit\n");
                *ret_usage = true;
                r = -EINVAL;
                goto finish;
        }

        /* Before the model, so a SIGTERM that arrives during start-up still stops us cleanly. */
        r = signals_open(&signal_fd);
        if (r < 0)
                goto finish;

        r = model_load(dir, &m);
        if (r == -ENOMEM)
                fprintf(stderr, "dbx-serve: out of memory loading the model\n");
        if (r < 0)
                goto finish;

        if (l.n == 0) {
                r = listeners_open(o, &l);
                if (r < 0)
                        goto finish;
        }

        s = calloc(1, sizeof *s);
        if (!s) {
                fprintf(stderr, "dbx-serve: out of memory\n");
                r = -ENOMEM;
                goto finish;
        }
        s->model = &m;
        s->signal_fd = signal_fd;
        s->n_listen = l.n;
        for (size_t i = 0; i < l.n; i++)
                s->listen_fds[i] = l.fds[i];
        for (size_t i = 0; i < CLIENTS_MAX; i++)
                s->conns[i].fd = -1;

        /* Harmless without NOTIFY_SOCKET; a failure to notify is not worth dying for. */
        r = sd_notifyf(0, "READY=1\nSTATUS=serving model %s", m.id);
        if (r < 0)
                fprintf(stderr, "dbx-serve: cannot notify the service manager, continuing: %s\n", strerror(-r));
        fprintf(stderr, "dbx-serve: serving model %s\n", m.id);

        r = server_run(s);
        (void) sd_notify(0, "STOPPING=1");
        for (size_t i = 0; i < CLIENTS_MAX; i++)
                conn_close(s, &s->conns[i]);
        if (r == 0)
                fprintf(stderr, "dbx-serve: stopped\n");

finish:
        listeners_done(&l);
        model_done(&m);
        return r;
}

#ifndef DBX_SERVE_NO_MAIN
int main(int argc, char *argv[]) {
        Options o;
        bool usage;
        int r;

        r = parse_argv(argc, argv, &o);
        if (r < 0)
                return EXIT_USAGE;
        if (r == 0)
                return fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_RUNTIME;

        r = run(&o, &usage);
        if (r < 0)
                return usage ? EXIT_USAGE : EXIT_RUNTIME;
        return EXIT_SUCCESS;
}
#endif
