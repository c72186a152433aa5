/* SPDX-License-Identifier: MIT */
/* A bounded JSON reader over a byte range. Every function returns 0, or -EINVAL on
 * malformed input, and leaves the cursor after what it read. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

typedef struct Cursor {
        const unsigned char *p, *end;
} Cursor;

/* Destination of a decoded string: at most cap bytes are kept, never half a character; the
 * rest is read and dropped. NULL to skip the string. Not NUL-terminated (may hold NUL). */
typedef struct JsonString {
        char *buf;
        size_t cap, len;
        bool full;
} JsonString;

void json_skip_ws(Cursor *c);
/* Reads a string at the cursor into s (NULL: skip it). */
int json_read_string(Cursor *c, JsonString *s);
/* Reads a number; *ret_valid is false for one that is not an unsigned 64-bit integer. */
int json_number(Cursor *c, unsigned long long *ret, bool *ret_valid);
int json_literal(Cursor *c, const char *word);
/* Skips one value; depth is how deep the cursor already is. */
int json_skip_value(Cursor *c, unsigned depth);
/* Opens an object at the cursor: 1 when a member follows (the cursor at its name), 0 for
 * an empty object (the cursor after it), -EINVAL when the cursor is at no object. */
int json_object_open(Cursor *c);
/* After a member's value: 1 when another member follows (the cursor at its name), 0 when
 * the object ends (the cursor after it), -EINVAL for anything else. */
int json_object_next(Cursor *c);
/* Reads a member's ':' and the white space around it. */
int json_member_colon(Cursor *c);
