/* SPDX-License-Identifier: MIT */
/* The one decision about a model: what state it is in, and what reconcile does to it. Both
 * come from the same facts (its units, its status file, its remembered failure, the
 * manifest's derivation), matched against two ordered tables in decide.c, so that what
 * status shows and what reconcile does never disagree. Pure: no bus, no files, except
 * through the callbacks of DecideInput, which only rows that need them call. */
#pragma once

#include <stdbool.h>

#include "status.h"
#include "units.h"

/* What a view keeps of a status file: the fields it shows and decides on, a few hundred
 * bytes instead of a whole ModelStatus (5 KiB, mostly the root path buffer), so that a
 * thousand of them stay cheap. Strings are never NULL. */
typedef struct StatusInfo {
        ModelState state;
        char *drv, *out, *last_line, *error, *waiting;
        unsigned long long started, finished, last_output; /* UNIX seconds */
        unsigned long long done, expected;
        unsigned attempts;
} StatusInfo;

typedef enum ModelViewState {
        VIEW_PENDING,      /* nothing runs for it yet */
        VIEW_WAITING,      /* waiting for a cache that nix-daemon retries */
        VIEW_SUBSTITUTING, /* fetched from a cache */
        VIEW_TRAINING,     /* built */
        VIEW_SILENT,       /* built, but printed nothing for DecideInput.silent_after s */
        VIEW_READY,        /* built, not served */
        VIEW_SERVING,      /* its server runs */
        VIEW_STOPPED,      /* its training was stopped before it finished */
        VIEW_FAILED,       /* its training or its server failed */
        VIEW_REMOVED,      /* no longer in the manifest, some unit still there */
        _VIEW_STATE_MAX,
} ModelViewState;

typedef enum DecideAction {
        ACTION_NONE,                 /* unchanged */
        ACTION_ON_ITS_WAY,           /* unchanged: a job or a (re)start runs already */
        ACTION_RETRAIN_AGAIN,        /* restart the retrain: the drv changed while it ran */
        ACTION_RESTART_SOCKET,       /* its running socket lacks an address: restart it and the server */
        ACTION_RESTART_SERVER,       /* its settings changed */
        ACTION_LEAVE_SERVING,        /* serving the previous model: this drv failed before */
        ACTION_RETRAIN,              /* start the retrain: served, and the drv changed */
        ACTION_RESTART_TRAINING,     /* restart realise (drv changed), start the server */
        ACTION_SERVE_WHEN_BUILT,     /* unchanged, but queue the server (realised by hand) */
        ACTION_LEAVE_FAILED,         /* the unit failed for this drv */
        ACTION_START_AFTER_FAILURE,  /* reset the failed realise, start the server */
        ACTION_LEAVE_PREVIOUS,       /* realised the previous model; this drv failed before */
        ACTION_LEAVE_PREVIOUS_SERVE, /* the same, and start its stopped server */
        ACTION_REBUILD,              /* realised another drv: restart realise, start server */
        ACTION_LEAVE_REMEMBERED,     /* the failure memory says this drv failed */
        ACTION_LEAVE_SERVER_FAILED,  /* its server failed */
        ACTION_START_PREVIOUS,       /* serve the previous model, retrain the manifest's */
        ACTION_START,                /* start the server (its Requires= starts realise) */
        _DECIDE_ACTION_MAX,
} DecideAction;

typedef struct DecideInput {
        const char *name;
        bool in_manifest;
        const char *drv;                           /* the manifest's, NULL when removed or unknown */
        const UnitInfo *realise, *serve, *retrain; /* NULL: not loaded */
        const StatusInfo *status;                  /* NULL: no status file */
        int status_error;                          /* status_read()'s error, 0 when read */
        const StatusInfo *failed;                  /* the failure memory (failmem.h), or NULL */
        unsigned long long now;                    /* UNIX seconds */
        unsigned long long silent_after;           /* seconds without output that make "silent"; 0 never */
        /* Asked only by the rows that need them (reconcile's), each at most once; NULL
         * reads as false. Return > 0 for yes, 0 for no, < 0 for an error (no). */
        int (*published_is_wanted)(void *userdata); /* no status file, the link serves drv's out */
        int (*settings_changed)(void *userdata);    /* the running server's settings are stale */
        int (*previous_available)(void *userdata);  /* previous.h: a previous model may serve */
        int (*socket_stale)(void *userdata);        /* the running socket lacks a Listen address */
        void *userdata;
} DecideInput;

typedef struct Decision {
        ModelViewState state;
        DecideAction action;
        int lead;                       /* the UnitKind the state comes from, or -1 */
        bool retraining;                /* a retrain runs while the old model serves */
        bool alarm;                     /* a failure to report (a failed state, or a failed retrain) */
        unsigned long long silent_sec;  /* VIEW_SILENT: for how long */
        char *error;                    /* what went wrong, or NULL */
        char *detail;                   /* VIEW_WAITING: why; VIEW_SILENT: "silent for N s"; or NULL */
        unsigned state_row, action_row; /* which rows matched (for tests) */
} Decision;

/* Decides. Returns 0, or -ENOMEM (d then holds no strings). */
int decide(const DecideInput *in, Decision *d);
void decision_done(Decision *d);

/* How many rows each table has (for tests that cover them all). */
unsigned decide_state_rows(void);
unsigned decide_action_rows(void);

const char *model_view_state_to_string(ModelViewState s);
const char *decide_action_to_string(DecideAction a);
