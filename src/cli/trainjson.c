/* SPDX-License-Identifier: MIT */
/* Training metrics as JSON (trainjson.h). Names are [A-Za-z_][A-Za-z0-9_]*, so they need no
 * escaping; values are finite, so %.17g is a JSON number that round-trips. */
#include "trainjson.h"

#include <errno.h>
#include <stdlib.h>

#include "log.h"
#include "trainmetrics.h"
#include "util.h"

int training_metrics_json(FILE *f, const char *out) {
        _cleanup_free_ TrainMetrics *tm = NULL;
        if (isempty(out)) {
                fputs("null", f);
                return 0;
        }
        tm = malloc(sizeof(TrainMetrics));
        if (!tm)
                return log_oom();
        int r = train_metrics_read(out, tm);
        if (r == -ENOMEM)
                return log_oom();
        if (r < 0) {
                fputs("null", f);
                return 0;
        }
        fputc('{', f);
        for (size_t i = 0; i < tm->n; i++)
                fprintf(f, "%s\"%s\":%.17g", i ? "," : "", tm->v[i].name, tm->v[i].value);
        fputc('}', f);
        return 0;
}
