/* SPDX-License-Identifier: MIT */
/* Derivation bundles: parsing the references out of a .drv and the `nix-store --export`
 * stream (bundle.h). The stream is a sequence of entries, each
 *   u64 1, NAR of the path, u64 0x4558494e, string path, u64 count + strings references,
 *   string deriver, u64 0 (no legacy signature)
 * ended by u64 0; numbers are 8 bytes little-endian, strings a length and the bytes padded
 * with zeros to a multiple of 8 (Nix's serialise.hh). A .drv's NAR is the archive of one
 * regular file: "nix-archive-1" "(" "type" "regular" "contents" BYTES ")". */
#include <limits.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include "bundle.h"
#include "sha256.h"
#include "util.h"
#include "validate.h"

#define EXPORT_MAGIC 0x4558494eULL

void buf_done(Buf *b) {
        free(b->data);
        *b = (Buf){ 0 };
}

static int buf_reserve(Buf *b, size_t more) {
        if (b->len + more <= b->cap)
                return 0;
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + more) {
                if (cap > SIZE_MAX / 2)
                        return -ENOMEM;
                cap *= 2;
        }
        char *p = realloc(b->data, cap);
        if (!p)
                return -ENOMEM;
        b->data = p;
        b->cap = cap;
        return 0;
}

static int put_u64(Buf *b, uint64_t v) {
        if (buf_reserve(b, 8) < 0)
                return -ENOMEM;
        for (int i = 0; i < 8; i++)
                b->data[b->len++] = (char) ((v >> (8 * i)) & 0xff);
        return 0;
}

static int put_bytes(Buf *b, const char *s, size_t len) {
        size_t pad = (8 - len % 8) % 8;
        if (put_u64(b, len) < 0 || buf_reserve(b, len + pad) < 0)
                return -ENOMEM;
        memcpy(b->data + b->len, s, len);
        memset(b->data + b->len + len, 0, pad);
        b->len += len + pad;
        return 0;
}

static int put_str(Buf *b, const char *s) {
        return put_bytes(b, s, strlen(s));
}

static int cmp_strp(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

int bundle_stream_add(Buf *b, const char *path, const char *content, size_t len, char *const *refs, size_t n_refs) {
        static const char *const head[] = { "nix-archive-1", "(", "type", "regular", "contents" };
        /* Nix writes references as a sorted set; sort a copy of the pointers. */
        _cleanup_free_ char **sorted = n_refs ? malloc(n_refs * sizeof *sorted) : NULL;
        if (n_refs && !sorted)
                return -ENOMEM;
        if (n_refs) {
                memcpy(sorted, refs, n_refs * sizeof *sorted);
                qsort(sorted, n_refs, sizeof *sorted, cmp_strp);
        }
        if (put_u64(b, 1) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(head); i++)
                if (put_str(b, head[i]) < 0)
                        return -ENOMEM;
        if (put_bytes(b, content, len) < 0 || put_str(b, ")") < 0 || put_u64(b, EXPORT_MAGIC) < 0 ||
            put_str(b, path) < 0 || put_u64(b, n_refs) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < n_refs; i++)
                if (put_str(b, sorted[i]) < 0)
                        return -ENOMEM;
        if (put_str(b, "") < 0 || put_u64(b, 0) < 0)
                return -ENOMEM;
        return 0;
}

int bundle_stream_finish(Buf *b) {
        return put_u64(b, 0);
}

/* ---- reading the stream --------------------------------------------------------------- */

typedef struct Reader {
        const char *p, *end;
} Reader;

static bool get_u64(Reader *r, uint64_t *v) {
        if (r->end - r->p < 8)
                return false;
        uint64_t x = 0;
        for (int i = 7; i >= 0; i--)
                x = (x << 8) | (unsigned char) r->p[i];
        r->p += 8;
        *v = x;
        return true;
}

/* A string of at most max bytes; *s points into the stream (not NUL-terminated). */
static bool get_bytes(Reader *r, size_t max, const char **s, size_t *len) {
        uint64_t n;
        if (!get_u64(r, &n) || n > max)
                return false;
        uint64_t padded = n + (8 - n % 8) % 8;
        if ((uint64_t) (r->end - r->p) < padded)
                return false;
        for (uint64_t i = n; i < padded; i++)
                if (r->p[i] != 0)
                        return false;
        *s = r->p;
        *len = n;
        r->p += padded;
        return true;
}

static bool expect_str(Reader *r, const char *want) {
        const char *s;
        size_t len;
        return get_bytes(r, strlen(want), &s, &len) && len == strlen(want) && memcmp(s, want, len) == 0;
}

/* A store path string; copied NUL-terminated into buf (PATH_MAX). */
static bool get_path(Reader *r, char buf[static PATH_MAX]) {
        const char *s;
        size_t len;
        if (!get_bytes(r, PATH_MAX - 1, &s, &len) || memchr(s, 0, len))
                return false;
        memcpy(buf, s, len);
        buf[len] = 0;
        return store_path_is_valid(buf);
}

/* Nix's base-32 of a 20-byte hash (libutil/hash.cc printHash32): 32 characters, the last
 * bits first. */
static void base32_20(const uint8_t h[static 20], char out[static 33]) {
        static const char chars[] = "0123456789abcdfghijklmnpqrsvwxyz";
        for (int n = 31, k = 0; n >= 0; n--, k++) {
                unsigned b = (unsigned) n * 5, i = b / 8, j = b % 8;
                unsigned c = (unsigned) (h[i] >> j) | (i >= 19 ? 0 : (unsigned) h[i + 1] << (8 - j));
                out[k] = chars[c & 0x1f];
        }
        out[32] = 0;
}

/* The store path Nix gives a text file (a .drv is one) with these contents, references
 * (fed to `outer` already, as ":REF" each, after "text") and name: makeTextPath(), i.e.
 * SHA-256 of "text:REFS...:sha256:HEX:STORE:NAME", folded to 20 bytes, in base 32. */
static void text_path_finish(Sha256 *outer, const uint8_t inner[static SHA256_SIZE], const char *name,
                             char out[static PATH_MAX]) {
        char hex[2 * SHA256_SIZE + 1];
        for (int i = 0; i < SHA256_SIZE; i++)
                snprintf(hex + 2 * i, 3, "%02x", inner[i]);
        sha256_update(outer, ":sha256:", 8);
        sha256_update(outer, hex, 2 * SHA256_SIZE);
        sha256_update(outer, ":", 1);
        sha256_update(outer, store_dir(), strlen(store_dir()));
        sha256_update(outer, ":", 1);
        sha256_update(outer, name, strlen(name));
        uint8_t h[SHA256_SIZE], folded[20] = { 0 };
        sha256_final(outer, h);
        for (int i = 0; i < SHA256_SIZE; i++)
                folded[i % 20] ^= h[i];
        char b32[33];
        base32_20(folded, b32);
        snprintf(out, PATH_MAX, "%s/%s-%s", store_dir(), b32, name);
}

int bundle_stream_check(const char *data, size_t len, size_t *n_paths, char *last_path) {
        static const char *const head[] = { "nix-archive-1", "(", "type", "regular", "contents" };
        Reader r = { data, data + len };
        char path[PATH_MAX];
        size_t n = 0;
        for (;;) {
                uint64_t more;
                if (!get_u64(&r, &more))
                        return -EBADMSG;
                if (more == 0)
                        break;
                if (more != 1)
                        return -EBADMSG;
                for (size_t i = 0; i < ELEMENTSOF(head); i++)
                        if (!expect_str(&r, head[i]))
                                return -EBADMSG;
                const char *content;
                size_t clen;
                uint64_t magic, n_refs, sig;
                if (!get_bytes(&r, len, &content, &clen) || !expect_str(&r, ")") || !get_u64(&r, &magic) ||
                    magic != EXPORT_MAGIC || !get_path(&r, path) || !drv_path_is_valid(path) || !get_u64(&r, &n_refs))
                        return -EBADMSG;
                /* The path must be the one its contents and references name: then
                 * importing it (as root) adds nothing `nix-instantiate` could not. */
                uint8_t inner[SHA256_SIZE];
                sha256(content, clen, inner);
                Sha256 outer;
                sha256_init(&outer);
                sha256_update(&outer, "text", 4);
                char ref[PATH_MAX], prev[PATH_MAX] = "";
                for (uint64_t i = 0; i < n_refs; i++) {
                        /* A set, sorted, as Nix writes and hashes it. */
                        if (!get_path(&r, ref) || (i > 0 && strcmp(prev, ref) >= 0))
                                return -EBADMSG;
                        sha256_update(&outer, ":", 1);
                        sha256_update(&outer, ref, strlen(ref));
                        memcpy(prev, ref, sizeof prev);
                }
                char want[PATH_MAX];
                text_path_finish(&outer, inner, path + strlen(store_dir()) + 1 + 33, want);
                if (!streq(want, path))
                        return -EBADMSG;
                /* No deriver (a .drv has none), no signature. */
                if (!expect_str(&r, "") || !get_u64(&r, &sig) || sig != 0)
                        return -EBADMSG;
                n++;
        }
        if (r.p != r.end || n == 0)
                return -EBADMSG;
        *n_paths = n;
        if (last_path)
                snprintf(last_path, PATH_MAX, "%s", path);
        return 0;
}

/* ---- .drv references ------------------------------------------------------------------- */

typedef struct Aterm {
        const char *p, *end;
} Aterm;

static bool at_char(Aterm *a, char c) {
        if (a->p < a->end && *a->p == c) {
                a->p++;
                return true;
        }
        return false;
}

/* A quoted string; *s and *len give its raw contents (escapes kept). */
static bool at_string(Aterm *a, const char **s, size_t *len) {
        if (!at_char(a, '"'))
                return false;
        const char *start = a->p;
        while (a->p < a->end && *a->p != '"') {
                if (*a->p == '\\')
                        a->p++;
                a->p++;
        }
        if (a->p >= a->end)
                return false;
        *s = start;
        *len = (size_t) (a->p - start);
        a->p++;
        return true;
}

/* Skips one value: a string, or a list "[...]" or tuple "(...)" of values. */
static bool at_skip(Aterm *a, unsigned depth) {
        const char *s;
        size_t len;
        if (depth > 8)
                return false;
        if (a->p < a->end && *a->p == '"')
                return at_string(a, &s, &len);
        char close = at_char(a, '[') ? ']' : at_char(a, '(') ? ')' : 0;
        if (!close)
                return false;
        if (at_char(a, close))
                return true;
        do
                if (!at_skip(a, depth + 1))
                        return false;
        while (at_char(a, ','));
        return at_char(a, close);
}

static int push_ref(const char *s, size_t len, char ***refs, size_t *n) {
        if (len == 0 || len >= PATH_MAX || memchr(s, '\\', len))
                return -EBADMSG;
        char *p = strndup(s, len);
        if (!p)
                return -ENOMEM;
        if (!store_path_is_valid(p)) {
                free(p);
                return -EBADMSG;
        }
        return strv_push(refs, n, p);
}

int drv_parse_references(const char *text, size_t len, char ***refs, size_t *n) {
        Aterm a = { text, text + len };
        const char *s;
        size_t slen;
        int r;

        if ((size_t) (a.end - a.p) < 7 || memcmp(a.p, "Derive(", 7) != 0)
                return -EBADMSG;
        a.p += 7;
        /* Outputs, skipped. */
        if (!at_skip(&a, 0) || !at_char(&a, ','))
                return -EBADMSG;
        /* Input derivations: [("/nix/store/...drv",["out",...]),...] */
        if (!at_char(&a, '['))
                return -EBADMSG;
        if (!at_char(&a, ']')) {
                do {
                        if (!at_char(&a, '(') || !at_string(&a, &s, &slen) || !at_char(&a, ',') || !at_skip(&a, 1) ||
                            !at_char(&a, ')'))
                                return -EBADMSG;
                        if ((r = push_ref(s, slen, refs, n)) < 0)
                                return r;
                } while (at_char(&a, ','));
                if (!at_char(&a, ']'))
                        return -EBADMSG;
        }
        /* Input sources: ["/nix/store/...",...] */
        if (!at_char(&a, ',') || !at_char(&a, '['))
                return -EBADMSG;
        if (!at_char(&a, ']')) {
                do {
                        if (!at_string(&a, &s, &slen))
                                return -EBADMSG;
                        if ((r = push_ref(s, slen, refs, n)) < 0)
                                return r;
                } while (at_char(&a, ','));
                if (!at_char(&a, ']'))
                        return -EBADMSG;
        }
        return at_char(&a, ',') ? 0 : -EBADMSG;
}
