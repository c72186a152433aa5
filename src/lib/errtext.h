/* SPDX-License-Identifier: MIT */
/* Nix's error messages in one line that keeps what an operator needs. A failed builder's
 * message is several lines: a headline ("builder for 'D' failed with exit code 1;"), then
 * "last N log lines:" with each log line quoted as "> LINE", then "For full logs, run ...".
 * The cause is at the end of the log (a Python traceback's "Type: message" line), so a cut
 * at a byte budget from the start loses exactly that. */
#pragma once

#include <stddef.h>

/* Writes msg[0..len) (raw: newlines, escape sequences and any bytes allowed) into out
 * (size >= 1, always NUL-terminated) as one printable line (text_sanitize()):
 *
 *   HEADLINE[: LOG LINE | LOG LINE | ... | LAST LOG LINE]
 *
 * HEADLINE is the first line and the lines that continue it outside the quoted log, without
 * a trailing ';'. Of the quoted log, the last meaningful line is kept whole (in a Python
 * traceback, its final "Type: message" line; else the last non-blank line), and before it
 * as many whole lines as fit, in their order (of a traceback, its frames: the lines before
 * its "Traceback (most recent call last):" are left out); Nix's "For full logs" hint is
 * dropped. When even the headline and that
 * last line do not fit, the headline is cut first (ending in "…"), then the line. Returns
 * the length written. */
size_t nix_error_summarize(const char *msg, size_t len, char *out, size_t size);
