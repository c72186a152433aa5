/* SPDX-License-Identifier: MIT */
/* SHA-256 (FIPS 180-4), for checking that a .drv's store path is the one its contents name
 * (bundle.c). Not constant-time, not for secrets. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define SHA256_SIZE 32

/* Writes the SHA-256 of the len bytes at data into out. */
void sha256(const void *data, size_t len, uint8_t out[static SHA256_SIZE]);

typedef struct Sha256 {
        uint32_t h[8];
        uint64_t len;
        uint8_t buf[64];
        size_t used;
} Sha256;
void sha256_init(Sha256 *s);
void sha256_update(Sha256 *s, const void *data, size_t len);
void sha256_final(Sha256 *s, uint8_t out[static SHA256_SIZE]);
