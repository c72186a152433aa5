/* SPDX-License-Identifier: MIT */
/* Named serve sandbox profiles (docs/sandbox.md): what each one relaxes of the strict
 * system-scope sandbox of units/system/deferred-serve@.service.d/10-system.conf. */
#pragma once

#include <stdbool.h>

typedef enum SandboxProfile {
        SANDBOX_STRICT, /* the shipped sandbox as it is; the default */
        SANDBOX_ML,     /* JIT/ML runtimes: PyTorch/oneDNN, numba, XLA */
        SANDBOX_GPU,    /* ml, and the NVIDIA devices CUDA opens */
        _SANDBOX_MAX,
} SandboxProfile;

/* "strict", "ml" or "gpu"; NULL for anything else. */
const char *sandbox_to_string(SandboxProfile p);
/* The profile named s, or -EINVAL. */
int sandbox_from_string(const char *s);
/* Calls fn(line, data) for each [Service] line the profile adds to the strict sandbox, in
 * unit-file order (a profile's parent's lines first). The lines hold specifiers (%i, %S,
 * %C) meant for systemd. */
void sandbox_foreach_line(SandboxProfile p, void (*fn)(const char *line, void *data), void *data);
/* Whether the profile turns off PrivateDevices= in favour of a device allow-list. */
bool sandbox_opens_devices(SandboxProfile p);
