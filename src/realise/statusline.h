/* SPDX-License-Identifier: MIT */
/* The one-line status of a realisation: sd_notify STATUS=, what `systemctl status` shows. */
#pragma once

#include <stddef.h>

#include "nixlog.h"

/* Formats a one-line status into buf:
 *
 *   "training MODEL: DONE/EXPECTED derivations built[, FAILED failed], ELAPSED elapsed[, last: LAST_LINE]"
 *   "substituting MODEL: DONE/EXPECTED paths substituted, ELAPSED elapsed[, last: LAST_LINE]"
 *   "waiting for a cache MODEL: WAITING, ELAPSED elapsed"   (nothing builds or substitutes)
 *
 * e.g. "training mnist: 2/5 derivations built, 12m elapsed, last: epoch 3/10".
 * "substituting" when an actSubstitute activity runs and no actBuild does; "training"
 * otherwise (also before anything started). ELAPSED is "45s" below a minute, "12m" below
 * an hour, else "3h07m". MODEL is sanitised like last_line; NULL or "" gives
 * "training: ...". The "[, FAILED failed]" part appears when failed > 0, "[, last: ...]" when
 * last_line is not empty.
 *
 * Always NUL-terminates when size > 0 (does nothing when size == 0) and never writes more
 * than size bytes; a result that does not fit is cut on a UTF-8 character boundary. */
void status_line_format(const NixProgress *p, const char *model, unsigned long long elapsed_sec, char *buf,
                        size_t size);
