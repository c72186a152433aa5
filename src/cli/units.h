/* SPDX-License-Identifier: MIT */
/* The loaded units of every model, from one ListUnitsByPatterns call. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "unitname.h"

typedef struct UnitInfo {
        const char *id, *load_state, *active_state, *sub_state, *job_type, *object_path;
        uint32_t job_id;
        uint64_t state_change_usec; /* CLOCK_REALTIME µs, 0 until fetched or unknown */
        uint32_t main_pid;          /* 0 until fetched, or none */
        char **listen;              /* a socket's Listen addresses of type Stream, NULL until fetched */
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
/* Fetch StateChangeTimestamp, or a service's MainPID, of the given units, all requests
 * pipelined. */
int units_fetch_state_change(sd_bus *bus, UnitInfo **units, size_t n);
int units_fetch_main_pid(sd_bus *bus, UnitInfo **units, size_t n);
/* Fetch the Listen property of the given socket units (the addresses of their loaded
 * configuration, which after a daemon-reload need not be what a running socket holds). */
int units_fetch_listen(sd_bus *bus, UnitInfo **units, size_t n);

bool unit_is_active(const UnitInfo *u);     /* active or reloading */
bool unit_is_activating(const UnitInfo *u); /* activating (running ExecStart, or auto-restart) */
bool unit_is_failed(const UnitInfo *u);
bool unit_is_inactive(const UnitInfo *u); /* not loaded, or inactive with no job */
bool unit_has_job(const UnitInfo *u, const char *job_type);
