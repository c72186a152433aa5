/* SPDX-License-Identifier: MIT */
/* deferred-builds status [NAME...]: one row per model.
 *
 * The manager is asked twice, whatever the number of models: one ListUnitsByPatterns for
 * every unit's state, then the state-change times of the units that decide the rows the
 * status files cannot date (servers), all requests pipelined on the connection. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bus.h"
#include "cli.h"
#include "format.h"
#include "log.h"
#include "model.h"
#include "trainjson.h"
#include "units.h"
#include "util.h"
#include "views.h"

#define PROGRESS_COLUMNS 48
/* The last column: shown whole (at most STATUS_ERROR_MAX bytes), since the cause of a
 * failure is at the end of Nix's message. */
#define ERROR_COLUMNS (STATUS_ERROR_MAX + 64)

static bool arg_json = false;

static void help(void) {
        printf("Usage: %s status [--json] [--silent-after=SECONDS] [NAME...]\n\n"
               "Show the state of every model of the manifest (or of the NAMEs given), plus models\n"
               "removed from the manifest whose units still run or failed.\n\n"
               "Columns: NAME, STATE (pending, waiting, substituting, training, silent, ready,\n"
               "serving, stopped, failed, removed), SINCE, PROGRESS (derivations built/expected and\n"
               "the last build log line; of a retrain too), DRV (the manifest's derivation), OUT\n"
               "(the built output), ERROR.\n\n"
               "Exit status: 0 when no model failed, stopped or went silent; %s when one failed\n"
               "(its training, its server, or its retrain); %s when none failed but one is stopped\n"
               "or silent.\n\n"
               "  --json                  print a JSON array of objects instead of a table\n"
               "  --silent-after=SECONDS  a training without a log line for this long is \"silent\"\n"
               "                          (default %llu; 0: never)\n"
               "  --user      the user manager's models     --system  the system's (default)\n"
               "  -h --help   show this help\n",
               program_invocation_short_name, EXIT_STR(EXIT_MODEL_FAILED), EXIT_STR(EXIT_MODEL_STALLED),
               SILENT_AFTER_DEFAULT_SEC);
}

static int parse_argv(int argc, char *argv[]) {
        static const struct option opts[] = {
                COMMON_OPTIONS,
                { "json", no_argument, NULL, ARG_JSON },
                { "silent-after", required_argument, NULL, ARG_SILENT_AFTER },
                {},
        };
        int c;
        while ((c = getopt_long(argc, argv, ":h", opts, NULL)) >= 0) {
                if (common_option(c))
                        continue;
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_JSON:
                        arg_json = true;
                        break;
                case ARG_SILENT_AFTER:
                        if (safe_atou64(optarg, &arg_silent_after) < 0 || arg_silent_after > 365ULL * 86400)
                                return operand_error(argv, "--silent-after= takes a number of seconds");
                        break;
                default:
                        return option_error(c, argv);
                }
        }
        return CLI_CONTINUE;
}

static void progress_text(const ModelView *v, char *buf, size_t n) {
        const StatusInfo *st = v->status;
        if (v->view_state == VIEW_WAITING) {
                snprintf(buf, n, "%swaiting for a cache", v->retraining ? "retraining: " : "");
                return;
        }
        if (v->detail) {
                /* Silence says more than the counts. */
                snprintf(buf, n, "%s%s%s%s", v->retraining ? "retraining: " : "", v->detail,
                         st && !isempty(st->last_line) && v->view_state == VIEW_SILENT ? ", last: " : "",
                         st && v->view_state == VIEW_SILENT ? st->last_line : "");
                return;
        }
        if (!st || (st->expected == 0 && isempty(st->last_line))) {
                snprintf(buf, n, v->retraining ? "retraining" : "-");
                return;
        }
        char counts[64] = "";
        if (st->expected > 0)
                snprintf(counts, sizeof counts, "%llu/%llu", st->done, st->expected);
        snprintf(buf, n, "%s%s%s%s", v->retraining ? "retraining " : "", counts,
                 counts[0] && !isempty(st->last_line) ? " " : "", st->last_line);
}

/* The built output: from the status file, or, while a retrain has not produced the new
 * one yet, what the published link serves. */
static const char *out_of(const ModelView *v, const char *published) {
        if (v->status && !isempty(v->status->out))
                return v->status->out;
        return unit_is_active(model_unit(v, UNIT_SERVE)) ? published : NULL;
}

static void unit_json(FILE *f, const UnitInfo *u) {
        if (!u) {
                fputs("null", f);
                return;
        }
        char buf[128];
        snprintf(buf, sizeof buf, "%s/%s", u->active_state, u->sub_state);
        json_string(f, buf);
}

static int print_json(const ViewSet *s) {
        FILE *f = stdout;
        fputs("[", f);
        for (size_t i = 0; i < s->n; i++) {
                const ModelView *v = &s->views[i];
                const char *out = out_of(v, s->published[i]);
                const StatusInfo *st = v->status;
                fputs(i ? ",\n {" : "\n {", f);
                fputs("\"name\":", f);
                json_string(f, v->name);
                fputs(",\"state\":", f);
                json_string(f, v->state);
                if (v->since)
                        fprintf(f, ",\"since\":%llu", v->since / 1000000ULL);
                else
                        fputs(",\"since\":null", f);
                if (st)
                        fprintf(f, ",\"progress\":{\"done\":%llu,\"expected\":%llu,\"last_line\":", st->done,
                                st->expected);
                else
                        fputs(",\"progress\":null", f);
                if (st) {
                        json_string(f, st->last_line);
                        fputs("}", f);
                }
                fprintf(f, ",\"retraining\":%s", v->retraining ? "true" : "false");
                fputs(",\"detail\":", f);
                json_string(f, v->detail);
                fputs(",\"drv\":", f);
                json_string(f, v->model ? v->model->drv : NULL);
                fputs(",\"status_drv\":", f);
                json_string(f, st && !isempty(st->drv) ? st->drv : NULL);
                fputs(",\"out\":", f);
                json_string(f, out);
                fputs(",\"training_metrics\":", f);
                if (training_metrics_json(f, out) < 0)
                        return -ENOMEM;
                fputs(",\"error\":", f);
                json_string(f, v->error);
                fputs(",\"units\":{\"realise\":", f);
                unit_json(f, model_unit(v, UNIT_REALISE));
                fputs(",\"serve\":", f);
                unit_json(f, model_unit(v, UNIT_SERVE));
                fputs(",\"retrain\":", f);
                unit_json(f, model_unit(v, UNIT_RETRAIN));
                fputs("}}", f);
        }
        fputs(s->n ? "\n]\n" : "]\n", f);
        return 0;
}

enum { COL_NAME, COL_STATE, COL_SINCE, COL_PROGRESS, COL_DRV, COL_OUT, COL_ERROR, _COL_MAX };
static const char *const col_title[_COL_MAX] = { "NAME", "STATE", "SINCE", "PROGRESS", "DRV", "OUT", "ERROR" };

typedef struct Row {
        char *cell[_COL_MAX];
} Row;

static int print_table(const ViewSet *vs) {
        size_t n = vs->n;
        unsigned long long now = now_usec(CLOCK_REALTIME);
        bool colour = colour_enabled();
        size_t width[_COL_MAX];
        _cleanup_free_ Row *rows = calloc(n ? n : 1, sizeof(Row));
        int r = 0;
        if (!rows)
                return log_oom();

        for (size_t c = 0; c < _COL_MAX; c++)
                width[c] = strlen(col_title[c]);
        for (size_t i = 0; i < n && r >= 0; i++) {
                const ModelView *v = &vs->views[i];
                char since[64], progress[STATUS_LINE_MAX + 128], progress_cut[PROGRESS_COLUMNS * 4 + 4], drv[300],
                        out[300], error[ERROR_COLUMNS * 4 + 4];
                format_relative(since, sizeof since, v->since, now);
                progress_text(v, progress, sizeof progress);
                utf8_truncate(progress_cut, sizeof progress_cut, progress, PROGRESS_COLUMNS);
                format_store_path(drv, sizeof drv, v->model ? v->model->drv : NULL);
                format_store_path(out, sizeof out, out_of(v, vs->published[i]));
                /* A wait is no error, but its reason is what the row has to say. */
                const char *why = v->error ? v->error : v->view_state == VIEW_WAITING ? v->detail : NULL;
                utf8_truncate(error, sizeof error, why ? why : "-", ERROR_COLUMNS);
                const char *cells[_COL_MAX] = { v->name, v->state, since, progress_cut, drv, out, error };
                for (size_t c = 0; c < _COL_MAX; c++) {
                        rows[i].cell[c] = strdup(cells[c]);
                        if (!rows[i].cell[c]) {
                                r = log_oom();
                                break;
                        }
                        size_t w = utf8_columns(cells[c]);
                        if (w > width[c])
                                width[c] = w;
                }
        }

        if (r >= 0) {
                for (size_t c = 0; c < _COL_MAX; c++)
                        printf("%s%s%s%*s", colour ? ANSI_BOLD : "", col_title[c], colour ? ANSI_RESET : "",
                               c + 1 < _COL_MAX ? (int) (width[c] - strlen(col_title[c]) + 2) : 0, "");
                putchar('\n');
                for (size_t i = 0; i < n; i++) {
                        for (size_t c = 0; c < _COL_MAX; c++) {
                                const char *s = rows[i].cell[c];
                                bool paint = colour && c == COL_STATE;
                                printf("%s%s%s", paint ? state_colour(s) : "", s, paint ? ANSI_RESET : "");
                                if (c + 1 < _COL_MAX)
                                        printf("%*s", (int) (width[c] - utf8_columns(s) + 2), "");
                        }
                        putchar('\n');
                }
        }
        for (size_t i = 0; i < n; i++)
                for (size_t c = 0; c < _COL_MAX; c++)
                        free(rows[i].cell[c]);
        return r;
}

static int run(char **names) {
        _cleanup_(view_set_done) ViewSet s = { 0 };
        int r, ret = 0;

        r = view_set_load(&s, names);
        if (r > 0)
                return r;
        if (r < 0)
                goto finish;

        for (char **i = names; i && *i; i++) {
                bool found = false;
                for (size_t k = 0; k < s.n && !found; k++)
                        found = streq(s.views[k].name, *i);
                if (!found) {
                        log_error("Model %s is not in the manifest %s and none of its units is loaded.", *i,
                                  s.manifest->path);
                        ret = CLI_EXIT_NOINPUT;
                }
        }

        if (arg_json)
                r = print_json(&s);
        else if (s.n == 0 && !names)
                printf("No models in %s.\n", s.manifest->path);
        else
                r = print_table(&s);

finish:;
        /* For monitoring: a failure outranks a stall, which outranks all being well. */
        int health = 0;
        for (size_t i = 0; i < s.n; i++) {
                if (s.views[i].alarm || s.views[i].view_state == VIEW_FAILED)
                        health = CLI_EXIT_MODEL_FAILED;
                else if (health == 0 &&
                         (s.views[i].view_state == VIEW_STOPPED || s.views[i].view_state == VIEW_SILENT))
                        health = CLI_EXIT_MODEL_STALLED;
        }
        if (r < 0)
                return r;
        if (fflush(stdout) != 0)
                return log_error_errno(-errno, "Failed to write the status: %m");
        return ret != 0 ? ret : health;
}

int verb_status(int argc, char *argv[]) {
        int r = parse_argv(argc, argv);
        if (r != CLI_CONTINUE)
                return r;
        return run(optind < argc ? argv + optind : NULL);
}
