/* random.c — CPU fills from Philox streams: rand_uniform, rand_normal, dropout.
 * Element i of a draw is a pure function of (key, counter, i) as runtime/rng.h defines it
 * (block counter + i/4, lane i%4), so the fixed chunks below can run on any thread in any order
 * and still give the values prism_rng_u32/prism_rng_normal give one element at a time, and the
 * values the CUDA twin gives. Each chunk computes one Philox block per four elements. */
#include "cpu_kernels.h"
#include "../../runtime/rng.h"

#include <math.h>

/* PRISM_CPU_CHUNK is a multiple of 4, so every chunk starts on a block boundary. */
_Static_assert(PRISM_CPU_CHUNK % 4 == 0, "random chunks must start on a Philox block boundary");

static void philox_block(uint64_t key, uint64_t block, uint32_t out[4]) {
  uint32_t ctr[4] = {(uint32_t)block, (uint32_t)(block >> 32), 0, 0};
  uint32_t k[2] = {(uint32_t)key, (uint32_t)(key >> 32)};
  prism_philox4x32_10(ctr, k, out);
}

/* Box-Muller on one pair of lanes; must match prism_rng_normal (rng.c) bit for bit. */
static void box_muller(uint32_t a, uint32_t b, double out[2]) {
  double u1 = (double)prism_rng_u32_to_unit(a);
  double u2 = (double)prism_rng_u32_to_unit(b);
  double r = sqrt(-2.0 * log(1.0 - u1));
  double theta = 2.0 * M_PI * u2;
  out[0] = r * cos(theta);
  out[1] = r * sin(theta);
}

int prism_cpu_rand_uniform(float *out, int64_t n, uint64_t key, uint64_t counter, float lo, float hi) {
  int64_t nchunks = (n + PRISM_CPU_CHUNK - 1) / PRISM_CPU_CHUNK;
  float span = hi - lo;
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < nchunks; c++) {
    int64_t start = c * PRISM_CPU_CHUNK;
    int64_t end = start + PRISM_CPU_CHUNK < n ? start + PRISM_CPU_CHUNK : n;
    for (int64_t i = start; i < end; i += 4) {
      uint32_t r[4];
      philox_block(key, counter + (uint64_t)i / 4, r);
      for (int lane = 0; lane < 4 && i + lane < end; lane++)
        out[i + lane] = prism_rng_u32_to_unit(r[lane]) * span + lo;
    }
  }
  return 0;
}

int prism_cpu_rand_normal(float *out, int64_t n, uint64_t key, uint64_t counter, float mean, float std) {
  int64_t nchunks = (n + PRISM_CPU_CHUNK - 1) / PRISM_CPU_CHUNK;
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < nchunks; c++) {
    int64_t start = c * PRISM_CPU_CHUNK;
    int64_t end = start + PRISM_CPU_CHUNK < n ? start + PRISM_CPU_CHUNK : n;
    for (int64_t i = start; i < end; i += 4) {
      uint32_t r[4];
      double z[4];
      philox_block(key, counter + (uint64_t)i / 4, r);
      box_muller(r[0], r[1], z);
      box_muller(r[2], r[3], z + 2);
      for (int lane = 0; lane < 4 && i + lane < end; lane++)
        out[i + lane] = (float)z[lane] * std + mean;
    }
  }
  return 0;
}

int prism_cpu_dropout(float *y, float *mask, const float *x, int64_t n, float p, uint64_t key, uint64_t counter) {
  int64_t nchunks = (n + PRISM_CPU_CHUNK - 1) / PRISM_CPU_CHUNK;
  /* p == 1 keeps nothing (u < 1 always), so the infinite scale is never stored. */
  float keep_scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < nchunks; c++) {
    int64_t start = c * PRISM_CPU_CHUNK;
    int64_t end = start + PRISM_CPU_CHUNK < n ? start + PRISM_CPU_CHUNK : n;
    for (int64_t i = start; i < end; i += 4) {
      uint32_t r[4];
      philox_block(key, counter + (uint64_t)i / 4, r);
      for (int lane = 0; lane < 4 && i + lane < end; lane++) {
        float m = prism_rng_u32_to_unit(r[lane]) >= p ? keep_scale : 0.0f;
        if (mask) mask[i + lane] = m;
        y[i + lane] = x[i + lane] * m;
      }
    }
  }
  return 0;
}
