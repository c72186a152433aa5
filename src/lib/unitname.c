/* SPDX-License-Identifier: MIT */
#include "unitname.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

const char *const unit_kind_prefix[_UNIT_KIND_MAX] = {
        [UNIT_REALISE] = UNIT_REALISE_PREFIX,
        [UNIT_SERVE] = UNIT_SERVE_PREFIX,
        [UNIT_RETRAIN] = UNIT_RETRAIN_PREFIX,
        [UNIT_SOCKET] = UNIT_SERVE_PREFIX,
};

const char *const unit_kind_suffix[_UNIT_KIND_MAX] = {
        [UNIT_REALISE] = UNIT_SUFFIX,
        [UNIT_SERVE] = UNIT_SUFFIX,
        [UNIT_RETRAIN] = UNIT_SUFFIX,
        [UNIT_SOCKET] = UNIT_SOCKET_SUFFIX,
};

const char *model_unit_name(UnitKind k, const char *name, char buf[static UNIT_NAME_BUF]) {
        snprintf(buf, UNIT_NAME_BUF, "%s%s%s", unit_kind_prefix[k], name, unit_kind_suffix[k]);
        return buf;
}

int model_unit_parse(const char *id, UnitKind *ret_kind, const char **ret_name, size_t *ret_len) {
        for (UnitKind k = 0; k < _UNIT_KIND_MAX; k++) {
                const char *rest = startswith(id, unit_kind_prefix[k]);
                const char *suffix = unit_kind_suffix[k];
                if (!rest || !endswith(rest, suffix) || strlen(rest) == strlen(suffix))
                        continue;
                *ret_kind = k;
                *ret_name = rest;
                *ret_len = strlen(rest) - strlen(suffix);
                return 0;
        }
        return -EINVAL;
}
