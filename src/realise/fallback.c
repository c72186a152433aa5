/* SPDX-License-Identifier: MIT */
/* Serving the previous model after a reboot while the manifest's model trains
 * (src/lib/previous.h decides when). */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "log.h"
#include "previous.h"
#include "realise.h"
#include "unitname.h"
#include "util.h"

int serve_previous(Context *c) {
        char root[PATH_MAX], out[PATH_MAX];
        int r = previous_model(c->state_dir, c->runtime_dir, c->manifest->generation, c->md, root);
        if (r < 0)
                log_warning_errno(r, "Failed to look for the previous model of %s, building it: %m", c->md->name);
        if (r <= 0)
                return 0;
        ssize_t n = readlink(root, out, sizeof out - 1);
        if (n < 0)
                return 0;
        out[n] = 0;

        _cleanup_free_ char *models_dir = strjoin(c->runtime_dir, "/" PUBLISHED_SUBDIR);
        if (!models_dir)
                return log_oom();
        if ((r = mkdir_p(models_dir, 0755)) < 0 || (r = symlink_atomic(root, c->published, 0)) < 0) {
                log_warning_errno(r, "Failed to publish the previous model of %s at %s, building it: %m",
                                  c->md->name, c->published);
                return 0;
        }
        /* The status names no derivation: what is served is not the manifest's, so the next
         * reconcile sees a served model that is not current, and retrains. */
        c->st.state = MODEL_STATE_READY;
        c->st.drv[0] = 0;
        status_set(c->st.out, sizeof c->st.out, out);
        status_set(c->st.root, sizeof c->st.root, root);
        c->st.finished = (unsigned long long) time(NULL);
        char unit[UNIT_NAME_BUF];
        snprintf(c->st.last_line, sizeof c->st.last_line, "serving the previous model while %s trains the new one",
                 model_unit_name(UNIT_RETRAIN, c->md->name, unit));
        report_status(c);
        report_notify("ready %s: previous model %s while %s trains", c->md->name, out, c->md->drv);
        report_event(c, LOG_INFO,
                     "Model %s: %s is not built yet; serving the previous model %s (%s) while "
                     "deferred-builds reconcile has it trained.",
                     c->md->name, c->md->drv, out, root);
        return 1;
}
