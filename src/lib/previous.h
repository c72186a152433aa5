/* SPDX-License-Identifier: MIT */
/* The previous model. Publishing a model also records its GC root in STATE/served/NAME,
 * which outlives the runtime dir. After a reboot or a manager restart the runtime dir is
 * empty; if the manifest's derivation is not built yet, the previous model is published
 * and served again while the new one trains, instead of nothing being served for the
 * whole training. deferred-realise and reconcile decide this with the same function. */
#pragma once

#include <stddef.h>

#include "manifest.h"

/* Records root as the GC root last published for model name. */
int previous_remember(const char *state_dir, const char *name, const char *root);
/* 1, with the previous model's GC root in root (PATH_MAX bytes), when the previous model
 * should serve: the manifest's generation has no GC root for the model yet (it was never
 * realised: an interrupted build may have left its output path behind, but never its
 * root), nothing is published for the model, and the recorded root is another of ours and
 * still names a store path. 0 when not; -errno on errors other than absence. */
int previous_model(const char *state_dir, const char *runtime_dir, const char *generation, const Model *md,
                   char *root);
