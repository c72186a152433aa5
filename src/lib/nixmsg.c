/* SPDX-License-Identifier: MIT */
#include "nixmsg.h"

#include <errno.h>
#include <string.h>

#include "jsonread.h"
#include "util.h"

static int json_member_string(Cursor *c, char *buf, size_t cap, size_t *ret_len, bool *ret_has) {
        json_skip_ws(c);
        if (c->p >= c->end || *c->p != '"') {
                *ret_has = false;
                return json_skip_value(c, 2);
        }
        JsonString s = { .buf = buf, .cap = cap };
        int r = json_read_string(c, &s);
        if (r < 0)
                return r;
        *ret_len = s.len;
        *ret_has = true;
        return 0;
}

static int json_member_number(Cursor *c, unsigned long long *ret, bool *ret_has) {
        json_skip_ws(c);
        if (c->p >= c->end || !(*c->p == '-' || (*c->p >= '0' && *c->p <= '9'))) {
                *ret_has = false;
                return json_skip_value(c, 2);
        }
        return json_number(c, ret, ret_has);
}

static int json_fields(Cursor *c, NixMessage *m) {
        json_skip_ws(c);
        m->n_fields = 0;
        if (c->p >= c->end || *c->p != '[')
                return json_skip_value(c, 2);
        c->p++;
        json_skip_ws(c);
        if (c->p < c->end && *c->p == ']') {
                c->p++;
                return 0;
        }
        for (;;) {
                int r;
                json_skip_ws(c);
                if (c->p >= c->end)
                        return -EINVAL;
                NixField *f = m->n_fields < FIELDS_MAX ? &m->fields[m->n_fields] : NULL;
                if (!f)
                        r = json_skip_value(c, 3);
                else if (*c->p == '"') {
                        JsonString s = { .buf = f->str, .cap = sizeof f->str };
                        r = json_read_string(c, &s);
                        f->kind = FIELD_STRING;
                        f->str_len = s.len;
                } else if (*c->p == '-' || (*c->p >= '0' && *c->p <= '9')) {
                        r = json_number(c, &f->num, &f->num_valid);
                        f->kind = FIELD_NUMBER;
                } else {
                        r = json_skip_value(c, 3);
                        f->kind = FIELD_OTHER;
                }
                if (r < 0)
                        return r;
                if (f)
                        m->n_fields++;
                json_skip_ws(c);
                if (c->p >= c->end)
                        return -EINVAL;
                if (*c->p == ',') {
                        c->p++;
                        continue;
                }
                if (*c->p != ']')
                        return -EINVAL;
                c->p++;
                return 0;
        }
}

static bool key_is(const char *key, size_t len, const char *name) {
        return strlen(name) == len && memcmp(key, name, len) == 0;
}

int nix_message_parse(const char *json, size_t len, NixMessage *m) {
        Cursor c = { (const unsigned char *) json, (const unsigned char *) json + len };

        *m = (NixMessage){};

        int more = json_object_open(&c);
        if (more < 0)
                return more;
        while (more > 0) {
                char key[16];
                JsonString k = { .buf = key, .cap = sizeof key };
                int r = json_read_string(&c, &k);
                if (r < 0)
                        return r;
                if ((r = json_member_colon(&c)) < 0)
                        return r;

                if (k.full) /* longer than any key we read */
                        r = json_skip_value(&c, 2);
                else if (key_is(key, k.len, "action"))
                        r = json_member_string(&c, m->action, sizeof m->action, &m->action_len, &m->has_action);
                else if (key_is(key, k.len, "id"))
                        r = json_member_number(&c, &m->id, &m->has_id);
                else if (key_is(key, k.len, "level"))
                        r = json_member_number(&c, &m->level, &m->has_level);
                else if (key_is(key, k.len, "type"))
                        r = json_member_number(&c, &m->type, &m->has_type);
                else if (key_is(key, k.len, "msg"))
                        r = json_member_string(&c, m->msg, sizeof m->msg, &m->msg_len, &m->has_msg);
                else if (key_is(key, k.len, "text"))
                        r = json_member_string(&c, m->text, sizeof m->text, &m->text_len, &m->has_text);
                else if (key_is(key, k.len, "fields"))
                        r = json_fields(&c, m);
                else
                        r = json_skip_value(&c, 2);
                if (r < 0)
                        return r;
                more = json_object_next(&c);
                if (more < 0)
                        return more;
        }
        json_skip_ws(&c);
        return c.p == c.end ? 0 : -EINVAL;
}

bool nix_message_action_is(const NixMessage *m, const char *name) {
        return m->has_action && key_is(m->action, m->action_len, name);
}

const NixField *nix_message_field(const NixMessage *m, unsigned i, FieldKind kind) {
        if (i >= m->n_fields || m->fields[i].kind != kind)
                return NULL;
        if (kind == FIELD_NUMBER && !m->fields[i].num_valid)
                return NULL;
        return &m->fields[i];
}
