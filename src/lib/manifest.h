/* SPDX-License-Identifier: MIT */
/* The manifest: an INI file (format v1, docs/manifest.md) parsed with inih.
 *
 * Error policy: anything that makes the file unreadable as a whole (I/O error, not a
 * regular file, over 1 MiB, a NUL byte, a line inih would truncate, an inih syntax error,
 * a missing or unsupported version) rejects the whole file: no model is loaded. An error
 * inside one model's section skips that model only. Unknown keys and sections warn.
 * Every problem is recorded as a diagnostic with its line, for the caller to print. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "profile.h"

#define MANIFEST_MAX_BYTES (1024 * 1024)
#define MANIFEST_MAX_MODELS 10000
#define MANIFEST_VERSION 1

typedef enum DiagLevel {
        DIAG_ERROR,   /* the model (or, with line 0 / file scope, the file) was rejected */
        DIAG_WARNING, /* ignored, nothing rejected */
} DiagLevel;

typedef struct Diag {
        DiagLevel level;
        unsigned line; /* 0: the whole file */
        char *model;   /* the model it concerns, or NULL */
        char *message; /* "what, what to do", no file or line prefix */
} Diag;

typedef struct Model {
        char *name;
        unsigned line; /* line of the section header */
        char *drv;
        char *output; /* "out" unless set */
        char *out;    /* NULL for content-addressed derivations */
        char *bundle; /* the derivation bundle (src/lib/bundle.h), or NULL */
        char *exec;
        char **args;
        size_t n_args;
        char **env;
        size_t n_env;
        /* realise options; 0 / NULL / -1 when unset */
        unsigned long long max_silent_time;
        unsigned long long timeout;
        bool has_max_silent_time, has_timeout;
        char *builders;
        char *substituters;        /* replace the daemon's lists */
        char *trusted_public_keys;
        char *extra_substituters;  /* add to them */
        char *extra_trusted_public_keys;
        int builders_use_substitutes;
        /* serve options */
        char *user;
        char *memory_max;
        char *cpu_quota;
        char **device_allow;
        size_t n_device_allow;
        int notify; /* the server sends READY=1 (sd_notify): Type=notify; -1 unset */
        char *ready_url; /* active once this answers 2xx (netaddr.h), or NULL */
        unsigned long long start_timeout; /* TimeoutStartSec= in seconds, when has_start_timeout */
        bool has_start_timeout, start_timeout_infinity;
        char **listen; /* ListenStream= of the server's socket unit (netaddr.h) */
        size_t n_listen;
        /* serve sandbox and secrets (docs/sandbox.md) */
        int sandbox;        /* SandboxProfile (profile.h); -1 unset: strict */
        char **service;     /* passed-through [Service] settings, "Key=Value" */
        size_t n_service;
        char **credentials; /* LoadCredential= "ID:PATH" */
        size_t n_credentials;
        char *environment_file;
        /* alerts: units started when a training or the server fails (onfailure.h) */
        char **on_failure;
        size_t n_on_failure;

        bool invalid;          /* internal: skipped */
        unsigned drv_line, exec_line;
} Model;

typedef struct Manifest {
        char *path;       /* as given */
        char *real_path;  /* resolved, or NULL: see manifest_real_path() */
        bool on_disk;     /* loaded from path (manifest_load), so path can be resolved */
        char *generation; /* identity, see docs/DESIGN.md */
        unsigned version;
        bool rejected; /* the whole file was rejected; models is empty */
        Model *models; /* valid models only, sorted by name */
        size_t n_models;
        size_t n_skipped; /* models skipped for errors */
        Diag *diags;
        size_t n_diags;
} Manifest;

/* Loads and validates. Returns 0 when the file was read (even if models were skipped or the
 * file was rejected for its content: see m->rejected), -ENOENT when it does not exist, other
 * -errno when it could not be read; in every case *ret is a valid manifest to free, with
 * diagnostics. */
int manifest_load(const char *path, Manifest **ret);
/* The same, from memory; `path` is only used for messages and the generation fallback. */
int manifest_parse(const char *path, const char *data, size_t size, Manifest **ret);
void manifest_free(Manifest *m);
static inline void manifest_freep(Manifest **m) {
        manifest_free(*m);
}
#define _cleanup_manifest_ __attribute__((cleanup(manifest_freep)))

/* The manifest's path with every symlink resolved (realpath(3)), resolved on first use: only
 * the generator and a manifest without "generation =" need it, and resolving costs one
 * system call per path component. The path as given when it cannot be resolved or the
 * manifest was parsed from memory; NULL only when out of memory. */
const char *manifest_real_path(Manifest *m);
const Model *manifest_find(const Manifest *m, const char *name);
size_t manifest_count_errors(const Manifest *m);

/* Prints every diagnostic as "PATH:LINE: error: MESSAGE" (or "warning:") to f. */
void manifest_print_diags(const Manifest *m, void *file /* FILE* */);
/* Logs every diagnostic through log.h at error/warning level. */
void manifest_log_diags(const Manifest *m);
