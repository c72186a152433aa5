/* SPDX-License-Identifier: MIT */
/* Folds Nix's internal-json log into a NixProgress: the activities (builds, substitutions)
 * and their progress here, errors and warnings in nixerror.c. */
#include "nixlog.h"

#include <assert.h>
#include <limits.h>
#include <string.h>

#include "nixerror.h"
#include "nixmsg.h"
#include "utf8.h"
#include "util.h"

/* Copies a NUL-terminated src into dst[size] cut on a character boundary; returns whether
 * dst changed. */
static bool set_string(char *dst, size_t size, const char *src) {
        size_t l = strlen(src);

        if (l > size - 1)
                l = utf8_cut(src, size - 1);
        if (strncmp(dst, src, l) == 0 && dst[l] == 0)
                return false;
        copy_bytes(dst, src, l);
        dst[l] = 0;
        return true;
}

static bool set_u64(unsigned long long *dst, unsigned long long v) {
        if (*dst == v)
                return false;
        *dst = v;
        return true;
}

static bool set_bool(bool *dst, bool v) {
        if (*dst == v)
                return false;
        *dst = v;
        return true;
}

static NixActivity *activity_find(NixProgress *p, unsigned long long id) {
        for (size_t i = 0; i < NIXLOG_MAX_ACTIVITIES; i++)
                if (p->activities[i].seq != 0 && p->activities[i].id == id)
                        return &p->activities[i];
        return NULL;
}

static NixBuildActivity *build_find(NixProgress *p, unsigned long long id) {
        for (size_t i = 0; i < NIXLOG_MAX_BUILDS; i++)
                if (p->builds[i].seq != 0 && p->builds[i].id == id)
                        return &p->builds[i];
        return NULL;
}

/* A free slot, else the oldest one (evicted). */
static NixActivity *activity_slot(NixProgress *p) {
        NixActivity *best = &p->activities[0];
        for (size_t i = 0; i < NIXLOG_MAX_ACTIVITIES; i++) {
                if (p->activities[i].seq == 0)
                        return &p->activities[i];
                if (p->activities[i].seq < best->seq)
                        best = &p->activities[i];
        }
        return best;
}

static NixBuildActivity *build_slot(NixProgress *p) {
        NixBuildActivity *best = &p->builds[0];
        for (size_t i = 0; i < NIXLOG_MAX_BUILDS; i++) {
                if (p->builds[i].seq == 0)
                        return &p->builds[i];
                if (p->builds[i].seq < best->seq)
                        best = &p->builds[i];
        }
        return best;
}

static void activity_forget(NixProgress *p, unsigned long long id) {
        NixActivity *a = activity_find(p, id);
        NixBuildActivity *b = build_find(p, id);

        if (a)
                *a = (NixActivity) {};
        if (b)
                *b = (NixBuildActivity) {};
        if (p->has_builds && p->builds_id == id)
                p->has_builds = false;
        if (p->has_copy_paths && p->copy_paths_id == id)
                p->has_copy_paths = false;
}

/* Recomputes building, substituting, current_drv and machine from the tables. */
static bool activities_changed(NixProgress *p) {
        const NixBuildActivity *latest = NULL;
        bool substituting = false, changed = false;

        for (size_t i = 0; i < NIXLOG_MAX_BUILDS; i++)
                if (p->builds[i].seq != 0 && (!latest || p->builds[i].seq > latest->seq))
                        latest = &p->builds[i];
        for (size_t i = 0; i < NIXLOG_MAX_ACTIVITIES; i++)
                if (p->activities[i].seq != 0 && p->activities[i].type == NIX_ACT_SUBSTITUTE)
                        substituting = true;

        changed |= set_bool(&p->building, latest != NULL);
        changed |= set_bool(&p->substituting, substituting);
        changed |= set_string(p->current_drv, sizeof p->current_drv, latest ? latest->drv : "");
        changed |= set_string(p->machine, sizeof p->machine, latest ? latest->machine : "");
        if (p->building || p->substituting)
                changed |= set_string(p->waiting, sizeof p->waiting, "");
        return changed;
}

/* The drv of an actBuild: fields[0], or else the quoted path in its text
 * ("building '/nix/store/...drv'"), for Nix versions without fields. */
static void build_drv(const NixMessage *m, char *drv, size_t size) {
        const NixField *f = nix_message_field(m, 0, FIELD_STRING);
        if (f) {
                text_sanitize(f->str, f->str_len, drv, size, false);
                return;
        }
        drv[0] = 0;
        if (!m->has_text)
                return;
        const char *q = memchr(m->text, '\'', m->text_len);
        if (!q)
                return;
        q++;
        const char *e = memchr(q, '\'', m->text_len - (size_t) (q - m->text));
        if (e)
                text_sanitize(q, (size_t) (e - q), drv, size, false);
}

static bool handle_start(NixProgress *p, const NixMessage *m) {
        unsigned type = m->has_type && m->type <= UINT_MAX ? (unsigned) m->type : NIX_ACT_UNKNOWN;

        if (!m->has_id)
                return false;
        activity_forget(p, m->id); /* a reused id starts afresh */

        if (type == NIX_ACT_BUILDS && !p->has_builds) {
                p->has_builds = true;
                p->builds_id = m->id;
        } else if (type == NIX_ACT_COPY_PATHS && !p->has_copy_paths) {
                p->has_copy_paths = true;
                p->copy_paths_id = m->id;
        } else if (type == NIX_ACT_BUILD) {
                NixBuildActivity *b = build_slot(p);
                *b = (NixBuildActivity) { .id = m->id, .seq = ++p->seq };
                build_drv(m, b->drv, sizeof b->drv);
                const NixField *f = nix_message_field(m, 1, FIELD_STRING);
                if (f)
                        text_sanitize(f->str, f->str_len, b->machine, sizeof b->machine, false);
        } else {
                NixActivity *a = activity_slot(p);
                *a = (NixActivity) { .id = m->id, .seq = ++p->seq, .type = type };
        }
        return activities_changed(p);
}

static bool handle_stop(NixProgress *p, const NixMessage *m) {
        if (!m->has_id)
                return false;
        activity_forget(p, m->id);
        return activities_changed(p);
}

static bool handle_result(NixProgress *p, const NixMessage *m) {
        bool changed = false;

        if (!m->has_type)
                return false;
        if (m->type == NIX_RES_BUILD_LOG_LINE || m->type == NIX_RES_POST_BUILD_LOG_LINE) {
                const NixField *f = nix_message_field(m, 0, FIELD_STRING);
                char line[NIXLOG_LINE_MAX + 1];
                if (p->n_log_lines < ULLONG_MAX)
                        p->n_log_lines++;
                /* Blank lines say nothing about progress: keep the last one that did. */
                if (f && text_sanitize_log_line(f->str, f->str_len, line, sizeof line) > 0)
                        changed = set_string(p->last_line, sizeof p->last_line, line);
                return changed;
        }
        if (m->type != NIX_RES_PROGRESS || !m->has_id)
                return false;

        const NixField *done = nix_message_field(m, 0, FIELD_NUMBER), *expected = nix_message_field(m, 1, FIELD_NUMBER),
                       *running = nix_message_field(m, 2, FIELD_NUMBER),
                       *failed = nix_message_field(m, 3, FIELD_NUMBER);
        if (!done || !expected)
                return false;
        if (p->has_builds && m->id == p->builds_id) {
                changed |= set_u64(&p->done, done->num);
                changed |= set_u64(&p->expected, expected->num);
                if (running)
                        changed |= set_u64(&p->running, running->num);
                if (failed)
                        changed |= set_u64(&p->failed, failed->num);
        } else if (p->has_copy_paths && m->id == p->copy_paths_id) {
                changed |= set_u64(&p->subst_done, done->num);
                changed |= set_u64(&p->subst_expected, expected->num);
        }
        return changed;
}

void nixlog_init(NixProgress *p) {
        assert(p);
        *p = (NixProgress) {};
}

int nixlog_feed(NixProgress *p, const char *line, size_t len) {
        static const char prefix[] = "@nix ";
        NixMessage m;
        bool changed = false;

        assert(p);
        if (!line)
                return 0;
        if (len > 0 && line[len - 1] == '\r')
                len--;

        if (len < strlen(prefix) || memcmp(line, prefix, strlen(prefix)) != 0)
                return nixlog_handle_plain(p, line, len);

        p->in_plain_error = false;
        if (nix_message_parse(line + strlen(prefix), len - strlen(prefix), &m) < 0)
                return 0;
        if (nix_message_action_is(&m, "start"))
                changed = handle_start(p, &m);
        else if (nix_message_action_is(&m, "stop"))
                changed = handle_stop(p, &m);
        else if (nix_message_action_is(&m, "result"))
                changed = handle_result(p, &m);
        else if (nix_message_action_is(&m, "msg"))
                changed = nixlog_handle_msg(p, &m);
        return changed;
}
