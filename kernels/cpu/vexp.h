/* vexp.h — a vectorized float exp for the softmax, cross-entropy and attention kernels, where
 * libm's expf (one call per element) was the largest cost. Cephes' expf scheme: x = n ln2 + r
 * with n = round(x / ln2) by the 1.5*2^23 trick, a degree-6 polynomial for e^r on
 * [-ln2/2, ln2/2], and 2^n built in the exponent bits (as 2^h 2^(n-h), so n = 128 works). Max
 * relative error ~1e-7 (about 1 ulp); results below e^-87.33 flush to 0 (no subnormals), above
 * e^88.72 are +inf, NaN stays NaN.
 *
 * Written with GCC vector extensions, 4 lanes (the SSE2 width of the default x86-64 build),
 * rather than as a scalar function left to the auto-vectorizer: GCC keeps float code under a
 * condition scalar (-ftrapping-math). The tail of an array goes through the same 4-lane code on
 * a padded copy, so every element gets the same bits wherever it sits in the array. Needs
 * strict IEEE evaluation (no -ffast-math: it would fold the rounding trick away). */
#ifndef PRISM_CPU_VEXP_H
#define PRISM_CPU_VEXP_H

#include <stdint.h>
#include <string.h>

typedef float prism_v4f __attribute__((vector_size(16)));
typedef int32_t prism_v4i __attribute__((vector_size(16)));
typedef uint32_t prism_v4u __attribute__((vector_size(16)));

static inline void prism_vexp4(prism_v4f *io) {
  prism_v4f x = *io;
  const float round_magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
  prism_v4f t = x * 1.44269504088896341f + round_magic;
  prism_v4f n = t - round_magic;
  prism_v4f r = (x - n * 0.693359375f) - n * -2.12194440e-4f;
  prism_v4f z = r * r;
  prism_v4f p = r * 1.9875691500e-4f + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * z + r + 1.0f;
  /* in range the low mantissa bits of t hold n (-126 <= n <= 128); out-of-range lanes compute
   * garbage here and are replaced below. Unsigned arithmetic: no overflow. */
  prism_v4u n_u = (prism_v4u)t - 0x4B400000u;
  prism_v4u h_u = (prism_v4u)((prism_v4i)n_u >> 1);
  prism_v4u s1 = (h_u + 127u) << 23, s2 = (n_u - h_u + 127u) << 23;
  prism_v4i y = (prism_v4i)(p * (prism_v4f)s1 * (prism_v4f)s2);
  const prism_v4f inf = (prism_v4f){0} + __builtin_inff();
  prism_v4i under = x < -87.33654f, over = x > 88.72283f, nan = x != x;
  y = y & ~under;
  y = (y & ~over) | ((prism_v4i)inf & over);
  y = (y & ~nan) | ((prism_v4i)x & nan);
  *io = (prism_v4f)y;
}

/* y[i] = exp(x[i] - shift) for i < n; y may equal x. */
static inline void prism_exp_shifted(float *y, const float *x, float shift, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    prism_v4f v;
    memcpy(&v, x + i, sizeof v);
    v -= shift;
    prism_vexp4(&v);
    memcpy(y + i, &v, sizeof v);
  }
  if (i < n) {
    float buf[4];
    for (int k = 0; k < 4; k++) buf[k] = i + k < n ? x[i + k] : shift;
    prism_v4f v;
    memcpy(&v, buf, sizeof v);
    v -= shift;
    prism_vexp4(&v);
    memcpy(buf, &v, sizeof v);
    for (int k = 0; i + k < n; k++) y[i + k] = buf[k];
  }
}

/* y[i] = exp(x[i] - shift[i]) for i < n; y may equal x. */
static inline void prism_exp_sub(float *y, const float *x, const float *shift, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    prism_v4f v, sh;
    memcpy(&v, x + i, sizeof v);
    memcpy(&sh, shift + i, sizeof sh);
    v -= sh;
    prism_vexp4(&v);
    memcpy(y + i, &v, sizeof v);
  }
  if (i < n) {
    float buf[4];
    for (int k = 0; k < 4; k++) buf[k] = i + k < n ? x[i + k] - shift[i + k] : 0.0f;
    prism_v4f v;
    memcpy(&v, buf, sizeof v);
    prism_vexp4(&v);
    memcpy(buf, &v, sizeof v);
    for (int k = 0; i + k < n; k++) y[i + k] = buf[k];
  }
}

/* exp(x - shift) for one element, bit-identical to what prism_exp_shifted gives it. */
static inline float prism_exp1(float x, float shift) {
  float y;
  prism_exp_shifted(&y, &x, shift, 1);
  return y;
}

#endif
