/* SPDX-License-Identifier: MIT */
/* The serve drop-in's sandbox and secrets lines: the model's profile (profile.c), its
 * passed-through settings (passthrough.c, already validated), its credentials and its
 * environment file. */
#include <string.h>

#include "profile.h"
#include "unitfile.h"

static void put_line(const char *line, void *data) {
        Buf *b = data;
        buf_puts(b, line);
        buf_puts(b, "\n");
}

SandboxProfile model_sandbox(const Model *md) {
        return md->sandbox >= 0 ? (SandboxProfile) md->sandbox : SANDBOX_STRICT;
}

void unit_serve_sandbox_lines(Buf *b, const Model *md, Scope scope) {
        /* The sandbox ships for the system scope only (units/system/), and user managers
         * apply little of it: profiles and passed-through settings follow it there. */
        if (scope == SCOPE_SYSTEM) {
                sandbox_foreach_line(model_sandbox(md), put_line, b);
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
