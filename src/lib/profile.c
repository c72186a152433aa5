/* SPDX-License-Identifier: MIT */
#include "profile.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* Each profile's settings, written once: a profile is its parent's lines and its own.
 * docs/sandbox.md says what each line opens and why; tests/system/sandbox.sh checks them
 * with `systemctl show` on a booted system. List settings (SystemCallFilter=,
 * RestrictAddressFamilies=, DeviceAllow=) accumulate over drop-ins: these add to the
 * strict allow-lists instead of replacing them, and never reset one with an empty value. */
static const char *const ml_lines[] = {
        /* /proc/cpuinfo, /proc/meminfo, /proc/stat: PyTorch's cpuinfo, psutil, NumPy. */
        "ProcSubset=all",
        /* Writable and executable memory: oneDNN, numba, XLA and Triton JIT compilers. */
        "MemoryDenyWriteExecute=no",
        /* The allow-list gets @resources back (sched_setaffinity, setpriority, setrlimit),
         * which the strict sandbox removed with ~@resources. */
        "SystemCallFilter=@resources",
        /* getifaddrs(): NCCL and Gloo bootstrap, psutil. */
        "RestrictAddressFamilies=AF_NETLINK",
        /* A private, persistent home and cache: Hugging Face hub, torch.hub, Triton. */
        "StateDirectory=deferred-serve/%i",
        "CacheDirectory=deferred-serve/%i",
        "Environment=HOME=%S/deferred-serve/%i",
        "Environment=XDG_CACHE_HOME=%C/deferred-serve/%i",
        NULL,
};

static const char *const gpu_lines[] = {
        /* The device nodes, behind a cgroup allow-list: the classes nixpkgs' ollama module
         * opens for CUDA (NVIDIA's DGX OS guide). /proc/driver/nvidia is visible through
         * the ml profile's ProcSubset=all. */
        "PrivateDevices=no",
        "DevicePolicy=closed",
        "DeviceAllow=char-nvidiactl rw",
        "DeviceAllow=char-nvidia-frontend rw",
        "DeviceAllow=char-nvidia-uvm rw",
        "DeviceAllow=char-nvidia-caps rw",
        NULL,
};

static const struct {
        const char *name;
        int parent; /* -1: none */
        const char *const *lines;
        bool opens_devices;
} profiles[_SANDBOX_MAX] = {
        [SANDBOX_STRICT] = { "strict", -1, NULL, false },
        [SANDBOX_ML] = { "ml", SANDBOX_STRICT, ml_lines, false },
        [SANDBOX_GPU] = { "gpu", SANDBOX_ML, gpu_lines, true },
};

const char *sandbox_to_string(SandboxProfile p) {
        return (unsigned) p < _SANDBOX_MAX ? profiles[p].name : NULL;
}

int sandbox_from_string(const char *s) {
        for (int i = 0; i < _SANDBOX_MAX; i++)
                if (strcmp(s, profiles[i].name) == 0)
                        return i;
        return -EINVAL;
}

void sandbox_foreach_line(SandboxProfile p, void (*fn)(const char *line, void *data), void *data) {
        if ((unsigned) p >= _SANDBOX_MAX)
                return;
        if (profiles[p].parent >= 0)
                sandbox_foreach_line((SandboxProfile) profiles[p].parent, fn, data);
        for (const char *const *l = profiles[p].lines; l && *l; l++)
                fn(*l, data);
}

bool sandbox_opens_devices(SandboxProfile p) {
        return (unsigned) p < _SANDBOX_MAX && profiles[p].opens_devices;
}
