/* SPDX-License-Identifier: MIT */
/* The loaded units of every model, read with one ListUnitsByPatterns call: a status of
 * 1,000 models costs one round trip to the manager instead of 3,000. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "cli.h"
#include "log.h"
#include "units.h"
#include "util.h"
#include "validate.h"

typedef struct Entry {
        char *name;
        UnitKind kind;
        UnitInfo *info;
} Entry;

static int entry_cmp(const void *a, const void *b) {
        const Entry *x = a, *y = b;
        int c = strcmp(x->name, y->name);
        return c ? c : (int) x->kind - (int) y->kind;
}

int unit_table_load(sd_bus *bus, UnitTable *ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        UnitTable t = { 0 };
        Entry *entries = NULL;
        size_t n_entries = 0, alloc = 0;
        int r;

        r = sd_bus_call_method(bus, SD_DEST, SD_PATH, SD_MANAGER, "ListUnitsByPatterns", &error, &reply, "asas", 0, 4,
                               UNIT_REALISE_PREFIX "*" UNIT_SUFFIX, UNIT_SERVE_PREFIX "*" UNIT_SUFFIX,
                               UNIT_RETRAIN_PREFIX "*" UNIT_SUFFIX, UNIT_SERVE_PREFIX "*" UNIT_SOCKET_SUFFIX);
        if (r < 0)
                return log_error_errno(r, "Failed to list the deferred-builds units: %s", bus_error_text(&error, r));

        r = sd_bus_message_enter_container(reply, 'a', "(ssssssouso)");
        if (r < 0)
                goto parse_error;
        for (;;) {
                const char *id, *desc, *load, *active, *sub, *following, *path, *job_type, *job_path;
                uint32_t job_id;
                r = sd_bus_message_read(reply, "(ssssssouso)", &id, &desc, &load, &active, &sub, &following, &path,
                                        &job_id, &job_type, &job_path);
                if (r < 0)
                        goto parse_error;
                if (r == 0)
                        break;

                UnitKind kind;
                const char *name;
                size_t len;
                if (model_unit_parse(id, &kind, &name, &len) < 0)
                        continue;

                if (n_entries == alloc) {
                        alloc = alloc ? alloc * 2 : 64;
                        Entry *ne = realloc(entries, alloc * sizeof(Entry));
                        UnitInfo *ni = realloc(t.infos, alloc * sizeof(UnitInfo));
                        if (ne)
                                entries = ne;
                        if (ni)
                                t.infos = ni;
                        if (!ne || !ni) {
                                r = log_oom();
                                goto fail;
                        }
                }
                char *nm = strndup(name, len);
                if (!nm) {
                        r = log_oom();
                        goto fail;
                }
                if (!model_name_is_valid(nm)) { /* not one of ours: an escaped or foreign instance */
                        free(nm);
                        continue;
                }
                t.infos[n_entries] = (UnitInfo){
                        .id = id,
                        .load_state = load,
                        .active_state = active,
                        .sub_state = sub,
                        .job_type = job_type,
                        .object_path = path,
                        .job_id = job_id,
                };
                entries[n_entries] = (Entry){ .name = nm, .kind = kind };
                n_entries++;
        }
        /* infos may have moved while growing: link entries to them only now. */
        for (size_t i = 0; i < n_entries; i++)
                entries[i].info = &t.infos[i];
        t.n_infos = n_entries;

        if (n_entries > 0)
                qsort(entries, n_entries, sizeof(Entry), entry_cmp);

        t.models = calloc(n_entries ? n_entries : 1, sizeof(ModelUnits));
        if (!t.models) {
                r = log_oom();
                goto fail;
        }
        for (size_t i = 0; i < n_entries; i++) {
                ModelUnits *mu = t.n_models > 0 ? &t.models[t.n_models - 1] : NULL;
                if (!mu || !streq(mu->name, entries[i].name)) {
                        mu = &t.models[t.n_models++];
                        mu->name = TAKE_PTR(entries[i].name);
                } else {
                        free(entries[i].name);
                        entries[i].name = NULL;
                }
                mu->unit[entries[i].kind] = entries[i].info;
        }
        free(entries);

        t.reply = TAKE_PTR(reply);
        *ret = t;
        return 0;

parse_error:
        r = log_error_errno(r, "Failed to parse the unit list of the service manager: %m");
fail:
        for (size_t i = 0; i < n_entries; i++)
                free(entries[i].name);
        free(entries);
        unit_table_done(&t);
        return r;
}

static int model_units_cmp(const void *key, const void *elem) {
        return strcmp(key, ((const ModelUnits *) elem)->name);
}

const ModelUnits *unit_table_find(const UnitTable *t, const char *name) {
        if (!t->n_models)
                return NULL;
        return bsearch(name, t->models, t->n_models, sizeof(ModelUnits), model_units_cmp);
}

void unit_table_done(UnitTable *t) {
        for (size_t i = 0; i < t->n_models; i++)
                free(t->models[i].name);
        for (size_t i = 0; i < t->n_infos; i++)
                strv_free(t->infos[i].listen);
        free(t->models);
        free(t->infos);
        sd_bus_message_unref(t->reply);
        *t = (UnitTable){ 0 };
}

/* ---- properties --------------------------------------------------------------------- */

typedef struct PropertyCall {
        UnitInfo *unit;
        char type; /* 't', 'u', or 'l' (Listen, a(ss)) */
        size_t *pending;
        sd_bus_slot *slot;
} PropertyCall;

/* Keeps the Stream addresses of a Listen reply; an unreadable one leaves the field NULL. */
static int read_listen(sd_bus_message *m, UnitInfo *u) {
        _cleanup_strv_free_ char **v = NULL;
        size_t n = 0;
        const char *type, *address;
        int r;
        if (sd_bus_message_enter_container(m, 'v', "a(ss)") < 0 || sd_bus_message_enter_container(m, 'a', "(ss)") < 0)
                return 0;
        while ((r = sd_bus_message_read(m, "(ss)", &type, &address)) > 0)
                if (streq(type, "Stream") && strv_extend(&v, &n, address) < 0)
                        return log_oom();
        if (r < 0)
                return 0;
        if (!v && !(v = calloc(1, sizeof(char *))))
                return log_oom();
        strv_free(u->listen);
        u->listen = TAKE_PTR(v);
        return 0;
}

static int property_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        PropertyCall *c = userdata;
        (void) ret_error;
        (*c->pending)--;
        if (sd_bus_message_is_method_error(m, NULL))
                return 0; /* the unit went away meanwhile: the value stays unknown */
        if (c->type == 'l')
                return read_listen(m, c->unit);
        if (c->type == 't') {
                uint64_t t;
                if (sd_bus_message_read(m, "v", "t", &t) >= 0)
                        c->unit->state_change_usec = t;
        } else {
                uint32_t pid;
                if (sd_bus_message_read(m, "v", "u", &pid) >= 0)
                        c->unit->main_pid = pid;
        }
        return 0;
}

/* Gets one property of each unit, all requests pipelined, into the UnitInfo field of its
 * type: 't' StateChangeTimestamp, 'u' MainPID, 'l' Listen. */
static int units_fetch(sd_bus *bus, UnitInfo **units, size_t n, const char *iface, const char *property, char type) {
        _cleanup_free_ PropertyCall *calls = calloc(n ? n : 1, sizeof(PropertyCall));
        size_t pending = 0;
        int r = 0;
        if (!calls)
                return log_oom();

        for (size_t i = 0; i < n; i++) {
                calls[i] = (PropertyCall){ .unit = units[i], .type = type, .pending = &pending };
                r = sd_bus_call_method_async(bus, &calls[i].slot, SD_DEST, units[i]->object_path,
                                             "org.freedesktop.DBus.Properties", "Get", property_reply, &calls[i],
                                             "ss", iface, property);
                if (r < 0) {
                        log_error_errno(r, "Failed to ask for %s of %s: %m", property, units[i]->id);
                        break;
                }
                pending++;
        }
        while (r >= 0 && pending > 0) {
                int k = sd_bus_process(bus, NULL);
                if (k < 0)
                        r = log_error_errno(k, "Failed to process replies of the service manager: %m");
                else if (k == 0) {
                        k = sd_bus_wait(bus, UINT64_MAX);
                        if (k < 0 && k != -EINTR)
                                r = log_error_errno(k, "Failed to wait for the service manager: %m");
                }
        }
        for (size_t i = 0; i < n; i++)
                sd_bus_slot_unref(calls[i].slot);
        return r < 0 ? r : 0;
}

int units_fetch_state_change(sd_bus *bus, UnitInfo **units, size_t n) {
        return units_fetch(bus, units, n, SD_UNIT, "StateChangeTimestamp", 't');
}

int units_fetch_main_pid(sd_bus *bus, UnitInfo **units, size_t n) {
        return units_fetch(bus, units, n, "org.freedesktop.systemd1.Service", "MainPID", 'u');
}

int units_fetch_listen(sd_bus *bus, UnitInfo **units, size_t n) {
        return units_fetch(bus, units, n, "org.freedesktop.systemd1.Socket", "Listen", 'l');
}
