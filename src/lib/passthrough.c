/* SPDX-License-Identifier: MIT */
#include "passthrough.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "validate.h"

typedef enum Grammar {
        G_BOOL,
        G_PROC_SUBSET,
        G_PROTECT_PROC,
        G_PATHS,
        G_BIND_PATHS,
        G_FILE_LIMIT,
        G_COUNT_LIMIT,
        G_SIZE_LIMIT,
        G_SYSCALL_GROUPS,
        G_FAMILIES,
        G_IP_ADDRESSES,
        G_NICE,
        G_CPUS,
        G_GROUPS,
        G_MEMORY,
        G_TASKS,
        G_WEIGHT,
        G_OOM_SCORE,
} Grammar;

/* The allow-list. Single-value keys may be given once (the value after the profile's
 * wins); list keys accumulate over drop-ins, so several lines add up. */
static const struct {
        const char *key;
        Grammar grammar;
        bool list;
} allowed[] = {
        { "ProcSubset", G_PROC_SUBSET, false },
        { "ProtectProc", G_PROTECT_PROC, false },
        { "MemoryDenyWriteExecute", G_BOOL, false },
        { "PrivateDevices", G_BOOL, false },
        { "PrivateNetwork", G_BOOL, false },
        { "SupplementaryGroups", G_GROUPS, true },
        { "ReadWritePaths", G_PATHS, true },
        { "ReadOnlyPaths", G_PATHS, true },
        { "InaccessiblePaths", G_PATHS, true },
        { "BindPaths", G_BIND_PATHS, true },
        { "BindReadOnlyPaths", G_BIND_PATHS, true },
        { "LimitNOFILE", G_FILE_LIMIT, false },
        { "LimitNPROC", G_COUNT_LIMIT, false },
        { "LimitMEMLOCK", G_SIZE_LIMIT, false },
        { "LimitCORE", G_SIZE_LIMIT, false },
        { "SystemCallFilter", G_SYSCALL_GROUPS, true },
        { "RestrictAddressFamilies", G_FAMILIES, true },
        { "IPAddressAllow", G_IP_ADDRESSES, true },
        { "IPAddressDeny", G_IP_ADDRESSES, true },
        { "Nice", G_NICE, false },
        { "CPUAffinity", G_CPUS, true },
        { "CPUWeight", G_WEIGHT, false },
        { "IOWeight", G_WEIGHT, false },
        { "MemoryHigh", G_MEMORY, false },
        { "TasksMax", G_TASKS, false },
        { "OOMScoreAdjust", G_OOM_SCORE, false },
};

/* Keys refused by name, with where their setting lives instead. */
static const struct {
        const char *key;
        const char *why;
} refused[] = {
        { "ExecStart", "is the manifest's 'exec =' and 'arg =' lines" },
        { "User", "is the manifest's 'user =' key" },
        { "Group", "follows 'user =' (a dynamic user has its own group); use SupplementaryGroups= for more" },
        { "DynamicUser", "follows 'user =': without one the server runs as its own dynamic user" },
        { "Environment", "is the manifest's 'environment =' key" },
        { "EnvironmentFile", "is the manifest's 'environment-file =' key" },
        { "LoadCredential", "is the manifest's 'credential =' key" },
        { "MemoryMax", "is the manifest's 'memory-max =' key" },
        { "CPUQuota", "is the manifest's 'cpu-quota =' key" },
        { "DeviceAllow", "is the manifest's 'device-allow =' key (or 'sandbox = gpu')" },
        { "Type", "follows the manifest's 'notify =' key" },
        { "NotifyAccess", "follows the manifest's 'notify =' key" },
        { "StateDirectory", "comes with 'sandbox = ml' or 'gpu' (deferred-serve/NAME)" },
        { "CacheDirectory", "comes with 'sandbox = ml' or 'gpu' (deferred-serve/NAME)" },
};

/* systemd 252's system-call groups (systemd-analyze syscall-filter): a name it does not
 * know is logged and ignored, so only these are accepted. */
static const char *const syscall_groups[] = {
        "@aio",       "@basic-io",   "@chown",    "@clock",     "@cpu-emulation", "@debug",
        "@file-system", "@io-event", "@ipc",      "@keyring",   "@memlock",       "@module",
        "@mount",     "@network-io", "@obsolete", "@pkey",      "@privileged",    "@process",
        "@raw-io",    "@reboot",     "@resources", "@sandbox",  "@setuid",        "@signal",
        "@swap",      "@sync",       "@system-service", "@timer", "@known",       "@default",
};

/* Address families every Linux systemd knows (af_from_name()); others are refused rather
 * than risked being "not supported, ignoring". */
static const char *const families[] = {
        "AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK", "AF_PACKET", "AF_VSOCK", "AF_CAN", "AF_BLUETOOTH", "AF_ALG",
        "AF_XDP",  "AF_TIPC",
};

static bool in_list(const char *const *l, size_t n, const char *s) {
        for (size_t i = 0; i < n; i++)
                if (streq(l[i], s))
                        return true;
        return false;
}

static bool parse_int(const char *s, long long lo, long long hi) {
        char *e;
        if (!*s || (s[0] != '-' && (s[0] < '0' || s[0] > '9')))
                return false;
        long long v = strtoll(s, &e, 10);
        return *e == 0 && v >= lo && v <= hi && !(s[0] == '0' && s[1]) && !(s[0] == '-' && s[1] == '0');
}

/* A plain decimal number without sign or leading zeros, at most max. */
static bool parse_count(const char *s, unsigned long long max) {
        unsigned long long v;
        if (s[0] == '0' && s[1])
                return false;
        return safe_atou64(s, &v) >= 0 && v <= max;
}

static bool is_bool(const char *s) {
        static const char *const b[] = { "yes", "no", "true", "false", "on", "off", "1", "0" };
        return in_list(b, ELEMENTSOF(b), s);
}

/* An absolute path written unquoted into a space-separated list: no white space, quotes,
 * backslashes (unquoting), '%' (specifiers) or ':' (the bind separator). */
static bool list_path_is_valid(const char *s) {
        return absolute_path_is_valid(s) && !strpbrk(s, " \t\"'\\%:");
}

/* Bytes of a size with an optional K/M/G/T/P/E (base 1024) suffix, as systemd parses the
 * byte limits; false when it is not one or overflows. */
static bool size_bytes(const char *s, unsigned long long *ret) {
        static const char suffixes[] = "KMGTPE";
        size_t n = strspn(s, "0123456789");
        if (n == 0 || n > 20 || (s[0] == '0' && n > 1) || (s[n] && (!strchr(suffixes, s[n]) || s[n + 1])))
                return false;
        unsigned long long v;
        _cleanup_free_ char *digits = strndup(s, n);
        if (!digits || safe_atou64(digits, &v) < 0)
                return false;
        if (s[n])
                for (const char *q = suffixes; q <= strchr(suffixes, s[n]); q++) {
                        if (v > ULLONG_MAX / 1024)
                                return false;
                        v *= 1024;
                }
        /* 2^64 - 1 is RLIM_INFINITY: write "infinity" for it. */
        *ret = v;
        return v != ULLONG_MAX;
}

/* rlimit: "infinity" or a number, optionally "SOFT:HARD" with SOFT <= HARD. Open files
 * are a count up to the kernel's default fs.nr_open (2^20) and never infinity: systemd
 * lowers a limit the kernel refuses to the closest one it takes (setrlimit_closest()),
 * which would not be the value written. */
static bool limit_value(const char *s, Grammar g, unsigned long long *ret) {
        if (streq(s, "infinity") && g != G_FILE_LIMIT) {
                *ret = ULLONG_MAX;
                return true;
        }
        if (g == G_SIZE_LIMIT)
                return size_bytes(s, ret);
        if (!parse_count(s, g == G_FILE_LIMIT ? 1024 * 1024 : ULLONG_MAX - 1))
                return false;
        *ret = strtoull(s, NULL, 10);
        return true;
}

static bool limit_is_valid(const char *s, Grammar g) {
        _cleanup_free_ char *copy = strdup(s);
        if (!copy)
                return false;
        char *colon = strchr(copy, ':');
        unsigned long long soft, hard;
        if (!colon)
                return limit_value(copy, g, &soft);
        *colon = 0;
        /* systemd refuses a soft limit above the hard one. */
        return limit_value(copy, g, &soft) && limit_value(colon + 1, g, &hard) && soft <= hard;
}

static bool word_is_valid(Grammar g, const char *w) {
        switch (g) {
        case G_PATHS:
                return list_path_is_valid(w[0] == '-' ? w + 1 : w);
        case G_BIND_PATHS: {
                /* [-]SRC[:DST[:rbind|norbind]] */
                _cleanup_free_ char *copy = strdup(w[0] == '-' ? w + 1 : w);
                if (!copy)
                        return false;
                char *dst = strchr(copy, ':'), *opt = NULL;
                if (dst) {
                        *dst++ = 0;
                        opt = strchr(dst, ':');
                        if (opt)
                                *opt++ = 0;
                }
                return list_path_is_valid(copy) && (!dst || list_path_is_valid(dst)) &&
                       (!opt || streq(opt, "rbind") || streq(opt, "norbind"));
        }
        case G_SYSCALL_GROUPS:
                return in_list(syscall_groups, ELEMENTSOF(syscall_groups), w);
        case G_FAMILIES:
                return in_list(families, ELEMENTSOF(families), w);
        case G_IP_ADDRESSES: {
                static const char *const named[] = { "any", "localhost", "link-local", "multicast" };
                if (in_list(named, ELEMENTSOF(named), w))
                        return true;
                char addr[INET6_ADDRSTRLEN + 1];
                unsigned char buf[16];
                const char *slash = strchr(w, '/');
                size_t n = slash ? (size_t) (slash - w) : strlen(w);
                if (n == 0 || n >= sizeof(addr))
                        return false;
                memcpy(addr, w, n);
                addr[n] = 0;
                int family = strchr(addr, ':') ? AF_INET6 : AF_INET;
                if (inet_pton(family, addr, buf) != 1)
                        return false;
                return !slash || parse_count(slash + 1, family == AF_INET6 ? 128 : 32);
        }
        case G_CPUS: {
                /* N or N-M, 0 <= N <= M < 8192 (systemd's CPU set limit). */
                const char *dash = strchr(w, '-');
                if (!dash)
                        return parse_count(w, 8191);
                _cleanup_free_ char *a = strndup(w, (size_t) (dash - w));
                return a && parse_count(a, 8191) && parse_count(dash + 1, 8191) &&
                       strtoull(a, NULL, 10) <= strtoull(dash + 1, NULL, 10);
        }
        case G_GROUPS:
                return user_name_is_valid(w);
        default:
                return false;
        }
}

/* A space-separated list (one space between words), optionally inverted with '~' where
 * systemd allows it. */
static bool words_are_valid(Grammar g, const char *v, bool invertible) {
        if (invertible && v[0] == '~')
                v++;
        if (!*v || v[0] == ' ' || endswith(v, " ") || strstr(v, "  ") || strchr(v, '\t'))
                return false;
        _cleanup_free_ char *copy = strdup(v);
        if (!copy)
                return false;
        char *save = NULL;
        for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save))
                if (!word_is_valid(g, w))
                        return false;
        return true;
}

static const char *value_error(Grammar g, const char *v) {
        switch (g) {
        case G_BOOL:
                return is_bool(v) ? NULL : "is not a boolean: use yes or no";
        case G_PROC_SUBSET:
                return streq(v, "all") || streq(v, "pid") ? NULL : "is not all or pid";
        case G_PROTECT_PROC: {
                static const char *const p[] = { "noaccess", "invisible", "ptraceable", "default" };
                return in_list(p, ELEMENTSOF(p), v) ? NULL : "is not noaccess, invisible, ptraceable or default";
        }
        case G_PATHS:
                return words_are_valid(g, v, false)
                               ? NULL
                               : "is not a list of absolute, normalized paths (each optionally prefixed by '-') "
                                 "without white space, quotes, backslashes, ':' or '%'";
        case G_BIND_PATHS:
                return words_are_valid(g, v, false)
                               ? NULL
                               : "is not a list of [-]SOURCE[:DESTINATION[:rbind|norbind]] with absolute, normalized "
                                 "paths without white space, quotes, backslashes, ':' or '%'";
        case G_FILE_LIMIT:
                return limit_is_valid(v, g) ? NULL
                                            : "is not a count up to 1048576 (fs.nr_open's default; not infinity, "
                                              "which systemd would lower), optionally SOFT:HARD with SOFT <= HARD";
        case G_COUNT_LIMIT:
                return limit_is_valid(v, g) ? NULL
                                            : "is not a count or infinity, optionally SOFT:HARD with SOFT <= HARD";
        case G_SIZE_LIMIT:
                return limit_is_valid(v, g)
                               ? NULL
                               : "is not a size (bytes with an optional K, M, G, T, P or E suffix) or infinity, "
                                 "optionally SOFT:HARD with SOFT <= HARD";
        case G_SYSCALL_GROUPS:
                return words_are_valid(g, v, true)
                               ? NULL
                               : "is not a list of system-call groups systemd knows (@resources, @mount, ...; see "
                                 "systemd-analyze syscall-filter), optionally prefixed by '~' to remove them; single "
                                 "system calls are not accepted";
        case G_FAMILIES:
                return words_are_valid(g, v, true)
                               ? NULL
                               : "is not a list of address families (AF_UNIX, AF_INET, AF_INET6, AF_NETLINK, "
                                 "AF_PACKET, AF_VSOCK, AF_CAN, AF_BLUETOOTH, AF_ALG, AF_XDP, AF_TIPC), optionally "
                                 "prefixed by '~'";
        case G_IP_ADDRESSES:
                return words_are_valid(g, v, false)
                               ? NULL
                               : "is not a list of any, localhost, link-local, multicast or IPv4/IPv6 addresses "
                                 "with an optional /PREFIX";
        case G_NICE:
                return parse_int(v, -20, 19) ? NULL : "is not a nice level from -20 to 19";
        case G_CPUS:
                return words_are_valid(g, v, false) ? NULL : "is not a list of CPU numbers or ranges N-M below 8192";
        case G_GROUPS:
                return words_are_valid(g, v, false) && !strchr(v, '%') ? NULL : "is not a list of group names";
        case G_MEMORY:
                return memory_size_is_valid(v) ? NULL
                                               : "is not bytes with an optional K, M, G, T, P or E suffix, 1% to "
                                                 "100%, or infinity";
        case G_TASKS: {
                if (streq(v, "infinity"))
                        return NULL;
                size_t n = strlen(v);
                if (n > 1 && v[n - 1] == '%') {
                        _cleanup_free_ char *d = strndup(v, n - 1);
                        return d && parse_count(d, 100) && !streq(d, "0") ? NULL : "is not a count, 1% to 100%, or infinity";
                }
                return parse_count(v, ULLONG_MAX - 1) && !streq(v, "0") ? NULL : "is not a count, 1% to 100%, or infinity";
        }
        case G_WEIGHT:
                return parse_count(v, 10000) && !streq(v, "0") ? NULL : "is not a weight from 1 to 10000";
        case G_OOM_SCORE:
                return parse_int(v, -1000, 1000) ? NULL : "is not a score from -1000 to 1000";
        }
        return "is not valid";
}

const char *service_setting_check(const char *kv, bool *ret_repeatable) {
        const char *eq = strchr(kv, '=');
        if (!eq || eq == kv)
                return "is not Key=Value (a [Service] setting, like ProcSubset=all)";
        size_t n = (size_t) (eq - kv);
        for (size_t i = 0; i < ELEMENTSOF(refused); i++)
                if (strlen(refused[i].key) == n && memcmp(kv, refused[i].key, n) == 0)
                        return refused[i].why;
        if (startswith(kv, "Exec") || startswith(kv, "Restart") || startswith(kv, "Timeout") ||
            startswith(kv, "LoadCredential") || startswith(kv, "SetCredential"))
                return "is a setting the units own (the command, restarts, timeouts and credentials, which "
                       "'exec =', 'notify =' and 'credential =' cover): drop it";
        for (size_t i = 0; i < ELEMENTSOF(allowed); i++) {
                if (strlen(allowed[i].key) != n || memcmp(kv, allowed[i].key, n) != 0)
                        continue;
                const char *v = eq + 1;
                if (!*v)
                        return "is empty, which resets the setting (the profile's too): give a value, or choose "
                               "a profile with 'sandbox ='";
                const char *why = value_error(allowed[i].grammar, v);
                if (!why)
                        *ret_repeatable = allowed[i].list;
                return why;
        }
        return "is not a setting that may be passed through; the allowed keys are listed in deferred-builds.ini(5) "
               "(SERVICE SETTINGS)";
}
