/* SPDX-License-Identifier: MIT */
/* The connection to the service manager, and the calls every verb makes on it.
 *
 * Root talks to a manager over its private socket, as systemctl does: no D-Bus daemon
 * needed (a user manager in a test namespace has no session bus) and signals such as
 * JobRemoved arrive without subscribing. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"
#include "cli.h"
#include "log.h"
#include "util.h"

/* D-Bus address values escape every byte outside [-_/.\\A-Za-z0-9] as %XX. */
static char *address_escape(const char *s) {
        static const char hex[] = "0123456789abcdef";
        char *r = malloc(strlen(s) * 3 + 1), *w = r;
        if (!r)
                return NULL;
        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                    strchr("-_/.\\", *p))
                        *w++ = (char) *p;
                else {
                        *w++ = '%';
                        *w++ = hex[*p >> 4];
                        *w++ = hex[*p & 15];
                }
        }
        *w = 0;
        return r;
}

static int connect_private(const char *socket, sd_bus **ret) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *esc = address_escape(socket);
        _cleanup_free_ char *address = esc ? strjoin("unix:path=", esc) : NULL;
        if (!address)
                return log_oom();

        int r = sd_bus_new(&bus);
        if (r < 0)
                return log_error_errno(r, "Failed to allocate a bus connection: %m");
        r = sd_bus_set_address(bus, address);
        if (r < 0)
                return log_error_errno(r, "Failed to set bus address %s: %m", address);
        r = sd_bus_start(bus);
        if (r < 0)
                return r; /* the caller says what to do */
        *ret = TAKE_PTR(bus);
        return 0;
}

int bus_connect(Scope scope, sd_bus **ret) {
        int r;
        if (scope == SCOPE_USER) {
                const char *xdg = getenv("XDG_RUNTIME_DIR");
                if (!xdg || xdg[0] != '/') {
                        log_error("XDG_RUNTIME_DIR is not set, so the user manager's socket cannot be found: run "
                                  "this in a login session of the user, or set XDG_RUNTIME_DIR=/run/user/$(id -u).");
                        return -ENXIO;
                }
                _cleanup_free_ char *socket = strjoin(xdg, "/systemd/private");
                if (!socket)
                        return log_oom();
                r = connect_private(socket, ret);
                if (r < 0)
                        return log_error_errno(r,
                                               "Failed to connect to the user service manager at %s: %m. Is it "
                                               "running? (systemctl --user status; for a user without a session: "
                                               "loginctl enable-linger)",
                                               socket);
                return 0;
        }

        if (geteuid() == 0) {
                r = connect_private("/run/systemd/private", ret);
                if (r >= 0)
                        return 0;
                log_debug("Private socket /run/systemd/private unusable (%s), trying the system bus.", strerror(-r));
        }
        r = sd_bus_open_system(ret);
        if (r < 0)
                return log_error_errno(r,
                                       "Failed to connect to the system service manager: %m. Is systemd running as "
                                       "PID 1? Use --user for a user manager.");
        return 0;
}

const char *bus_error_text(const sd_bus_error *e, int r) {
        if (e && sd_bus_error_is_set(e) && e->message)
                return e->message;
        return strerror(r < 0 ? -r : r);
}

int bus_get_system_state(sd_bus *bus, char **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r = sd_bus_get_property_string(bus, SD_DEST, SD_PATH, SD_MANAGER, "SystemState", &error, ret);
        if (r < 0)
                return log_error_errno(r, "Failed to read the manager's SystemState: %s", bus_error_text(&error, r));
        return 0;
}

int bus_get_active_state(sd_bus *bus, const char *unit, char **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *path;
        int r = sd_bus_call_method(bus, SD_DEST, SD_PATH, SD_MANAGER, "LoadUnit", &error, &reply, "s", unit);
        if (r < 0)
                return log_error_errno(r, "Failed to load %s: %s", unit, bus_error_text(&error, r));
        r = sd_bus_message_read(reply, "o", &path);
        if (r < 0)
                return log_error_errno(r, "Failed to parse the LoadUnit reply for %s: %m", unit);
        r = sd_bus_get_property_string(bus, SD_DEST, path, SD_UNIT, "ActiveState", &error, ret);
        if (r < 0)
                return log_error_errno(r, "Failed to read ActiveState of %s: %s", unit, bus_error_text(&error, r));
        return 0;
}

/* ---- pipelined calls ------------------------------------------------------------------ */

static const char *method_verb(const char *method) {
        static const char *const table[][2] = {
                { "StartUnit", "start" },         { "StopUnit", "stop" },
                { "RestartUnit", "restart" },     { "TryRestartUnit", "try-restart" },
                { "ResetFailedUnit", "reset the failed state of" }, { "CancelJob", "cancel the job of" },
        };
        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (streq(table[i][0], method))
                        return table[i][1];
        return method;
}

typedef struct CallBatch {
        size_t pending, failed;
} CallBatch;

typedef struct CallRef {
        BusCall *call;
        CallBatch *batch;
} CallRef;

static int call_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        CallRef *ref = userdata;
        BusCall *c = ref->call;
        (void) ret_error;

        c->done = true;
        ref->batch->pending--;
        const sd_bus_error *e = sd_bus_message_get_error(m);
        if (e) {
                c->error = -sd_bus_error_get_errno(e);
                if (c->error == 0)
                        c->error = -EIO;
                c->error_message = strdup(bus_error_text(e, c->error));
                ref->batch->failed++;
                log_error("Failed to %s %s: %s", method_verb(c->method), c->unit, bus_error_text(e, c->error));
                return 0;
        }
        if (streq(c->method, "CancelJob"))
                return 0;
        if (c->mode) { /* job methods return the job's object path */
                const char *job;
                if (sd_bus_message_read(m, "o", &job) >= 0)
                        c->job = strdup(job);
        }
        return 0;
}

int bus_calls_run(sd_bus *bus, BusCall *calls, size_t n) {
        CallBatch batch = { 0 };
        _cleanup_free_ CallRef *refs = calloc(n ? n : 1, sizeof(CallRef));
        if (!refs)
                return log_oom();

        int r = 0;
        for (size_t i = 0; i < n; i++) {
                BusCall *c = &calls[i];
                refs[i] = (CallRef){ .call = c, .batch = &batch };
                if (streq(c->method, "CancelJob"))
                        r = sd_bus_call_method_async(bus, &c->slot, SD_DEST, SD_PATH, SD_MANAGER, c->method,
                                                     call_reply, &refs[i], "u", c->job_id);
                else if (c->mode)
                        r = sd_bus_call_method_async(bus, &c->slot, SD_DEST, SD_PATH, SD_MANAGER, c->method,
                                                     call_reply, &refs[i], "ss", c->unit, c->mode);
                else
                        r = sd_bus_call_method_async(bus, &c->slot, SD_DEST, SD_PATH, SD_MANAGER, c->method,
                                                     call_reply, &refs[i], "s", c->unit);
                if (r < 0) {
                        log_error_errno(r, "Failed to ask the manager to %s %s: %m", method_verb(c->method), c->unit);
                        break;
                }
                batch.pending++;
        }

        /* The replies arrive in order; dispatch until all of them are in. A broken connection
         * makes the calls that are still pending fail with a local error reply. */
        while (batch.pending > 0) {
                int k = sd_bus_process(bus, NULL);
                if (k < 0) {
                        r = log_error_errno(k, "Failed to process replies of the service manager: %m");
                        break;
                }
                if (k > 0)
                        continue;
                k = sd_bus_wait(bus, UINT64_MAX);
                if (k < 0 && k != -EINTR) {
                        r = log_error_errno(k, "Failed to wait for the service manager: %m");
                        break;
                }
        }

        for (size_t i = 0; i < n; i++)
                calls[i].slot = sd_bus_slot_unref(calls[i].slot); /* the refs die with this function */
        if (r < 0)
                return r;
        return (int) batch.failed;
}

void bus_call_done(BusCall *c) {
        c->slot = sd_bus_slot_unref(c->slot);
        free(c->unit);
        free(c->error_message);
        free(c->job);
        *c = (BusCall){ 0 };
}

/* ---- waiting for one job -------------------------------------------------------------- */

static int job_removed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        JobWait *w = userdata;
        uint32_t id;
        const char *path, *unit, *result;
        (void) ret_error;

        if (sd_bus_message_read(m, "uoss", &id, &path, &unit, &result) < 0)
                return 0;
        if (w->job && !w->result && streq(path, w->job))
                w->result = strdup(result);
        return 0;
}

int job_wait_install(sd_bus *bus, JobWait *w) {
        *w = (JobWait){ 0 };
        int r = sd_bus_match_signal(bus, &w->slot, NULL, SD_PATH, SD_MANAGER, "JobRemoved", job_removed, w);
        if (r < 0)
                return log_error_errno(r, "Failed to watch for finished jobs: %m");
        return 0;
}

int job_wait_run(sd_bus *bus, JobWait *w) {
        while (!w->result) {
                int r = sd_bus_process(bus, NULL);
                if (r < 0)
                        return log_error_errno(r, "Failed to process messages of the service manager: %m");
                if (r > 0)
                        continue;
                r = sd_bus_wait(bus, UINT64_MAX);
                if (r < 0 && r != -EINTR)
                        return log_error_errno(r, "Failed to wait for job %s: %m", w->job);
        }
        return 0;
}

void job_wait_done(JobWait *w) {
        w->slot = sd_bus_slot_unref(w->slot);
        free(w->result);
        w->result = NULL;
}

int bus_job_run(sd_bus *bus, const char *method, const char *unit, bool wait, char **ret_result) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(job_wait_done) JobWait w = { 0 };
        const char *job;
        int r;

        if (wait && (r = job_wait_install(bus, &w)) < 0)
                return r;
        r = sd_bus_call_method(bus, SD_DEST, SD_PATH, SD_MANAGER, method, &error, &reply, "ss", unit, "replace");
        if (r < 0)
                return log_error_errno(r, "Failed to %s %s: %s", method, unit, bus_error_text(&error, r));
        r = sd_bus_message_read(reply, "o", &job);
        if (r < 0)
                return log_error_errno(r, "Failed to parse the %s reply for %s: %m", method, unit);
        if (!wait)
                return 0;
        w.job = job;
        r = job_wait_run(bus, &w);
        if (r < 0)
                return r;
        if (ret_result)
                *ret_result = TAKE_PTR(w.result);
        return 0;
}
