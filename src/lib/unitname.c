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
};

const char *model_unit_name(UnitKind k, const char *name, char buf[static UNIT_NAME_BUF]) {
        snprintf(buf, UNIT_NAME_BUF, "%s%s" UNIT_SUFFIX, unit_kind_prefix[k], name);
        return buf;
}

int model_unit_parse(const char *id, UnitKind *ret_kind, const char **ret_name, size_t *ret_len) {
        for (UnitKind k = 0; k < _UNIT_KIND_MAX; k++) {
                const char *rest = startswith(id, unit_kind_prefix[k]);
                if (!rest || !endswith(rest, UNIT_SUFFIX) || strlen(rest) == strlen(UNIT_SUFFIX))
                        continue;
                *ret_kind = k;
                *ret_name = rest;
                *ret_len = strlen(rest) - strlen(UNIT_SUFFIX);
                return 0;
        }
        return -EINVAL;
}
