/* SPDX-License-Identifier: MIT */
/* Text from manifests, file names and other programs, made safe to print: on the admin's
 * terminal (nixos-rebuild, deferred-builds check) and in the journal. */
#pragma once

#include <stddef.h>

/* A copy of s in which every byte that is not part of a printable UTF-8 character
 * (string_is_printable_utf8(): no C0/C1 control, DEL, noncharacter or invalid UTF-8) and
 * every backslash is written as \xNN. At most max bytes of s are shown, then "...". Returns
 * NULL when out of memory. */
char *escape_for_message(const char *s, size_t max);
/* The same, single-quoted, and a quote inside s is written as \x27: for "key 'VALUE' ...". */
char *quote_for_message(const char *s, size_t max);
