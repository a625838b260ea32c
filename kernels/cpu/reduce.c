/* reduce.c — SUM/MAX over the middle axis of a contiguous [outer, n, inner] array (sum, mean
 * and max with dim, all of which the ops layer reshapes to this form), and the double-precision
 * whole-array sums used for the mean loss (sum_f64) and clip_grad_norm (sum_squares_f64).
 *
 * Determinism: the work is cut into units of (outer index, block of at most REDUCE_IB inner
 * columns, block of rows of the reduced axis) whose sizes depend only on the shape. Sums
 * accumulate in double; when the reduced axis spans several row blocks, each block's partial
 * result goes to scratch and the partials are combined in row order. MAX keeps the first index
 * of the maximum, and a NaN beats every number (the first NaN wins), like torch.max. */
#include "cpu_kernels.h"
#include "../../runtime/error.h"

#include <stdlib.h>

#define REDUCE_IB 256  /* inner columns per unit: the accumulators fit in L1 */
#define REDUCE_GROUP 256 /* chunk partials held at once by sum_f64 */

/* Whether v replaces the current best: strictly greater (ties keep the first), or the first NaN. */
static inline int max_takes(float v, float best) { return v > best || (v != v && best == best); }

/* Double sum of n floats at stride 1 in a fixed order: eight lanes, combined pairwise. */
static double sum_run(const float *x, int64_t n, int squares) {
  double l[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  if (squares) {
    for (; i + 8 <= n; i += 8)
      for (int k = 0; k < 8; k++) l[k] += (double)x[i + k] * (double)x[i + k];
    for (; i < n; i++) l[i & 7] += (double)x[i] * (double)x[i];
  } else {
    for (; i + 8 <= n; i += 8)
      for (int k = 0; k < 8; k++) l[k] += (double)x[i + k];
    for (; i < n; i++) l[i & 7] += (double)x[i];
  }
  return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}

/* Sums rows [j0, j1) of columns [i0, i1) of x's slab o into acc (i1 - i0 doubles). */
static void sum_unit(double *acc, const float *x, int64_t n, int64_t inner, int64_t o, int64_t j0, int64_t j1,
                     int64_t i0, int64_t i1) {
  if (inner == 1) {
    acc[0] = sum_run(x + o * n + j0, j1 - j0, 0);
    return;
  }
  int64_t w = i1 - i0;
  for (int64_t i = 0; i < w; i++) acc[i] = 0.0;
  for (int64_t j = j0; j < j1; j++) {
    const float *row = x + (o * n + j) * inner + i0;
#pragma omp simd
    for (int64_t i = 0; i < w; i++) acc[i] += (double)row[i];
  }
}

static void max_unit(float *best, int64_t *bidx, const float *x, int64_t n, int64_t inner, int64_t o, int64_t j0,
                     int64_t j1, int64_t i0, int64_t i1) {
  int64_t w = i1 - i0;
  const float *first = x + (o * n + j0) * inner + i0;
  for (int64_t i = 0; i < w; i++) { best[i] = first[i]; bidx[i] = j0; }
  for (int64_t j = j0 + 1; j < j1; j++) {
    const float *row = x + (o * n + j) * inner + i0;
    for (int64_t i = 0; i < w; i++)
      if (max_takes(row[i], best[i])) { best[i] = row[i]; bidx[i] = j; }
  }
}

int prism_cpu_reduce(prism_reduce_op op, float *out, int64_t *argmax, const float *x, int64_t outer, int64_t n,
                     int64_t inner) {
  if (op != PRISM_REDUCE_SUM && op != PRISM_REDUCE_MAX)
    return prism_fail_int(PRISM_ERR_INTERNAL, "prism_cpu_reduce: unknown op %d", (int)op);
  if (outer <= 0 || inner <= 0) return 0;
  if (n <= 0) {
    if (op == PRISM_REDUCE_MAX)
      return prism_fail_int(PRISM_ERR_ARG, "max: cannot reduce over an empty dimension");
    for (int64_t e = 0; e < outer * inner; e++) out[e] = 0.0f;
    return 0;
  }
  int64_t ib = inner < REDUCE_IB ? inner : REDUCE_IB;
  int64_t nib = (inner + ib - 1) / ib;
  int64_t rows = PRISM_CPU_CHUNK / ib; /* rows of the reduced axis per unit */
  int64_t nrb = (n + rows - 1) / rows;
  int64_t units = outer * nib * nrb;
  int is_max = op == PRISM_REDUCE_MAX;

  /* one row block: units write the result directly */
  if (nrb == 1) {
#pragma omp parallel for schedule(static) if (units > 1)
    for (int64_t u = 0; u < units; u++) {
      int64_t o = u / nib, i0 = (u % nib) * ib, i1 = i0 + ib < inner ? i0 + ib : inner;
      if (is_max) {
        float best[REDUCE_IB];
        int64_t bidx[REDUCE_IB];
        max_unit(best, bidx, x, n, inner, o, 0, n, i0, i1);
        for (int64_t i = i0; i < i1; i++) {
          out[o * inner + i] = best[i - i0];
          if (argmax) argmax[o * inner + i] = bidx[i - i0];
        }
      } else {
        double acc[REDUCE_IB];
        sum_unit(acc, x, n, inner, o, 0, n, i0, i1);
        for (int64_t i = i0; i < i1; i++) out[o * inner + i] = (float)acc[i - i0];
      }
    }
    return 0;
  }

  /* several row blocks: partials [outer, nrb, inner], then an ordered combine */
  size_t cells = (size_t)outer * (size_t)nrb * (size_t)inner;
  double *psum = NULL;
  float *pmax = NULL;
  int64_t *pidx = NULL;
  if (is_max) {
    pmax = malloc(cells * sizeof *pmax);
    pidx = malloc(cells * sizeof *pidx);
  } else {
    psum = malloc(cells * sizeof *psum);
  }
  if (is_max ? (!pmax || !pidx) : !psum) {
    free(pmax); free(pidx); free(psum);
    return prism_fail_int(PRISM_ERR_OOM, "prism_cpu_reduce: cannot allocate %zu partial results", cells);
  }
#pragma omp parallel for schedule(static)
  for (int64_t u = 0; u < units; u++) {
    int64_t o = u / (nib * nrb), r = (u / nib) % nrb, i0 = (u % nib) * ib;
    int64_t i1 = i0 + ib < inner ? i0 + ib : inner;
    int64_t j0 = r * rows, j1 = j0 + rows < n ? j0 + rows : n;
    size_t base = ((size_t)o * (size_t)nrb + (size_t)r) * (size_t)inner + (size_t)i0;
    if (is_max) max_unit(pmax + base, pidx + base, x, n, inner, o, j0, j1, i0, i1);
    else sum_unit(psum + base, x, n, inner, o, j0, j1, i0, i1);
  }
  int64_t total = outer * inner;
#pragma omp parallel for schedule(static) if (total > PRISM_CPU_CHUNK)
  for (int64_t e = 0; e < total; e++) {
    int64_t o = e / inner, i = e % inner;
    size_t base = (size_t)o * (size_t)nrb * (size_t)inner + (size_t)i;
    if (is_max) {
      float best = pmax[base];
      int64_t bi = pidx[base];
      for (int64_t r = 1; r < nrb; r++) {
        size_t p = base + (size_t)r * (size_t)inner;
        if (max_takes(pmax[p], best)) { best = pmax[p]; bi = pidx[p]; }
      }
      out[e] = best;
      if (argmax) argmax[e] = bi;
    } else {
      double s = psum[base];
      for (int64_t r = 1; r < nrb; r++) s += psum[base + (size_t)r * (size_t)inner];
      out[e] = (float)s;
    }
  }
  free(pmax); free(pidx); free(psum);
  return 0;
}

/* Chunks of PRISM_CPU_CHUNK are summed in parallel, REDUCE_GROUP at a time, and their partials
 * added to the total strictly in chunk order. */
static double sum_all(const float *x, int64_t n, int squares) {
  int64_t nchunks = (n + PRISM_CPU_CHUNK - 1) / PRISM_CPU_CHUNK;
  double total = 0.0;
  for (int64_t g0 = 0; g0 < nchunks; g0 += REDUCE_GROUP) {
    int64_t g1 = g0 + REDUCE_GROUP < nchunks ? g0 + REDUCE_GROUP : nchunks;
    double part[REDUCE_GROUP];
#pragma omp parallel for schedule(static) if (g1 - g0 > 1)
    for (int64_t c = g0; c < g1; c++) {
      int64_t s = c * PRISM_CPU_CHUNK, e = s + PRISM_CPU_CHUNK < n ? s + PRISM_CPU_CHUNK : n;
      part[c - g0] = sum_run(x + s, e - s, squares);
    }
    for (int64_t c = g0; c < g1; c++) total += part[c - g0];
  }
  return total;
}

int prism_cpu_sum_f64(double *out, const float *x, int64_t n) {
  *out = n > 0 ? sum_all(x, n, 0) : 0.0;
  return 0;
}

int prism_cpu_sum_squares_f64(double *out, const float *x, int64_t n) {
  *out = n > 0 ? sum_all(x, n, 1) : 0.0;
  return 0;
}
