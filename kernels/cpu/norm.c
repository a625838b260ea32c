/* norm.c — RMSNorm and LayerNorm over the last dim of a contiguous [rows, n] matrix, forward
 * and backward. Rows are independent, so the forward and dx are row-parallel. The weight and
 * bias gradients are sums over rows: each fixed block of NORM_ROW_BLOCK rows writes its own
 * partial sums (in double), and the partials are then added in block order, so dw/db never
 * depend on the thread count and no atomics are needed. Per-row statistics are accumulated in
 * double and saved as float (mean, rstd), like PyTorch's saved tensors. */
#include "cpu_kernels.h"
#include "../../runtime/error.h"

#include <math.h>
#include <stdlib.h>

#define NORM_ROW_BLOCK 64

/* Sums the per-block partials [nblocks, n] column by column in block order into out (float). */
static void reduce_partials(float *out, const double *partials, int64_t nblocks, int64_t n) {
#pragma omp parallel for schedule(static)
  for (int64_t j = 0; j < n; j++) {
    double s = 0.0;
    for (int64_t b = 0; b < nblocks; b++) s += partials[b * n + j];
    out[j] = (float)s;
  }
}

int prism_cpu_rmsnorm(float *y, float *rstd, const float *x, const float *w, int64_t rows, int64_t n, float eps) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const float *xr = x + r * n;
    float *yr = y + r * n;
    double ss = 0.0;
    for (int64_t j = 0; j < n; j++) ss += (double)xr[j] * (double)xr[j];
    float rs = (float)(1.0 / sqrt(ss / (double)n + (double)eps));
    rstd[r] = rs;
    if (w) {
#pragma omp simd
      for (int64_t j = 0; j < n; j++) yr[j] = (xr[j] * rs) * w[j];
    } else {
#pragma omp simd
      for (int64_t j = 0; j < n; j++) yr[j] = xr[j] * rs;
    }
  }
  return 0;
}

/* y = x r w with r = (mean(x^2) + eps)^-1/2:
 * dx_k = r w_k dy_k - x_k r^3 / n * sum_j dy_j w_j x_j;  dw_k = sum_rows dy_k x_k r. */
int prism_cpu_rmsnorm_backward(float *dx, float *dw, const float *dy, const float *x, const float *w,
                               const float *rstd, int64_t rows, int64_t n) {
  int64_t nblocks = (rows + NORM_ROW_BLOCK - 1) / NORM_ROW_BLOCK;
  double *partials = NULL;
  if (dw && nblocks > 0) {
    partials = calloc((size_t)(nblocks * n), sizeof(double));
    if (!partials)
      return prism_fail_int(PRISM_ERR_OOM, "rmsnorm_backward: cannot allocate %lld x %lld scratch partials",
                            (long long)nblocks, (long long)n);
  }
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < nblocks; b++) {
    int64_t r_end = (b + 1) * NORM_ROW_BLOCK < rows ? (b + 1) * NORM_ROW_BLOCK : rows;
    double *part = partials ? partials + b * n : NULL;
    for (int64_t r = b * NORM_ROW_BLOCK; r < r_end; r++) {
      const float *xr = x + r * n, *dyr = dy + r * n;
      float *dxr = dx + r * n;
      float rs = rstd[r];
      double dot = 0.0;
      for (int64_t j = 0; j < n; j++) dot += (double)dyr[j] * (w ? (double)w[j] : 1.0) * (double)xr[j];
      float c = (float)(dot * (double)rs * (double)rs * (double)rs / (double)n);
      if (w) {
#pragma omp simd
        for (int64_t j = 0; j < n; j++) dxr[j] = rs * w[j] * dyr[j] - xr[j] * c;
      } else {
#pragma omp simd
        for (int64_t j = 0; j < n; j++) dxr[j] = rs * dyr[j] - xr[j] * c;
      }
      if (part) {
#pragma omp simd
        for (int64_t j = 0; j < n; j++) part[j] += (double)dyr[j] * (double)(xr[j] * rs);
      }
    }
  }
  if (partials) {
    reduce_partials(dw, partials, nblocks, n);
    free(partials);
  } else if (dw) {
    for (int64_t j = 0; j < n; j++) dw[j] = 0.0f;  /* rows == 0 */
  }
  return 0;
}

int prism_cpu_layernorm(float *y, float *mean, float *rstd, const float *x, const float *w, const float *b,
                        int64_t rows, int64_t n, float eps) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const float *xr = x + r * n;
    float *yr = y + r * n;
    double s = 0.0;
    for (int64_t j = 0; j < n; j++) s += (double)xr[j];
    double mu = s / (double)n;
    double ss = 0.0;
    for (int64_t j = 0; j < n; j++) {
      double d = (double)xr[j] - mu;
      ss += d * d;
    }
    float m = (float)mu;
    float rs = (float)(1.0 / sqrt(ss / (double)n + (double)eps));  /* biased variance, as PyTorch */
    mean[r] = m;
    rstd[r] = rs;
#pragma omp simd
    for (int64_t j = 0; j < n; j++) {
      float h = (xr[j] - m) * rs;
      yr[j] = (w ? h * w[j] : h) + (b ? b[j] : 0.0f);
    }
  }
  return 0;
}

/* With h = (x - mean) r and g = dy w:  dx = r (g - mean(g) - h mean(g h));
 * dw = sum_rows dy h;  db = sum_rows dy. */
int prism_cpu_layernorm_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                                 const float *mean, const float *rstd, int64_t rows, int64_t n) {
  int64_t nblocks = (rows + NORM_ROW_BLOCK - 1) / NORM_ROW_BLOCK;
  double *pw = NULL, *pb = NULL;
  if ((dw || db) && nblocks > 0) {
    pw = calloc((size_t)(2 * nblocks * n), sizeof(double));
    if (!pw)
      return prism_fail_int(PRISM_ERR_OOM, "layernorm_backward: cannot allocate 2 x %lld x %lld scratch partials",
                            (long long)nblocks, (long long)n);
    pb = pw + nblocks * n;
  }
#pragma omp parallel for schedule(static)
  for (int64_t blk = 0; blk < nblocks; blk++) {
    int64_t r_end = (blk + 1) * NORM_ROW_BLOCK < rows ? (blk + 1) * NORM_ROW_BLOCK : rows;
    double *partw = pw ? pw + blk * n : NULL, *partb = pb ? pb + blk * n : NULL;
    for (int64_t r = blk * NORM_ROW_BLOCK; r < r_end; r++) {
      const float *xr = x + r * n, *dyr = dy + r * n;
      float *dxr = dx + r * n;
      float m = mean[r], rs = rstd[r];
      double sg = 0.0, sgh = 0.0;
      for (int64_t j = 0; j < n; j++) {
        double g = (double)dyr[j] * (w ? (double)w[j] : 1.0);
        double h = (double)((xr[j] - m) * rs);
        sg += g;
        sgh += g * h;
      }
      float mg = (float)(sg / (double)n), mgh = (float)(sgh / (double)n);
#pragma omp simd
      for (int64_t j = 0; j < n; j++) {
        float h = (xr[j] - m) * rs;
        float g = w ? dyr[j] * w[j] : dyr[j];
        dxr[j] = rs * ((g - mg) - h * mgh);
      }
      if (partw) {
#pragma omp simd
        for (int64_t j = 0; j < n; j++) {
          partw[j] += (double)dyr[j] * (double)((xr[j] - m) * rs);
          partb[j] += (double)dyr[j];
        }
      }
    }
  }
  if (pw) {
    if (dw) reduce_partials(dw, pw, nblocks, n);
    if (db) reduce_partials(db, pb, nblocks, n);
    free(pw);
  } else {
    for (int64_t j = 0; j < n && dw; j++) dw[j] = 0.0f;
    for (int64_t j = 0; j < n && db; j++) db[j] = 0.0f;
  }
  return 0;
}
