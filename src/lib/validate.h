/* SPDX-License-Identifier: MIT */
/* Grammars for everything that reaches a unit file or a command line. Input is checked
 * here, at the edge, and rejected when it does not match; the unit writer escapes anyway. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define MODEL_NAME_MAX 64
#define GENERATION_MAX 128

/* [A-Za-z0-9][A-Za-z0-9_-]{0,63} */
bool model_name_is_valid(const char *s);
/* [A-Za-z0-9][A-Za-z0-9._+-]{0,127}, and never "." or ".." */
bool generation_is_valid(const char *s);
/* /nix/store/<32 nix-base32>-<name>, name [A-Za-z0-9+._?=-]{1,211} and not starting with '.' */
bool store_path_is_valid(const char *s);
/* store_path_is_valid() and ends in ".drv" */
bool drv_path_is_valid(const char *s);
/* The store directory is /nix/store unless NIX_STORE_DIR says otherwise (tests only). */
const char *store_dir(void);
/* Absolute, normalized (no "//", "/./", "/../", trailing '/'), no control characters. */
bool absolute_path_is_valid(const char *s);
/* Valid UTF-8 with no control characters (bytes < 0x20 and 0x7f; also C1 U+0080..U+009F). */
bool string_is_printable_utf8(const char *s);
/* Environment assignment: [A-Za-z_][A-Za-z0-9_]*=printable */
bool env_assignment_is_valid(const char *s);
/* Nix output name: [A-Za-z0-9+._?=-]{1,64}, not starting with '.' */
bool output_name_is_valid(const char *s);
/* POSIX-ish user name systemd accepts for User=: [A-Za-z_][A-Za-z0-9_-]{0,30} */
bool user_name_is_valid(const char *s);
/* systemd byte size: digits with optional K/M/G/T/P/E suffix, or "infinity", or N% */
bool memory_size_is_valid(const char *s);
/* systemd CPUQuota=: digits followed by '%' */
bool cpu_quota_is_valid(const char *s);
/* DeviceAllow=: absolute /dev path or char-/block- class, optional " r|w|m" combination */
bool device_allow_is_valid(const char *s);
