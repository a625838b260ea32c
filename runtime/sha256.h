/* sha256.h — SHA-256 (FIPS 180-4) for the locked-data plane: doc-id buckets, shard and split
 * fingerprints in MANIFEST.json, and verification of staged files. Streaming, so a shard is hashed
 * while it is read or written and never has to be held in memory. */
#ifndef PRISM_SHA256_H
#define PRISM_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define PRISM_SHA256_DIGEST 32
#define PRISM_SHA256_HEX 65 /* 64 lowercase hex digits + NUL */

typedef struct prism_sha256 {
  uint32_t h[8];
  uint64_t total;      /* bytes hashed so far */
  uint8_t block[64];
  size_t fill;         /* bytes waiting in block */
} prism_sha256;

void prism_sha256_init(prism_sha256 *c);
void prism_sha256_update(prism_sha256 *c, const void *data, size_t len);
void prism_sha256_final(prism_sha256 *c, uint8_t out[PRISM_SHA256_DIGEST]);

/* One-shot helpers. */
void prism_sha256_bytes(const void *data, size_t len, uint8_t out[PRISM_SHA256_DIGEST]);
void prism_sha256_hex(const void *data, size_t len, char out[PRISM_SHA256_HEX]);
void prism_sha256_to_hex(const uint8_t digest[PRISM_SHA256_DIGEST], char out[PRISM_SHA256_HEX]);
/* Hashes a whole file; *size_out (may be NULL) receives its length. 0 ok, -1 (errno set). */
int prism_sha256_file(const char *path, char out[PRISM_SHA256_HEX], int64_t *size_out);

#endif
