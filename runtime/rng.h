/* rng.h — the runtime owns every random stream (SPEC §4).
 *
 * Philox 4x32-10 (Salmon et al., Random123) is counter-based: block c under key k gives four
 * 32-bit words, so any element of a stream can be computed independently, on any thread or
 * device, in any order — which is what makes init, dropout and math.random identical across
 * thread counts and between CPU and GPU. A stream = key derived from (seed, stream id) + a
 * 64-bit block counter that advances by ceil(n/4) per draw of n values. */
#ifndef PRISM_RNG_H
#define PRISM_RNG_H

#include <stdint.h>

typedef enum {
  PRISM_STREAM_INIT = 1,     /* parameter initializers, randn/rand */
  PRISM_STREAM_DROPOUT = 2,  /* dropout masks */
  PRISM_STREAM_LUA = 3,      /* math.random in submission states */
  PRISM_STREAM_COUNT
} prism_stream_id;

/* One Philox4x32-10 block: out[0..3] from counter (c0..c3) and key (k0, k1). */
void prism_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

/* The key of a stream: k0 = low 32 bits of seed, k1 = high 32 bits of seed XOR (stream * 0x9E3779B9). */
uint64_t prism_rng_stream_key(uint64_t seed, prism_stream_id stream);

/* Element i of the stream (key, counter) as a 32-bit word: block counter + i/4, lane i%4
 * (counter occupies ctr[0..1], ctr[2..3] = 0). */
uint32_t prism_rng_u32(uint64_t key, uint64_t counter, uint64_t i);
/* u32 -> float in [0, 1): (x >> 8) * 2^-24 (24 random bits, exactly representable). */
float prism_rng_u32_to_unit(uint32_t x);
/* Standard normal for element i: Box-Muller in double on the pair (2*(i/2), 2*(i/2)+1) of unit
 * draws, cos for even i and sin for odd i, rounded to float. */
float prism_rng_normal(uint64_t key, uint64_t counter, uint64_t i);

/* Process-wide stream state, reset by prism_rng_seed (the forced seed). */
void prism_rng_seed(uint64_t seed);
uint64_t prism_rng_get_seed(void);
/* Reserves n values from a stream: returns its key and the block counter to use, then advances
 * the stream's counter by ceil(n/4). */
void prism_rng_reserve(prism_stream_id stream, uint64_t n, uint64_t *key, uint64_t *counter);
/* math.random semantics on the Lua stream: a double in [0, 1). */
double prism_rng_next_double(prism_stream_id stream);

#endif
