/* softmax.c — the softmax family over the last dim of a contiguous [rows, n] matrix, and the
 * fused softmax + cross-entropy (stable log-sum-exp) that the loss uses. One row is one unit of
 * work, done by one thread in a fixed order, so results never depend on the thread count. Row
 * sums are accumulated in double: the vocabulary-sized rows of the loss (4096+ terms) would
 * otherwise lose digits in the lse that every logit's gradient depends on. exp is vexp.h's. */
#include "cpu_kernels.h"
#include "vexp.h"

#include <math.h>

/* Elements of the loss row exponentiated per step, on the stack (the forward has no n-sized
 * output to hold them). */
#define XENT_BLOCK 256

/* max is exact whatever the order, so the vectorized reduction cannot change the result. */
static float row_max(const float *x, int64_t n) {
  float m = -INFINITY;
#pragma omp simd reduction(max : m)
  for (int64_t j = 0; j < n; j++) m = x[j] > m ? x[j] : m;
  return m;
}

/* Sum in double with four accumulators by index mod 4, combined in a fixed order: the result
 * depends only on the values, never on alignment or the thread. */
static double row_sum(const float *x, int64_t n) {
  double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) {
    a0 += (double)x[j];
    a1 += (double)x[j + 1];
    a2 += (double)x[j + 2];
    a3 += (double)x[j + 3];
  }
  for (; j < n; j++) a0 += (double)x[j];
  return (a0 + a1) + (a2 + a3);
}

/* log(sum_j exp(x_j)) as max + log(sum exp(x_j - max)). An all -inf row gives NaN, like PyTorch. */
static double row_lse(const float *x, int64_t n) {
  float m = row_max(x, n), buf[XENT_BLOCK];
  double s = 0.0;
  for (int64_t j0 = 0; j0 < n; j0 += XENT_BLOCK) {
    int64_t len = n - j0 < XENT_BLOCK ? n - j0 : XENT_BLOCK;
    prism_exp_shifted(buf, x + j0, m, len);
    s += row_sum(buf, len);
  }
  return (double)m + log(s);
}

int prism_cpu_softmax(float *y, const float *x, int64_t rows, int64_t n) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const float *xr = x + r * n;
    float *yr = y + r * n;
    prism_exp_shifted(yr, xr, row_max(xr, n), n);
    float inv = (float)(1.0 / row_sum(yr, n));
#pragma omp simd
    for (int64_t j = 0; j < n; j++) yr[j] *= inv;
  }
  return 0;
}

/* gx = y * (gy - sum_j gy_j y_j) */
int prism_cpu_softmax_backward(float *gx, const float *gy, const float *y, int64_t rows, int64_t n) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const float *gyr = gy + r * n, *yr = y + r * n;
    float *gxr = gx + r * n;
    double dot = 0.0;
    for (int64_t j = 0; j < n; j++) dot += (double)gyr[j] * (double)yr[j];
    float d = (float)dot;
#pragma omp simd
    for (int64_t j = 0; j < n; j++) gxr[j] = yr[j] * (gyr[j] - d);
  }
  return 0;
}

int prism_cpu_log_softmax(float *y, const float *x, int64_t rows, int64_t n) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const float *xr = x + r * n;
    float *yr = y + r * n;
    float m = row_max(xr, n);
    prism_exp_shifted(yr, xr, m, n);  /* y holds the exps until the sum is taken */
    /* (x - m) - log s rather than x - lse: for a dominant entry the result is then
     * -log s, small and accurate, instead of the difference of two large numbers. */
    float ls = (float)log(row_sum(yr, n));
#pragma omp simd
    for (int64_t j = 0; j < n; j++) yr[j] = (xr[j] - m) - ls;
  }
  return 0;
}

/* gx = gy - exp(y) * sum_j gy_j */
int prism_cpu_log_softmax_backward(float *gx, const float *gy, const float *y, int64_t rows, int64_t n) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const float *gyr = gy + r * n, *yr = y + r * n;
    float *gxr = gx + r * n;
    float s = (float)row_sum(gyr, n);
    prism_exp_shifted(gxr, yr, 0.0f, n);
#pragma omp simd
    for (int64_t j = 0; j < n; j++) gxr[j] = gyr[j] - gxr[j] * s;
  }
  return 0;
}

int prism_cpu_cross_entropy(float *loss_rows, float *lse, const float *logits, const int64_t *targets,
                            int64_t rows, int64_t n) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const float *xr = logits + r * n;
    double l = row_lse(xr, n);
    lse[r] = (float)l;
    /* the difference is taken in double so a large common offset in the logits cancels exactly */
    loss_rows[r] = (float)(l - (double)xr[targets[r]]);
  }
  return 0;
}

int prism_cpu_cross_entropy_backward(float *gx, const float *logits, const float *lse, const int64_t *targets,
                                     int64_t rows, int64_t n, float scale) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    float *gr = gx + r * n;
    int64_t t = targets[r];
    prism_exp_shifted(gr, logits + r * n, lse[r], n);
    float pt = gr[t];
#pragma omp simd
    for (int64_t j = 0; j < n; j++) gr[j] *= scale;
    gr[t] = scale * (pt - 1.0f);
  }
  return 0;
}
