/* SPDX-License-Identifier: MIT */
/* The serve drop-in's sandbox and secrets lines: the model's profile (profile.c), its
 * passed-through settings (passthrough.c, already validated), its credentials and its
 * environment file. */
#include <stdbool.h>
#include <string.h>

#include "profile.h"
#include "unitfile.h"
#include "util.h"

static void put_line(const char *line, void *data) {
        Buf *b = data;
        buf_puts(b, line);
        buf_puts(b, "\n");
}

typedef struct ProfileWriter {
        Buf *b;
        const Model *md;
} ProfileWriter;

/* Whether the model's own environment sets the variable of "Environment=NAME=VALUE". */
static bool model_sets(const Model *md, const char *line) {
        const char *name = startswith(line, "Environment=");
        if (!name)
                return false;
        size_t n = strcspn(name, "=") + 1;
        for (size_t i = 0; i < md->n_env; i++)
                if (strncmp(md->env[i], name, n) == 0)
                        return true;
        return false;
}

static void put_profile_line(const char *line, void *data) {
        ProfileWriter *w = data;
        /* A variable the model sets itself (HOME=...) keeps the model's value: the
         * profile's line would come later and win. */
        if (!model_sets(w->md, line))
                put_line(line, w->b);
}

SandboxProfile model_sandbox(const Model *md) {
        return md->sandbox >= 0 ? (SandboxProfile) md->sandbox : SANDBOX_STRICT;
}

void unit_serve_sandbox_lines(Buf *b, const Model *md, Scope scope) {
        /* The sandbox ships for the system scope only (units/system/), and user managers
         * apply little of it: profiles and passed-through settings follow it there. */
        if (scope == SCOPE_SYSTEM) {
                ProfileWriter w = { b, md };
                sandbox_foreach_line(model_sandbox(md), put_profile_line, &w);
                /* After the profile: a single-value setting here wins, a list one adds. The
                 * grammar admits no specifier, quote or backslash: written as is. */
                for (size_t i = 0; i < md->n_service; i++)
                        put_line(md->service[i], b);
        }
        /* Secrets by path, read by systemd when the server starts: their contents are in
         * neither the manifest nor the unit (validated: no specifier, space or quote). */
        for (size_t i = 0; i < md->n_credentials; i++) {
                buf_puts(b, "LoadCredential=");
                put_line(md->credentials[i], b);
        }
        if (md->environment_file) {
                buf_puts(b, "EnvironmentFile=");
                put_line(md->environment_file, b);
        }
}
