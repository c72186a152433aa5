/* SPDX-License-Identifier: MIT */
/* What a unit's states mean to the verbs: pure functions of a UnitInfo, no bus. */
#include "units.h"
#include "util.h"

bool unit_is_active(const UnitInfo *u) {
        return u && (streq(u->active_state, "active") || streq(u->active_state, "reloading"));
}

bool unit_is_activating(const UnitInfo *u) {
        return u && streq(u->active_state, "activating");
}

bool unit_is_failed(const UnitInfo *u) {
        return u && streq(u->active_state, "failed");
}

bool unit_has_job(const UnitInfo *u, const char *job_type) {
        return u && u->job_id > 0 && (!job_type || streq(u->job_type, job_type));
}

bool unit_is_inactive(const UnitInfo *u) {
        return !u || (streq(u->active_state, "inactive") && u->job_id == 0);
}
