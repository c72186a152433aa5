/* SPDX-License-Identifier: MIT */
/* UTF-8 decoding and cutting, and turning untrusted text (build logs, Nix messages) into
 * one printable line. "Printable" here: valid UTF-8, no C0/C1 control, no DEL, no line or
 * paragraph separator, no bidirectional control, no byte order mark. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Length of the valid UTF-8 sequence at s (shortest form, no surrogates, at most
 * U+10FFFF), storing its code point; 0 when s does not start one. */
size_t utf8_sequence(const unsigned char *s, size_t n, uint32_t *ret_cp);

/* Writes code point cp as UTF-8 into out; returns its length. */
size_t utf8_encode(uint32_t cp, char out[static 4]);

/* The largest length <= len that does not end inside a multi-byte sequence: text cut to a
 * byte budget must not leave half a character behind. */
size_t utf8_cut(const char *buf, size_t len);

/* Code points that move the cursor or reorder text rather than print: C1 controls, line and
 * paragraph separators, bidirectional controls, the byte order mark. */
bool unicode_is_control(uint32_t cp);

/* Copies in[0..n) to out (size >= 1, always NUL-terminated) as one printable line: escape
 * sequences dropped; tab, newline, CR, VT and FF are whitespace; other control characters
 * and invalid UTF-8 bytes become '?'; leading and trailing whitespace dropped; inner
 * whitespace runs kept as spaces, or collapsed to one space with collapse. Stops before a
 * character that does not fit. Returns the length written. */
size_t text_sanitize(const char *in, size_t n, char *out, size_t size, bool collapse);

/* A build log line as a terminal would leave it: a builder that redraws a progress bar with
 * carriage returns shows the last part that is not blank. */
size_t text_sanitize_log_line(const char *in, size_t n, char *out, size_t size);
