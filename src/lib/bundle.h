/* SPDX-License-Identifier: MIT */
/* Derivation bundles (docs/DESIGN.md "Derivation bundles"): a model's .drv closure kept in
 * the store as one compressed file, so that the system closure holds no .drv while the
 * model can still be built after a closure-only deploy, a rollback or a GC.
 *
 * A bundle is a store directory:
 *   BUNDLE/format    BUNDLE_FORMAT_LINE and a newline: the layout below, checked on import
 *   BUNDLE/drvs.xz   every .drv of the closure as a `nix-store --export` stream, references
 *                    first, xz-compressed (compressed, no store hash of a .drv is visible to
 *                    Nix's reference scanner, so the bundle does not reference them)
 *   BUNDLE/sources   the closure's other store paths (training data, scripts), one a line:
 *                    plain text, so the bundle references them and they travel with it
 *
 * This file is the only one that knows the stream format (Nix's export format, version 1
 * of its archive format); a newer format gets a new format line and a branch here. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define BUNDLE_FORMAT_LINE "deferred-builds-bundle 1 nix-export xz"
#define BUNDLE_FORMAT_FILE "format"
#define BUNDLE_STREAM_FILE "drvs.xz"
#define BUNDLE_SOURCES_FILE "sources"
/* A decompressed stream larger than this is refused (a closure of 1,000 .drvs is ~3 MiB). */
#define BUNDLE_STREAM_MAX (512U * 1024 * 1024)

/* A growing byte buffer. */
typedef struct Buf {
        char *data;
        size_t len, cap;
} Buf;
void buf_done(Buf *b);

/* The references a .drv file (ATerm text, "Derive(...)") declares: the store paths of its
 * input derivations and of its input sources, appended to *refs (strv, *n entries).
 * Returns 0, -EBADMSG when the text is not a derivation this parser knows, -ENOMEM. */
int drv_parse_references(const char *text, size_t len, char ***refs, size_t *n);

/* Appends one regular, non-executable file as an export-stream entry for store path
 * `path` with the given references (any order). Returns 0 or -ENOMEM. */
int bundle_stream_add(Buf *b, const char *path, const char *content, size_t len, char *const *refs, size_t n_refs);
/* Ends the stream. Returns 0 or -ENOMEM. */
int bundle_stream_finish(Buf *b);

/* Checks a decompressed stream before it is imported: every entry is a .drv holding one
 * regular, non-executable file, with sorted store paths as references, at the very store
 * path Nix gives a text file with those contents and references (so no entry can claim a
 * path it does not own), and the stream ends where it should. *n_paths gets the number of entries and, when
 * last_path is not NULL, the last entry's path (the root .drv: references come first) is
 * copied into it (at least PATH_MAX bytes). Returns 0 or -EBADMSG. */
int bundle_stream_check(const char *data, size_t len, size_t *n_paths, char *last_path);
