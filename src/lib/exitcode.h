/* SPDX-License-Identifier: MIT */
/* Exit statuses of every program (docs/DESIGN.md "Exit codes"), sysexits(3) values. The
 * unit templates take theirs from here too: the Makefile replaces @EXIT_NAME@ in them with
 * the value below, so keep one "#define EXIT_NAME VALUE" a line. */
#pragma once

#define EXIT_OK 0
#define EXIT_GENERIC 1        /* check failed, or another failure */
#define EXIT_MODEL_FAILED 2   /* status: a model failed (its training, server or retrain) */
#define EXIT_MODEL_STALLED 3  /* status: none failed, but one is stopped or silent */
#define EXIT_USAGE 64         /* bad arguments */
#define EXIT_BUILD_FAILED 65  /* this derivation failed; a retry would fail the same way */
#define EXIT_NOINPUT 66       /* manifest missing, unreadable or rejected; model not in it */
#define EXIT_UNAVAILABLE 69   /* realise: the .drv is not in the store; CLI: no manager */
#define EXIT_ROOT_OCCUPIED 73 /* something that is not our link is at the GC root path */
#define EXIT_TEMPFAIL 75      /* nix-daemon or store trouble after retries: worth a retry */

/* What a realise unit must not be restarted after (RestartPreventExitStatus=): every
 * failure but EXIT_TEMPFAIL, since none of them gets better by retrying. */
#define EXIT_NO_RESTART EXIT_USAGE EXIT_BUILD_FAILED EXIT_NOINPUT EXIT_UNAVAILABLE EXIT_ROOT_OCCUPIED

/* The decimal text of a status, for help texts: EXIT_STR(EXIT_USAGE) is "64". */
#define EXIT_STR(s) EXIT_STR_(s)
#define EXIT_STR_(s) #s
