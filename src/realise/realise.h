/* SPDX-License-Identifier: MIT */
/* deferred-realise: shared declarations of its parts.
 *
 *   main.c     arguments, exit status
 *   realise.c  the decisions: manifest, checks, retries, GC root, publishing
 *   fallback.c after a reboot, the previous model while the manifest's trains
 *   nixrun.c   running nix-store: fork/exec, reading its output, signals
 *   report.c   what others see: status file, sd_notify STATUS=, journal (src/lib/sdproto.c) */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "manifest.h"
#include "nixlog.h"
#include "exitcode.h"
#include "paths.h"
#include "status.h"

/* The steps of a realisation return 0 to go on, an exit status of exitcode.h once the
 * failure is reported (status file, STATUS=, journal), or -errno, logged, for failures
 * that are nobody's fault but the machine's (main() exits EXIT_GENERIC, so systemd may
 * retry). -ENOMEM is never turned into an exit status. */
#define RETRY_BUDGET_DEFAULT_SEC 600ULL
#define RETRY_DELAY_MAX_SEC 60ULL

typedef struct Context {
        /* From the command line. */
        bool swap;
        const char *manifest_arg; /* --manifest, or NULL */
        const char *model_name;

        /* Resolved by realise.c. */
        Scope scope;
        char *manifest_path;
        Manifest *manifest;
        const Model *md;
        char *state_dir, *runtime_dir;
        char *root_dir;      /* STATE/roots/GEN */
        char *root;          /* STATE/roots/GEN/NAME: the GC root, what we publish */
        char *nix_root;      /* what --add-root gets; == root for the output "out" */
        char *nix_root_made; /* what Nix then creates: nix_root, or nix_root-OUTPUT */
        char *published;     /* RUNTIME/models/NAME */
        char *nix_store;     /* absolute path of the nix-store binary */
        unsigned long long retry_budget_sec;

        ModelStatus st;
        bool status_warned;         /* a failed status write was logged once */
        unsigned long long start_usec; /* CLOCK_MONOTONIC at start, for "elapsed" */

        /* Signals: SIGTERM, SIGINT, SIGHUP and SIGCHLD arrive through this signalfd. */
        int signal_fd;
        int terminate_signal; /* set once we were asked to stop */
} Context;

void context_done(Context *c);

/* realise.c */
int realise_run(Context *c);
/* The first steps of realise_run(), shared with bundle-import.c: the scope from the
 * environment, the model from the manifest, the GC root paths. Each returns 0 or an exit
 * status (already logged). */
int parse_scope(Context *c);
int load_model(Context *c);
int setup_paths(Context *c);

/* bundle-import.c */
struct Buf;
/* `deferred-realise import NAME`: roots the model's .drv and imports its bundle when the
 * .drv is missing. Returns an exit status. */
int bundle_import_run(Context *c);
/* Runs argv (argv[0] looked up in PATH when not absolute) with stdin from `in` (in_len
 * bytes; NULL: /dev/null) and stdout into `out` (at most out_max bytes, else -EFBIG) or,
 * when out is NULL, to out_fd (-1: /dev/null). Returns its exit status, 128 + the signal
 * that killed it, or -errno when it could not be run. */
int run_piped(char *const *argv, const char *in, size_t in_len, int out_fd, struct Buf *out, size_t out_max);

/* 1 when nix-store says drv is valid, 0 when it says it is not, -errno when it could not
 * tell (not run, the daemon unreachable). */
int drv_is_valid(const char *nix_store, const char *drv);

/* bundle-make.c */
/* `deferred-realise make-bundle DRV OUT` (the builder of nixos-module/bundle.nix).
 * Returns an exit status. */
int bundle_make_run(const char *drv, const char *out_dir);

/* fallback.c */
/* Publishes the previous model when previous.h says it should serve: 1 when it did (the
 * run is done), 0 when not (build as usual), -ENOMEM. */
int serve_previous(Context *c);

/* nixrun.c */
typedef struct NixRun {
        int exit_code;   /* nix-store's exit code, -1 when it did not exit normally */
        int term_signal; /* the signal that killed it, or 0 */
        NixProgress progress;
        char printed[4096]; /* last line nix-store printed on stdout (the root it made) */
} NixRun;
/* Runs argv[0] with argv, reads its output until it exits, feeding stderr lines into
 * run->progress and reporting progress through report.c. A SIGTERM/SIGINT/SIGHUP for us is
 * forwarded to it; c->terminate_signal is then set. Returns 0 when it ran (whatever its
 * exit status), -errno when it could not be started. */
int nix_run(Context *c, char *const *argv, bool json, NixRun *run);
/* Sleeps for usec, returning early (1) when asked to stop. */
int sleep_interruptible(Context *c, unsigned long long usec);
int signals_setup(Context *c);

/* report.c */
/* Writes c->st to the status file; a failure is logged once and otherwise ignored: the
 * status file is for people, the published link is what matters. */
void report_status(Context *c);
/* sd_notify("STATUS=...") with the text. */
void report_notify(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A start/finish/failure message: to the journal with DEFERRED_MODEL=, DEFERRED_DRV=,
 * DEFERRED_OUT= fields, and to stderr unless stderr already is the journal. */
void report_event(Context *c, int priority, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Called by nixrun.c on progress changes (rate-limited there) and periodically: sends
 * STATUS= and rewrites the status file when the status line changed. */
void report_progress(Context *c, const NixProgress *p);
/* Copies the counters and the last log line into c->st, without writing anything. */
void status_take_progress(Context *c, const NixProgress *p);
/* Copies text into a fixed-size status field, cut on a character boundary. */
void status_set(char *dst, size_t size, const char *text);
unsigned long long elapsed_sec(const Context *c);
/* "SIGTERM", or "signal N" for a number without a name. */
const char *signal_name(int sig, char buf[static 16]);
