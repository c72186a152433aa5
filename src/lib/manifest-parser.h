/* SPDX-License-Identifier: MIT */
/* Internal to the manifest parser (manifest.c reads the file, manifest-keys.c checks each
 * model's keys, manifest-fleet.c the rules across models): the state they share. */
#pragma once

#include <ini.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "manifest.h"
#include "util.h"

/* inih needs room for "\r\n\0" in its line buffer. */
#define LINE_MAX_BYTES (INI_MAX_LINE - 3)
#define HEADER_SECTION "deferred-builds"
#define MODEL_PREFIX "model."
/* How many bytes of a value a message shows. */
#define SHOWN_MAX 80

typedef struct Parser {
        Manifest *m;
        /* reader state */
        const char *data, *end, *pos;
        unsigned line;
        char raw[INI_MAX_LINE + 1];
        char *section; /* raw name of the current section */
        unsigned section_line;
        /* models as found, before validation */
        Model *models;
        size_t n_models;
        ssize_t cur_model; /* -1: not in a model section */
        bool in_header;
        bool in_unknown;
        bool saw_header, saw_version;
        unsigned version_line;
        bool too_many;
        /* Open-addressing index of model names (index + 1, 0 = empty), so that finding a
         * repeated section stays O(1) per section at 10,000 models. */
        size_t *index;
        size_t index_size;
} Parser;

/* Records a diagnostic; returns 0 or -ENOMEM. */
int diag_add(Manifest *m, DiagLevel level, unsigned line, const char *model, const char *fmt, ...)
        _printf_(5, 6);
/* Records an error for the current model (p->cur_model) and marks it to be skipped. */
void model_error(Parser *p, unsigned line, const char *fmt, ...) _printf_(3, 4);
/* s single-quoted and escaped for a message (escape.h), cut at SHOWN_MAX; NULL on ENOMEM. */
char *quoted(const char *s);
void model_done(Model *md);

/* isspace() in the C locale, which is what inih strips and splits on. */
static inline bool ini_space(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}
/* Whether inih cut the raw line's value at an inline comment (" ;", or ';' after any other
 * white space). */
bool raw_line_has_inline_comment(const char *raw);
/* Whether the raw line holds a vertical tab, a form feed or a carriage return other than
 * that of its CRLF end: white space to inih, stripped from keys and values unnoticed. */
bool raw_line_has_odd_space(const char *raw);
/* Checks and stores one key of the current model; returns 0 or -ENOMEM. */
int handle_model_key(Parser *p, const char *key, const char *value);
/* ready-url, start-timeout and listen (manifest-readiness.c): 0, -ENOMEM, or 1 when key
 * is none of them. */
int handle_readiness_key(Parser *p, const char *key, const char *value);
/* The rules across models, once every section is read: names that differ only in case,
 * servers' user names, the length of each ExecStart= line, listen addresses that collide
 * (check_listen). Marks models to skip. */
int check_fleet(Parser *p);
/* Listen addresses of two servers (or of one) that cannot both be bound, all reported and
 * their models marked to skip (manifest-listen.c). Returns 0 or -ENOMEM. */
int check_listen(Parser *p);
