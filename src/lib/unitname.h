/* SPDX-License-Identifier: MIT */
/* The names of our units (docs/DESIGN.md "Units"): the templates in units/ are named after
 * these, and every program builds a model's unit name here. */
#pragma once

#include <stddef.h>

#define UNIT_SUFFIX ".service"
/* A server's listening socket: deferred-serve@NAME.socket, which systemd ties to the
 * service of the same name. */
#define UNIT_SOCKET_SUFFIX ".socket"
#define UNIT_REALISE_PREFIX "deferred-realise@"
#define UNIT_SERVE_PREFIX "deferred-serve@"
#define UNIT_RETRAIN_PREFIX "deferred-retrain@"
#define UNIT_TARGET "deferred-builds.target"
#define UNIT_RECONCILE "deferred-builds-reconcile.service"

typedef enum UnitKind {
        UNIT_REALISE,
        UNIT_SERVE,
        UNIT_RETRAIN,
        UNIT_SOCKET,
        _UNIT_KIND_MAX,
} UnitKind;

/* "deferred-realise@", ... and ".service" or ".socket", by kind. */
extern const char *const unit_kind_prefix[_UNIT_KIND_MAX];
extern const char *const unit_kind_suffix[_UNIT_KIND_MAX];

/* The template of kind k: "deferred-realise@.service", ... */
#define UNIT_TEMPLATE(prefix) prefix UNIT_SUFFIX

/* Unit name of model `name` for kind k, into buf (at least UNIT_NAME_BUF bytes, enough for
 * any valid model name). Returns buf. */
#define UNIT_NAME_BUF 128
const char *model_unit_name(UnitKind k, const char *name, char buf[static UNIT_NAME_BUF]);

/* "deferred-serve@NAME.service" or "deferred-serve@NAME.socket" -> its kind and a pointer to NAME, *len its length. Returns
 * 0, or -EINVAL when id names none of the model units. */
int model_unit_parse(const char *id, UnitKind *ret_kind, const char **ret_name, size_t *ret_len);
