/* SPDX-License-Identifier: MIT */
/* Alerts: the units a model's `on-failure =` names, started by systemd (OnFailure=) when its
 * training (realise or retrain unit) or its server fails for good. */
#pragma once

#include <stdbool.h>

#include "manifest.h"
#include "paths.h"

/* The drop-in the generator writes, only for models with on-failure, to each of the
 * model's realise, retrain and serve units. */
#define ON_FAILURE_DROPIN_NAME "60-deferred-builds-on-failure.conf"

/* Whether s names a unit that systemd can start, exactly as written: NAME.TYPE or
 * NAME@INSTANCE.TYPE (no template without instance), characters [A-Za-z0-9:_.-] (and '@'
 * in the instance), TYPE a unit type, at most 255 bytes. In the instance the specifiers
 * %n, %N, %p, %i and %j (the failed unit's name, name without type, prefix, instance,
 * last prefix component) may stand for the failed unit, which expand to characters of
 * that set; the length counts them at their largest. No backslash, quote, space or other
 * specifier: systemd would unescape or expand them. */
bool on_failure_unit_is_valid(const char *s);

/* The drop-in text for model md: "[Unit]\nOnFailure=UNIT..." with a header naming the
 * manifest (source). Returns 0 and NULL in *ret when md names no unit; -ENOMEM. */
int on_failure_dropin(const Model *md, const char *source, char **ret);
