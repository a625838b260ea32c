/* binary.c — broadcasting elementwise float32 ops (every prism_binary_op) and masked_fill.
 * The ops layer hands over out's contiguous layout and the inputs' layouts already broadcast
 * to out's shape (stride 0 on broadcast dims). Before walking, size-1 dims are dropped and dims
 * that are contiguous with respect to each other in all three layouts are merged, so the common
 * cases collapse to one long row: same-shape contiguous operands (strides 1/1/1), a scalar
 * operand (stride 0), or a bias broadcast over rows (the innermost dim contiguous). Rows then
 * run in loops specialised for those strides. Work is split into fixed chunks of
 * PRISM_CPU_CHUNK output elements, so results never depend on the thread count.
 *
 * Semantics follow PyTorch: POW is powf; MAXIMUM/MINIMUM return NaN when either side is NaN;
 * comparisons give 1.0f or 0.0f; masked_fill fills where mask != 0 (NaN counts as set). */
#include "cpu_kernels.h"
#include "../../runtime/error.h"

#include <math.h>

/* Three layouts (out, a, b) over one shape, simplified; innermost dim last. */
typedef struct {
  int ndim;
  int64_t shape[PRISM_MAX_DIMS];
  int64_t stride[3][PRISM_MAX_DIMS];
} bin_walk;

static int64_t bin_walk_init(bin_walk *w, const prism_layout *const ls[3]) {
  int64_t numel = 1;
  int n = 0;
  int64_t shape[PRISM_MAX_DIMS], st[3][PRISM_MAX_DIMS]; /* innermost first */
  const prism_layout *ol = ls[0];
  for (int d = ol->ndim - 1; d >= 0; d--) {
    int64_t size = ol->shape[d];
    numel *= size;
    if (size == 1) continue;
    int merge = n > 0;
    for (int k = 0; k < 3 && merge; k++) merge = ls[k]->stride[d] == st[k][n - 1] * shape[n - 1];
    if (merge) {
      shape[n - 1] *= size;
      continue;
    }
    shape[n] = size;
    for (int k = 0; k < 3; k++) st[k][n] = ls[k]->stride[d];
    n++;
  }
  if (n == 0) {
    shape[0] = 1;
    for (int k = 0; k < 3; k++) st[k][0] = 0;
    n = 1;
  }
  w->ndim = n;
  for (int i = 0; i < n; i++) {
    w->shape[i] = shape[n - 1 - i];
    for (int k = 0; k < 3; k++) w->stride[k][i] = st[k][n - 1 - i];
  }
  return numel;
}

typedef void (*bin_row_fn)(float *o, int64_t so, const float *a, int64_t sa, const float *b, int64_t sb,
                           int64_t n, float value);

/* One row per op; x and y name the a and b elements. */
#define BIN_ROW(NAME, EXPR)                                                                       \
  static void NAME(float *o, int64_t so, const float *a, int64_t sa, const float *b, int64_t sb,  \
                   int64_t n, float value) {                                                      \
    (void)value;                                                                                  \
    if (so == 1 && sa == 1 && sb == 1) {                                                          \
      _Pragma("omp simd") for (int64_t i = 0; i < n; i++) { float x = a[i], y = b[i]; o[i] = (EXPR); } \
    } else if (so == 1 && sa == 1 && sb == 0) {                                                   \
      float y = b[0];                                                                             \
      _Pragma("omp simd") for (int64_t i = 0; i < n; i++) { float x = a[i]; o[i] = (EXPR); }     \
    } else if (so == 1 && sa == 0 && sb == 1) {                                                   \
      float x = a[0];                                                                             \
      _Pragma("omp simd") for (int64_t i = 0; i < n; i++) { float y = b[i]; o[i] = (EXPR); }     \
    } else {                                                                                      \
      for (int64_t i = 0; i < n; i++) { float x = a[i * sa], y = b[i * sb]; o[i * so] = (EXPR); } \
    }                                                                                             \
  }

BIN_ROW(row_add, x + y)
BIN_ROW(row_sub, x - y)
BIN_ROW(row_mul, x * y)
BIN_ROW(row_div, x / y)
BIN_ROW(row_pow, powf(x, y))
BIN_ROW(row_maximum, (x != x || x > y) ? x : y)
BIN_ROW(row_minimum, (x != x || x < y) ? x : y)
BIN_ROW(row_eq, x == y ? 1.0f : 0.0f)
BIN_ROW(row_ne, x != y ? 1.0f : 0.0f)
BIN_ROW(row_lt, x < y ? 1.0f : 0.0f)
BIN_ROW(row_le, x <= y ? 1.0f : 0.0f)
BIN_ROW(row_gt, x > y ? 1.0f : 0.0f)
BIN_ROW(row_ge, x >= y ? 1.0f : 0.0f)
BIN_ROW(row_masked_fill, y != 0.0f ? value : x)

static const bin_row_fn bin_rows[PRISM_BINARY_COUNT] = {
  [PRISM_BINARY_ADD] = row_add, [PRISM_BINARY_SUB] = row_sub, [PRISM_BINARY_MUL] = row_mul,
  [PRISM_BINARY_DIV] = row_div, [PRISM_BINARY_POW] = row_pow, [PRISM_BINARY_MAXIMUM] = row_maximum,
  [PRISM_BINARY_MINIMUM] = row_minimum, [PRISM_BINARY_EQ] = row_eq, [PRISM_BINARY_NE] = row_ne,
  [PRISM_BINARY_LT] = row_lt, [PRISM_BINARY_LE] = row_le, [PRISM_BINARY_GT] = row_gt,
  [PRISM_BINARY_GE] = row_ge,
};

/* Output elements [start, end) of the walk. */
static void bin_span(const bin_walk *w, bin_row_fn row, float *o, const float *a, const float *b, float value,
                     int64_t start, int64_t end) {
  int last = w->ndim - 1;
  int64_t idx[PRISM_MAX_DIMS], off[3] = {0, 0, 0}, rem = start;
  for (int d = last; d >= 0; d--) {
    idx[d] = rem % w->shape[d];
    rem /= w->shape[d];
    for (int k = 0; k < 3; k++) off[k] += idx[d] * w->stride[k][d];
  }
  for (int64_t pos = start; pos < end;) {
    int64_t run = w->shape[last] - idx[last];
    if (run > end - pos) run = end - pos;
    row(o + off[0], w->stride[0][last], a + off[1], w->stride[1][last], b + off[2], w->stride[2][last], run, value);
    pos += run;
    idx[last] += run;
    for (int k = 0; k < 3; k++) off[k] += run * w->stride[k][last];
    for (int d = last; d > 0 && idx[d] == w->shape[d]; d--) {
      for (int k = 0; k < 3; k++) off[k] += w->stride[k][d - 1] - w->shape[d] * w->stride[k][d];
      idx[d] = 0;
      idx[d - 1]++;
    }
  }
}

static int bin_run(bin_row_fn row, float *out, const prism_layout *ol, const float *a, const prism_layout *al,
                   const float *b, const prism_layout *bl, float value) {
  const prism_layout *ls[3] = {ol, al, bl};
  bin_walk w;
  int64_t numel = bin_walk_init(&w, ls);
  if (numel == 0) return 0;
  int64_t nchunks = (numel + PRISM_CPU_CHUNK - 1) / PRISM_CPU_CHUNK;
#pragma omp parallel for schedule(static) if (nchunks > 1)
  for (int64_t c = 0; c < nchunks; c++) {
    int64_t s = c * PRISM_CPU_CHUNK, e = s + PRISM_CPU_CHUNK < numel ? s + PRISM_CPU_CHUNK : numel;
    bin_span(&w, row, out, a, b, value, s, e);
  }
  return 0;
}

int prism_cpu_binary(prism_binary_op op, float *out, const prism_layout *ol, const float *a, const prism_layout *al,
                     const float *b, const prism_layout *bl) {
  if ((unsigned)op >= PRISM_BINARY_COUNT)
    return prism_fail_int(PRISM_ERR_INTERNAL, "prism_cpu_binary: unknown op %d", (int)op);
  return bin_run(bin_rows[op], out, ol, a, al, b, bl, 0.0f);
}

int prism_cpu_masked_fill(float *out, const prism_layout *ol, const float *x, const prism_layout *xl,
                          const float *mask, const prism_layout *ml, float value) {
  return bin_run(row_masked_fill, out, ol, x, xl, mask, ml, value);
}
