/* SPDX-License-Identifier: MIT */
/* deferred-builds, the operator CLI: what every verb shares. The verbs' helpers have
 * their own headers: bus.h, units.h, model.h, format.h.
 *
 * Every verb is `int verb_NAME(int argc, char *argv[])` with argv[0] the verb. It returns
 * an exit code (0, or one of the CLI_EXIT_* codes below, after printing why) or a negative
 * errno (already logged), which main() maps to 1. */
#pragma once

#include <getopt.h>
#include <stdbool.h>

#include "exitcode.h"
#include "manifest.h"
#include "paths.h"

/* Exit codes (docs/DESIGN.md "Exit codes", deferred-builds(8)). */
#define CLI_EXIT_FAILURE EXIT_GENERIC
#define CLI_EXIT_USAGE EXIT_USAGE
#define CLI_EXIT_NOINPUT EXIT_NOINPUT         /* manifest unreadable or rejected, model unknown */
#define CLI_EXIT_UNAVAILABLE EXIT_UNAVAILABLE /* the service manager cannot be reached */
#define CLI_EXIT_MODEL_FAILED EXIT_MODEL_FAILED   /* status: a model failed */
#define CLI_EXIT_MODEL_STALLED EXIT_MODEL_STALLED /* status: a model is stopped or silent */
/* A verb's parse_argv() returns this to go on; anything else is the exit code. */
#define CLI_CONTINUE 256

/* ---- main.c: options every verb takes ---------------------------------------------- */
extern Scope arg_scope;

enum {
        ARG_USER = 0x100,
        ARG_SYSTEM,
        ARG_JSON,
        ARG_DRY_RUN,
        ARG_WAIT,
        ARG_WAIT_STARTUP,
        ARG_IF_ACTIVE,
        ARG_NO_BLOCK,
        ARG_SILENT_AFTER,
};
/* The long options every verb accepts besides its own. */
#define COMMON_OPTIONS                                                                                                 \
        { "help", no_argument, NULL, 'h' }, { "user", no_argument, NULL, ARG_USER },                                 \
                { "system", no_argument, NULL, ARG_SYSTEM }
/* Handles --user and --system inside a verb's getopt loop: returns true when it did. */
bool common_option(int c);
/* Resets getopt for a verb's argv. */
void verb_getopt_reset(void);
/* Reports what getopt_long() returned as c ('?' or ':') for verb argv[0]; returns
 * CLI_EXIT_USAGE. Verbs use optstrings starting with ':'. */
int option_error(int c, char *argv[]);
/* A boolean long option of a verb: --NAME sets *value. */
typedef struct VerbFlag {
        const char *name;
        bool *value;
} VerbFlag;
/* Parses the options of a verb that takes only boolean ones: --help prints help() and
 * returns 0, --user and --system set the scope, each of flags (ended by a NULL name, at
 * most VERB_FLAGS_MAX) sets its bool; a bad option returns CLI_EXIT_USAGE. Returns
 * CLI_CONTINUE with optind at the first operand. */
#define VERB_FLAGS_MAX 8
int verb_parse_flags(int argc, char *argv[], void (*help)(void), const VerbFlag *flags);
/* Rejects operands a verb does not take; returns CLI_EXIT_USAGE. */
int operand_error(char *argv[], const char *what);

/* ---- verbs ---------------------------------------------------------------------------- */
int verb_status(int argc, char *argv[]);
int verb_list(int argc, char *argv[]);
int verb_realise(int argc, char *argv[]);
int verb_restart(int argc, char *argv[]);
int verb_logs(int argc, char *argv[]);
int verb_check(int argc, char *argv[]);
int verb_roots(int argc, char *argv[]);
int verb_prune(int argc, char *argv[]);
int verb_reconcile(int argc, char *argv[]);
int verb_metrics(int argc, char *argv[]);
int verb_history(int argc, char *argv[]);

/* Shared by the verbs that take one model NAME: validates it (CLI_EXIT_USAGE) and, when
 * `md` is given, finds it in the manifest (CLI_EXIT_NOINPUT). */
int cli_model_arg(const char *name, const Manifest *m, const Model **md);
