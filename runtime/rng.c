/* rng.c — Philox 4x32-10 and the runtime's named random streams (rng.h has the contract).
 * Every random number in prism is a pure function of (key, block counter, element index), so
 * kernels on any thread or device can compute any element without shared state; the only state
 * here is one 64-bit block counter per stream, advanced by prism_rng_reserve. The CUDA twin of
 * the element functions must follow this file's arithmetic exactly (same unit mapping, same
 * Box-Muller in double with the log taken of 1 - u so a zero draw cannot produce -inf). */
#include "rng.h"

#include <math.h>
#include <stdatomic.h>

/* Random123 constants (philox.h: PHILOX_M4x32_0/1, PHILOX_W32_0/1). */
#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void prism_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
  uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
  uint32_t k0 = key[0], k1 = key[1];
  for (int round = 0; round < 10; round++) {
    if (round > 0) { k0 += PHILOX_W0; k1 += PHILOX_W1; }
    uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
    uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
    uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
    uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
  }
  out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

uint64_t prism_rng_stream_key(uint64_t seed, prism_stream_id stream) {
  uint32_t k0 = (uint32_t)seed;
  uint32_t k1 = (uint32_t)(seed >> 32) ^ (uint32_t)((uint32_t)stream * PHILOX_W0);
  return (uint64_t)k0 | ((uint64_t)k1 << 32);
}

uint32_t prism_rng_u32(uint64_t key, uint64_t counter, uint64_t i) {
  uint64_t block = counter + i / 4;  /* wraps modulo 2^64, like the counter itself */
  uint32_t ctr[4] = {(uint32_t)block, (uint32_t)(block >> 32), 0, 0};
  uint32_t k[2] = {(uint32_t)key, (uint32_t)(key >> 32)};
  uint32_t out[4];
  prism_philox4x32_10(ctr, k, out);
  return out[i % 4];
}

float prism_rng_u32_to_unit(uint32_t x) {
  return (float)(x >> 8) * (1.0f / 16777216.0f);
}

float prism_rng_normal(uint64_t key, uint64_t counter, uint64_t i) {
  uint64_t first = i & ~(uint64_t)1;
  double u1 = (double)prism_rng_u32_to_unit(prism_rng_u32(key, counter, first));
  double u2 = (double)prism_rng_u32_to_unit(prism_rng_u32(key, counter, first + 1));
  double r = sqrt(-2.0 * log(1.0 - u1));
  double theta = 2.0 * M_PI * u2;
  return (float)(r * ((i & 1) ? sin(theta) : cos(theta)));
}

/* Slot 0 is unused by the enum; it absorbs an out-of-range stream id (a runtime bug, never user
 * input) so that a bad id cannot index past the array. */
static _Atomic uint64_t stream_counter[PRISM_STREAM_COUNT];
static _Atomic uint64_t current_seed;

static int stream_slot(prism_stream_id stream) {
  return (stream > 0 && stream < PRISM_STREAM_COUNT) ? (int)stream : 0;
}

void prism_rng_seed(uint64_t seed) {
  atomic_store(&current_seed, seed);
  for (int s = 0; s < PRISM_STREAM_COUNT; s++) atomic_store(&stream_counter[s], 0);
}

uint64_t prism_rng_get_seed(void) { return atomic_load(&current_seed); }

void prism_rng_reserve(prism_stream_id stream, uint64_t n, uint64_t *key, uint64_t *counter) {
  uint64_t blocks = n / 4 + (n % 4 != 0);
  *key = prism_rng_stream_key(atomic_load(&current_seed), stream);
  *counter = atomic_fetch_add(&stream_counter[stream_slot(stream)], blocks);
}

double prism_rng_next_double(prism_stream_id stream) {
  uint64_t key, counter;
  prism_rng_reserve(stream, 2, &key, &counter);
  /* 27 + 26 bits, the classic genrand_res53 construction: exactly k / 2^53 for k in [0, 2^53). */
  uint32_t ctr[4] = {(uint32_t)counter, (uint32_t)(counter >> 32), 0, 0};
  uint32_t k[2] = {(uint32_t)key, (uint32_t)(key >> 32)};
  uint32_t out[4];
  prism_philox4x32_10(ctr, k, out);  /* elements 0 and 1 of the reserved block */
  uint32_t a = out[0] >> 5, b = out[1] >> 6;
  return ((double)a * 67108864.0 + (double)b) * (1.0 / 9007199254740992.0);
}
