/* SPDX-License-Identifier: MIT */
/* Grammars for everything that reaches a unit file or a command line. Input is checked
 * here, at the edge, and rejected when it does not match; the unit writer escapes anyway. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
/* Absolute, normalized (no "//", "/./", "/../", trailing '/'), components of at most
 * NAME_MAX bytes, at most 4095 bytes, printable UTF-8. */
bool absolute_path_is_valid(const char *s);
/* absolute_path_is_valid(), not "/", and no '"', '\'', '\\' or '$': a path systemd runs as
 * the program of ExecStart= exactly as written. */
bool exec_path_is_valid(const char *s);
/* absolute_path_is_valid(), no backslash, no trailing space: a path written unquoted into a
 * unit file (SourcePath=) that systemd reads back as written. */
bool unit_path_is_valid(const char *s);
/* Decodes the UTF-8 scalar at s into *ret; returns its length in bytes, or 0 at the end of s
 * or when s does not start with a shortest-form scalar (no surrogates, at most U+10FFFF). */
size_t unichar_at(const char *s, uint32_t *ret);
/* Not a C0/C1 control or DEL, and not a noncharacter (U+FDD0..U+FDEF, U+xxFFFE, U+xxFFFF). */
bool unichar_is_printable(uint32_t cp);
/* Valid UTF-8 whose every code point is unichar_is_printable(): what systemd's unit-file
 * parser keeps (it drops a line that is not "UTF-8 clean") and a terminal shows as text. */
bool string_is_printable_utf8(const char *s);
/* Environment assignment: [A-Za-z_][A-Za-z0-9_]*=printable */
bool env_assignment_is_valid(const char *s);
/* Nix output name: [A-Za-z0-9+._?=-]{1,64}, not starting with '.' */
bool output_name_is_valid(const char *s);
/* POSIX-ish user name systemd accepts for User=: [A-Za-z_][A-Za-z0-9_-]{0,30} */
bool user_name_is_valid(const char *s);
/* root, deferred-builds (the realise user) and names starting with "dserve" (the servers'
 * dynamic users): no model may run its server as one of them. */
bool user_name_is_reserved(const char *s);
/* The len bytes at name start with DEFERRED_: variables the units set themselves. */
bool env_name_is_reserved(const char *name, size_t len);
/* MemoryMax= that systemd applies: "infinity", 1% to 100%, or 1 to 2^64 - 2 bytes written as
 * digits with an optional K/M/G/T/P/E (base 1024) suffix. */
bool memory_size_is_valid(const char *s);
/* CPUQuota= that systemd applies: digits and '%', from 1% to 21474836% (INT_MAX / 100). */
bool cpu_quota_is_valid(const char *s);
/* DeviceAllow=: absolute /dev path or char-/block- class, optional " r|w|m" combination; no
 * quotes or backslashes. */
bool device_allow_is_valid(const char *s);
/* LoadCredential= ID: [A-Za-z0-9_-][A-Za-z0-9._-]{0,63}, a file name in
 * $CREDENTIALS_DIRECTORY. */
bool credential_id_is_valid(const char *s);
/* A secret's path (LoadCredential=, EnvironmentFile=): absolute_path_is_valid(), not "/",
 * no white space, quotes, backslashes or '%' (systemd expands specifiers in both). Whether
 * it is in the store is path_is_in_store(). */
bool secret_path_is_valid(const char *s);
/* s is the store directory or below it. */
bool path_is_in_store(const char *s);
