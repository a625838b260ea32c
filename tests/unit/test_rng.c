/* test_rng.c — Philox 4x32-10 against the Random123 known-answer vectors, the stream key and
 * counter bookkeeping, the unit/normal/double mappings, and that the CPU bulk fills (random.c)
 * give element for element what rng.h computes one element at a time, at any thread count. */
#include "../../runtime/rng.h"
#include "../../kernels/cpu/cpu_kernels.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK_NAME_WIDTH 62
#include "check.h"

static void test_kat(void) {
  static const struct { uint32_t ctr[4], key[2], want[4]; } kat[] = {
    {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
    {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff},
     {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
    {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0},
     {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
  };
  for (int t = 0; t < 3; t++) {
    uint32_t out[4];
    prism_philox4x32_10(kat[t].ctr, kat[t].key, out);
    char name[64], detail[128];
    snprintf(name, sizeof name, "philox4x32-10 Random123 KAT %d", t + 1);
    snprintf(detail, sizeof detail, "got %08x %08x %08x %08x", out[0], out[1], out[2], out[3]);
    check(memcmp(out, kat[t].want, sizeof out) == 0, name, detail);
  }
}

static void test_addressing(void) {
  uint64_t key = prism_rng_stream_key(0x0123456789abcdefULL, PRISM_STREAM_INIT);
  uint32_t k[2] = {(uint32_t)key, (uint32_t)(key >> 32)};
  int ok = (uint32_t)key == 0x89abcdefu && (uint32_t)(key >> 32) == (0x01234567u ^ 0x9E3779B9u);
  check(ok, "stream key = (seed lo, seed hi ^ stream*0x9E3779B9)", "");

  /* Element i lives in block counter + i/4, lane i%4; the 64-bit block spans ctr[0..1]. */
  ok = 1;
  uint64_t counters[] = {0, 7, 0xfffffffeULL, 0xffffffffffffffffULL};
  for (int c = 0; c < 4; c++)
    for (uint64_t i = 0; i < 12; i++) {
      uint64_t block = counters[c] + i / 4;
      uint32_t ctr[4] = {(uint32_t)block, (uint32_t)(block >> 32), 0, 0}, out[4];
      prism_philox4x32_10(ctr, k, out);
      if (prism_rng_u32(key, counters[c], i) != out[i % 4]) ok = 0;
    }
  check(ok, "element i = block counter+i/4, lane i%4 (carry into ctr[1])", "");

  uint64_t kd = prism_rng_stream_key(42, PRISM_STREAM_DROPOUT), ki = prism_rng_stream_key(42, PRISM_STREAM_INIT);
  uint64_t kl = prism_rng_stream_key(42, PRISM_STREAM_LUA), ko = prism_rng_stream_key(43, PRISM_STREAM_INIT);
  int same = 0;
  for (uint64_t i = 0; i < 256; i++) {
    uint32_t a = prism_rng_u32(ki, 0, i);
    same += a == prism_rng_u32(kd, 0, i);
    same += a == prism_rng_u32(kl, 0, i);
    same += a == prism_rng_u32(ko, 0, i);
  }
  char detail[64];
  snprintf(detail, sizeof detail, "%d coincidences in 768 words", same);
  check(kd != ki && ki != kl && kd != kl && ko != ki && same <= 1, "streams and seeds are separate", detail);
}

static void test_reserve(void) {
  uint64_t key, c1, c2, c3, c4, c5, cd;
  prism_rng_seed(1234);
  int ok = prism_rng_get_seed() == 1234;
  prism_rng_reserve(PRISM_STREAM_INIT, 10, &key, &c1);    /* 3 blocks */
  prism_rng_reserve(PRISM_STREAM_INIT, 1, &key, &c2);     /* 1 block */
  prism_rng_reserve(PRISM_STREAM_INIT, 0, &key, &c3);     /* nothing */
  prism_rng_reserve(PRISM_STREAM_INIT, 8, &key, &c4);     /* 2 blocks */
  prism_rng_reserve(PRISM_STREAM_INIT, 1, &key, &c5);
  prism_rng_reserve(PRISM_STREAM_DROPOUT, 5, &key, &cd);
  ok = ok && c1 == 0 && c2 == 3 && c3 == 4 && c4 == 4 && c5 == 6 && cd == 0;
  ok = ok && key == prism_rng_stream_key(1234, PRISM_STREAM_DROPOUT);
  char detail[96];
  snprintf(detail, sizeof detail, "counters %llu %llu %llu %llu %llu, dropout %llu", (unsigned long long)c1,
           (unsigned long long)c2, (unsigned long long)c3, (unsigned long long)c4, (unsigned long long)c5,
           (unsigned long long)cd);
  check(ok, "reserve advances by ceil(n/4) per stream", detail);

  prism_rng_seed(1234);
  prism_rng_reserve(PRISM_STREAM_INIT, 1, &key, &c1);
  prism_rng_reserve(PRISM_STREAM_DROPOUT, 1, &key, &cd);
  check(c1 == 0 && cd == 0, "prism_rng_seed resets every stream counter", "");

  /* next_double: one block per call, 53 bits from lanes 0 and 1. */
  prism_rng_seed(99);
  double d0 = prism_rng_next_double(PRISM_STREAM_LUA);
  double d1 = prism_rng_next_double(PRISM_STREAM_LUA);
  uint64_t kl = prism_rng_stream_key(99, PRISM_STREAM_LUA);
  uint64_t bits = ((uint64_t)(prism_rng_u32(kl, 1, 0) >> 5) << 26) | (prism_rng_u32(kl, 1, 1) >> 6);
  prism_rng_reserve(PRISM_STREAM_LUA, 1, &key, &c1);
  ok = d1 == ldexp((double)bits, -53) && c1 == 2 && d0 != d1;
  check(ok, "next_double = 53-bit (a>>5, b>>6) of one block", "");

  prism_rng_seed(7);
  ok = 1;
  double sum = 0;
  for (int i = 0; i < 100000; i++) {
    double d = prism_rng_next_double(PRISM_STREAM_LUA);
    if (!(d >= 0.0 && d < 1.0) || d != ldexp(floor(ldexp(d, 53)), -53)) ok = 0;
    sum += d;
  }
  snprintf(detail, sizeof detail, "mean %.5f", sum / 100000);
  check(ok && fabs(sum / 100000 - 0.5) < 0.005, "next_double in [0,1) on the 2^-53 grid", detail);
}

static void test_unit_and_normal(void) {
  int ok = prism_rng_u32_to_unit(0) == 0.0f && prism_rng_u32_to_unit(0xffffffffu) == 1.0f - ldexpf(1.0f, -24) &&
           prism_rng_u32_to_unit(0x80000000u) == 0.5f && prism_rng_u32_to_unit(0xffu) == 0.0f;
  check(ok, "unit mapping (x>>8)*2^-24 endpoints", "");

  const int64_t n = 1000000;
  uint64_t key = prism_rng_stream_key(2024, PRISM_STREAM_INIT);
  float *u = malloc(sizeof(float) * n), *z = malloc(sizeof(float) * n);
  prism_cpu_rand_uniform(u, n, key, 5, 0.0f, 1.0f);
  prism_cpu_rand_normal(z, n, key, 5, 0.0f, 1.0f);
  double su = 0, su2 = 0, sz = 0, sz2 = 0, sz4 = 0;
  ok = 1;
  int64_t below_quarter = 0;
  for (int64_t i = 0; i < n; i++) {
    if (!(u[i] >= 0.0f && u[i] < 1.0f)) ok = 0;
    if (!isfinite(z[i])) ok = 0;
    su += u[i]; su2 += (double)u[i] * u[i];
    sz += z[i]; sz2 += (double)z[i] * z[i]; sz4 += (double)z[i] * z[i] * z[i] * z[i];
    below_quarter += u[i] < 0.25f;
  }
  double mu = su / n, vu = su2 / n - mu * mu, mz = sz / n, vz = sz2 / n - mz * mz, kz = sz4 / n;
  char detail[128];
  snprintf(detail, sizeof detail, "mean %.5f var %.5f P(u<1/4) %.5f", mu, vu, (double)below_quarter / n);
  check(ok && fabs(mu - 0.5) < 0.002 && fabs(vu - 1.0 / 12) < 0.001 && fabs((double)below_quarter / n - 0.25) < 0.002,
        "uniform: 1e6 draws in [0,1), mean 1/2, var 1/12", detail);
  snprintf(detail, sizeof detail, "mean %.5f std %.5f E[z^4] %.4f", mz, sqrt(vz), kz);
  check(ok && fabs(mz) < 0.005 && fabs(sqrt(vz) - 1.0) < 0.005 && fabs(kz - 3.0) < 0.05,
        "normal: 1e6 draws, mean 0, std 1, kurtosis 3", detail);
  free(u);
  free(z);
}

/* Bulk fills at 1..3 threads, over odd sizes and odd counters, against the element functions. */
static void test_bulk_equals_elements(void) {
  const int64_t sizes[] = {1, 3, 5, 4 * PRISM_CPU_CHUNK + 3, 3 * PRISM_CPU_CHUNK + 1};
  uint64_t key = prism_rng_stream_key(77, PRISM_STREAM_DROPOUT);
  int ok_u = 1, ok_n = 1, ok_d = 1;
  for (int s = 0; s < 5; s++) {
    int64_t n = sizes[s];
    uint64_t counter = 0xfffffffdULL + (uint64_t)s;  /* crosses the 32-bit carry */
    float *u = malloc(sizeof(float) * n), *z = malloc(sizeof(float) * n);
    float *x = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * n), *m = malloc(sizeof(float) * n);
    for (int64_t i = 0; i < n; i++) x[i] = (float)(i % 13) - 6.0f;
    for (int threads = 1; threads <= 3; threads++) {
      omp_set_num_threads(threads);
      prism_cpu_rand_uniform(u, n, key, counter, -2.0f, 3.0f);
      prism_cpu_rand_normal(z, n, key, counter, 0.5f, 2.0f);
      prism_cpu_dropout(y, m, x, n, 0.3f, key, counter);
      for (int64_t i = 0; i < n; i++) {
        float ui = prism_rng_u32_to_unit(prism_rng_u32(key, counter, (uint64_t)i));
        if (u[i] != ui * 5.0f + -2.0f) ok_u = 0;
        if (z[i] != prism_rng_normal(key, counter, (uint64_t)i) * 2.0f + 0.5f) ok_n = 0;
        float want = ui >= 0.3f ? 1.0f / (1.0f - 0.3f) : 0.0f;
        if (m[i] != want || y[i] != x[i] * want) ok_d = 0;
      }
    }
    free(u); free(z); free(x); free(y); free(m);
  }
  omp_set_num_threads(1);
  check(ok_u, "rand_uniform bulk == element i alone (1-3 threads)", "");
  check(ok_n, "rand_normal bulk == element i alone (1-3 threads)", "");
  check(ok_d, "dropout bulk == element i alone (1-3 threads)", "");
}

int main(void) {
  test_kat();
  test_addressing();
  test_reserve();
  test_unit_and_normal();
  test_bulk_equals_elements();
  return check_summary();
}
