/* SPDX-License-Identifier: MIT */
/* Output: JSON strings (json.c) and human formatting (format.c). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Writes s as a JSON string: escapes quotes, backslashes and control characters; invalid
 * UTF-8 becomes U+FFFD, so the output is always valid UTF-8 JSON. NULL writes null. */
void json_string(FILE *f, const char *s);

bool colour_enabled(void); /* stdout is a tty and $NO_COLOR is unset */
#define ANSI_RED "\x1b[31m"
#define ANSI_GREEN "\x1b[32m"
#define ANSI_YELLOW "\x1b[33m"
#define ANSI_BLUE "\x1b[34m"
#define ANSI_GREY "\x1b[90m"
#define ANSI_BOLD "\x1b[1m"
#define ANSI_RESET "\x1b[0m"
const char *state_colour(const char *state);
/* "12s ago", "5m ago", "3h ago", "2d ago"; "-" when usec is 0. */
void format_relative(char *buf, size_t n, unsigned long long usec, unsigned long long now_usec);
/* "512B", "12.3K", "4.0M", ... */
void format_size(char *buf, size_t n, unsigned long long bytes);
/* /nix/store/<hash>-<name> shown as <first 7 of hash>…-<name>; other paths as they are. */
void format_store_path(char *buf, size_t n, const char *path);
/* Number of UTF-8 code points (display columns for the text we print). */
size_t utf8_columns(const char *s);
/* Copies s into buf cut to at most max columns on a character boundary, "…" when cut. */
void utf8_truncate(char *buf, size_t n, const char *s, size_t max);
