/* SPDX-License-Identifier: MIT */
/* Nix's error and warning messages: recording them, and whether a failed realisation is
 * worth retrying (a build failure is not; anything else is). */
#include <assert.h>
#include <limits.h>
#include <string.h>

#include "errtext.h"
#include "nixerror.h"
#include "nixlog.h"
#include "nixmsg.h"
#include "utf8.h"
#include "util.h"

static bool contains(const char *s, const char *needle) {
        return strstr(s, needle) != NULL;
}

/* Build-failure texts: a retry would fail the same way. Messages of Nix 2.8 (and the
 * "Cannot build ... Reason:" forms of later versions). */
static const char *const build_failure_texts[] = {
        "builder for '",   /* failed with exit code N / due to signal N / to produce output path */
        "builder failed",  /* later Nix: "Reason: builder failed with exit code 1." */
        "timed out after", /* timeout and max-silent-time */
        "hash mismatch in fixed-output derivation", /* */
        "is required to build '",                   /* "a 'SYSTEM' with features {F} is required to build ..." */
        "required system or feature not available", /* */
        "failed to produce output path",            /* */
        "killed after writing more than",           /* max-log-size */
        "may not be deterministic",                 /* --check */
        "is not allowed to refer to",               /* disallowedReferences, allowedReferences */
        "cycle detected in the references",         /* */
};

typedef enum ErrorKind {
        ERROR_INFRA,
        ERROR_BUILD,
        ERROR_CONSEQUENCE, /* reports an earlier failure: says nothing about its cause */
        ERROR_NO_MACHINE,  /* no machine could take the build */
} ErrorKind;

static ErrorKind error_kind(const char *text) {
        for (size_t i = 0; i < ELEMENTSOF(build_failure_texts); i++)
                if (contains(text, build_failure_texts[i]))
                        return ERROR_BUILD;
        if (contains(text, "unable to start any build"))
                return ERROR_NO_MACHINE;
        /* "N dependencies of derivation 'D' failed to build", later "Reason: 1 dependency
         * failed.", and a bare "build of 'P' failed" (a remote "build of 'P' on 'M' failed:
         * REASON" carries its cause and is judged by it). */
        if (contains(text, "dependencies of derivation '") || contains(text, "dependency failed") ||
            contains(text, "dependencies failed") || (startswith(text, "build of '") && endswith(text, "' failed")))
                return ERROR_CONSEQUENCE;
        return ERROR_INFRA;
}

/* Stores text in dst (size bytes), cut on a character boundary without trailing space. */
static void set_cut(char *dst, size_t size, const char *text) {
        size_t l = strlen(text);

        if (l > size - 1)
                l = utf8_cut(text, size - 1);
        while (l > 0 && text[l - 1] == ' ')
                l--;
        copy_bytes(dst, text, l);
        dst[l] = 0;
}

static void set_error(NixProgress *p, const char *text) {
        set_cut(p->error, sizeof p->error, text);
}

/* Records one error (text already sanitised, starting with "error:"). */
static bool record_error(NixProgress *p, const char *text, bool plain) {
        const char *body = startswith(text, "error:");

        assert(body);
        body += strspn(body, " ");
        if (!*body)
                body = text; /* keep "error:" rather than nothing */

        ErrorKind kind = error_kind(body);
        /* A report of a failed dependency would hide the failure itself. */
        if (kind != ERROR_CONSEQUENCE || p->error[0] == 0) {
                set_error(p, body);
                p->in_plain_error = plain;
        } else
                p->in_plain_error = false;
        if (p->n_errors < UINT_MAX)
                p->n_errors++;

        if (p->failure == NIX_FAILURE_NONE)
                switch (kind) {
                case ERROR_BUILD:
                        p->failure = NIX_FAILURE_BUILD;
                        break;
                case ERROR_NO_MACHINE:
                        p->failure = p->remote_unreachable ? NIX_FAILURE_INFRA : NIX_FAILURE_BUILD;
                        break;
                case ERROR_INFRA:
                        p->failure = NIX_FAILURE_INFRA;
                        break;
                case ERROR_CONSEQUENCE:
                        break;
                }
        return true;
}

static bool is_error_text(const char *text) {
        return startswith(text, "error:");
}

/* Appends a continuation line (sanitised, not empty) to p->error. */
static bool append_error(NixProgress *p, const char *text) {
        char joined[sizeof p->error + 1] = "";
        size_t l = strlen(p->error);

        if (l + 1 >= sizeof p->error - 1)
                return false; /* full already */
        copy_bytes(joined, p->error, l);
        joined[l] = ' ';
        size_t tl = strlen(text);
        if (tl > sizeof joined - 1 - (l + 1))
                tl = sizeof joined - 1 - (l + 1);
        copy_bytes(joined + l + 1, text, tl);
        joined[l + 1 + tl] = 0;
        set_error(p, joined);
        return true;
}

/* A download the file transfer retries (Nix's filetransfer.cc: "unable to download 'URL':
 * REASON; retrying in N ms"), or gives up ("unable to download 'URL': REASON"), as the
 * daemon warns its client of it. Returns whether p->waiting changed. */
static bool track_waiting(NixProgress *p, const char *body) {
        const char *t = startswith(body, "error:");
        t = t ? t + strspn(t, " ") : body;
        /* While something builds or substitutes, nothing waits only on a cache. */
        if (!startswith(t, "unable to download '") || p->building || p->substituting)
                return false;
        char was[sizeof p->waiting];
        copy_bytes(was, p->waiting, sizeof was);
        if (contains(t, "; retrying in "))
                set_cut(p->waiting, sizeof p->waiting, t);
        else
                p->waiting[0] = 0;
        return !streq(was, p->waiting);
}

/* Records one warning (text already sanitised, starting with "warning:"); returns whether
 * p->waiting changed. */
static bool record_warning(NixProgress *p, const char *text) {
        const char *body = startswith(text, "warning:");

        assert(body);
        body += strspn(body, " ");
        if (!*body)
                body = text;
        set_cut(p->warning, sizeof p->warning, body);
        if (p->n_warnings < UINT_MAX)
                p->n_warnings++;
        return track_waiting(p, body);
}

bool nixlog_handle_msg(NixProgress *p, const NixMessage *m) {
        char text[NIXLOG_ERROR_MAX + 64];

        if (!m->has_msg || !m->has_level || m->level > 1)
                return false;
        text_sanitize(m->msg, m->msg_len, text, sizeof text, true);
        if (startswith(text, "warning:"))
                return record_warning(p, text);
        if (m->level != 0)
                return false;
        if (is_error_text(text)) {
                /* The raw message, not its first bytes: a builder's cause is at its end. */
                char summary[NIXLOG_ERROR_MAX + sizeof "error: "];
                nix_error_summarize(m->msg, m->msg_len, summary, sizeof summary);
                return record_error(p, is_error_text(summary) ? summary : text, false);
        }
        /* build-remote: "cannot build on 'MACHINE': error: cannot connect to ...". Nix then
         * looks for another machine and may end with "unable to start any build". */
        if (startswith(text, "cannot build on '"))
                p->remote_unreachable = true;
        return false;
}

bool nixlog_handle_plain(NixProgress *p, const char *line, size_t len) {
        char text[NIXLOG_ERROR_MAX + 64];

        text_sanitize(line, len, text, sizeof text, true);
        if (is_error_text(text))
                return record_error(p, text, true);
        if (startswith(text, "warning:")) {
                p->in_plain_error = false;
                return record_warning(p, text);
        }
        if (p->in_plain_error && len > 0 && (line[0] == ' ' || line[0] == '\t') && text[0])
                return append_error(p, text);
        p->in_plain_error = false;
        return false;
}

NixFailure nixlog_classify(const NixProgress *p) {
        assert(p);
        if (p->n_errors == 0)
                return NIX_FAILURE_NONE;
        if (p->failure != NIX_FAILURE_NONE)
                return p->failure;
        /* Only reports of failed dependencies, whose own errors were not seen. */
        return NIX_FAILURE_BUILD;
}

const char *nix_failure_to_string(NixFailure f) {
        switch (f) {
        case NIX_FAILURE_NONE:
                return "none";
        case NIX_FAILURE_BUILD:
                return "build";
        case NIX_FAILURE_INFRA:
                return "infra";
        }
        return "unknown";
}
