/* test_kernels_basic.c — the CPU backend's basic kernels (memory, copy/fill/arange, unary,
 * binary/masked_fill, reduce, sum_f64/sum_squares_f64, gemm, index, triangle, the table and
 * thread control) against naive scalar references on random data, and a determinism check:
 * each threaded kernel must give memcmp-identical output with 1, 2 and 3 threads.
 * References are written independently of the kernels: per-element index walks, double
 * precision math, central differences for the derivatives, a triple loop for gemm. */
#include "cpu/cpu_kernels.h"
#include "error.h"

#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

/* ---- data ---- */
static uint64_t rng_state = 0x243F6A8885A308D3ull;
static uint64_t next_u64(void) {
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
static float urand(float lo, float hi) { return lo + (hi - lo) * (float)((double)(next_u64() >> 40) / 16777216.0); }
static float *rand_floats(int64_t n, float lo, float hi) {
  float *p = calloc((size_t)(n > 0 ? n : 1), sizeof *p);
  for (int64_t i = 0; i < n; i++) p[i] = urand(lo, hi);
  return p;
}
static int64_t *rand_indices(int64_t n, int64_t range) {
  int64_t *p = calloc((size_t)(n > 0 ? n : 1), sizeof *p);
  for (int64_t i = 0; i < n; i++) p[i] = (int64_t)(next_u64() % (uint64_t)range);
  return p;
}

static int same_float(float a, float b) { return (a != a && b != b) || memcmp(&a, &b, sizeof a) == 0; }

/* Elements whose |got - ref| exceeds abs_tol + rel_tol * scale (scale = |ref| when NULL). */
static int64_t count_bad(const float *got, const double *ref, const double *scale, int64_t n, double abs_tol,
                         double rel_tol, double *max_err) {
  int64_t bad = 0;
  *max_err = 0;
  for (int64_t i = 0; i < n; i++) {
    if (isnan(ref[i]) || isnan(got[i])) {
      if (!(isnan(ref[i]) && isnan(got[i]))) bad++;
      continue;
    }
    double e = fabs((double)got[i] - ref[i]);
    if (e > *max_err) *max_err = e;
    if (e > abs_tol + rel_tol * (scale ? scale[i] : fabs(ref[i]))) bad++;
  }
  return bad;
}

/* ---- layouts ---- */
static prism_layout lay(int ndim, const int64_t *shape, const int64_t *stride) {
  prism_layout l;
  memset(&l, 0, sizeof l);
  l.ndim = ndim;
  for (int d = 0; d < ndim; d++) { l.shape[d] = shape[d]; l.stride[d] = stride[d]; }
  return l;
}
static prism_layout lay_contig(int ndim, const int64_t *shape) {
  int64_t st[PRISM_MAX_DIMS], s = 1;
  for (int d = ndim - 1; d >= 0; d--) { st[d] = s; s *= shape[d]; }
  return lay(ndim, shape, st);
}
/* A contiguous input of shape `in` broadcast to `out` (same ndim): stride 0 on expanded dims. */
static prism_layout lay_expand(int ndim, const int64_t *in, const int64_t *out) {
  prism_layout l = lay_contig(ndim, in);
  for (int d = 0; d < ndim; d++) {
    if (in[d] == 1 && out[d] != 1) l.stride[d] = 0;
    l.shape[d] = out[d];
  }
  return l;
}
static int64_t lay_numel(const prism_layout *l) {
  int64_t n = 1;
  for (int d = 0; d < l->ndim; d++) n *= l->shape[d];
  return n;
}
/* Element offset of row-major logical index `linear`. */
static int64_t lay_offset(const prism_layout *l, int64_t linear) {
  int64_t off = 0;
  for (int d = l->ndim - 1; d >= 0; d--) {
    off += (linear % l->shape[d]) * l->stride[d];
    linear /= l->shape[d];
  }
  return off;
}

/* ---- memory ---- */
static void test_memory(void) {
  int aligned = 1, roundtrip = 1;
  size_t sizes[] = {0, 1, 3, 64, 1000, 1 << 20};
  for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
    char *p = prism_cpu_alloc(sizes[s]);
    if (!p || ((uintptr_t)p % 64) != 0) aligned = 0;
    if (p && sizes[s] > 0) {
      char *h = malloc(sizes[s]), *back = malloc(sizes[s]);
      for (size_t i = 0; i < sizes[s]; i++) h[i] = (char)(next_u64() & 0xff);
      prism_cpu_upload(p, h, sizes[s]);
      prism_cpu_download(back, p, sizes[s]);
      if (memcmp(h, back, sizes[s]) != 0) roundtrip = 0;
      free(h);
      free(back);
    }
    prism_cpu_free(p, sizes[s]);
  }
  report(aligned, "memory: alloc returns 64-byte aligned blocks (sizes 0..1 MiB)");
  report(roundtrip, "memory: upload/download round trip");
}

/* ---- copy / fill / arange ---- */
static size_t dsize(prism_dtype t) { return t == PRISM_INT64 ? 8 : 4; }
static void ref_store(void *dst, prism_dtype dt, int64_t di, const void *src, prism_dtype st, int64_t si) {
  if (dt == PRISM_FLOAT32) {
    float *d = dst;
    d[di] = st == PRISM_FLOAT32 ? ((const float *)src)[si]
          : st == PRISM_INT64 ? (float)((const int64_t *)src)[si] : (float)((const int32_t *)src)[si];
  } else if (dt == PRISM_INT64) {
    int64_t *d = dst;
    d[di] = st == PRISM_FLOAT32 ? (int64_t)truncf(((const float *)src)[si])
          : st == PRISM_INT64 ? ((const int64_t *)src)[si] : (int64_t)((const int32_t *)src)[si];
  } else {
    int32_t *d = dst;
    d[di] = st == PRISM_FLOAT32 ? (int32_t)truncf(((const float *)src)[si])
          : st == PRISM_INT64 ? (int32_t)((const int64_t *)src)[si] : ((const int32_t *)src)[si];
  }
}
static void *rand_typed(prism_dtype t, int64_t n) {
  void *p = malloc((size_t)n * dsize(t));
  for (int64_t i = 0; i < n; i++) {
    if (t == PRISM_FLOAT32) ((float *)p)[i] = urand(-1000.0f, 1000.0f);
    else if (t == PRISM_INT64) ((int64_t *)p)[i] = (int64_t)(next_u64() >> 1) - (INT64_MAX / 2);
    else ((int32_t *)p)[i] = (int32_t)(next_u64() & 0xffffffffu);
  }
  return p;
}

/* Copies src (layout sl inside a buffer of src_elems) into a fresh dst buffer of dst_elems,
 * prefilled with a sentinel, through the kernel and the reference; compares whole buffers, so
 * elements outside the destination view must stay untouched. */
static void copy_case(const char *name, const prism_layout *dl, int64_t dst_elems, prism_dtype dt,
                      const prism_layout *sl, int64_t src_elems, prism_dtype st) {
  void *src = rand_typed(st, src_elems);
  void *got = malloc((size_t)dst_elems * dsize(dt)), *want = malloc((size_t)dst_elems * dsize(dt));
  memset(got, 0x5a, (size_t)dst_elems * dsize(dt));
  memset(want, 0x5a, (size_t)dst_elems * dsize(dt));
  int rc = prism_cpu_copy(got, dl, dt, src, sl, st);
  int64_t n = lay_numel(dl);
  for (int64_t i = 0; i < n; i++) ref_store(want, dt, lay_offset(dl, i), src, st, lay_offset(sl, i));
  report(rc == 0 && memcmp(got, want, (size_t)dst_elems * dsize(dt)) == 0, "copy %s (%s <- %s, %lld elements)", name,
        dt == PRISM_FLOAT32 ? "f32" : dt == PRISM_INT64 ? "i64" : "i32",
        st == PRISM_FLOAT32 ? "f32" : st == PRISM_INT64 ? "i64" : "i32", (long long)n);
  free(src);
  free(got);
  free(want);
}

static void test_copy(void) {
  /* transposed [5,7] -> contiguous [7,5] */
  int64_t s57[] = {7, 5}, t57[] = {1, 7};
  prism_layout sl = lay(2, s57, t57), dl = lay_contig(2, s57);
  copy_case("transposed 2-d", &dl, 35, PRISM_FLOAT32, &sl, 35, PRISM_FLOAT32);
  /* permute (2,0,3,1) of a contiguous [3,4,5,6]: shape [5,3,6,4], strides [6,120,1,30] */
  int64_t ps[] = {5, 3, 6, 4}, pst[] = {6, 120, 1, 30};
  sl = lay(4, ps, pst);
  dl = lay_contig(4, ps);
  for (int a = 0; a < 3; a++)
    for (int b = 0; b < 3; b++) copy_case("permuted 4-d", &dl, 360, (prism_dtype)a, &sl, 360, (prism_dtype)b);
  /* narrowed: the first 9 columns of a [10,20] buffer */
  int64_t ns[] = {10, 9}, nst[] = {20, 1};
  sl = lay(2, ns, nst);
  dl = lay_contig(2, ns);
  copy_case("narrowed rows", &dl, 90, PRISM_FLOAT32, &sl, 200, PRISM_FLOAT32);
  copy_case("narrowed rows", &dl, 90, PRISM_INT64, &sl, 200, PRISM_FLOAT32);
  /* destination non-contiguous too: write into the transpose of a [9,10] buffer with a gap */
  int64_t dst_st[] = {1, 12};
  dl = lay(2, ns, dst_st);
  copy_case("narrowed into transposed padded dst", &dl, 12 * 9, PRISM_FLOAT32, &sl, 200, PRISM_FLOAT32);
  /* broadcast source: [4,1,6] expanded to [4,5,6] */
  int64_t bi[] = {4, 1, 6}, bo[] = {4, 5, 6};
  sl = lay_expand(3, bi, bo);
  dl = lay_contig(3, bo);
  copy_case("expanded (stride 0) source", &dl, 120, PRISM_FLOAT32, &sl, 24, PRISM_FLOAT32);
  copy_case("expanded (stride 0) source", &dl, 120, PRISM_INT32, &sl, 24, PRISM_INT64);
  /* larger than several chunks: transposed [300,200] and a 5-d permutation with a narrow */
  int64_t bs[] = {200, 300}, bst[] = {1, 200};
  sl = lay(2, bs, bst);
  dl = lay_contig(2, bs);
  copy_case("transposed, multi-chunk", &dl, 60000, PRISM_FLOAT32, &sl, 60000, PRISM_FLOAT32);
  copy_case("transposed, multi-chunk", &dl, 60000, PRISM_FLOAT32, &sl, 60000, PRISM_INT32);
  /* a contiguous [7,13,17,11,3] permuted by (4,0,3,1,2), then its last dim narrowed 17 -> 15 */
  int64_t fs[] = {3, 7, 11, 13, 15}, fst[] = {1, 7293, 3, 561, 33};
  sl = lay(5, fs, fst);
  dl = lay_contig(5, fs);
  copy_case("permuted+narrowed 5-d, multi-chunk", &dl, lay_numel(&dl), PRISM_FLOAT32, &sl, 7 * 13 * 17 * 11 * 3,
            PRISM_FLOAT32);
  int64_t cs[] = {100003};
  sl = lay_contig(1, cs);
  dl = lay_contig(1, cs);
  copy_case("contiguous fast path", &dl, 100003, PRISM_INT64, &sl, 100003, PRISM_INT64);
  copy_case("contiguous with conversion", &dl, 100003, PRISM_FLOAT32, &sl, 100003, PRISM_INT64);
  int64_t zs[] = {0, 5};
  sl = lay_contig(2, zs);
  dl = lay_contig(2, zs);
  report(prism_cpu_copy(NULL, &dl, PRISM_FLOAT32, NULL, &sl, PRISM_FLOAT32) == 0, "copy of an empty layout is a no-op");
  prism_layout scal = lay(0, NULL, NULL);
  float sv = 3.5f;
  int64_t sd = 0;
  prism_cpu_copy(&sd, &scal, PRISM_INT64, &sv, &scal, PRISM_FLOAT32);
  report(sd == 3, "copy of a 0-d scalar float 3.5 -> int64 gives 3 (got %lld)", (long long)sd);

  /* float -> int edge cases: truncation toward zero, saturation, NaN -> 0 */
  float edge[] = {NAN, 1e30f, -1e30f, 2.9f, -2.9f, -0.5f};
  int64_t e64[6];
  int32_t e32[6];
  int64_t es[] = {6};
  prism_layout el = lay_contig(1, es);
  prism_cpu_copy(e64, &el, PRISM_INT64, edge, &el, PRISM_FLOAT32);
  prism_cpu_copy(e32, &el, PRISM_INT32, edge, &el, PRISM_FLOAT32);
  report(e64[0] == 0 && e64[1] == INT64_MAX && e64[2] == INT64_MIN && e64[3] == 2 && e64[4] == -2 && e64[5] == 0,
        "copy f32 -> i64: NaN 0, saturation, truncation toward zero");
  report(e32[0] == 0 && e32[1] == INT32_MAX && e32[2] == INT32_MIN && e32[3] == 2 && e32[4] == -2 && e32[5] == 0,
        "copy f32 -> i32: NaN 0, saturation, truncation toward zero");

  /* fill and arange, every dtype, past one chunk */
  int64_t n = 40000;
  float *f = malloc((size_t)n * sizeof *f);
  int64_t *i64 = malloc((size_t)n * sizeof *i64);
  int32_t *i32 = malloc((size_t)n * sizeof *i32);
  int ok = prism_cpu_fill(f, PRISM_FLOAT32, n, 0.1) == 0 && prism_cpu_fill(i64, PRISM_INT64, n, -7.9) == 0 &&
           prism_cpu_fill(i32, PRISM_INT32, n, 123456.0) == 0;
  for (int64_t i = 0; i < n && ok; i++) ok = f[i] == 0.1f && i64[i] == -7 && i32[i] == 123456;
  report(ok, "fill f32/i64/i32 (n=%lld)", (long long)n);
  ok = prism_cpu_arange(f, PRISM_FLOAT32, n, 0.5, 0.25) == 0 && prism_cpu_arange(i64, PRISM_INT64, n, -100, 3) == 0 &&
       prism_cpu_arange(i32, PRISM_INT32, n, 5, -2) == 0;
  for (int64_t i = 0; i < n && ok; i++)
    ok = f[i] == (float)(0.5 + 0.25 * (double)i) && i64[i] == -100 + 3 * i && i32[i] == (int32_t)(5 - 2 * i);
  report(ok, "arange f32/i64/i32 (n=%lld)", (long long)n);
  free(f);
  free(i64);
  free(i32);
}

/* ---- unary ---- */
typedef struct {
  prism_unary_op op;
  const char *name;
  float lo, hi;      /* data range; |x| >= 1e-2 is enforced so kinks stay away from x +- h */
  float alpha, beta;
  int reads;         /* backward inputs: 0 none, 1 x, 2 x or y */
} unary_case;

static double ref_unary(prism_unary_op op, double x, double a, double b) {
  switch (op) {
  case PRISM_UNARY_NEG: return -x;
  case PRISM_UNARY_EXP: return exp(x);
  case PRISM_UNARY_LOG: return log(x);
  case PRISM_UNARY_SQRT: return sqrt(x);
  case PRISM_UNARY_RSQRT: return 1.0 / sqrt(x);
  case PRISM_UNARY_TANH: return tanh(x);
  case PRISM_UNARY_SIGMOID: return 1.0 / (1.0 + exp(-x));
  case PRISM_UNARY_RELU: return x > 0 ? x : 0.0;
  case PRISM_UNARY_GELU: return 0.5 * x * erfc(-x / sqrt(2.0));
  case PRISM_UNARY_SILU: return x / (1.0 + exp(-x));
  case PRISM_UNARY_ABS: return fabs(x);
  case PRISM_UNARY_POW_SCALAR: return pow(x, a);
  case PRISM_UNARY_ADD_SCALAR: return x + a;
  case PRISM_UNARY_MUL_SCALAR: return x * a;
  case PRISM_UNARY_RSUB_SCALAR: return a - x;
  case PRISM_UNARY_RDIV_SCALAR: return a / x;
  case PRISM_UNARY_CLAMP: return x < a ? a : (x > b ? b : x);
  default: return NAN;
  }
}

static void unary_run(const unary_case *c) {
  int64_t n = 40000; /* a few chunks */
  float *x = rand_floats(n, c->lo, c->hi), *gy = rand_floats(n, -1.0f, 1.0f);
  for (int64_t i = 0; i < n; i++)
    if (fabsf(x[i]) < 1e-2f) x[i] = x[i] < 0 ? -1e-2f : 1e-2f;
  if (c->op == PRISM_UNARY_CLAMP) /* keep away from the bounds as well */
    for (int64_t i = 0; i < n; i++)
      if (fabsf(x[i] - c->alpha) < 1e-2f || fabsf(x[i] - c->beta) < 1e-2f) x[i] += 3e-2f;
  float *y = malloc((size_t)n * sizeof *y), *gx = malloc((size_t)n * sizeof *gx);
  double *ref = malloc((size_t)n * sizeof *ref), *gref = malloc((size_t)n * sizeof *gref);
  for (int64_t i = 0; i < n; i++) {
    double xv = x[i], h = 1e-5 * fmax(1.0, fabs(xv));
    ref[i] = ref_unary(c->op, xv, c->alpha, c->beta);
    gref[i] = gy[i] * (ref_unary(c->op, xv + h, c->alpha, c->beta) - ref_unary(c->op, xv - h, c->alpha, c->beta)) /
              (2 * h);
  }
  double err;
  int rc = prism_cpu_unary(c->op, y, x, n, c->alpha, c->beta);
  int64_t bad = count_bad(y, ref, NULL, n, 1e-6, 2e-6, &err);
  report(rc == 0 && bad == 0, "unary %-12s alpha=%g beta=%g forward: %lld bad, max err %.2e", c->name, c->alpha, c->beta,
        (long long)bad, err);
  /* every combination of saved inputs the op accepts */
  for (int v = 0; v < 3; v++) {
    const float *bx = (v == 0 || v == 2) ? x : NULL, *by = (v == 1 || v == 2) ? y : NULL;
    if (c->reads == 1 && !bx) continue;
    if (c->reads == 0 && v != 0) continue;
    if (c->reads == 0) bx = NULL;
    memset(gx, 0, (size_t)n * sizeof *gx);
    rc = prism_cpu_unary_backward(c->op, gx, gy, bx, by, n, c->alpha, c->beta);
    bad = count_bad(gx, gref, NULL, n, 2e-5, 2e-4, &err);
    report(rc == 0 && bad == 0, "unary %-12s alpha=%g backward (x %s, y %s): %lld bad, max err %.2e", c->name, c->alpha,
          bx ? "given" : "NULL", by ? "given" : "NULL", (long long)bad, err);
  }
  free(x); free(gy); free(y); free(gx); free(ref); free(gref);
}

static void test_unary(void) {
  const unary_case cases[] = {
    {PRISM_UNARY_NEG, "neg", -4, 4, 0, 0, 0},         {PRISM_UNARY_EXP, "exp", -4, 4, 0, 0, 2},
    {PRISM_UNARY_LOG, "log", 0.05f, 8, 0, 0, 1},      {PRISM_UNARY_SQRT, "sqrt", 0.05f, 8, 0, 0, 2},
    {PRISM_UNARY_RSQRT, "rsqrt", 0.05f, 8, 0, 0, 2},  {PRISM_UNARY_TANH, "tanh", -4, 4, 0, 0, 2},
    {PRISM_UNARY_SIGMOID, "sigmoid", -8, 8, 0, 0, 2}, {PRISM_UNARY_RELU, "relu", -4, 4, 0, 0, 2},
    {PRISM_UNARY_GELU, "gelu", -6, 6, 0, 0, 1},       {PRISM_UNARY_SILU, "silu", -8, 8, 0, 0, 1},
    {PRISM_UNARY_ABS, "abs", -4, 4, 0, 0, 1},
    {PRISM_UNARY_POW_SCALAR, "pow", 0.05f, 4, 2.0f, 0, 1},
    {PRISM_UNARY_POW_SCALAR, "pow", -3, 3, 3.0f, 0, 1},
    {PRISM_UNARY_POW_SCALAR, "pow", 0.05f, 4, 0.5f, 0, 1},
    {PRISM_UNARY_POW_SCALAR, "pow", 0.05f, 4, -0.5f, 0, 1},
    {PRISM_UNARY_POW_SCALAR, "pow", 0.2f, 4, -1.0f, 0, 1},
    {PRISM_UNARY_POW_SCALAR, "pow", 0.2f, 4, -2.0f, 0, 1},
    {PRISM_UNARY_POW_SCALAR, "pow", 0.05f, 4, 1.7f, 0, 1},
    {PRISM_UNARY_POW_SCALAR, "pow", -4, 4, 1.0f, 0, 1},
    {PRISM_UNARY_ADD_SCALAR, "add_scalar", -4, 4, 1.25f, 0, 0},
    {PRISM_UNARY_MUL_SCALAR, "mul_scalar", -4, 4, -0.75f, 0, 0},
    {PRISM_UNARY_RSUB_SCALAR, "rsub_scalar", -4, 4, 2.5f, 0, 0},
    {PRISM_UNARY_RDIV_SCALAR, "rdiv_scalar", 0.2f, 4, 3.0f, 0, 1},
    {PRISM_UNARY_CLAMP, "clamp", -3, 3, -0.5f, 1.5f, 1},
    {PRISM_UNARY_CLAMP, "clamp", -3, 3, -INFINITY, 1.0f, 1},
    {PRISM_UNARY_CLAMP, "clamp", -3, 3, 0.0f, INFINITY, 1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) unary_run(&cases[i]);

  /* PyTorch semantics at the edges */
  float xs[] = {0.0f, -1.0f, 2.0f, NAN, -0.5f, 1.5f}, y[6], g[6], ones[6] = {1, 1, 1, 1, 1, 1};
  prism_cpu_unary(PRISM_UNARY_RELU, y, xs, 6, 0, 0);
  prism_cpu_unary_backward(PRISM_UNARY_RELU, g, ones, xs, NULL, 6, 0, 0);
  report(y[0] == 0 && y[1] == 0 && y[2] == 2 && isnan(y[3]) && g[0] == 0 && g[1] == 0 && g[2] == 1,
        "relu: NaN passes, gradient 0 at x <= 0");
  prism_cpu_unary(PRISM_UNARY_CLAMP, y, xs, 6, -0.5f, 1.5f);
  prism_cpu_unary_backward(PRISM_UNARY_CLAMP, g, ones, xs, NULL, 6, -0.5f, 1.5f);
  report(y[0] == 0 && y[1] == -0.5f && y[2] == 1.5f && isnan(y[3]) && g[0] == 1 && g[1] == 0 && g[2] == 0 &&
        g[4] == 1 && g[5] == 1, "clamp: NaN stays NaN, gradient passes on min <= x <= max (bounds included)");
  prism_cpu_unary(PRISM_UNARY_CLAMP, y, xs, 6, 1.0f, 0.0f);
  report(y[0] == 0 && y[1] == 0 && y[2] == 0, "clamp with min > max gives max (torch)");
  prism_cpu_unary_backward(PRISM_UNARY_ABS, g, ones, xs, NULL, 6, 0, 0);
  report(g[0] == 0 && g[1] == -1 && g[2] == 1, "abs: gradient sign(x), 0 at 0");
  prism_cpu_unary_backward(PRISM_UNARY_POW_SCALAR, g, ones, xs, NULL, 6, 0.0f, 0);
  report(g[0] == 0 && g[1] == 0 && g[3] == 0, "pow with exponent 0: zero gradient everywhere");
  float inplace[6];
  memcpy(inplace, xs, sizeof inplace);
  prism_cpu_unary(PRISM_UNARY_MUL_SCALAR, inplace, inplace, 6, 2.0f, 0);
  report(inplace[1] == -2.0f && inplace[2] == 4.0f, "unary in place (y == x)");
  prism_error_clear();
  int rc = prism_cpu_unary_backward(PRISM_UNARY_LOG, g, ones, NULL, y, 6, 0, 0);
  report(rc == -1 && prism_error_kind_last() == PRISM_ERR_INTERNAL, "unary backward without a required input fails: %s",
        prism_error_message());
}

/* ---- binary ---- */
static float ref_binary(prism_binary_op op, float x, float y) {
  switch (op) {
  case PRISM_BINARY_ADD: return x + y;
  case PRISM_BINARY_SUB: return x - y;
  case PRISM_BINARY_MUL: return x * y;
  case PRISM_BINARY_DIV: return x / y;
  case PRISM_BINARY_POW: return powf(x, y);
  case PRISM_BINARY_MAXIMUM: return isnan(x) || isnan(y) ? NAN : (x > y ? x : y);
  case PRISM_BINARY_MINIMUM: return isnan(x) || isnan(y) ? NAN : (x < y ? x : y);
  case PRISM_BINARY_EQ: return x == y;
  case PRISM_BINARY_NE: return x != y;
  case PRISM_BINARY_LT: return x < y;
  case PRISM_BINARY_LE: return x <= y;
  case PRISM_BINARY_GT: return x > y;
  case PRISM_BINARY_GE: return x >= y;
  default: return NAN;
  }
}
static const char *binary_names[PRISM_BINARY_COUNT] = {"add", "sub", "mul", "div", "pow", "maximum", "minimum",
                                                       "eq", "ne", "lt", "le", "gt", "ge"};

/* a and b: buffers of a_elems / b_elems viewed through al / bl (already broadcast to ol). */
static void binary_case(const char *name, const prism_layout *ol, const prism_layout *al, int64_t a_elems,
                        const prism_layout *bl, int64_t b_elems) {
  int64_t n = lay_numel(ol);
  /* small integers make equal pairs likely (comparisons) and keep powf finite; sprinkle NaN */
  float *a = malloc((size_t)a_elems * sizeof *a), *b = malloc((size_t)b_elems * sizeof *b);
  for (int64_t i = 0; i < a_elems; i++) a[i] = (float)(int)(next_u64() % 7) * 0.5f + 0.5f;
  for (int64_t i = 0; i < b_elems; i++) b[i] = (float)(int)(next_u64() % 7) * 0.5f - 1.0f;
  a[a_elems / 2] = NAN;
  b[b_elems / 3] = NAN;
  float *out = malloc((size_t)n * sizeof *out);
  int all_ok = 1;
  for (int op = 0; op < PRISM_BINARY_COUNT; op++) {
    int rc = prism_cpu_binary((prism_binary_op)op, out, ol, a, al, b, bl);
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++)
      if (!same_float(out[i], ref_binary((prism_binary_op)op, a[lay_offset(al, i)], b[lay_offset(bl, i)]))) bad++;
    if (rc != 0 || bad) {
      all_ok = 0;
      report(0, "binary %s %s: %lld mismatches", binary_names[op], name, (long long)bad);
    }
  }
  report(all_ok, "binary all %d ops, %s (%lld elements), bitwise vs reference", PRISM_BINARY_COUNT, name,
        (long long)n);
  free(a); free(b); free(out);
}

static void test_binary(void) {
  int64_t s3[] = {4, 5, 6};
  prism_layout o = lay_contig(3, s3), c = lay_contig(3, s3);
  binary_case("contiguous same shape", &o, &c, 120, &c, 120);
  int64_t big[] = {7, 13, 401};
  prism_layout ob = lay_contig(3, big), cb = lay_contig(3, big);
  binary_case("contiguous same shape, multi-chunk", &ob, &cb, 7 * 13 * 401, &cb, 7 * 13 * 401);
  int64_t one[] = {1, 1, 1};
  prism_layout sc = lay_expand(3, one, big);
  binary_case("b scalar (all strides 0), multi-chunk", &ob, &cb, 7 * 13 * 401, &sc, 1);
  binary_case("a scalar (all strides 0), multi-chunk", &ob, &sc, 1, &cb, 7 * 13 * 401);
  int64_t bias[] = {1, 1, 401};
  prism_layout bl = lay_expand(3, bias, big);
  binary_case("bias over rows (innermost contiguous)", &ob, &cb, 7 * 13 * 401, &bl, 401);
  int64_t col[] = {7, 13, 1};
  prism_layout cl = lay_expand(3, col, big);
  binary_case("column broadcast (innermost stride 0)", &ob, &cb, 7 * 13 * 401, &cl, 91);
  int64_t ai[] = {4, 1, 6}, bi[] = {1, 5, 1};
  prism_layout al = lay_expand(3, ai, s3), bl2 = lay_expand(3, bi, s3);
  binary_case("both broadcast [4,1,6] op [1,5,1]", &o, &al, 24, &bl2, 5);
  /* a transposed (non-contiguous) operand: [6,4,5] buffer viewed as [4,5,6] */
  int64_t tst[] = {5, 1, 20};
  prism_layout tl = lay(3, s3, tst);
  binary_case("transposed a, broadcast b", &o, &tl, 120, &bl2, 5);
  int64_t s5[] = {2, 3, 1, 4, 33}, a5[] = {2, 1, 1, 4, 33}, b5[] = {1, 3, 1, 1, 33};
  prism_layout o5 = lay_contig(5, s5), a5l = lay_expand(5, a5, s5), b5l = lay_expand(5, b5, s5);
  binary_case("5-d mixed broadcast", &o5, &a5l, 2 * 4 * 33, &b5l, 3 * 33);
  prism_layout s0 = lay(0, NULL, NULL);
  binary_case("0-d scalars", &s0, &s0, 1, &s0, 1);

  /* masked_fill: x [2,3,8,8] with a [8,8] causal mask broadcast over the first two dims */
  int64_t xs[] = {2, 3, 8, 8}, ms[] = {1, 1, 8, 8};
  prism_layout xl = lay_contig(4, xs), ml = lay_expand(4, ms, xs);
  float *x = rand_floats(384, -1, 1), *mask = malloc(64 * sizeof *mask), *out = malloc(384 * sizeof *out);
  for (int i = 0; i < 8; i++)
    for (int j = 0; j < 8; j++) mask[i * 8 + j] = j > i ? 1.0f : 0.0f;
  int rc = prism_cpu_masked_fill(out, &xl, x, &xl, mask, &ml, -INFINITY);
  int64_t bad = 0;
  for (int64_t i = 0; i < 384; i++) {
    float want = mask[lay_offset(&ml, i)] != 0.0f ? -INFINITY : x[i];
    if (!same_float(out[i], want)) bad++;
  }
  report(rc == 0 && bad == 0, "masked_fill with a broadcast causal mask: %lld mismatches", (long long)bad);
  free(x); free(mask); free(out);
}

/* ---- reduce ---- */
static void reduce_sum_case(int64_t outer, int64_t n, int64_t inner) {
  int64_t total = outer * n * inner;
  float *x = rand_floats(total, -1, 1), *out = malloc((size_t)(outer * inner) * sizeof *out);
  double *ref = calloc((size_t)(outer * inner), sizeof *ref), *scale = calloc((size_t)(outer * inner), sizeof *scale);
  for (int64_t o = 0; o < outer; o++)
    for (int64_t j = 0; j < n; j++)
      for (int64_t i = 0; i < inner; i++) {
        ref[o * inner + i] += x[(o * n + j) * inner + i];
        scale[o * inner + i] += fabs(x[(o * n + j) * inner + i]);
      }
  int rc = prism_cpu_reduce(PRISM_REDUCE_SUM, out, NULL, x, outer, n, inner);
  double err;
  /* double accumulation: only the final rounding to float and ~n double roundings remain */
  int64_t bad = count_bad(out, ref, scale, outer * inner, 1e-30, 1e-7, &err);
  report(rc == 0 && bad == 0, "reduce sum [%lld, %lld, %lld]: %lld bad, max err %.2e", (long long)outer, (long long)n,
        (long long)inner, (long long)bad, err);
  free(x); free(out); free(ref); free(scale);
}

static void reduce_max_case(int64_t outer, int64_t n, int64_t inner, int with_nan) {
  int64_t total = outer * n * inner;
  float *x = rand_floats(total, 0, 1), *out = malloc((size_t)(outer * inner) * sizeof *out);
  int64_t *arg = malloc((size_t)(outer * inner) * sizeof *arg);
  for (int64_t e = 0; e < total; e++) x[e] = (float)(int)(next_u64() % 5); /* many ties */
  if (with_nan)
    for (int64_t e = 0; e < total; e += 97) x[e] = NAN;
  int rc = prism_cpu_reduce(PRISM_REDUCE_MAX, out, arg, x, outer, n, inner);
  int64_t bad = 0;
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < inner; i++) {
      int64_t bj = -1;
      for (int64_t j = 0; j < n && bj < 0; j++) /* the first NaN wins */
        if (isnan(x[(o * n + j) * inner + i])) bj = j;
      if (bj < 0) {
        bj = 0;
        for (int64_t j = 1; j < n; j++)
          if (x[(o * n + j) * inner + i] > x[(o * n + bj) * inner + i]) bj = j;
      }
      float want = x[(o * n + bj) * inner + i];
      if (!same_float(out[o * inner + i], want) || arg[o * inner + i] != bj) bad++;
    }
  report(rc == 0 && bad == 0, "reduce max+argmax%s [%lld, %lld, %lld] (ties: first index): %lld mismatches",
        with_nan ? " with NaN" : "", (long long)outer, (long long)n, (long long)inner, (long long)bad);
  float *out2 = malloc((size_t)(outer * inner) * sizeof *out2);
  rc = prism_cpu_reduce(PRISM_REDUCE_MAX, out2, NULL, x, outer, n, inner);
  report(rc == 0 && memcmp(out, out2, (size_t)(outer * inner) * sizeof *out) == 0,
        "reduce max without argmax gives the same values");
  free(x); free(out); free(out2); free(arg);
}

static void test_reduce(void) {
  int64_t shapes[][3] = {{3, 50, 1}, {2, 37, 5}, {1, 100000, 1}, {4, 3000, 7}, {2, 5, 300}, {1, 70000, 3},
                         {3, 1, 4}, {5, 200, 600}};
  for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
    reduce_sum_case(shapes[s][0], shapes[s][1], shapes[s][2]);
    reduce_max_case(shapes[s][0], shapes[s][1], shapes[s][2], 0);
    reduce_max_case(shapes[s][0], shapes[s][1], shapes[s][2], 1);
  }
  /* the maximum repeated in two different row blocks: the earlier one wins */
  int64_t n = 40000;
  float *x = calloc((size_t)n, sizeof *x), out;
  int64_t arg;
  x[35000] = 2.0f;
  x[20000] = 2.0f;
  prism_cpu_reduce(PRISM_REDUCE_MAX, &out, &arg, x, 1, n, 1);
  report(out == 2.0f && arg == 20000, "reduce max: tie across row blocks keeps the first (got %lld)", (long long)arg);
  free(x);

  /* sum_f64 / sum_squares_f64 against long double */
  int64_t sizes[] = {0, 1, 1000, 16384, 16385, 1000003};
  for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
    float *v = rand_floats(sizes[s], -2, 3);
    long double rs = 0, rq = 0;
    for (int64_t i = 0; i < sizes[s]; i++) { rs += v[i]; rq += (long double)v[i] * v[i]; }
    double gs = -1, gq = -1;
    int rc = prism_cpu_sum_f64(&gs, v, sizes[s]) | prism_cpu_sum_squares_f64(&gq, v, sizes[s]);
    double es = fabs(gs - (double)rs), eq = fabs(gq - (double)rq);
    report(rc == 0 && es <= 1e-12 * (1 + fabsl(rs)) && eq <= 1e-12 * (1 + rq),
          "sum_f64 / sum_squares_f64 n=%lld: errors %.2e %.2e", (long long)sizes[s], es, eq);
    free(v);
  }
}

/* ---- gemm ---- */
static void gemm_case(int64_t batch, int ta, int tb, int64_t m, int64_t n, int64_t k, int64_t pad, int bcast_a,
                      int bcast_b, float alpha, float beta) {
  int64_t lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
  int64_t a_rows = ta ? k : m, b_rows = tb ? n : k;
  int64_t sa = bcast_a ? 0 : a_rows * lda, sb = bcast_b ? 0 : b_rows * ldb, sc = m * ldc;
  int64_t a_el = (bcast_a ? 1 : batch) * a_rows * lda, b_el = (bcast_b ? 1 : batch) * b_rows * ldb,
          c_el = batch * sc;
  float *a = rand_floats(a_el, -1, 1), *b = rand_floats(b_el, -1, 1), *c = rand_floats(c_el, -1, 1);
  float *c0 = malloc((size_t)c_el * sizeof *c0);
  if (beta == 0.0f)
    for (int64_t e = 0; e < c_el; e++) c[e] = NAN; /* garbage that must not be read */
  for (int64_t e = 0; e < c_el; e++)
    if (e % ldc >= n) c[e] = 12345.0f; /* padding: must stay untouched */
  memcpy(c0, c, (size_t)c_el * sizeof *c);
  int rc = prism_cpu_gemm(batch, ta, tb, m, n, k, alpha, a, lda, sa, b, ldb, sb, beta, c, ldc, sc);
  int64_t bad = 0;
  double max_rel = 0;
  for (int64_t bi = 0; bi < batch; bi++)
    for (int64_t i = 0; i < m; i++) {
      for (int64_t j = 0; j < n; j++) {
        double s = 0, scale = 0;
        for (int64_t p = 0; p < k; p++) {
          double av = ta ? a[bi * sa + p * lda + i] : a[bi * sa + i * lda + p];
          double bv = tb ? b[bi * sb + j * ldb + p] : b[bi * sb + p * ldb + j];
          s += av * bv;
          scale += fabs(av * bv);
        }
        int64_t ci = bi * sc + i * ldc + j;
        double ref = alpha * s + (beta != 0.0f ? beta * (double)c0[ci] : 0.0);
        scale = fabs(alpha) * scale + (beta != 0.0f ? fabs(beta * (double)c0[ci]) : 0.0) + 1e-30;
        double rel = fabs((double)c[ci] - ref) / scale;
        if (!(rel <= 1e-5)) bad++;
        if (rel > max_rel) max_rel = rel;
      }
      for (int64_t j = n; j < ldc; j++)
        if (c[bi * sc + i * ldc + j] != 12345.0f) bad++;
    }
  report(rc == 0 && bad == 0,
        "gemm batch=%lld %c%c m=%lld n=%lld k=%lld pad=%lld stride_a=%s stride_b=%s alpha=%g beta=%g: %lld bad, "
        "max rel err %.2e", (long long)batch, ta ? 'T' : 'N', tb ? 'T' : 'N', (long long)m, (long long)n, (long long)k,
        (long long)pad, bcast_a ? "0" : "full", bcast_b ? "0" : "full", alpha, beta, (long long)bad, max_rel);
  free(a); free(b); free(c); free(c0);
}

static void test_gemm(void) {
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++) {
      gemm_case(3, ta, tb, 67, 33, 129, 0, 0, 0, 1.0f, 0.0f);
      gemm_case(3, ta, tb, 67, 33, 129, 3, 1, 0, 0.7f, 0.0f);
      gemm_case(3, ta, tb, 67, 33, 129, 5, 0, 1, -1.3f, 1.0f);
      gemm_case(2, ta, tb, 130, 300, 20, 1, 0, 0, 1.0f, 1.0f); /* several row and column tiles */
      gemm_case(1, ta, tb, 1, 1, 7, 0, 0, 0, 1.0f, 0.0f);
    }
  /* k = 0: C = beta * C without touching A or B */
  float c[6] = {NAN, NAN, NAN, NAN, NAN, NAN}, d[6] = {1, 2, 3, 4, 5, 6};
  int rc = prism_cpu_gemm(1, 0, 0, 2, 3, 0, 1.0f, NULL, 0, 0, NULL, 3, 0, 0.0f, c, 3, 0);
  int ok = rc == 0;
  for (int i = 0; i < 6; i++) ok = ok && c[i] == 0.0f;
  rc = prism_cpu_gemm(1, 0, 0, 2, 3, 0, 1.0f, NULL, 0, 0, NULL, 3, 0, 1.0f, d, 3, 0);
  ok = ok && rc == 0 && d[0] == 1 && d[5] == 6;
  report(ok, "gemm with k = 0: beta 0 zeroes C, beta 1 keeps it");
  /* a one-row A with a meaningless row stride (matrix-vector from the ops layer) */
  float av[4] = {1, 2, 3, 4}, bm[8] = {1, 0, 0, 1, 1, 1, 2, 0}, cv[2];
  rc = prism_cpu_gemm(1, 0, 0, 1, 2, 4, 1.0f, av, 0, 0, bm, 2, 0, 0.0f, cv, 0, 0);
  report(rc == 0 && cv[0] == 12 && cv[1] == 5, "gemm m=1 with lda = ldc = 0 (got %g %g)", cv[0], cv[1]);
}

/* ---- index ---- */
static void test_index(void) {
  int64_t outer = 3, n_src = 10, n_idx = 25, inner = 150;
  float *src = rand_floats(outer * n_src * inner, -1, 1), *out = malloc((size_t)(outer * n_idx * inner) * sizeof *out);
  int64_t *idx = rand_indices(n_idx, n_src); /* 25 draws from 10: repeats guaranteed */
  int rc = prism_cpu_index_select(out, src, idx, outer, n_src, n_idx, inner);
  int64_t bad = 0;
  for (int64_t o = 0; o < outer; o++)
    for (int64_t j = 0; j < n_idx; j++)
      for (int64_t i = 0; i < inner; i++)
        if (out[(o * n_idx + j) * inner + i] != src[(o * n_src + idx[j]) * inner + i]) bad++;
  report(rc == 0 && bad == 0, "index_select [%lld, %lld->%lld, %lld]: %lld mismatches", (long long)outer,
        (long long)n_src, (long long)n_idx, (long long)inner, (long long)bad);

  /* index_add: start from random values so the summation order per element shows in the bits */
  float *gout = rand_floats(outer * n_idx * inner, -1, 1), *g = rand_floats(outer * n_src * inner, -1, 1);
  float *want = malloc((size_t)(outer * n_src * inner) * sizeof *want);
  memcpy(want, g, (size_t)(outer * n_src * inner) * sizeof *g);
  for (int64_t o = 0; o < outer; o++)
    for (int64_t j = 0; j < n_idx; j++)
      for (int64_t i = 0; i < inner; i++) want[(o * n_src + idx[j]) * inner + i] += gout[(o * n_idx + j) * inner + i];
  rc = prism_cpu_index_add(g, gout, idx, outer, n_src, n_idx, inner);
  report(rc == 0 && memcmp(g, want, (size_t)(outer * n_src * inner) * sizeof *g) == 0,
        "index_add with repeated indices: bitwise equal to the in-order reference");

  /* gather / scatter_add over [outer, n_src, inner] with idx [outer, n_idx, inner] */
  int64_t gi = 7, gn = 9, gk = 6, gin = 70;
  float *gsrc = rand_floats(gi * gn * gin, -1, 1), *gres = malloc((size_t)(gi * gk * gin) * sizeof *gres);
  int64_t *gidx = rand_indices(gi * gk * gin, gn);
  rc = prism_cpu_gather(gres, gsrc, gidx, gi, gn, gk, gin);
  bad = 0;
  for (int64_t o = 0; o < gi; o++)
    for (int64_t j = 0; j < gk; j++)
      for (int64_t i = 0; i < gin; i++) {
        int64_t e = (o * gk + j) * gin + i;
        if (gres[e] != gsrc[(o * gn + gidx[e]) * gin + i]) bad++;
      }
  report(rc == 0 && bad == 0, "gather [%lld, %lld->%lld, %lld]: %lld mismatches", (long long)gi, (long long)gn,
        (long long)gk, (long long)gin, (long long)bad);
  float *sgo = rand_floats(gi * gk * gin, -1, 1), *sg = rand_floats(gi * gn * gin, -1, 1);
  float *swant = malloc((size_t)(gi * gn * gin) * sizeof *swant);
  memcpy(swant, sg, (size_t)(gi * gn * gin) * sizeof *sg);
  for (int64_t o = 0; o < gi; o++)
    for (int64_t j = 0; j < gk; j++)
      for (int64_t i = 0; i < gin; i++) {
        int64_t e = (o * gk + j) * gin + i;
        swant[(o * gn + gidx[e]) * gin + i] += sgo[e];
      }
  rc = prism_cpu_scatter_add(sg, sgo, gidx, gi, gn, gk, gin);
  report(rc == 0 && memcmp(sg, swant, (size_t)(gi * gn * gin) * sizeof *sg) == 0,
        "scatter_add with repeated indices: bitwise equal to the in-order reference");

  /* out-of-range indices are an error, not a stray access */
  int64_t badidx[2] = {1, 10};
  prism_error_clear();
  rc = prism_cpu_index_select(out, src, badidx, 1, n_src, 2, inner);
  report(rc == -1 && prism_error_kind_last() == PRISM_ERR_ARG, "index_select rejects index 10 of 10: %s",
        prism_error_message());
  badidx[1] = -1;
  prism_error_clear();
  rc = prism_cpu_index_add(g, gout, badidx, 1, n_src, 2, inner);
  report(rc == -1 && prism_error_kind_last() == PRISM_ERR_ARG, "index_add rejects index -1: %s", prism_error_message());
  free(src); free(out); free(idx); free(gout); free(g); free(want);
  free(gsrc); free(gres); free(gidx); free(sgo); free(sg); free(swant);

  /* triangle */
  int64_t ks[] = {-100, -2, -1, 0, 1, 3, 100, INT64_MAX, INT64_MIN};
  int64_t dims[][2] = {{5, 7}, {7, 5}, {1, 1}};
  int tri_ok = 1;
  for (size_t di = 0; di < 3; di++)
    for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++)
      for (int up = 0; up < 2; up++) {
        int64_t r = dims[di][0], cc = dims[di][1], nb = 3, tot = nb * r * cc;
        float *tx = rand_floats(tot, 1, 2), *ty = malloc((size_t)tot * sizeof *ty);
        int trc = prism_cpu_triangle(ty, tx, nb, r, cc, ks[ki], up);
        for (int64_t e = 0; e < tot && tri_ok; e++) {
          int64_t i = (e / cc) % r, j = e % cc;
          /* j - i compared in double: k may be INT64_MIN/MAX */
          int keep = up ? ((double)(j - i) >= (double)ks[ki]) : ((double)(j - i) <= (double)ks[ki]);
          if (trc != 0 || ty[e] != (keep ? tx[e] : 0.0f)) {
            tri_ok = 0;
            report(0, "triangle %s k=%lld [%lld, %lld, %lld] wrong at %lld", up ? "upper" : "lower", (long long)ks[ki],
                  (long long)nb, (long long)r, (long long)cc, (long long)e);
          }
        }
        prism_cpu_triangle(tx, tx, nb, r, cc, ks[ki], up); /* in place */
        if (memcmp(tx, ty, (size_t)tot * sizeof *tx) != 0 && tri_ok) {
          tri_ok = 0;
          report(0, "triangle in place differs (k=%lld)", (long long)ks[ki]);
        }
        free(tx); free(ty);
      }
  report(tri_ok, "triangle upper/lower, k from INT64_MIN to INT64_MAX, square/tall/wide, in place");
}

/* ---- table and threads ---- */
static void test_table(void) {
  const prism_backend *be = prism_backend_get(PRISM_CPU);
  int ok = be != NULL && strcmp(be->name, "cpu") == 0 && be->device == PRISM_CPU;
  int nulls = 0;
  if (be) {
    const char *p = (const char *)&be->alloc;
    for (int i = 0; i < PRISM_BACKEND_KERNEL_COUNT; i++) {
      void (*fn)(void);
      memcpy(&fn, p + (size_t)i * sizeof fn, sizeof fn);
      if (!fn) nulls++;
    }
  }
  report(ok && nulls == 0, "cpu backend table: %d kernels, %d NULL", PRISM_BACKEND_KERNEL_COUNT, nulls);
  report(be && be->gemm == prism_cpu_gemm && be->index_add == prism_cpu_index_add &&
            be->scatter_add == prism_cpu_scatter_add && be->sum_f64 == prism_cpu_sum_f64 &&
            be->sum_squares_f64 == prism_cpu_sum_squares_f64,
        "cpu backend table: same-signature kernels sit in their own slots");
  prism_error_clear();
  const prism_backend *cu = prism_backend_get(PRISM_CUDA);
  report(cu == NULL && prism_error_kind_last() == PRISM_ERR_ARG && strstr(prism_error_message(), "no CUDA backend"),
        "prism_backend_get(cuda) fails: %s", prism_error_message());
}

/* One output buffer per threaded kernel, computed at the current thread count. */
typedef struct { void *buf[10]; size_t bytes[10]; const char *name[10]; int count; } det_run;

static void det_add(det_run *r, const char *name, const void *p, size_t bytes) {
  r->buf[r->count] = malloc(bytes);
  memcpy(r->buf[r->count], p, bytes);
  r->bytes[r->count] = bytes;
  r->name[r->count++] = name;
}

static void det_compute(det_run *r, const float *x, const int64_t *idx) {
  /* gemm: several row and column tiles per batch */
  int64_t m = 300, n = 280, k = 200;
  float *c = malloc((size_t)(2 * m * n) * sizeof *c);
  prism_cpu_gemm(2, 0, 1, m, n, k, 1.0f, x, k, m * k, x + 7, k, 0, 0.0f, c, n, m * n);
  det_add(r, "gemm", c, (size_t)(2 * m * n) * sizeof *c);
  free(c);
  float *out = malloc(600000 * sizeof *out);
  prism_cpu_reduce(PRISM_REDUCE_SUM, out, NULL, x, 3, 20000, 7);
  det_add(r, "reduce sum [3,20000,7]", out, 21 * sizeof *out);
  prism_cpu_reduce(PRISM_REDUCE_SUM, out, NULL, x, 1, 1000000, 1);
  det_add(r, "reduce sum [1,1e6,1]", out, sizeof *out);
  int64_t arg[700];
  prism_cpu_reduce(PRISM_REDUCE_MAX, out, arg, x, 1, 1400, 700);
  det_add(r, "reduce argmax [1,1400,700]", arg, sizeof arg);
  double s[2];
  prism_cpu_sum_f64(&s[0], x, 1000000);
  prism_cpu_sum_squares_f64(&s[1], x, 1000000);
  det_add(r, "sum_f64 + sum_squares_f64 (n=1e6)", s, sizeof s);
  memset(out, 0, 600000 * sizeof *out);
  prism_cpu_index_add(out, x, idx, 1, 600, 900, 1000);
  det_add(r, "index_add (900 rows into 600, inner 1000)", out, 600000 * sizeof *out);
  memset(out, 0, 600000 * sizeof *out);
  prism_cpu_scatter_add(out, x, idx, 2, 300, 250, 1000);
  det_add(r, "scatter_add", out, 600000 * sizeof *out);
  int64_t os[] = {60, 50, 200}, bs[] = {1, 50, 1};
  prism_layout ol = lay_contig(3, os), bl = lay_expand(3, bs, os);
  prism_cpu_binary(PRISM_BINARY_MUL, out, &ol, x, &ol, x + 5, &bl);
  det_add(r, "binary mul with broadcast", out, 600000 * sizeof *out);
  prism_cpu_unary(PRISM_UNARY_GELU, out, x, 600000, 0, 0);
  det_add(r, "unary gelu", out, 600000 * sizeof *out);
  int64_t ts[] = {600, 1000}, tst[] = {1, 600};
  prism_layout tl = lay(2, ts, tst), cl = lay_contig(2, ts);
  prism_cpu_copy(out, &cl, PRISM_FLOAT32, x, &tl, PRISM_FLOAT32);
  det_add(r, "copy transposed", out, 600000 * sizeof *out);
  free(out);
}

static void test_determinism(void) {
  float *x = rand_floats(1000000, -1, 1);
  int64_t *idx = rand_indices(500000, 300); /* index_add uses 900 of them, scatter_add all */
  det_run base = {0};
  prism_backend_set_threads(1);
  report(prism_backend_get_threads() == 1 && omp_get_max_threads() == 1, "set_threads(1)");
  det_compute(&base, x, idx);
  for (int t = 2; t <= 3; t++) {
    prism_backend_set_threads(t);
    report(prism_backend_get_threads() == t && omp_get_max_threads() == t, "set_threads(%d)", t);
    det_run other = {0};
    det_compute(&other, x, idx);
    for (int i = 0; i < base.count; i++) {
      report(memcmp(base.buf[i], other.buf[i], base.bytes[i]) == 0, "deterministic %s: 1 vs %d threads", base.name[i],
            t);
      free(other.buf[i]);
    }
  }
  for (int i = 0; i < base.count; i++) free(base.buf[i]);
  prism_backend_set_threads(0);
  report(prism_backend_get_threads() >= 1, "set_threads(0) restores the default (%d)", prism_backend_get_threads());
  free(x);
  free(idx);
}

int main(void) {
  test_table();
  test_memory();
  test_copy();
  test_unary();
  test_binary();
  test_reduce();
  test_gemm();
  test_index();
  test_determinism();
  return check_summary();
}
