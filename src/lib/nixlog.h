/* SPDX-License-Identifier: MIT */
/* Nix internal-json progress parser: `nix-store --realise DRV --log-format internal-json -v`
 * writes one message per stderr line ("@nix {json}", plus a few plain lines such as
 * "error: cannot connect to socket ..."). nixlog_feed() folds those lines into a
 * NixProgress, from which the caller builds the sd_notify STATUS= line, the status file
 * (docs/DESIGN.md "Status file"), and decides whether a failed realisation is worth
 * retrying (nixlog_classify()).
 *
 * Everything is fixed-size: no allocation, no recursion deeper than NIXLOG_JSON_MAX_DEPTH,
 * no read past the given length. Any byte sequence is valid input; what cannot be
 * understood is ignored. Not thread-safe per NixProgress (one per realisation).
 *
 * Message formats: Nix src/libutil/logging.{hh,cc} (JSONLogger), checked against Nix 2.8
 * output captured for tests/unit/test_nixlog.c. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Nix ActivityType and ResultType values (src/libutil/logging.hh). */
enum {
        NIX_ACT_UNKNOWN = 0,
        NIX_ACT_COPY_PATH = 100,
        NIX_ACT_FILE_TRANSFER = 101,
        NIX_ACT_REALISE = 102,
        NIX_ACT_COPY_PATHS = 103,
        NIX_ACT_BUILDS = 104,
        NIX_ACT_BUILD = 105,
        NIX_ACT_OPTIMISE_STORE = 106,
        NIX_ACT_VERIFY_PATHS = 107,
        NIX_ACT_SUBSTITUTE = 108,
        NIX_ACT_QUERY_PATH_INFO = 109,
        NIX_ACT_POST_BUILD_HOOK = 110,
        NIX_ACT_BUILD_WAITING = 111,
};
enum {
        NIX_RES_FILE_LINKED = 100,
        NIX_RES_BUILD_LOG_LINE = 101,
        NIX_RES_UNTRUSTED_PATH = 102,
        NIX_RES_CORRUPTED_PATH = 103,
        NIX_RES_SET_PHASE = 104,
        NIX_RES_PROGRESS = 105,
        NIX_RES_SET_EXPECTED = 106,
        NIX_RES_POST_BUILD_LOG_LINE = 107,
};

#define NIXLOG_LINE_MAX 200        /* bytes of last_line; matches STATUS_LINE_MAX */
#define NIXLOG_ERROR_MAX 400       /* bytes of error; fits STATUS_ERROR_MAX with our words */
#define NIXLOG_DRV_MAX 255         /* bytes of current_drv */
#define NIXLOG_MACHINE_MAX 127     /* bytes of machine */
#define NIXLOG_MAX_ACTIVITIES 64   /* running activities tracked (other than builds) */
#define NIXLOG_MAX_BUILDS 16       /* running actBuild activities tracked */
#define NIXLOG_JSON_MAX_DEPTH 16   /* deeper JSON makes the line malformed (ignored) */

typedef enum NixFailure {
        NIX_FAILURE_NONE,  /* no error recorded */
        /* This drv failed and a retry would fail the same way: builder exit code, signal,
         * timeout, max-silent-time, hash mismatch, missing output, missing system or
         * feature, failed dependencies, output rejected, log limit (deferred-realise exit 65). */
        NIX_FAILURE_BUILD,
        /* Anything else: daemon unreachable, connection reset, unexpected end-of-file,
         * GC race ("path ... is not valid", "cannot add path"), missing .drv, store locks,
         * disk full, substituter or remote-builder failure, interruption, and any error text
         * that is not recognised as a build failure (deferred-realise exit 75, retried). */
        NIX_FAILURE_INFRA,
} NixFailure;

/* Internal bookkeeping; read-only for callers, layout may change. */
typedef struct NixActivity {
        unsigned long long id;
        unsigned long long seq; /* start order; 0 marks a free slot */
        unsigned type;
} NixActivity;
typedef struct NixBuildActivity {
        unsigned long long id;
        unsigned long long seq; /* start order; 0 marks a free slot */
        char drv[NIXLOG_DRV_MAX + 1];
        char machine[NIXLOG_MACHINE_MAX + 1];
} NixBuildActivity;

typedef struct NixProgress {
        /* Derivations, from resProgress [done, expected, running, failed] of the (first)
         * actBuilds activity. */
        unsigned long long done, expected, running, failed;
        /* Store paths, from resProgress [done, expected, ...] of the (first) actCopyPaths
         * activity, which counts substitutions. */
        unsigned long long subst_done, subst_expected;
        bool building;     /* an actBuild activity is running */
        bool substituting; /* an actSubstitute activity is running */
        /* drv of the most recently started actBuild still running, "" when none. */
        char current_drv[NIXLOG_DRV_MAX + 1];
        /* Its builder machine (e.g. "ssh://gpu-box"), "" when local or none. */
        char machine[NIXLOG_MACHINE_MAX + 1];
        /* Last non-empty build log line (resBuildLogLine or resPostBuildLogLine) of any
         * build: terminal escape sequences (CSI, OSC, ...) removed; of a line redrawn with
         * carriage returns only the last non-blank part kept (what a terminal shows); tab,
         * newline, VT and FF become a space; other control characters (C0, DEL, C1, line
         * and paragraph separators, bidi controls, BOM) become '?', and so does every byte
         * of invalid UTF-8; leading and trailing spaces trimmed; cut at NIXLOG_LINE_MAX
         * bytes on a character boundary. A blank line leaves the previous one. */
        char last_line[NIXLOG_LINE_MAX + 1];
        /* Last error: a level-0 "msg" whose text starts with "error:" (in one line by
         * nix_error_summarize(), errtext.h: a failed builder's quoted log keeps its last
         * meaningful lines whole), or a plain "error: ..." line together with its indented
         * continuation lines; sanitised as last_line, with every run of whitespace collapsed
         * to one space and the leading "error:" removed, at most NIXLOG_ERROR_MAX bytes. Warnings ("warning: ...", even
         * when they quote an error), "error (ignored): ..." and other level-0 messages are
         * not errors. One exception to "last": a report of failed dependencies ("N
         * dependencies of derivation 'D' failed to build") does not replace an earlier
         * error, which names the failure itself. */
        char error[NIXLOG_ERROR_MAX + 1];
        unsigned n_errors; /* errors recorded (saturates at UINT_MAX) */
        /* Last warning: a "msg" of level 0 or 1 (lvlError, lvlWarn), or a plain line, whose
         * text starts with "warning:", sanitised as error, with "warning:" removed. The
         * daemon's warnings to its client come as level-0 messages, e.g. "ignoring untrusted
         * substituter 'URL'" or "ignoring the client-specified setting 'builders', because
         * it is a restricted setting and you are not a trusted user": an operator needs to
         * see them, or a model trains locally for reasons nobody was told. */
        char warning[NIXLOG_ERROR_MAX + 1];
        unsigned n_warnings; /* warnings recorded (saturates at UINT_MAX) */
        /* What nothing waits on but a cache: the last warning, while nothing builds or
         * substitutes, that a download is retried ("unable to download 'URL': REASON;
         * retrying in N ms", an offline machine's substituter), sanitised as error,
         * without a leading "error:"; cleared when that cache is given up ("unable to
         * download 'URL': REASON" without "retrying") or a build or substitution starts.
         * Cut at NIXLOG_LINE_MAX bytes. A change counts. */
        char waiting[NIXLOG_LINE_MAX + 1];
        /* Build log lines seen, blank ones too (saturates): the build printed something. */
        unsigned long long n_log_lines;

        /* Internal state below. */
        unsigned long long builds_id, copy_paths_id; /* valid when has_* */
        bool has_builds, has_copy_paths;
        NixFailure failure;       /* class of the first error that names a cause, else NONE */
        bool remote_unreachable;  /* "cannot build on 'MACHINE': ..." was seen */
        bool in_plain_error;      /* the previous line was a plain "error:" (or continuation) */
        unsigned long long seq;   /* activities started so far */
        NixActivity activities[NIXLOG_MAX_ACTIVITIES];
        NixBuildActivity builds[NIXLOG_MAX_BUILDS];
} NixProgress;

void nixlog_init(NixProgress *p);

/* Feeds one stderr line, without its trailing newline (a trailing "\r" is ignored too). It
 * may hold any bytes, NUL included; line may be NULL when len is 0. Returns 1 when a
 * public field of p changed (what the status line or status file shows), else 0. Never
 * fails: malformed "@nix " JSON is ignored, other plain lines only matter when they
 * are errors ("error: ...") or continue one (indented lines right after it), or are
 * warnings ("warning: ..."). A new warning alone does not count as a change (the status
 * line and file do not show warnings; callers compare n_warnings to forward them), unless
 * it changes waiting.
 *
 * Running activities live in fixed tables: NIXLOG_MAX_BUILDS actBuild activities and
 * NIXLOG_MAX_ACTIVITIES others; when a table is full, a new activity evicts the oldest
 * entry of that table. The actBuilds and actCopyPaths activities whose progress is
 * reported are kept outside the tables and are never evicted. */
int nixlog_feed(NixProgress *p, const char *line, size_t len);

/* Classifies the recorded errors: the first one that names a cause decides, because Nix
 * reports the cause first and its consequences after it ("builder for 'A' failed ..." and
 * then "1 dependencies of derivation 'B' failed to build"); when there are only reports of
 * failed dependencies, BUILD. "unable to start any build" (no machine could take the drv) is
 * BUILD, unless a remote builder was unreachable earlier ("cannot build on 'M': ..."), then
 * INFRA. NONE exactly when n_errors is 0. */
NixFailure nixlog_classify(const NixProgress *p);

/* Returns "none", "build" or "infra". */
const char *nix_failure_to_string(NixFailure f);
