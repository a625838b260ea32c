/* optim.c — in-place AdamW and SGD updates over n contiguous floats, with PyTorch's
 * single-tensor semantics (torch/optim/adamw.py, sgd.py; the formulas are in backend.h).
 * Scalars that PyTorch computes as Python floats (bias corrections, step size, decay factor) are
 * computed here in double and rounded once, as PyTorch does when it hands them to a float
 * kernel. Elementwise over fixed chunks, so the result never depends on the thread count.
 *
 * The AdamW update is written with SSE2 intrinsics, 4 lanes (plain C on non-x86 builds): GCC
 * will not vectorize sqrtf itself while errno semantics are on, and this loop runs over every
 * parameter every step. */
#include "cpu_kernels.h"

#include <math.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

typedef struct {
  float beta1, beta2, one_m_b1, one_m_b2, decay, step_size, bc2_sqrt, eps;
} adamw_consts;

#if defined(__SSE2__)
static inline void adamw4(float *p, const float *g, float *m, float *v, const adamw_consts *c) {
  const __m128 decay = _mm_set1_ps(c->decay), step = _mm_set1_ps(c->step_size);
  __m128 gi = _mm_loadu_ps(g);
  __m128 mi = _mm_add_ps(_mm_mul_ps(_mm_set1_ps(c->beta1), _mm_loadu_ps(m)), _mm_mul_ps(_mm_set1_ps(c->one_m_b1), gi));
  __m128 vi = _mm_add_ps(_mm_mul_ps(_mm_set1_ps(c->beta2), _mm_loadu_ps(v)),
                         _mm_mul_ps(_mm_mul_ps(_mm_set1_ps(c->one_m_b2), gi), gi));
  _mm_storeu_ps(m, mi);
  _mm_storeu_ps(v, vi);
  /* sqrt(v / bc2) + eps written as PyTorch does: sqrt(v) / sqrt(bc2) + eps */
  __m128 denom = _mm_add_ps(_mm_div_ps(_mm_sqrt_ps(vi), _mm_set1_ps(c->bc2_sqrt)), _mm_set1_ps(c->eps));
  _mm_storeu_ps(p, _mm_sub_ps(_mm_mul_ps(_mm_loadu_ps(p), decay), _mm_mul_ps(step, _mm_div_ps(mi, denom))));
}

/* The tail runs through the same 4-lane code on a zero-padded copy, so that no element's bits
 * depend on whether it fell in the body or the tail (even where the compiler would contract
 * scalar code into FMAs). */
static void adamw_range(float *p, const float *g, float *m, float *v, int64_t i, int64_t end, const adamw_consts *c) {
  for (; i + 4 <= end; i += 4) adamw4(p + i, g + i, m + i, v + i, c);
  if (i < end) {
    float bp[4] = {0}, bg[4] = {0}, bm[4] = {0}, bv[4] = {0};
    int64_t len = end - i;
    for (int64_t k = 0; k < len; k++) { bp[k] = p[i + k]; bg[k] = g[i + k]; bm[k] = m[i + k]; bv[k] = v[i + k]; }
    adamw4(bp, bg, bm, bv, c);
    for (int64_t k = 0; k < len; k++) { p[i + k] = bp[k]; m[i + k] = bm[k]; v[i + k] = bv[k]; }
  }
}
#else
static void adamw_range(float *p, const float *g, float *m, float *v, int64_t i, int64_t end, const adamw_consts *c) {
  for (; i < end; i++) {
    float gi = g[i];
    float mi = c->beta1 * m[i] + c->one_m_b1 * gi;
    float vi = c->beta2 * v[i] + (c->one_m_b2 * gi) * gi;
    m[i] = mi;
    v[i] = vi;
    float denom = sqrtf(vi) / c->bc2_sqrt + c->eps;  /* PyTorch's sqrt(v) / sqrt(bc2) + eps */
    p[i] = p[i] * c->decay - c->step_size * (mi / denom);
  }
}
#endif

int prism_cpu_adamw(float *p, const float *g, float *m, float *v, int64_t n, float lr, float beta1, float beta2,
                    float eps, float weight_decay, int64_t step) {
  double bc1 = 1.0 - pow((double)beta1, (double)step);
  double bc2 = 1.0 - pow((double)beta2, (double)step);
  adamw_consts c = {
    .beta1 = beta1, .beta2 = beta2,
    .one_m_b1 = (float)(1.0 - (double)beta1), .one_m_b2 = (float)(1.0 - (double)beta2),
    .decay = (float)(1.0 - (double)lr * (double)weight_decay),
    .step_size = (float)((double)lr / bc1), .bc2_sqrt = (float)sqrt(bc2), .eps = eps,
  };
  int64_t nchunks = (n + PRISM_CPU_CHUNK - 1) / PRISM_CPU_CHUNK;
#pragma omp parallel for schedule(static)
  for (int64_t ch = 0; ch < nchunks; ch++) {
    int64_t end = (ch + 1) * PRISM_CPU_CHUNK < n ? (ch + 1) * PRISM_CPU_CHUNK : n;
    adamw_range(p, g, m, v, ch * PRISM_CPU_CHUNK, end, &c);
  }
  return 0;
}

int prism_cpu_sgd(float *p, const float *g, float *buf, int64_t n, float lr, float momentum, float dampening,
                  int nesterov, float weight_decay, int first) {
  float one_m_damp = (float)(1.0 - (double)dampening);
  int use_momentum = momentum != 0.0f && buf != NULL;
  int64_t nchunks = (n + PRISM_CPU_CHUNK - 1) / PRISM_CPU_CHUNK;
#pragma omp parallel for schedule(static)
  for (int64_t ch = 0; ch < nchunks; ch++) {
    int64_t end = (ch + 1) * PRISM_CPU_CHUNK < n ? (ch + 1) * PRISM_CPU_CHUNK : n;
    for (int64_t i = ch * PRISM_CPU_CHUNK; i < end; i++) {
      float d = g[i];
      if (weight_decay != 0.0f) d = d + weight_decay * p[i];
      if (use_momentum) {
        float b = first ? d : momentum * buf[i] + one_m_damp * d;
        buf[i] = b;
        d = nesterov ? d + momentum * b : b;
      }
      p[i] = p[i] - lr * d;
    }
  }
  return 0;
}
