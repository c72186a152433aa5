/* SPDX-License-Identifier: MIT */
/* deferred-builds metrics [--output FILE]: every model as OpenMetrics text, for Prometheus
 * (node-exporter's textfile collector, or any scraper that runs the command). The state
 * is the view's state string (model.h), so a state the view learns appears here as it is. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "fileio.h"
#include "log.h"
#include "openmetrics.h"
#include "trainmetrics.h"
#include "util.h"
#include "validate.h"
#include "views.h"

#define PREFIX "deferred_builds_"

static const char *arg_output = NULL;
static bool arg_prometheus = false;

static void help(void) {
        printf("Usage: %s metrics [--format openmetrics|prometheus] [--output FILE]\n\n"
               "Print the state of every model as OpenMetrics text (ended by \"# EOF\"): state,\n"
               "training progress and elapsed time, the last success and failure, the wanted and\n"
               "served outputs, and each model's training metrics (" TRAIN_METRICS_PATH ").\n\n"
               "  --format F     openmetrics (default), or prometheus: the text format 0.0.4 that\n"
               "                 node-exporter's textfile collector reads (no # EOF, no stateset)\n"
               "  --output FILE  write FILE whole (a temporary file in its folder, then a rename)\n"
               "                 instead of printing, e.g. for node-exporter's textfile collector\n"
               "  --user         the user manager's models     --system  the system's (default)\n"
               "  -h --help      show this help\n",
               program_invocation_short_name);
}

static int parse_argv(int argc, char *argv[]) {
        enum { ARG_OUTPUT = 0x300, ARG_FORMAT };
        static const struct option opts[] = { COMMON_OPTIONS,
                                              { "output", required_argument, NULL, ARG_OUTPUT },
                                              { "format", required_argument, NULL, ARG_FORMAT },
                                              {} };
        int c;
        while ((c = getopt_long(argc, argv, ":h", opts, NULL)) >= 0) {
                if (common_option(c))
                        continue;
                if (c == 'h') {
                        help();
                        return 0;
                }
                if (c == ARG_FORMAT) {
                        if (!streq(optarg, "openmetrics") && !streq(optarg, "prometheus"))
                                return operand_error(argv, "--format is openmetrics or prometheus");
                        arg_prometheus = streq(optarg, "prometheus");
                        continue;
                }
                if (c != ARG_OUTPUT)
                        return option_error(c, argv);
                if (!absolute_path_is_valid(optarg) || endswith(optarg, "/"))
                        return operand_error(argv, "--output needs an absolute path to a file");
                arg_output = optarg;
        }
        if (optind < argc)
                return operand_error(argv, "takes no arguments");
        return CLI_CONTINUE;
}

/* The output whose training metrics are shown: the one the status file names (the last
 * built), else the one being served. */
static const char *output_of(const ViewSet *s, size_t i) {
        const StatusInfo *st = s->views[i].status;
        return st && !isempty(st->out) ? st->out : s->published[i];
}

/* The output the manifest wants: its `out =`, else (a content-addressed model, or a
 * manifest written without it) what the status file says the wanted derivation built. */
static const char *wanted_out(const ModelView *v) {
        if (!v->model)
                return NULL;
        if (v->model->out)
                return v->model->out;
        return model_view_status_drv_is(v, v->model->drv) && !isempty(v->status->out) ? v->status->out : NULL;
}

static void write_state(const Om *o, const ViewSet *s) {
        om_family(o, PREFIX "model_state", "stateset", NULL,
                  "The state of each model, as deferred-builds status shows it.");
        for (size_t i = 0; i < s->n; i++)
                om_sample_u64(o, PREFIX "model_state", s->views[i].name, PREFIX "model_state", s->views[i].state, 1);
        om_family(o, PREFIX "retraining", "gauge", NULL, "1 while a retrain runs and the previous model serves.");
        for (size_t i = 0; i < s->n; i++)
                om_sample_u64(o, PREFIX "retraining", s->views[i].name, NULL, NULL, s->views[i].retraining);
}

static void write_info(const Om *o, const ViewSet *s) {
        om_family(o, PREFIX "model", "info", NULL,
                  "What the manifest wants (drv, wanted_out: empty while not known) and what is "
                  "served (served_out: the published link resolved; empty when nothing is published).");
        for (size_t i = 0; i < s->n; i++) {
                const ModelView *v = &s->views[i];
                fputs(PREFIX "model_info{model=", o->f);
                om_label_value(o->f, v->name);
                fputs(",drv=", o->f);
                om_label_value(o->f, v->model ? v->model->drv : NULL);
                fputs(",wanted_out=", o->f);
                om_label_value(o->f, wanted_out(v));
                fputs(",served_out=", o->f);
                om_label_value(o->f, s->published[i]);
                fputs(",generation=", o->f);
                om_label_value(o->f, v->model ? s->manifest->generation : NULL);
                fputs("} 1\n", o->f);
        }
}

static void write_progress(const Om *o, const ViewSet *s, unsigned long long now) {
        om_family(o, PREFIX "training_derivations_built", "gauge", NULL,
                  "Derivations built so far by the model's last or current training.");
        for (size_t i = 0; i < s->n; i++)
                if (s->views[i].status)
                        om_sample_u64(o, PREFIX "training_derivations_built", s->views[i].name, NULL, NULL,
                                      s->views[i].status->done);
        om_family(o, PREFIX "training_derivations_expected", "gauge", NULL,
                  "Derivations the model's last or current training has to build (0 until Nix knows).");
        for (size_t i = 0; i < s->n; i++)
                if (s->views[i].status)
                        om_sample_u64(o, PREFIX "training_derivations_expected", s->views[i].name, NULL, NULL,
                                      s->views[i].status->expected);
        om_family(o, PREFIX "training_elapsed_seconds", "gauge", "seconds",
                  "How long the last training took, or the current one has been running.");
        for (size_t i = 0; i < s->n; i++) {
                const StatusInfo *st = s->views[i].status;
                if (!st || st->started == 0)
                        continue;
                unsigned long long end = st->finished >= st->started && st->finished ? st->finished : now;
                om_sample_u64(o, PREFIX "training_elapsed_seconds", s->views[i].name, NULL, NULL,
                              end > st->started ? end - st->started : 0);
        }
}

static void write_times(const Om *o, const ViewSet *s) {
        om_family(o, PREFIX "last_success_timestamp_seconds", "gauge", "seconds",
                  "When the model's last successful training (or realise of an output already built) ended.");
        for (size_t i = 0; i < s->n; i++) {
                const StatusInfo *st = s->views[i].status;
                if (st && st->state == MODEL_STATE_READY && st->finished)
                        om_sample_u64(o, PREFIX "last_success_timestamp_seconds", s->views[i].name, NULL, NULL,
                                      st->finished);
        }
        om_family(o, PREFIX "last_failure_timestamp_seconds", "gauge", "seconds",
                  "When the model's last failed training ended (the status file, else the remembered failure).");
        for (size_t i = 0; i < s->n; i++) {
                const StatusInfo *st = s->views[i].status, *fm = s->views[i].failed;
                unsigned long long t = st && st->state == MODEL_STATE_FAILED && st->finished ? st->finished
                        : fm                                                                 ? fm->finished
                                                                                             : 0;
                if (t)
                        om_sample_u64(o, PREFIX "last_failure_timestamp_seconds", s->views[i].name, NULL, NULL, t);
        }
}

static int write_training_metrics(const Om *o, const ViewSet *s) {
        _cleanup_free_ TrainMetrics *tm = malloc(sizeof(TrainMetrics));
        if (!tm)
                return log_oom();
        om_family(o, PREFIX "training_metric", "gauge", NULL,
                  "The model's own training metrics, from OUT/" TRAIN_METRICS_PATH " (name: the key).");
        for (size_t i = 0; i < s->n; i++) {
                const char *out = output_of(s, i);
                if (isempty(out))
                        continue;
                int r = train_metrics_read(out, tm);
                if (r == -ENOMEM)
                        return log_oom();
                for (size_t k = 0; r >= 0 && k < tm->n; k++)
                        om_sample_double(o, PREFIX "training_metric", s->views[i].name, "name", tm->v[k].name,
                                         tm->v[k].value);
        }
        return 0;
}

static int write_all(const Om *o, const ViewSet *s) {
        unsigned long long now = now_usec(CLOCK_REALTIME) / 1000000ULL;
        write_state(o, s);
        write_info(o, s);
        write_progress(o, s, now);
        write_times(o, s);
        int r = write_training_metrics(o, s);
        if (r < 0)
                return r;
        om_eof(o);
        return 0;
}

static int run(void) {
        _cleanup_(view_set_done) ViewSet s = { 0 };
        int r = view_set_load(&s, NULL);
        if (r != 0)
                return r;

        if (!arg_output) {
                if ((r = write_all(&(Om){ stdout, arg_prometheus }, &s)) < 0)
                        return r;
                if (fflush(stdout) != 0)
                        return log_error_errno(-errno, "Failed to write the metrics: %m");
                return 0;
        }

        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        _cleanup_fclose_ FILE *f = open_memstream(&text, &size);
        if (!f)
                return log_oom();
        if ((r = write_all(&(Om){ f, arg_prometheus }, &s)) < 0)
                return r;
        if (fflush(f) != 0)
                return log_oom();
        /* A collector reading the folder sees the previous file or this one, never half. */
        r = write_file_atomic(arg_output, text, size, 0644, 0);
        if (r < 0)
                return log_error_errno(r, "Failed to write the metrics to %s: %m", arg_output);
        return 0;
}

int verb_metrics(int argc, char *argv[]) {
        int r = parse_argv(argc, argv);
        if (r != CLI_CONTINUE)
                return r;
        return run();
}
