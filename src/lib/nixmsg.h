/* SPDX-License-Identifier: MIT */
/* One "@nix {json}" message of Nix's internal-json log (Nix src/libutil/logging.cc,
 * JSONLogger): the members the progress parser reads, each bounded. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define FIELDS_MAX 4
#define FIELD_STRING_MAX 1024
#define MSG_MAX 4096
#define TEXT_MAX 512

typedef enum FieldKind { FIELD_NONE, FIELD_NUMBER, FIELD_STRING, FIELD_OTHER } FieldKind;

typedef struct NixField {
        FieldKind kind;
        unsigned long long num; /* FIELD_NUMBER: valid only with num_valid */
        bool num_valid;
        char str[FIELD_STRING_MAX]; /* FIELD_STRING: str_len bytes, not NUL-terminated */
        size_t str_len;
} NixField;

typedef struct NixMessage {
        char action[16];
        size_t action_len;
        bool has_action, has_id, has_level, has_type, has_msg, has_text;
        unsigned long long id, level, type;
        char msg[MSG_MAX];
        size_t msg_len;
        char text[TEXT_MAX];
        size_t text_len;
        NixField fields[FIELDS_MAX];
        unsigned n_fields;
} NixMessage;

/* Parses one JSON object into m. Members may come in any order; a repeated member counts
 * once, the last time; members of an unexpected type count as absent. Whitespace after the
 * object is fine, anything else is not. */
int nix_message_parse(const char *json, size_t len, NixMessage *m);
/* Whether the message's "action" is name. */
bool nix_message_action_is(const NixMessage *m, const char *name);
/* fields[i] when it exists and has that kind (a number only when it fits), else NULL. */
const NixField *nix_message_field(const NixMessage *m, unsigned i, FieldKind kind);
