/* SPDX-License-Identifier: MIT */
/* Published links RUNTIME/models/NAME -> STATE/roots/GEN/NAME (or a store path), read once
 * per listing or prune, so matching a root against them reads nothing more. A link
 * names an entry: the folder holding it (device and inode, however the state dir is
 * spelled) and its name, never the store path behind it, so two roots sharing one output
 * are told apart. A link that names a store path itself keeps every root of that path. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct Published {
        char *path;       /* the link's target as written, made absolute, without trailing '/' */
        const char *name; /* its last component (in path), or NULL when that names no entry */
        bool direct;      /* path is a store path (see PublishedSet) */
        bool have_dir;    /* the folder holding that entry exists: dir_dev/dir_ino identify it */
        dev_t dir_dev;
        ino_t dir_ino;
} Published;

typedef struct PublishedSet {
        /* The links that name a store path themselves (system scope: the serve user cannot
         * traverse the realise user's private state dir) come first, n_direct of them,
         * sorted by path: every root of such a store path is kept. */
        Published *items;
        size_t n, n_direct;
} PublishedSet;

void published_set_done(PublishedSet *s);

/* Reads RUNTIME/models (runtime_dir may be NULL: nothing is published). A missing folder
 * publishes nothing; an unreadable one fails (logged), since served roots could not be
 * told apart. */
int published_load(const char *runtime_dir, PublishedSet *ret);

/* The names of the roots in one generation folder that published links name, sorted. */
typedef struct GenPublished {
        const char **names;
        size_t n;
} GenPublished;

void gen_published_done(GenPublished *g);

/* Collects the published entries of the generation folder open at gen_fd, spelled
 * gen_path. Returns 0 or -errno (not logged; the caller keeps everything in that folder). */
int gen_published_collect(const PublishedSet *s, int gen_fd, const char *gen_path, GenPublished *ret);

/* Whether the link dir_fd/name (an entry of RUNTIME/models) is one we published: a symlink
 * to an entry of a folder directly below STATE/roots, however spelled (relative, "//",
 * through links), told by the device and inode of that folder's parent, as prune tells
 * published links. Returns 1 when ours, 0 when not (not a link, or it points elsewhere),
 * -errno when it cannot be told (not logged). target (may be NULL) gets the link's target
 * when there is one, for messages. */
int published_link_is_ours(int dir_fd, const char *name, const char *state_dir, char *target);

/* Whether root NAME of that folder (linking to root_target, NULL if unknown) is published. */
bool published_has(const PublishedSet *s, const GenPublished *g, const char *name, const char *root_target);
