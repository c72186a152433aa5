/* SPDX-License-Identifier: MIT */
/* The [Service] settings a model may pass through to its serve unit ("service =
 * Key=Value" in the manifest): an allow-list of sandbox and resource keys, each with the
 * grammar of the values systemd applies exactly as written (docs/sandbox.md). */
#pragma once

#include <stdbool.h>

/* Checks one "Key=Value". Returns NULL when it may be written to the unit as is, and sets
 * *ret_repeatable to whether the key is a list that may be given again (its values
 * accumulate); otherwise a message that says why not and what to write instead. */
const char *service_setting_check(const char *kv, bool *ret_repeatable);
