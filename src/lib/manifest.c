/* SPDX-License-Identifier: MIT */
/* The manifest parser: a pre-scan for what inih cannot report, then inih for the rest.
 *
 * inih silently truncates lines longer than INI_MAX_LINE and section names longer than 49
 * bytes, treats indented lines as continuations and strips " ; comments". None of that may
 * change a model's meaning unnoticed, so: the whole buffer is scanned first (NUL bytes,
 * over-long and indented lines reject the file); inih reads lines through our reader, which
 * numbers them and takes section names from the raw line; and a value whose raw line held
 * an inline comment is an error for its model. */
#include "manifest.h"

#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "escape.h"
#include "log.h"
#include "manifest-parser.h"
#include "util.h"
#include "validate.h"


static size_t name_hash(const char *s) {
        size_t h = 14695981039346656037ULL;
        for (; *s; s++)
                h = (h ^ (unsigned char) *s) * 1099511628211ULL;
        return h;
}

/* Returns the slot holding `name`, or the empty slot where it belongs. */
static size_t *index_slot(Parser *p, const char *name) {
        size_t mask = p->index_size - 1;
        for (size_t i = name_hash(name) & mask;; i = (i + 1) & mask)
                if (p->index[i] == 0 || streq(p->models[p->index[i] - 1].name, name))
                        return &p->index[i];
}

int diag_add(Manifest *m, DiagLevel level, unsigned line, const char *model, const char *fmt, ...) {
        /* Grown geometrically: a 10,000-model file may carry as many warnings. */
        if ((m->n_diags & (m->n_diags - 1)) == 0) {
                Diag *n = realloc(m->diags, sizeof(Diag) * (m->n_diags ? m->n_diags * 2 : 4));
                if (!n)
                        return -ENOMEM;
                m->diags = n;
        }
        Diag *d = &m->diags[m->n_diags];
        *d = (Diag){ .level = level, .line = line };
        va_list ap;
        va_start(ap, fmt);
        int r = vasprintf(&d->message, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        if (model) {
                d->model = strdup(model);
                if (!d->model) {
                        free(d->message);
                        return -ENOMEM;
                }
        }
        m->n_diags++;
        return 0;
}

void model_done(Model *md) {
        free(md->name);
        free(md->drv);
        free(md->output);
        free(md->out);
        free(md->bundle);
        free(md->exec);
        strv_free(md->args);
        strv_free(md->env);
        free(md->builders);
        free(md->substituters);
        free(md->trusted_public_keys);
        free(md->extra_substituters);
        free(md->extra_trusted_public_keys);
        free(md->user);
        free(md->memory_max);
        free(md->cpu_quota);
        strv_free(md->device_allow);
        free(md->ready_url);
        strv_free(md->listen);
        strv_free(md->service);
        strv_free(md->credentials);
        free(md->environment_file);
        strv_free(md->on_failure);
}

void manifest_free(Manifest *m) {
        if (!m)
                return;
        for (size_t i = 0; i < m->n_models; i++)
                model_done(&m->models[i]);
        free(m->models);
        for (size_t i = 0; i < m->n_diags; i++) {
                free(m->diags[i].model);
                free(m->diags[i].message);
        }
        free(m->diags);
        free(m->path);
        free(m->real_path);
        free(m->generation);
        free(m);
}

char *quoted(const char *s) {
        return quote_for_message(s, SHOWN_MAX);
}

void model_error(Parser *p, unsigned line, const char *fmt, ...) {
        Model *md = &p->models[p->cur_model];
        char buf[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        md->invalid = true;
        _cleanup_free_ char *q = quoted(md->name);
        (void) diag_add(p->m, DIAG_ERROR, line, md->name, "model %s: %s, ignoring model", q ? q : "?", buf);
}

/* Opens a new section taken from the raw line; inih truncates names, we do not. */
static int section_begin(Parser *p, const char *name, unsigned line) {
        free(p->section);
        p->section = strdup(name);
        if (!p->section)
                return -ENOMEM;
        p->section_line = line;
        p->cur_model = -1;
        p->in_header = false;
        p->in_unknown = false;

        if (streq(name, HEADER_SECTION)) {
                if (p->saw_header)
                        return diag_add(p->m, DIAG_ERROR, line, NULL,
                                        "section [" HEADER_SECTION "] appears twice; merge them into one");
                p->saw_header = true;
                p->in_header = true;
                return 0;
        }

        const char *mname = startswith(name, MODEL_PREFIX);
        if (!mname) {
                _cleanup_free_ char *q = quoted(name);
                p->in_unknown = true;
                return diag_add(p->m, DIAG_WARNING, line, NULL,
                                "unknown section [%s]; sections are [" HEADER_SECTION "] and [" MODEL_PREFIX
                                "NAME], ignoring it", q ? q : "?");
        }

        /* A model section, possibly a second one with the same name. */
        if (!p->index) {
                p->index_size = 2 * MANIFEST_MAX_MODELS;
                while (p->index_size & (p->index_size - 1))
                        p->index_size &= p->index_size - 1;
                p->index_size *= 2; /* a power of two, at least twice the model cap */
                p->index = calloc(p->index_size, sizeof(size_t));
                if (!p->index)
                        return -ENOMEM;
        }
        size_t *slot = index_slot(p, mname);
        if (*slot) {
                size_t i = *slot - 1;
                p->cur_model = (ssize_t) i;
                model_error(p, line, "defined twice (lines %u and %u); keep one of the two sections",
                            p->models[i].line, line);
                return 0;
        }

        if (p->n_models >= MANIFEST_MAX_MODELS) {
                p->too_many = true;
                p->in_unknown = true;
                return 0;
        }
        if ((p->n_models & (p->n_models - 1)) == 0) { /* 0, 1, 2, 4, ...: double */
                Model *n = realloc(p->models, sizeof(Model) * (p->n_models ? p->n_models * 2 : 4));
                if (!n)
                        return -ENOMEM;
                p->models = n;
        }
        Model *md = &p->models[p->n_models];
        *md = (Model){ .line = line, .builders_use_substitutes = -1, .notify = -1, .sandbox = -1 };
        md->name = strdup(mname);
        if (!md->name)
                return -ENOMEM;
        p->cur_model = (ssize_t) p->n_models++;
        *slot = p->n_models;

        if (!model_name_is_valid(mname)) {
                _cleanup_free_ char *q = quoted(mname);
                model_error(p, line,
                            "invalid name %s: a model name is 1 to %d characters from [A-Za-z0-9_-], starting with a "
                            "letter or digit",
                            q ? q : "?", MODEL_NAME_MAX);
        }
        return 0;
}

/* Reader for inih: hands out one line at a time and remembers its number and raw text. */
static char *reader(char *str, int num, void *stream) {
        Parser *p = stream;
        if (p->pos >= p->end)
                return NULL;
        const char *nl = memchr(p->pos, '\n', (size_t) (p->end - p->pos));
        size_t len = nl ? (size_t) (nl - p->pos) + 1 : (size_t) (p->end - p->pos);
        /* The pre-scan guarantees lines fit; cut anyway rather than overflow. */
        size_t n = len < (size_t) num - 1 ? len : (size_t) num - 1;
        memcpy(str, p->pos, n);
        str[n] = 0;
        size_t rn = len < sizeof p->raw - 1 ? len : sizeof p->raw - 1;
        memcpy(p->raw, p->pos, rn);
        p->raw[rn] = 0;
        p->pos += len;
        p->line++;

        const char *s = p->raw;
        if (p->line == 1 && startswith(s, "\xEF\xBB\xBF"))
                s += 3;
        if (*s == '[') {
                const char *close = strchr(s, ']');
                if (close) {
                        _cleanup_free_ char *name = strndup(s + 1, (size_t) (close - s - 1));
                        if (!name || section_begin(p, name, p->line) < 0)
                                return NULL;
                }
        }
        return str;
}

static int handle_header_key(Parser *p, const char *key, const char *value) {
        Manifest *m = p->m;
        _cleanup_free_ char *qk = quoted(key), *qv = quoted(value);
        if (!qk || !qv)
                return -ENOMEM;
        /* The header's values are cut at an inline comment like any other. */
        if ((streq(key, "version") || streq(key, "generation")) && raw_line_has_inline_comment(p->raw))
                return diag_add(m, DIAG_ERROR, p->line, NULL,
                                "value of %s contains ' ;', which starts a comment in this format", qk);
        if ((streq(key, "version") || streq(key, "generation")) && raw_line_has_odd_space(p->raw))
                return diag_add(m, DIAG_ERROR, p->line, NULL,
                                "value of %s has a vertical tab, form feed or carriage return around it, which the "
                                "manifest parser strips as white space; remove it",
                                qk);
        if (streq(key, "version")) {
                unsigned long long v;
                if (p->saw_version)
                        return diag_add(m, DIAG_ERROR, p->line, NULL, "version is set twice; keep one");
                p->saw_version = true;
                p->version_line = p->line;
                if (safe_atou64(value, &v) < 0 || v > UINT_MAX)
                        return diag_add(m, DIAG_ERROR, p->line, NULL, "version %s is not a number", qv);
                m->version = (unsigned) v;
                if (v != MANIFEST_VERSION)
                        return diag_add(m, DIAG_ERROR, p->line, NULL,
                                        "manifest format version %llu is not supported (this build reads version %d): "
                                        "upgrade deferred-builds",
                                        v, MANIFEST_VERSION);
        } else if (streq(key, "generation")) {
                if (m->generation)
                        return diag_add(m, DIAG_ERROR, p->line, NULL, "generation is set twice; keep one");
                if (!generation_is_valid(value))
                        return diag_add(m, DIAG_ERROR, p->line, NULL,
                                        "generation %s must be 1 to %d characters from [A-Za-z0-9._+-], starting "
                                        "with a letter or digit",
                                        qv, GENERATION_MAX);
                m->generation = strdup(value);
                if (!m->generation)
                        return -ENOMEM;
        } else
                return diag_add(m, DIAG_WARNING, p->line, NULL,
                                "unknown key %s in [" HEADER_SECTION "], ignoring it", qk);
        return 0;
}

static int handler(void *user, const char *section, const char *name, const char *value) {
        Parser *p = user;
        (void) section; /* possibly truncated by inih: we use the raw name from the reader */
        int r = 0;
        if (!p->section) {
                _cleanup_free_ char *q = quoted(name);
                r = diag_add(p->m, DIAG_WARNING, p->line, NULL, "key %s outside any section, ignoring it",
                             q ? q : "?");
        } else if (p->in_header)
                r = handle_header_key(p, name, value);
        else if (p->cur_model >= 0)
                r = handle_model_key(p, name, value);
        /* keys in unknown sections were warned about with their section */
        return r < 0 ? 0 : 1;
}

/* What inih would silently mangle is rejected here, for the whole file. */
static int prescan(Manifest *m, const char *data, size_t size) {
        if (memchr(data, 0, size))
                return diag_add(m, DIAG_ERROR, 0, NULL,
                                "file contains a NUL byte: not a text manifest"), -EBADMSG;
        unsigned line = 0;
        for (const char *s = data, *end = data + size; s < end;) {
                const char *nl = memchr(s, '\n', (size_t) (end - s));
                size_t len = nl ? (size_t) (nl - s) : (size_t) (end - s);
                line++;
                size_t l = len;
                if (l > 0 && s[l - 1] == '\r')
                        l--;
                if (line == 1 && l >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
                        s += 3;
                        l -= 3;
                        len -= 3;
                }
                if (l > LINE_MAX_BYTES)
                        return diag_add(m, DIAG_ERROR, line, NULL,
                                        "line is %zu bytes long, the limit is %d: shorten the value "
                                        "(split arguments into several 'arg =' lines)",
                                        l, LINE_MAX_BYTES), -EBADMSG;
                /* inih's white space is isspace(): a line starting with a vertical tab, form
                 * feed or carriage return continues the previous value or hides a section
                 * header just as one starting with a space does. */
                if (l > 0 && ini_space(s[0])) {
                        bool blank = true;
                        for (size_t i = 0; i < l; i++)
                                if (!ini_space(s[i]))
                                        blank = false;
                        if (!blank)
                                return diag_add(m, DIAG_ERROR, line, NULL,
                                                "line starts with white space: continuation lines are not "
                                                "supported, start every key at the beginning of its line"),
                                       -EBADMSG;
                }
                s += len + (nl ? 1 : 0);
        }
        return 0;
}

/* A stable merge sort by line, O(n log n): a 1 MiB file can carry 100,000 diagnostics, and
 * those added late (one per model at its header line) may all move. */
static int sort_diags(Manifest *m) {
        size_t n = m->n_diags;
        if (n < 2)
                return 0;
        _cleanup_free_ Diag *tmp = malloc(sizeof(Diag) * n);
        if (!tmp)
                return -ENOMEM;
        Diag *a = m->diags, *b = tmp;
        for (size_t width = 1; width < n; width *= 2) {
                for (size_t lo = 0; lo < n; lo += 2 * width) {
                        size_t mid = lo + width < n ? lo + width : n;
                        size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
                        size_t i = lo, j = mid, k = lo;
                        while (i < mid && j < hi)
                                b[k++] = a[j].line < a[i].line ? a[j++] : a[i++];
                        while (i < mid)
                                b[k++] = a[i++];
                        while (j < hi)
                                b[k++] = a[j++];
                }
                Diag *t = a;
                a = b;
                b = t;
        }
        if (a != m->diags)
                memcpy(m->diags, a, sizeof(Diag) * n);
        return 0;
}

static int model_cmp(const void *a, const void *b) {
        return strcmp(((const Model *) a)->name, ((const Model *) b)->name);
}

static int finish(Parser *p) {
        Manifest *m = p->m;

        if (p->too_many)
                return diag_add(m, DIAG_ERROR, 0, NULL,
                                "more than %d models: split the fleet across machines or raise the limit in a "
                                "patched build",
                                MANIFEST_MAX_MODELS),
                       -E2BIG;
        if (!p->saw_header || !p->saw_version)
                return diag_add(m, DIAG_ERROR, 0, NULL,
                                "missing '[" HEADER_SECTION "]' section with 'version = %d': is this a "
                                "deferred-builds manifest?",
                                MANIFEST_VERSION),
                       -EBADMSG;
        if (m->version != MANIFEST_VERSION)
                return -EBADMSG;
        for (size_t i = 0; i < m->n_diags; i++)
                if (m->diags[i].level == DIAG_ERROR && !m->diags[i].model)
                        return -EBADMSG;

        for (size_t i = 0; i < p->n_models; i++) {
                Model *md = &p->models[i];
                p->cur_model = (ssize_t) i;
                if (!md->invalid && !md->drv)
                        model_error(p, md->line, "no 'drv =' line: every model needs its derivation");
                if (!md->invalid && !md->exec)
                        model_error(p, md->line, "no 'exec =' line: every model needs a serve program");
                if (!md->invalid && !md->output && !(md->output = strdup("out")))
                        return -ENOMEM;
        }
        int r = check_fleet(p);
        if (r < 0)
                return r;

        /* Keep valid models, sorted, so output is deterministic. */
        size_t k = 0;
        for (size_t i = 0; i < p->n_models; i++) {
                if (p->models[i].invalid) {
                        model_done(&p->models[i]);
                        m->n_skipped++;
                } else
                        p->models[k++] = p->models[i];
        }
        p->n_models = k;
        if (k > 0)
                qsort(p->models, k, sizeof(Model), model_cmp);
        m->models = TAKE_PTR(p->models);
        m->n_models = k;
        p->n_models = 0;
        return 0;
}

const char *manifest_real_path(Manifest *m) {
        if (!m->real_path && m->on_disk) {
                m->real_path = realpath(m->path, NULL);
                if (!m->real_path && errno == ENOMEM)
                        return NULL;
                m->on_disk = false; /* tried: do not resolve again */
        }
        return m->real_path ? m->real_path : m->path;
}

static int generation_default(Manifest *m) {
        if (m->generation)
                return 0;
        /* Only a resolved path names a store path; one that cannot be resolved, or a
         * manifest parsed from memory, is "local". */
        if (!manifest_real_path(m))
                return -ENOMEM;
        const char *rp = m->real_path;
        const char *dir = store_dir();
        const char *rest = rp ? startswith(rp, dir) : NULL;
        if (rest && rest[0] == '/' && !strchr(rest + 1, '/') && generation_is_valid(rest + 1))
                m->generation = strdup(rest + 1);
        else
                m->generation = strdup("local");
        return m->generation ? 0 : -ENOMEM;
}

static int parse_internal(const char *path, bool on_disk, const char *data, size_t size, Manifest **ret) {
        Manifest *m = calloc(1, sizeof(Manifest));
        if (!m)
                return -ENOMEM;
        *ret = m;
        m->on_disk = on_disk;
        m->path = strdup(path);
        if (!m->path)
                return -ENOMEM;

        if (size > MANIFEST_MAX_BYTES) {
                m->rejected = true;
                return diag_add(m, DIAG_ERROR, 0, NULL, "file is larger than %d bytes: not loading it",
                                MANIFEST_MAX_BYTES);
        }
        if (prescan(m, data, size) < 0) {
                m->rejected = true;
                return 0;
        }

        Parser p = { .m = m, .data = data, .end = data + size, .pos = data, .cur_model = -1 };
        int r = ini_parse_stream(reader, &p, handler, &p);
        if (r > 0) {
                m->rejected = true;
                (void) diag_add(m, DIAG_ERROR, (unsigned) r, NULL,
                                "syntax error: expected '[section]', 'key = value', a comment or a blank line");
        } else if (r < 0) {
                m->rejected = true;
                (void) diag_add(m, DIAG_ERROR, 0, NULL, "could not parse: out of memory");
        }
        if (!m->rejected && finish(&p) < 0)
                m->rejected = true;

        for (size_t i = 0; i < p.n_models; i++)
                model_done(&p.models[i]);
        free(p.models);
        free(p.section);
        free(p.index);
        /* Report in file order: checks made at the end of a section, or across models, are
         * added late. */
        if (sort_diags(m) < 0) {
                m->rejected = true;
                (void) diag_add(m, DIAG_ERROR, 0, NULL, "could not parse: out of memory");
        }
        if (m->rejected) {
                for (size_t i = 0; i < m->n_models; i++)
                        model_done(&m->models[i]);
                free(m->models);
                m->models = NULL;
                m->n_models = 0;
        }
        return generation_default(m);
}

int manifest_load(const char *path, Manifest **ret) {
        _cleanup_free_ char *data = NULL;
        size_t size = 0;
        int r = read_full_file(path, MANIFEST_MAX_BYTES, &data, &size);
        if (r < 0) {
                Manifest *m = calloc(1, sizeof(Manifest));
                *ret = m;
                if (!m)
                        return -ENOMEM;
                m->path = strdup(path);
                m->rejected = true;
                if (r == -EFBIG)
                        (void) diag_add(m, DIAG_ERROR, 0, NULL, "file is larger than %d bytes: not loading it",
                                        MANIFEST_MAX_BYTES);
                else if (r == -EISDIR)
                        (void) diag_add(m, DIAG_ERROR, 0, NULL, "is a directory, not a manifest file");
                else if (r == -EBADFD)
                        (void) diag_add(m, DIAG_ERROR, 0, NULL,
                                        "is not a regular file (a FIFO, socket or device): not reading it");
                else if (r != -ENOENT)
                        (void) diag_add(m, DIAG_ERROR, 0, NULL, "cannot read: %s", strerror(-r));
                return r == -EFBIG || r == -EISDIR || r == -EBADFD ? 0 : r;
        }
        return parse_internal(path, true, data, size, ret);
}

int manifest_parse(const char *path, const char *data, size_t size, Manifest **ret) {
        return parse_internal(path, false, data, size, ret);
}

const Model *manifest_find(const Manifest *m, const char *name) {
        Model key = { .name = (char *) name };
        return m->n_models ? bsearch(&key, m->models, m->n_models, sizeof(Model), model_cmp) : NULL;
}

size_t manifest_count_errors(const Manifest *m) {
        size_t n = 0;
        for (size_t i = 0; i < m->n_diags; i++)
                n += m->diags[i].level == DIAG_ERROR;
        return n;
}

void manifest_print_diags(const Manifest *m, void *file) {
        FILE *f = file;
        _cleanup_free_ char *path = escape_for_message(m->path, PATH_MAX);
        for (size_t i = 0; i < m->n_diags; i++) {
                const Diag *d = &m->diags[i];
                const char *lvl = d->level == DIAG_ERROR ? "error" : "warning";
                if (d->line)
                        fprintf(f, "%s:%u: %s: %s\n", strempty(path), d->line, lvl, d->message);
                else
                        fprintf(f, "%s: %s: %s\n", strempty(path), lvl, d->message);
        }
}

void manifest_log_diags(const Manifest *m) {
        _cleanup_free_ char *path = escape_for_message(m->path, PATH_MAX);
        for (size_t i = 0; i < m->n_diags; i++) {
                const Diag *d = &m->diags[i];
                int lvl = d->level == DIAG_ERROR ? LOG_ERR : LOG_WARNING;
                if (d->line)
                        log_internal(lvl, 0, "%s:%u: %s", strempty(path), d->line, d->message);
                else
                        log_internal(lvl, 0, "%s: %s", strempty(path), d->message);
        }
}
