/* copy.c — layout changes and fills for every dtype: the strided copy behind contiguous(),
 * cat, expand-materialization and dtype casts, plus fill and arange. A copy walks the logical
 * index space of the destination in fixed chunks of PRISM_CPU_CHUNK elements (each chunk is
 * independent, so the thread count never changes a result); before walking, dimensions that
 * are contiguous with respect to each other in both layouts are merged, so narrowed or
 * broadcast views run long inner rows instead of per-element index arithmetic.
 *
 * Float to integer casts truncate toward zero like PyTorch; values outside the integer range
 * saturate and NaN becomes 0 (C leaves those cases undefined, PyTorch leaves them unspecified). */
#include "cpu_kernels.h"
#include "../../runtime/error.h"

#include <string.h>

/* A pair of layouts over one shape, with size-1 dims dropped and mergeable dims merged. */
typedef struct {
  int ndim;
  int64_t shape[PRISM_MAX_DIMS];
  int64_t dstride[PRISM_MAX_DIMS];
  int64_t sstride[PRISM_MAX_DIMS];
} copy_walk;

/* Returns the element count. Merges from the innermost dim outwards: dim d folds into the
 * merged dim inside it when, in both layouts, stepping d once equals stepping the inner dim
 * across its whole extent. */
static int64_t copy_walk_init(copy_walk *w, const prism_layout *dl, const prism_layout *sl) {
  int64_t numel = 1;
  int n = 0;
  int64_t shape[PRISM_MAX_DIMS], ds[PRISM_MAX_DIMS], ss[PRISM_MAX_DIMS]; /* innermost first */
  for (int d = dl->ndim - 1; d >= 0; d--) {
    int64_t size = dl->shape[d];
    numel *= size;
    if (size == 1) continue;
    if (n > 0 && dl->stride[d] == ds[n - 1] * shape[n - 1] && sl->stride[d] == ss[n - 1] * shape[n - 1]) {
      shape[n - 1] *= size;
      continue;
    }
    shape[n] = size;
    ds[n] = dl->stride[d];
    ss[n] = sl->stride[d];
    n++;
  }
  if (n == 0) { shape[0] = 1; ds[0] = 0; ss[0] = 0; n = 1; }
  w->ndim = n;
  for (int i = 0; i < n; i++) {
    w->shape[i] = shape[n - 1 - i];
    w->dstride[i] = ds[n - 1 - i];
    w->sstride[i] = ss[n - 1 - i];
  }
  return numel;
}

static inline int64_t f_to_i64(double v) {
  if (v != v) return 0;
  if (v >= 9223372036854775808.0) return INT64_MAX;
  if (v < -9223372036854775808.0) return INT64_MIN;
  return (int64_t)v;
}

static inline int32_t f_to_i32(double v) {
  if (v != v) return 0;
  if (v >= 2147483648.0) return INT32_MAX;
  if (v < -2147483648.0) return INT32_MIN;
  return (int32_t)v;
}

/* One strided row of n elements for each (destination, source) dtype pair. int64 -> int32 wraps
 * (two's complement, as gcc and PyTorch do). */
typedef void (*copy_row_fn)(void *dst, int64_t ds, const void *src, int64_t ss, int64_t n);

#define COPY_ROW(NAME, DT, ST, CONV)                                                            \
  static void NAME(void *dst_, int64_t ds, const void *src_, int64_t ss, int64_t n) {           \
    DT *dst = dst_;                                                                              \
    const ST *src = src_;                                                                        \
    if (ds == 1 && ss == 1) {                                                                    \
      _Pragma("omp simd") for (int64_t i = 0; i < n; i++) dst[i] = CONV(src[i]);                \
    } else if (ds == 1 && ss == 0) {                                                             \
      DT v = CONV(src[0]);                                                                       \
      for (int64_t i = 0; i < n; i++) dst[i] = v;                                                \
    } else {                                                                                     \
      for (int64_t i = 0; i < n; i++) dst[i * ds] = CONV(src[i * ss]);                           \
    }                                                                                            \
  }
#define CAST_F(v) ((float)(v))
#define CAST_I64(v) ((int64_t)(v))
#define CAST_I32(v) ((int32_t)(v))
COPY_ROW(row_f32_f32, float, float, CAST_F)
COPY_ROW(row_f32_i64, float, int64_t, CAST_F)
COPY_ROW(row_f32_i32, float, int32_t, CAST_F)
COPY_ROW(row_i64_f32, int64_t, float, f_to_i64)
COPY_ROW(row_i64_i64, int64_t, int64_t, CAST_I64)
COPY_ROW(row_i64_i32, int64_t, int32_t, CAST_I64)
COPY_ROW(row_i32_f32, int32_t, float, f_to_i32)
COPY_ROW(row_i32_i64, int32_t, int64_t, CAST_I32)
COPY_ROW(row_i32_i32, int32_t, int32_t, CAST_I32)

static const copy_row_fn copy_rows[PRISM_DTYPE_COUNT][PRISM_DTYPE_COUNT] = {
  [PRISM_FLOAT32] = {[PRISM_FLOAT32] = row_f32_f32, [PRISM_INT64] = row_f32_i64, [PRISM_INT32] = row_f32_i32},
  [PRISM_INT64] = {[PRISM_FLOAT32] = row_i64_f32, [PRISM_INT64] = row_i64_i64, [PRISM_INT32] = row_i64_i32},
  [PRISM_INT32] = {[PRISM_FLOAT32] = row_i32_f32, [PRISM_INT64] = row_i32_i64, [PRISM_INT32] = row_i32_i32},
};

static size_t elem_size(prism_dtype dt) { return dt == PRISM_INT64 ? 8 : 4; }

/* Copies logical elements [start, end) of the walk. */
static void copy_span(const copy_walk *w, copy_row_fn row, char *dst, size_t dsz, const char *src, size_t ssz,
                      int64_t start, int64_t end) {
  int last = w->ndim - 1;
  int64_t idx[PRISM_MAX_DIMS];
  int64_t doff = 0, soff = 0, rem = start;
  for (int d = last; d >= 0; d--) {
    idx[d] = rem % w->shape[d];
    rem /= w->shape[d];
    doff += idx[d] * w->dstride[d];
    soff += idx[d] * w->sstride[d];
  }
  for (int64_t pos = start; pos < end;) {
    int64_t run = w->shape[last] - idx[last];
    if (run > end - pos) run = end - pos;
    row(dst + doff * (int64_t)dsz, w->dstride[last], src + soff * (int64_t)ssz, w->sstride[last], run);
    pos += run;
    idx[last] += run;
    doff += run * w->dstride[last];
    soff += run * w->sstride[last];
    for (int d = last; d > 0 && idx[d] == w->shape[d]; d--) {
      doff += w->dstride[d - 1] - w->shape[d] * w->dstride[d];
      soff += w->sstride[d - 1] - w->shape[d] * w->sstride[d];
      idx[d] = 0;
      idx[d - 1]++;
    }
  }
}

int prism_cpu_copy(void *dst, const prism_layout *dl, prism_dtype dt, const void *src, const prism_layout *sl,
                   prism_dtype st) {
  if ((unsigned)dt >= PRISM_DTYPE_COUNT || (unsigned)st >= PRISM_DTYPE_COUNT)
    return prism_fail_int(PRISM_ERR_INTERNAL, "prism_cpu_copy: bad dtype pair %d <- %d", (int)dt, (int)st);
  copy_walk w;
  int64_t numel = copy_walk_init(&w, dl, sl);
  if (numel == 0) return 0;
  size_t dsz = elem_size(dt), ssz = elem_size(st);
  int64_t nchunks = (numel + PRISM_CPU_CHUNK - 1) / PRISM_CPU_CHUNK;
  if (dt == st && w.ndim == 1 && w.dstride[0] == 1 && w.sstride[0] == 1) {
#pragma omp parallel for schedule(static) if (nchunks > 1)
    for (int64_t c = 0; c < nchunks; c++) {
      int64_t s = c * PRISM_CPU_CHUNK, e = s + PRISM_CPU_CHUNK < numel ? s + PRISM_CPU_CHUNK : numel;
      memcpy((char *)dst + s * (int64_t)dsz, (const char *)src + s * (int64_t)ssz, (size_t)(e - s) * dsz);
    }
    return 0;
  }
  copy_row_fn row = copy_rows[dt][st];
#pragma omp parallel for schedule(static) if (nchunks > 1)
  for (int64_t c = 0; c < nchunks; c++) {
    int64_t s = c * PRISM_CPU_CHUNK, e = s + PRISM_CPU_CHUNK < numel ? s + PRISM_CPU_CHUNK : numel;
    copy_span(&w, row, dst, dsz, src, ssz, s, e);
  }
  return 0;
}

/* Fills use the same per-dtype conversion as copy, from double. */
#define FILL_LOOP(T, EXPR)                                                                        \
  do {                                                                                            \
    T *p = dst;                                                                                   \
    _Pragma("omp parallel for schedule(static) if (nchunks > 1)")                                 \
    for (int64_t c = 0; c < nchunks; c++) {                                                       \
      int64_t s = c * PRISM_CPU_CHUNK, e = s + PRISM_CPU_CHUNK < n ? s + PRISM_CPU_CHUNK : n;     \
      for (int64_t i = s; i < e; i++) p[i] = (EXPR);                                              \
    }                                                                                             \
  } while (0)

int prism_cpu_fill(void *dst, prism_dtype dt, int64_t n, double value) {
  if (n <= 0) return 0;
  int64_t nchunks = (n + PRISM_CPU_CHUNK - 1) / PRISM_CPU_CHUNK;
  switch (dt) {
  case PRISM_FLOAT32: { float v = (float)value; FILL_LOOP(float, v); return 0; }
  case PRISM_INT64: { int64_t v = f_to_i64(value); FILL_LOOP(int64_t, v); return 0; }
  case PRISM_INT32: { int32_t v = f_to_i32(value); FILL_LOOP(int32_t, v); return 0; }
  default: break;
  }
  return prism_fail_int(PRISM_ERR_INTERNAL, "prism_cpu_fill: bad dtype %d", (int)dt);
}

/* Element i is start + i*step computed in double, so long float ranges do not drift. */
int prism_cpu_arange(void *dst, prism_dtype dt, int64_t n, double start, double step) {
  if (n <= 0) return 0;
  int64_t nchunks = (n + PRISM_CPU_CHUNK - 1) / PRISM_CPU_CHUNK;
  switch (dt) {
  case PRISM_FLOAT32: FILL_LOOP(float, (float)(start + (double)i * step)); return 0;
  case PRISM_INT64: FILL_LOOP(int64_t, f_to_i64(start + (double)i * step)); return 0;
  case PRISM_INT32: FILL_LOOP(int32_t, f_to_i32(start + (double)i * step)); return 0;
  default: break;
  }
  return prism_fail_int(PRISM_ERR_INTERNAL, "prism_cpu_arange: bad dtype %d", (int)dt);
}
