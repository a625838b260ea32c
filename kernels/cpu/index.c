/* index.c — indexing along the middle axis of a contiguous [outer, n_src, inner] source:
 * index_select (and embedding), its gradient index_add, gather and its gradient scatter_add,
 * plus triangle (triu/tril). Selections copy whole rows and split freely. The two accumulating
 * kernels must stay deterministic although several indices may name the same destination: they
 * are split over (outer index, block of IDX_COLS inner columns), so every destination element
 * belongs to exactly one work unit, which adds its contributions in index order j = 0, 1, ...
 * The unit sizes depend only on the shapes, never on the thread count.
 *
 * The ops layer checks index ranges; the kernels check again (one cheap pass) so that a bad
 * index is an error message and never a stray memory access. */
#include "cpu_kernels.h"
#include "../../runtime/error.h"

#include <string.h>

#define IDX_COLS 64 /* inner columns per accumulation unit: four cache lines */

static int check_indices(const int64_t *idx, int64_t count, int64_t n_src, const char *op) {
  for (int64_t e = 0; e < count; e++)
    if (idx[e] < 0 || idx[e] >= n_src)
      return prism_fail_int(PRISM_ERR_ARG, "%s: index %lld is out of range for a dimension of size %lld", op,
                            (long long)idx[e], (long long)n_src);
  return 0;
}

/* Rows of `inner` elements per work unit, so a unit moves about PRISM_CPU_CHUNK elements. */
static int64_t rows_per_unit(int64_t inner) { return inner >= PRISM_CPU_CHUNK ? 1 : PRISM_CPU_CHUNK / inner; }

int prism_cpu_index_select(float *out, const float *src, const int64_t *idx, int64_t outer, int64_t n_src,
                           int64_t n_idx, int64_t inner) {
  if (outer <= 0 || n_idx <= 0 || inner <= 0) return 0;
  if (check_indices(idx, n_idx, n_src, "index_select")) return -1;
  int64_t rows = outer * n_idx, per = rows_per_unit(inner), units = (rows + per - 1) / per;
#pragma omp parallel for schedule(static) if (units > 1)
  for (int64_t u = 0; u < units; u++) {
    int64_t r1 = (u + 1) * per < rows ? (u + 1) * per : rows;
    for (int64_t r = u * per; r < r1; r++) {
      int64_t o = r / n_idx, j = r % n_idx;
      memcpy(out + r * inner, src + (o * n_src + idx[j]) * inner, (size_t)inner * sizeof(float));
    }
  }
  return 0;
}

int prism_cpu_index_add(float *gsrc, const float *gout, const int64_t *idx, int64_t outer, int64_t n_src,
                        int64_t n_idx, int64_t inner) {
  if (outer <= 0 || n_idx <= 0 || inner <= 0) return 0;
  if (check_indices(idx, n_idx, n_src, "index_add")) return -1;
  int64_t nib = (inner + IDX_COLS - 1) / IDX_COLS, units = outer * nib;
#pragma omp parallel for schedule(static) if (units > 1)
  for (int64_t u = 0; u < units; u++) {
    int64_t o = u / nib, i0 = (u % nib) * IDX_COLS, w = inner - i0 < IDX_COLS ? inner - i0 : IDX_COLS;
    for (int64_t j = 0; j < n_idx; j++) {
      float *dst = gsrc + (o * n_src + idx[j]) * inner + i0;
      const float *g = gout + (o * n_idx + j) * inner + i0;
#pragma omp simd
      for (int64_t i = 0; i < w; i++) dst[i] += g[i];
    }
  }
  return 0;
}

int prism_cpu_gather(float *out, const float *src, const int64_t *idx, int64_t outer, int64_t n_src,
                     int64_t n_idx, int64_t inner) {
  if (outer <= 0 || n_idx <= 0 || inner <= 0) return 0;
  if (check_indices(idx, outer * n_idx * inner, n_src, "gather")) return -1;
  int64_t rows = outer * n_idx, per = rows_per_unit(inner), units = (rows + per - 1) / per;
#pragma omp parallel for schedule(static) if (units > 1)
  for (int64_t u = 0; u < units; u++) {
    int64_t r1 = (u + 1) * per < rows ? (u + 1) * per : rows;
    for (int64_t r = u * per; r < r1; r++) {
      const float *s = src + (r / n_idx) * n_src * inner;
      const int64_t *ir = idx + r * inner;
      float *o = out + r * inner;
      for (int64_t i = 0; i < inner; i++) o[i] = s[ir[i] * inner + i];
    }
  }
  return 0;
}

int prism_cpu_scatter_add(float *gsrc, const float *gout, const int64_t *idx, int64_t outer, int64_t n_src,
                          int64_t n_idx, int64_t inner) {
  if (outer <= 0 || n_idx <= 0 || inner <= 0) return 0;
  if (check_indices(idx, outer * n_idx * inner, n_src, "scatter_add")) return -1;
  int64_t nib = (inner + IDX_COLS - 1) / IDX_COLS, units = outer * nib;
#pragma omp parallel for schedule(static) if (units > 1)
  for (int64_t u = 0; u < units; u++) {
    int64_t o = u / nib, i0 = (u % nib) * IDX_COLS, i1 = i0 + IDX_COLS < inner ? i0 + IDX_COLS : inner;
    float *dst = gsrc + o * n_src * inner;
    for (int64_t j = 0; j < n_idx; j++) {
      int64_t row = (o * n_idx + j) * inner;
      for (int64_t i = i0; i < i1; i++) dst[idx[row + i] * inner + i] += gout[row + i];
    }
  }
  return 0;
}

/* out may alias x (in-place triu_/tril_). */
int prism_cpu_triangle(float *out, const float *x, int64_t batch, int64_t rows, int64_t cols, int64_t k, int upper) {
  if (batch <= 0 || rows <= 0 || cols <= 0) return 0;
  if (k > cols) k = cols; /* past either edge nothing changes; clamping keeps i + k from overflowing */
  if (k < -rows) k = -rows;
  int64_t all = batch * rows, per = rows_per_unit(cols), units = (all + per - 1) / per;
#pragma omp parallel for schedule(static) if (units > 1)
  for (int64_t u = 0; u < units; u++) {
    int64_t r1 = (u + 1) * per < all ? (u + 1) * per : all;
    for (int64_t r = u * per; r < r1; r++) {
      int64_t i = r % rows;
      const float *xr = x + r * cols;
      float *orow = out + r * cols;
      /* upper keeps j >= i + k, lower keeps j <= i + k: one split point per row */
      int64_t split = upper ? i + k : i + k + 1;
      if (split < 0) split = 0;
      if (split > cols) split = cols;
      if (upper) {
        for (int64_t j = 0; j < split; j++) orow[j] = 0.0f;
        for (int64_t j = split; j < cols; j++) orow[j] = xr[j];
      } else {
        for (int64_t j = 0; j < split; j++) orow[j] = xr[j];
        for (int64_t j = split; j < cols; j++) orow[j] = 0.0f;
      }
    }
  }
  return 0;
}
