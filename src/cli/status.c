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
static const char *out_of(const ModelView *v) {
        return v->status && !isempty(v->status->out) ? v->status->out : v->served;
}

static void resolve_served(ModelView *v, const char *runtime_dir) {
        if (!runtime_dir || !unit_is_active(model_unit(v, UNIT_SERVE)) || (v->status && !isempty(v->status->out)))
                return;
        _cleanup_free_ char *link = strjoin(runtime_dir, "/" PUBLISHED_SUBDIR "/", v->name);
        if (link)
                v->served = realpath(link, NULL);
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

static int print_json(ModelView *views, size_t n) {
        FILE *f = stdout;
        fputs("[", f);
        for (size_t i = 0; i < n; i++) {
                const ModelView *v = &views[i];
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
                json_string(f, out_of(v));
                fputs(",\"training_metrics\":", f);
                if (training_metrics_json(f, out_of(v)) < 0)
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
        fputs(n ? "\n]\n" : "]\n", f);
        return 0;
}

enum { COL_NAME, COL_STATE, COL_SINCE, COL_PROGRESS, COL_DRV, COL_OUT, COL_ERROR, _COL_MAX };
static const char *const col_title[_COL_MAX] = { "NAME", "STATE", "SINCE", "PROGRESS", "DRV", "OUT", "ERROR" };

typedef struct Row {
        char *cell[_COL_MAX];
} Row;

static int print_table(ModelView *views, size_t n) {
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
                const ModelView *v = &views[i];
                char since[64], progress[STATUS_LINE_MAX + 128], progress_cut[PROGRESS_COLUMNS * 4 + 4], drv[300],
                        out[300], error[ERROR_COLUMNS * 4 + 4];
                format_relative(since, sizeof since, v->since, now);
                progress_text(v, progress, sizeof progress);
                utf8_truncate(progress_cut, sizeof progress_cut, progress, PROGRESS_COLUMNS);
                format_store_path(drv, sizeof drv, v->model ? v->model->drv : NULL);
                format_store_path(out, sizeof out, out_of(v));
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

static bool name_wanted(char **names, const char *name) {
        return !names || !names[0] || strv_contains(names, name);
}

static int run(char **names) {
        _cleanup_manifest_ Manifest *m = NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(unit_table_done) UnitTable units = { 0 };
        _cleanup_strv_free_ char **skipped = NULL;
        _cleanup_free_ char *runtime_dir = NULL, *state_dir = NULL;
        _cleanup_free_ ModelView *views = NULL;
        _cleanup_free_ ModelStatus *scratch = NULL;
        _cleanup_free_ UnitInfo **leads = NULL;
        size_t n_views = 0, n_leads = 0;
        int r, ret = 0;

        r = cli_load_manifest(NULL, &m);
        if (r != 0)
                return r;
        for (char **i = names; i && *i; i++)
                if ((r = cli_model_arg(*i, NULL, NULL)) != 0)
                        return r;
        if (manifest_skipped_names(m, &skipped) < 0)
                return -ENOMEM;

        r = path_runtime_dir(arg_scope, &runtime_dir);
        if (r < 0)
                log_warning_errno(r, "Failed to determine the runtime directory (set XDG_RUNTIME_DIR or "
                                     "DEFERRED_BUILDS_RUNTIME_DIR): %m; showing unit states only.");

        if (path_state_dir(arg_scope, &state_dir) < 0)
                state_dir = NULL; /* no failure memory to show */

        if (bus_connect(arg_scope, &bus) < 0)
                return CLI_EXIT_UNAVAILABLE;
        r = unit_table_load(bus, &units);
        if (r < 0)
                return r;

        views = calloc(m->n_models + units.n_models + 1, sizeof(ModelView));
        scratch = malloc(sizeof(ModelStatus));
        if (!views || !scratch)
                return log_oom();

        for (size_t i = 0; i < m->n_models && r >= 0; i++) {
                const Model *md = &m->models[i];
                if (!name_wanted(names, md->name))
                        continue;
                r = model_view_init(&views[n_views], md->name, md, unit_table_find(&units, md->name), runtime_dir,
                                    state_dir, scratch);
                n_views++;
        }
        /* Models no longer in the manifest, while any of their units still runs or failed. */
        for (size_t i = 0; i < units.n_models && r >= 0; i++) {
                const ModelUnits *mu = &units.models[i];
                if (manifest_find(m, mu->name) || strv_contains(skipped, mu->name) || !name_wanted(names, mu->name))
                        continue;
                bool alive = false;
                for (UnitKind k = 0; k < _UNIT_KIND_MAX; k++)
                        alive = alive || !unit_is_inactive(mu->unit[k]);
                if (alive) {
                        r = model_view_init(&views[n_views], mu->name, NULL, mu, runtime_dir, NULL, scratch);
                        n_views++;
                }
        }
        if (r < 0)
                goto finish;

        for (char **i = names; i && *i; i++) {
                bool found = false;
                for (size_t k = 0; k < n_views && !found; k++)
                        found = streq(views[k].name, *i);
                if (!found) {
                        log_error("Model %s is not in the manifest %s and none of its units is loaded.", *i, m->path);
                        ret = CLI_EXIT_NOINPUT;
                }
        }

        leads = calloc(n_views + 1, sizeof(UnitInfo *));
        if (!leads) {
                r = log_oom();
                goto finish;
        }
        for (size_t i = 0; i < n_views; i++)
                if (model_view_needs_unit_time(&views[i]))
                        leads[n_leads++] = views[i].lead;
        r = units_fetch_state_change(bus, leads, n_leads);
        if (r < 0)
                goto finish;
        for (size_t i = 0; i < n_views; i++) {
                model_view_update_since(&views[i]);
                resolve_served(&views[i], runtime_dir);
        }

        if (arg_json)
                r = print_json(views, n_views);
        else if (n_views == 0 && !names)
                printf("No models in %s.\n", m->path);
        else
                r = print_table(views, n_views);

finish:;
        /* For monitoring: a failure outranks a stall, which outranks all being well. */
        int health = 0;
        for (size_t i = 0; i < n_views; i++) {
                if (views[i].alarm || views[i].view_state == VIEW_FAILED)
                        health = CLI_EXIT_MODEL_FAILED;
                else if (health == 0 && (views[i].view_state == VIEW_STOPPED || views[i].view_state == VIEW_SILENT))
                        health = CLI_EXIT_MODEL_STALLED;
                model_view_done(&views[i]);
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
