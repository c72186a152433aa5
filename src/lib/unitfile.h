/* SPDX-License-Identifier: MIT */
/* Unit-file text: escaping (systemd.syntax(7), systemd.service(5) "Command lines") and the
 * drop-ins the generator writes. Pure functions, so tests can compare exact text. */
#pragma once

#include <stddef.h>

#include "manifest.h"
#include "paths.h"

#define GENERATOR_NAME "deferred-builds-generator"

/* A growable string buffer. */
typedef struct Buf {
        char *s;
        size_t len, alloc;
        int error; /* first -errno seen; later appends are no-ops */
} Buf;
void buf_puts(Buf *b, const char *s);
void buf_printf(Buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_free(Buf *b);

/* Appends s as one double-quoted word for ExecStart=: backslash and double quote are
 * backslash-escaped, '%' becomes "%%" (specifiers) and '$' becomes "$$" (variable
 * expansion). Input must be printable (validated before). */
void buf_put_exec_word(Buf *b, const char *s);
/* Appends s double-quoted for Environment=: as above but '$' stays literal (systemd does
 * not expand variables in Environment=). */
void buf_put_env_word(Buf *b, const char *s);
/* Appends s with '%' doubled, for settings that expand specifiers on the raw value. */
void buf_put_specifier_escaped(Buf *b, const char *s);

/* Text of generated files. `source` is the manifest path shown as SourcePath=. */
int unit_template_dropin(Scope scope, const char *manifest_real, const char *state_dir, const char *source,
                         char **ret);
/* systemd reads a unit-file line of at most this many bytes (LONG_LINE_MAX - 1); a longer
 * one fails the whole unit ("No buffer space available"). */
#define UNIT_LINE_MAX (1024 * 1024 - 1)
/* Length of the ExecStart= line unit_serve_dropin() writes for md, without its newline. */
size_t unit_exec_start_length(const Model *md);
int unit_serve_dropin(const Model *md, Scope scope, const char *source, char **ret);
/* The digest of a server's settings (command, environment, user, limits, devices,
 * readiness) that unit_serve_dropin() writes as Environment=DEFERRED_SERVE_SETTINGS=. */
#define SERVE_SETTINGS_VAR "DEFERRED_SERVE_SETTINGS"
#define SERVE_SETTINGS_LEN 16
int unit_serve_settings(const Model *md, Scope scope, char out[SERVE_SETTINGS_LEN + 1]);
/* The variable the serve drop-in sets to the model's ready-url: the serve template's
 * ExecStartPost= (deferred-ready(8)) polls it, and returns at once when it is unset. */
#define READY_URL_VAR "DEFERRED_READY_URL"
/* The drop-in of deferred-serve@NAME.socket: its ListenStream= lines (md->n_listen > 0). */
int unit_socket_dropin(const Model *md, const char *source, char **ret);
/* The dynamic user name a system-scope server runs as when the model sets no user=:
 * "dserve-NAME" when that fits systemd's 31-character limit, else "dserve_" and a 64-bit
 * hash of the name: the forms differ in their eighth byte ('-' or '_'), so they never meet. */
void serve_user_name(const char *model, char out[32]);
/* The model's sandbox profile, strict unless it names one. */
SandboxProfile model_sandbox(const Model *md);
/* Appends the serve drop-in's profile, passed-through settings (system scope only),
 * LoadCredential= and EnvironmentFile= lines for md. */
void unit_serve_sandbox_lines(Buf *b, const Model *md, Scope scope);
