/* SPDX-License-Identifier: MIT */
/* The status file: KEY=VALUE lines in a fixed order, written whole (temp + rename).
 *
 * The writer sanitises every value (control characters and invalid UTF-8 become '?') and
 * cuts over-long text at a character boundary, so a value is always one line. The reader
 * trusts nothing: a file with a NUL byte, a line without '=', a missing final newline
 * (truncated), a missing or repeated key, a bad number or an unknown state is reported as
 * -EBADMSG with the state UNKNOWN and an error saying what was wrong. */
#include "status.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fileio.h"
#include "paths.h"
#include "utf8.h"
#include "util.h"
#include "validate.h"

/* A status file is a few hundred bytes; anything much larger was not written by us. */
#define STATUS_FILE_MAX (64 * 1024)

static const char *const state_names[_MODEL_STATE_MAX] = {
        [MODEL_STATE_UNKNOWN] = "unknown",
        [MODEL_STATE_PENDING] = "pending",
        [MODEL_STATE_SUBSTITUTING] = "substituting",
        [MODEL_STATE_TRAINING] = "training",
        [MODEL_STATE_READY] = "ready",
        [MODEL_STATE_FAILED] = "failed",
        [MODEL_STATE_STOPPED] = "stopped",
};

const char *model_state_to_string(ModelState s) {
        return s >= 0 && s < _MODEL_STATE_MAX ? state_names[s] : "unknown";
}

ModelState model_state_from_string(const char *s) {
        if (s)
                for (int i = 0; i < _MODEL_STATE_MAX; i++)
                        if (streq(s, state_names[i]))
                                return (ModelState) i;
        return MODEL_STATE_UNKNOWN;
}

/* Length of the valid, non-control UTF-8 sequence at p (at most n bytes available), or 0.
 * Control here is C0, DEL and C1. */
static size_t utf8_char_len(const unsigned char *p, size_t n) {
        uint32_t cp;
        size_t len = utf8_sequence(p, n, &cp);
        if (len == 0 || cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f))
                return 0;
        return len;
}

/* Copies at most n bytes of src into dst (size bytes, always NUL-terminated), replacing
 * every control character or invalid byte with '?' and never cutting a character. */
static void copy_sanitised(char *dst, size_t size, const char *src, size_t n) {
        const unsigned char *p = (const unsigned char *) src;
        size_t w = 0, i = 0;
        if (size == 0)
                return;
        while (i < n && p[i]) {
                size_t avail = strnlen(src + i, n - i);
                size_t l = utf8_char_len(p + i, avail);
                if (l == 0) {
                        /* One '?' for the bad byte and the continuation bytes after it, so
                         * a C1 control or a cut sequence shows as one character. */
                        if (w + 1 >= size)
                                break;
                        dst[w++] = '?';
                        i++;
                        if (p[i - 1] >= 0x80)
                                while (i < n && (p[i] & 0xc0) == 0x80)
                                        i++;
                        continue;
                }
                if (w + l >= size)
                        break;
                memcpy(dst + w, p + i, l);
                w += l;
                i += l;
        }
        dst[w] = 0;
}

static void put_text(FILE *f, const char *key, const char *value, size_t field_size, size_t max) {
        char clean[4097];
        size_t limit = max + 1 < sizeof clean ? max + 1 : sizeof clean;
        copy_sanitised(clean, limit, value, strnlen(value, field_size));
        fprintf(f, "%s=%s\n", key, clean);
}

/* Builds the file text: every key, always, in the order of docs/DESIGN.md. */
static int status_format(const ModelStatus *st, char **ret, size_t *ret_len) {
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        if (!f)
                return -ENOMEM;
        fprintf(f, "state=%s\n", model_state_to_string(st->state));
        put_text(f, "model", st->model, sizeof st->model, sizeof st->model - 1);
        put_text(f, "drv", st->drv, sizeof st->drv, sizeof st->drv - 1);
        put_text(f, "out", st->out, sizeof st->out, sizeof st->out - 1);
        put_text(f, "generation", st->generation, sizeof st->generation, sizeof st->generation - 1);
        put_text(f, "root", st->root, sizeof st->root, sizeof st->root - 1);
        fprintf(f, "started=%llu\nfinished=%llu\nprogress=%llu/%llu\n", st->started, st->finished, st->done,
                st->expected);
        put_text(f, "last_line", st->last_line, sizeof st->last_line, STATUS_LINE_MAX);
        put_text(f, "error", st->error, sizeof st->error, STATUS_ERROR_MAX);
        /* Keys newer readers may find missing (older writers) go before the last one, so
         * that every truncated file still lacks a required key. */
        fprintf(f, "last_output=%llu\n", st->last_output);
        put_text(f, "waiting", st->waiting, sizeof st->waiting, STATUS_LINE_MAX);
        fprintf(f, "attempts=%u\n", st->attempts);
        bool failed = ferror(f);
        if (fclose(f) != 0 || failed) {
                free(text);
                return -ENOMEM;
        }
        *ret = text;
        *ret_len = len;
        return 0;
}

int status_write_in(const char *dir, const ModelStatus *st) {
        char model[sizeof st->model];
        snprintf(model, sizeof model, "%.*s", (int) strnlen(st->model, sizeof st->model - 1), st->model);
        if (!model_name_is_valid(model))
                return -EINVAL;

        _cleanup_free_ char *path = strjoin(dir, "/", model);
        if (!path)
                return -ENOMEM;
        int r = mkdir_p(dir, 0755);
        if (r < 0)
                return r;

        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        r = status_format(st, &text, &len);
        if (r < 0)
                return r;
        return write_file_atomic(path, text, len, 0644, 0);
}

int status_write(const char *runtime_dir, const ModelStatus *st) {
        _cleanup_free_ char *dir = strjoin(runtime_dir, "/" STATUS_SUBDIR);
        if (!dir)
                return -ENOMEM;
        return status_write_in(dir, st);
}

enum {
        K_STATE,
        K_MODEL,
        K_DRV,
        K_OUT,
        K_GENERATION,
        K_ROOT,
        K_STARTED,
        K_FINISHED,
        K_PROGRESS,
        K_LAST_LINE,
        K_ERROR,
        K_ATTEMPTS,
        _K_REQUIRED, /* the keys below may be missing */
        K_LAST_OUTPUT = _K_REQUIRED,
        K_WAITING,
        _K_MAX,
};

static const char *const key_names[_K_MAX] = {
        "state",    "model",    "drv",       "out",   "generation", "root",        "started",
        "finished", "progress", "last_line", "error", "attempts",   "last_output", "waiting",
};

/* Marks the status unreadable: zeroed, UNKNOWN, and an error saying why. */
static int bad(ModelStatus *st, const char *why, const char *key) {
        *st = (ModelStatus){ .state = MODEL_STATE_UNKNOWN };
        char msg[STATUS_ERROR_MAX + 1];
        if (key)
                snprintf(msg, sizeof msg, "status file is corrupt or truncated: %s '%.64s'", why, key);
        else
                snprintf(msg, sizeof msg, "status file is corrupt or truncated: %s", why);
        copy_sanitised(st->error, sizeof st->error, msg, sizeof msg);
        return -EBADMSG;
}

/* An identity value (name, path) that does not fit its field is corrupt: cutting it would
 * name something else. */
static bool set_exact(char *dst, size_t size, const char *v, size_t len) {
        if (len >= size)
                return false;
        copy_sanitised(dst, size, v, len);
        return true;
}

int status_parse(const char *text, size_t size, ModelStatus *st) {
        bool seen[_K_MAX] = { false };
        unsigned long long u;

        *st = (ModelStatus){ .state = MODEL_STATE_UNKNOWN };
        if (!text || size == 0)
                return bad(st, "the file is empty", NULL);
        if (memchr(text, 0, size))
                return bad(st, "it contains a NUL byte", NULL);
        if (text[size - 1] != '\n')
                return bad(st, "the last line has no newline", NULL);

        for (const char *line = text, *end = text + size; line < end;) {
                const char *nl = memchr(line, '\n', (size_t) (end - line));
                size_t len = (size_t) (nl - line);
                const char *eq = memchr(line, '=', len);
                if (!eq)
                        return bad(st, "a line has no '='", NULL);
                char key[32];
                size_t klen = (size_t) (eq - line);
                const char *v = eq + 1;
                size_t vlen = len - klen - 1;
                if (klen == 0 || klen >= sizeof key) {
                        line = nl + 1;
                        continue; /* not one of ours: unknown keys are ignored */
                }
                memcpy(key, line, klen);
                key[klen] = 0;
                line = nl + 1;

                int k = -1;
                for (int i = 0; i < _K_MAX; i++)
                        if (streq(key, key_names[i]))
                                k = i;
                if (k < 0)
                        continue;
                if (seen[k])
                        return bad(st, "repeated key", key);
                seen[k] = true;

                /* Numbers and states are short; copy them to parse them as strings. */
                char small[64] = "";
                bool small_ok = vlen < sizeof small;
                if (small_ok) {
                        memcpy(small, v, vlen);
                        small[vlen] = 0;
                }

                switch (k) {
                case K_STATE:
                        st->state = small_ok ? model_state_from_string(small) : MODEL_STATE_UNKNOWN;
                        if (st->state == MODEL_STATE_UNKNOWN)
                                return bad(st, "unknown value of", key);
                        break;
                case K_MODEL:
                        if (!set_exact(st->model, sizeof st->model, v, vlen) || !model_name_is_valid(st->model))
                                return bad(st, "invalid value of", key);
                        break;
                case K_DRV:
                        if (!set_exact(st->drv, sizeof st->drv, v, vlen))
                                return bad(st, "over-long value of", key);
                        break;
                case K_OUT:
                        if (!set_exact(st->out, sizeof st->out, v, vlen))
                                return bad(st, "over-long value of", key);
                        break;
                case K_GENERATION:
                        if (!set_exact(st->generation, sizeof st->generation, v, vlen))
                                return bad(st, "over-long value of", key);
                        break;
                case K_ROOT:
                        if (!set_exact(st->root, sizeof st->root, v, vlen))
                                return bad(st, "over-long value of", key);
                        break;
                case K_STARTED:
                case K_FINISHED:
                        if (!small_ok || safe_atou64(small, &u) < 0)
                                return bad(st, "not a number:", key);
                        *(k == K_STARTED ? &st->started : &st->finished) = u;
                        break;
                case K_PROGRESS: {
                        char *slash = small_ok ? strchr(small, '/') : NULL;
                        if (!slash)
                                return bad(st, "not DONE/EXPECTED:", key);
                        *slash = 0;
                        if (safe_atou64(small, &st->done) < 0 || safe_atou64(slash + 1, &st->expected) < 0)
                                return bad(st, "not DONE/EXPECTED:", key);
                        break;
                }
                case K_LAST_LINE:
                        /* Text for people: a longer line (another version's limit) is cut. */
                        copy_sanitised(st->last_line, sizeof st->last_line, v, vlen);
                        break;
                case K_ERROR:
                        copy_sanitised(st->error, sizeof st->error, v, vlen);
                        break;
                case K_ATTEMPTS:
                        if (!small_ok || safe_atou64(small, &u) < 0 || u > 0xffffffffULL)
                                return bad(st, "not a number:", key);
                        st->attempts = (unsigned) u;
                        break;
                case K_LAST_OUTPUT:
                        if (!small_ok || safe_atou64(small, &st->last_output) < 0)
                                return bad(st, "not a number:", key);
                        break;
                case K_WAITING:
                        copy_sanitised(st->waiting, sizeof st->waiting, v, vlen);
                        break;
                }
        }

        /* The writer always writes every key: a missing one means the file was cut. */
        for (int i = 0; i < _K_REQUIRED; i++)
                if (!seen[i])
                        return bad(st, "missing key", key_names[i]);
        return 0;
}

int status_read(const char *runtime_dir, const char *model, ModelStatus *st) {
        _cleanup_free_ char *dir = strjoin(runtime_dir, "/" STATUS_SUBDIR);
        if (!dir) {
                *st = (ModelStatus){ .state = MODEL_STATE_UNKNOWN };
                return -ENOMEM;
        }
        return status_read_in(dir, model, st);
}

int status_read_in(const char *dir, const char *model, ModelStatus *st) {
        *st = (ModelStatus){ .state = MODEL_STATE_UNKNOWN };
        if (!model_name_is_valid(model))
                return -EINVAL;
        _cleanup_free_ char *path = strjoin(dir, "/", model);
        if (!path)
                return -ENOMEM;
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        int r = read_full_file(path, STATUS_FILE_MAX, &text, &size);
        if (r == -EFBIG || r == -EISDIR || r == -EBADFD)
                return bad(st, "it is not a small regular file", NULL);
        if (r < 0)
                return r;
        return status_parse(text, size, st);
}
