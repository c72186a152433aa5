/* SPDX-License-Identifier: MIT */
/* deferred-builds, the operator CLI: what the verbs share.
 *
 * Every verb is `int verb_NAME(int argc, char *argv[])` with argv[0] the verb. It returns
 * an exit code (0, or one of the CLI_EXIT_* codes below, after printing why) or a negative
 * errno (already logged), which main() maps to 1. */
#pragma once

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "manifest.h"
#include "paths.h"
#include "status.h"

/* Exit codes (docs/DESIGN.md "Exit codes", deferred-builds(8)). */
#define CLI_EXIT_FAILURE 1
#define CLI_EXIT_USAGE 64
#define CLI_EXIT_NOINPUT 66     /* manifest unreadable or rejected, model unknown */
#define CLI_EXIT_UNAVAILABLE 69 /* the service manager cannot be reached */
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
/* Rejects operands a verb does not take; returns CLI_EXIT_USAGE. */
int operand_error(char *argv[], const char *what);

/* ---- bus.c: the connection to the service manager ---------------------------------- */
#define SD_DEST "org.freedesktop.systemd1"
#define SD_PATH "/org/freedesktop/systemd1"
#define SD_MANAGER "org.freedesktop.systemd1.Manager"
#define SD_UNIT "org.freedesktop.systemd1.Unit"

/* Connects to the manager of `scope`: the user manager's private socket
 * $XDG_RUNTIME_DIR/systemd/private; for the system, /run/systemd/private as root, else the
 * system bus. Logs what failed and what to do; the caller exits CLI_EXIT_UNAVAILABLE. */
int bus_connect(Scope scope, sd_bus **ret);
/* error.message when the manager sent one, else strerror(-r). */
const char *bus_error_text(const sd_bus_error *e, int r);
/* The manager's SystemState ("initializing", "starting", "running", ...). */
int bus_get_system_state(sd_bus *bus, char **ret);
/* ActiveState of one unit (loads it when needed, so "inactive" for units never started). */
int bus_get_active_state(sd_bus *bus, const char *unit, char **ret);

/* One pipelined call to a Manager method that takes a unit name: StartUnit, StopUnit,
 * RestartUnit, TryRestartUnit (with `mode`) or ResetFailedUnit (mode NULL); or CancelJob
 * of job_id (unit only names it in messages). */
typedef struct BusCall {
        const char *method;
        char *unit;
        const char *mode;
        uint32_t job_id;
        /* results */
        bool done;
        int error; /* 0 or -errno */
        char *error_message;
        char *job; /* job object path, for the job methods */
        sd_bus_slot *slot;
} BusCall;
/* Sends every call at once, then waits for every reply: n calls cost one round trip of
 * latency, not n. Each failure is logged with the unit and the manager's message. Returns
 * the number of failed calls, or -errno when the connection broke. */
int bus_calls_run(sd_bus *bus, BusCall *calls, size_t n);
void bus_call_done(BusCall *c);

/* Waiting for one job (systemctl without --no-block). Install before queueing the job, so
 * that a job that finishes at once is not missed. */
typedef struct JobWait {
        sd_bus_slot *slot;
        const char *job; /* set after the job was queued */
        char *result;    /* "done", "failed", "dependency", "canceled", ... */
} JobWait;
int job_wait_install(sd_bus *bus, JobWait *w);
/* Dispatches messages until the JobRemoved signal of w->job arrived. */
int job_wait_run(sd_bus *bus, JobWait *w);
void job_wait_done(JobWait *w);
/* Queues METHOD(unit, "replace") (StartUnit, RestartUnit, TryRestartUnit, ...). With
 * wait, returns once the job finished, its result in *ret_result. */
int bus_job_run(sd_bus *bus, const char *method, const char *unit, bool wait, char **ret_result);

/* ---- units.c: the loaded units of every model, from one ListUnitsByPatterns call ---- */
typedef enum UnitKind {
        UNIT_REALISE,
        UNIT_SERVE,
        UNIT_RETRAIN,
        _UNIT_KIND_MAX,
} UnitKind;
extern const char *const unit_kind_prefix[_UNIT_KIND_MAX]; /* "deferred-realise@" ... */

typedef struct UnitInfo {
        const char *id, *load_state, *active_state, *sub_state, *job_type, *object_path;
        uint32_t job_id;
        uint64_t state_change_usec; /* CLOCK_REALTIME µs, 0 until fetched or unknown */
} UnitInfo;

typedef struct ModelUnits {
        char *name;
        UnitInfo *unit[_UNIT_KIND_MAX]; /* NULL: not loaded */
} ModelUnits;

typedef struct UnitTable {
        sd_bus_message *reply; /* owns the strings of every UnitInfo */
        UnitInfo *infos;
        size_t n_infos;
        ModelUnits *models; /* sorted by name (strcmp), like Manifest.models */
        size_t n_models;
} UnitTable;

int unit_table_load(sd_bus *bus, UnitTable *ret);
const ModelUnits *unit_table_find(const UnitTable *t, const char *name);
void unit_table_done(UnitTable *t);
/* Fetches StateChangeTimestamp of the given units, all requests pipelined. */
int units_fetch_state_change(sd_bus *bus, UnitInfo **units, size_t n);
/* Unit name of model `name` for kind k, into buf (at least UNIT_NAME_BUF bytes). */
#define UNIT_NAME_BUF 128
const char *model_unit_name(UnitKind k, const char *name, char buf[static UNIT_NAME_BUF]);

bool unit_is_active(const UnitInfo *u);     /* active or reloading */
bool unit_is_activating(const UnitInfo *u); /* activating (running ExecStart, or auto-restart) */
bool unit_is_failed(const UnitInfo *u);
bool unit_is_inactive(const UnitInfo *u); /* not loaded, or inactive with no job */
bool unit_has_job(const UnitInfo *u, const char *job_type);

/* ---- model.c: the manifest, status files and units of each model, and its state ------ */
/* Loads the manifest for a verb: prints what is wrong and returns CLI_EXIT_NOINPUT when it
 * is missing, unreadable or rejected; warns once (to stderr) when models were skipped. */
int cli_load_manifest(const char *path, Manifest **ret);
/* The names of models skipped for errors (they keep running as they are). */
int manifest_skipped_names(const Manifest *m, char ***ret);

/* What a view keeps of a status file: the fields it shows and decides on, a few hundred
 * bytes instead of a whole ModelStatus (5 KiB, mostly the root path buffer), so that a
 * thousand of them stay cheap. Strings are never NULL. */
typedef struct StatusInfo {
        ModelState state;
        char *drv, *out, *last_line, *error;
        unsigned long long started, finished; /* UNIX seconds */
        unsigned long long done, expected;
        unsigned attempts;
} StatusInfo;

typedef struct ModelView {
        const char *name;
        const Model *model;       /* NULL: removed from the manifest */
        const ModelUnits *units;  /* NULL: none of its units is loaded */
        StatusInfo *status;       /* NULL: no status file */
        int status_error;         /* from status_read(), 0 when read */
        const char *state;        /* pending, training, substituting, ready, serving, failed, removed */
        UnitInfo *lead;           /* the unit the state comes from, or NULL */
        bool retraining;          /* a retrain runs while the old model serves */
        char *error;              /* what went wrong, or NULL */
        char *served;             /* what RUNTIME/models/NAME resolves to, when looked up */
        unsigned long long since; /* CLOCK_REALTIME µs of the last state change, 0 unknown */
} ModelView;

UnitInfo *model_unit(const ModelView *v, UnitKind k);
/* Reads the status file of `name` below runtime_dir (through *scratch, reusable across
 * calls) and derives state, lead and error. */
int model_view_init(ModelView *v, const char *name, const Model *md, const ModelUnits *u, const char *runtime_dir,
                    ModelStatus *scratch);
/* Whether v->since needs the lead unit's StateChangeTimestamp: the status file stamps when
 * a training started and ended, but not when a server started. */
bool model_view_needs_unit_time(const ModelView *v);
/* Sets v->since from the status file, else the lead unit's StateChangeTimestamp. */
void model_view_update_since(ModelView *v);
void model_view_done(ModelView *v);
/* True when the status file says the manifest's derivation is what was published. */
bool model_view_is_current(const ModelView *v);
/* The status file names the same derivation as the manifest. */
bool model_view_status_drv_is(const ModelView *v, const char *drv);

/* ---- json.c ------------------------------------------------------------------------- */
/* Writes s as a JSON string: escapes quotes, backslashes and control characters; invalid
 * UTF-8 becomes U+FFFD, so the output is always valid UTF-8 JSON. NULL writes null. */
void json_string(FILE *f, const char *s);

/* ---- format.c: human output ---------------------------------------------------------- */
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

/* Shared by the verbs that take one model NAME: validates it (CLI_EXIT_USAGE) and, when
 * `md` is given, finds it in the manifest (CLI_EXIT_NOINPUT). */
int cli_model_arg(const char *name, const Manifest *m, const Model **md);
