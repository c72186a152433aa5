/* SPDX-License-Identifier: MIT */
/* The connection to the service manager, and pipelined calls to it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "paths.h"

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
