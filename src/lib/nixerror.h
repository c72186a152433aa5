/* SPDX-License-Identifier: MIT */
/* The error and warning side of nixlog_feed(). Both return whether a public field of p
 * changed. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "nixlog.h"
#include "nixmsg.h"

/* A "msg" message: an error (level 0, "error: ..."), a warning (level 0 or 1), or a note
 * that a remote builder could not be reached. */
bool nixlog_handle_msg(NixProgress *p, const NixMessage *m);
/* A plain stderr line: "error: ...", an indented continuation of one, or "warning: ...". */
bool nixlog_handle_plain(NixProgress *p, const char *line, size_t len);
