/* test_ops_b.c — the second half of the ops (softmax, loss, attention, norm, index, random,
 * optim): forward values against naive double references on small inputs, a finite-difference
 * gradcheck of every differentiable op (central differences of sum(out * w) with random w,
 * evaluated in double on the host), error cases, RNG reproducibility, and the AdamW/SGD updates
 * against the update rules written out in double. Ends by checking that no tape node and no
 * tensor outlived the tests. */
#include "ops.h"
#include "rng.h"
#include "error.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK_REPORT_LAST_ERROR
#include "check.h"
#include "op_tensors.h"

/* ---- small helpers ---- */

static uint64_t lcg_state = 0x2545F4914F6CDD1DULL;
static float frand(void) { /* uniform in [-1, 1) */
  lcg_state = lcg_state * 6364136223846793005ULL + 1442695040888963407ULL;
  return (float)((double)(lcg_state >> 40) / (double)(1ULL << 24)) * 2.0f - 1.0f;
}
static void fill_rand(float *v, int64_t n, float scale) {
  for (int64_t i = 0; i < n; i++) v[i] = frand() * scale;
}
/* max |t - ref| over n values; +inf if t is NULL or has the wrong element count */
static double max_diff(const prism_tensor *t, const double *ref, int64_t n) {
  if (!t || prism_tensor_numel(t) != n) return INFINITY;
  double *h = host(t), m = 0;
  if (!h) return INFINITY;
  for (int64_t i = 0; i < n; i++) {
    double d = fabs(h[i] - ref[i]);
    if (!(d <= m)) m = d; /* NaN propagates */
  }
  free(h);
  return m;
}
/* true when the call failed (NULL / -1) with a message containing want */
static bool failed_with(bool failed, const char *want) {
  bool ok = failed && strstr(prism_error_message(), want) != NULL;
  if (ok) printf("     (message: %s)\n", prism_error_message());
  prism_error_clear();
  return ok;
}

/* ---- gradcheck ---- */

#define GC_MAX 4
typedef prism_tensor *(*gc_fn)(prism_tensor *const *in, void *ctx);
typedef struct {
  int ndim;
  int64_t shape[PRISM_MAX_DIMS];
  float *data; /* borrowed, perturbed in place during the check and restored */
  bool grad;
} gc_in;

/* sum(fn(inputs) * w) in double, with grad mode off */
static int gc_eval(gc_fn fn, void *ctx, gc_in *in, int n, const double *w, int64_t wn, double *out) {
  prism_tensor *t[GC_MAX] = {0};
  int rc = 0;
  for (int i = 0; i < n; i++)
    if (!(t[i] = tf(in[i].ndim, in[i].shape, in[i].data))) rc = -1;
  bool prev = prism_grad_set_enabled(false);
  prism_tensor *y = rc == 0 ? fn(t, ctx) : NULL;
  prism_grad_set_enabled(prev);
  double *h = host(y);
  if (!h || prism_tensor_numel(y) != wn) rc = -1;
  double s = 0;
  for (int64_t j = 0; rc == 0 && j < wn; j++) s += h[j] * w[j];
  *out = s;
  free(h);
  prism_tensor_release(y);
  for (int i = 0; i < n; i++) prism_tensor_release(t[i]);
  return rc;
}

static void gradcheck(const char *name, gc_fn fn, void *ctx, gc_in *in, int n) {
  const double h = 1e-2, atol = 2e-3, rtol = 1e-2;
  prism_tensor *leaf[GC_MAX] = {0};
  bool ok = true;
  for (int i = 0; i < n; i++) {
    leaf[i] = tf(in[i].ndim, in[i].shape, in[i].data);
    if (!leaf[i]) ok = false;
    else leaf[i]->requires_grad = in[i].grad;
  }
  prism_tensor *y = ok ? fn(leaf, ctx) : NULL;
  int64_t wn = y ? prism_tensor_numel(y) : 0;
  float *wf = calloc((size_t)(wn ? wn : 1), sizeof *wf);
  double *w = calloc((size_t)(wn ? wn : 1), sizeof *w);
  fill_rand(wf, wn, 1.0f);
  for (int64_t j = 0; j < wn; j++) w[j] = wf[j];
  prism_tensor *wt = y ? tf(y->ndim, y->shape, wf) : NULL;
  if (!y || !wt || !y->requires_grad || prism_backward(y, wt) < 0) ok = false;
  double max_abs = 0, max_rel = 0;
  int64_t checked = 0;
  for (int i = 0; ok && i < n; i++) {
    if (!in[i].grad) continue;
    int64_t m = numel_of(in[i].ndim, in[i].shape);
    double *an = leaf[i]->grad ? host(leaf[i]->grad) : calloc((size_t)(m ? m : 1), sizeof(double));
    if (!an || (leaf[i]->grad && prism_tensor_numel(leaf[i]->grad) != m)) ok = false;
    for (int64_t j = 0; ok && j < m; j++) {
      float v = in[i].data[j];
      float vp = (float)(v + h), vm = (float)(v - h);
      double lp, lm;
      in[i].data[j] = vp;
      int rc = gc_eval(fn, ctx, in, n, w, wn, &lp);
      in[i].data[j] = vm;
      rc |= gc_eval(fn, ctx, in, n, w, wn, &lm);
      in[i].data[j] = v;
      if (rc) {
        ok = false;
        break;
      }
      double num = (lp - lm) / ((double)vp - (double)vm), err = fabs(an[j] - num);
      double rel = err / fmax(fabs(num), 1e-8);
      if (err > max_abs) max_abs = err;
      if (err > atol && rel > max_rel) max_rel = rel;
      if (!(err <= atol + rtol * fabs(num))) {
        if (ok) printf("     %s: input %d element %lld analytic %.6g numeric %.6g\n", name, i, (long long)j, an[j], num);
        ok = false;
      }
      checked++;
    }
    free(an);
  }
  report(ok, "gradcheck %-34s %4lld grads, max abs err %.2e", name, (long long)checked, max_abs);
  free(wf);
  free(w);
  prism_tensor_release(wt);
  prism_tensor_release(y);
  for (int i = 0; i < n; i++) prism_tensor_release(leaf[i]);
  prism_error_clear();
}

/* ---- softmax / log_softmax ---- */

typedef struct { int dim; bool log; bool transpose; } sm_ctx;
static prism_tensor *fn_softmax(prism_tensor *const *in, void *c) {
  sm_ctx *s = c;
  if (!s->transpose) return s->log ? prism_op_log_softmax(in[0], s->dim) : prism_op_softmax(in[0], s->dim);
  prism_tensor *t = prism_op_transpose(in[0], 0, 1);
  prism_tensor *y = t ? (s->log ? prism_op_log_softmax(t, s->dim) : prism_op_softmax(t, s->dim)) : NULL;
  prism_tensor_release(t);
  return y;
}

/* naive softmax of x (shape s, 3-D) along d, in double */
static void ref_softmax3(const float *x, const int64_t *s, int d, bool as_log, double *out) {
  int64_t st[3] = {s[1] * s[2], s[2], 1};
  for (int64_t a = 0; a < s[0]; a++)
    for (int64_t b = 0; b < s[1]; b++)
      for (int64_t c = 0; c < s[2]; c++) {
        int64_t idx[3] = {a, b, c};
        if (idx[d] != 0) continue;
        int64_t base = a * st[0] + b * st[1] + c * st[2];
        double mx = -INFINITY, z = 0;
        for (int64_t j = 0; j < s[d]; j++) mx = fmax(mx, x[base + j * st[d]]);
        for (int64_t j = 0; j < s[d]; j++) z += exp(x[base + j * st[d]] - mx);
        for (int64_t j = 0; j < s[d]; j++) {
          double v = x[base + j * st[d]] - mx;
          out[base + j * st[d]] = as_log ? v - log(z) : exp(v) / z;
        }
      }
}

static void test_softmax(void) {
  int64_t s[3] = {2, 3, 4};
  float x[24];
  fill_rand(x, 24, 2.0f);
  double ref[24];
  prism_tensor *t = tf(3, s, x);
  for (int lg = 0; lg < 2; lg++)
    for (int d = 0; d < 3; d++) {
      ref_softmax3(x, s, d, lg, ref);
      prism_tensor *y = lg ? prism_op_log_softmax(t, d) : prism_op_softmax(t, d);
      double e = max_diff(y, ref, 24);
      report(e < 2e-6 && y && prism_shape_equal(y, t), "%s dim %d of [2, 3, 4] matches the naive reference (max err %.1e)",
             lg ? "log_softmax" : "softmax", d, e);
      prism_tensor_release(y);
    }
  /* negative dim and a non-contiguous (transposed) input */
  prism_tensor *v = prism_tensor_transpose_raw(t, 0, 2); /* [4, 3, 2] */
  double *vh = host(v);
  float vx[24];
  for (int i = 0; i < 24; i++) vx[i] = vh ? (float)vh[i] : 0;
  free(vh);
  int64_t vs[3] = {4, 3, 2};
  ref_softmax3(vx, vs, 1, false, ref);
  prism_tensor *y = prism_op_softmax(v, -2);
  double e = max_diff(y, ref, 24);
  report(e < 2e-6, "softmax dim -2 of a transposed (non-contiguous) view (max err %.1e)", e);
  prism_tensor_release(y);
  prism_tensor_release(v);

  gc_in in = {3, {2, 3, 4}, x, true};
  sm_ctx c1 = {-1, false, false}, c2 = {1, false, false}, c3 = {-1, true, false}, c4 = {0, true, false},
         c5 = {-1, false, true};
  gradcheck("softmax dim -1", fn_softmax, &c1, &in, 1);
  gradcheck("softmax dim 1 (not last)", fn_softmax, &c2, &in, 1);
  gradcheck("log_softmax dim -1", fn_softmax, &c3, &in, 1);
  gradcheck("log_softmax dim 0 (not last)", fn_softmax, &c4, &in, 1);
  gradcheck("softmax of a transposed view", fn_softmax, &c5, &in, 1);

  report(failed_with(prism_op_softmax(t, 3) == NULL, "softmax: dimension 3 is out of range"),
         "softmax rejects dim 3 of a 3-D tensor");
  int64_t is[1] = {3}, iv[3] = {0, 1, 2};
  prism_tensor *it = ti64(1, is, iv);
  report(failed_with(prism_op_log_softmax(it, 0) == NULL, "log_softmax:"), "log_softmax rejects an int64 tensor");
  prism_tensor_release(it);
  prism_tensor_release(t);
}

/* ---- cross_entropy ---- */

static prism_tensor *fn_ce(prism_tensor *const *in, void *c) { return prism_op_cross_entropy(in[0], (prism_tensor *)c); }

static void test_cross_entropy(void) {
  enum { N = 4, C = 5 };
  int64_t ls[2] = {N, C}, ts[1] = {N};
  float x[N * C];
  fill_rand(x, N * C, 3.0f);
  int64_t tg[N] = {1, 4, 0, 4};
  int32_t tg32[N] = {1, 4, 0, 4};
  double ref = 0;
  for (int r = 0; r < N; r++) {
    double mx = -INFINITY, z = 0;
    for (int j = 0; j < C; j++) mx = fmax(mx, x[r * C + j]);
    for (int j = 0; j < C; j++) z += exp(x[r * C + j] - mx);
    ref += mx + log(z) - x[r * C + tg[r]];
  }
  ref /= N;
  prism_tensor *lt = tf(2, ls, x), *t64 = ti64(1, ts, tg);
  prism_tensor *t32 = prism_tensor_from_host(PRISM_INT32, PRISM_CPU, 1, ts, tg32);
  prism_tensor *l1 = prism_op_cross_entropy(lt, t64), *l2 = prism_op_cross_entropy(lt, t32);
  double v1 = NAN, v2 = NAN;
  if (l1) prism_tensor_to_host_f64(l1, &v1);
  if (l2) prism_tensor_to_host_f64(l2, &v2);
  report(l1 && l1->ndim == 0 && fabs(v1 - ref) < 1e-6 * fmax(1, fabs(ref)),
         "cross_entropy is a 0-dim mean matching the naive reference (%.7f vs %.7f)", v1, ref);
  report(v1 == v2, "cross_entropy with int32 targets equals int64 targets");
  prism_tensor_release(l1);
  prism_tensor_release(l2);

  gc_in in = {2, {N, C}, x, true};
  gradcheck("cross_entropy", fn_ce, t64, &in, 1);

  int64_t bad[N] = {1, 2, 5000, 0}, neg[N] = {-1, 0, 0, 0};
  prism_tensor *tb = ti64(1, ts, bad), *tn = ti64(1, ts, neg);
  report(failed_with(prism_op_cross_entropy(lt, tb) == NULL, "cross_entropy: target 5000 at row 2 is outside [0, 5)"),
         "cross_entropy rejects an out-of-range target, naming value, row and range");
  report(failed_with(prism_op_cross_entropy(lt, tn) == NULL, "cross_entropy: target -1 at row 0"),
         "cross_entropy rejects a negative target");
  int64_t s3[3] = {1, N, C}, ts2[1] = {N - 1};
  prism_tensor *l3 = tf(3, s3, x), *tshort = ti64(1, ts2, tg);
  report(failed_with(prism_op_cross_entropy(l3, t64) == NULL, "cross_entropy:"), "cross_entropy rejects 3-D logits");
  report(failed_with(prism_op_cross_entropy(lt, tshort) == NULL, "cross_entropy:"), "cross_entropy rejects N mismatch");
  prism_tensor *tf32 = tf(1, ts, x);
  report(failed_with(prism_op_cross_entropy(lt, tf32) == NULL, "cross_entropy: targets must be int64"),
         "cross_entropy rejects float targets");
  prism_tensor_release(tf32);
  prism_tensor_release(l3);
  prism_tensor_release(tshort);
  prism_tensor_release(tb);
  prism_tensor_release(tn);
  prism_tensor_release(lt);
  prism_tensor_release(t64);
  prism_tensor_release(t32);
}

/* ---- attention ---- */

typedef struct { bool causal; double scale; } at_ctx;
static prism_tensor *fn_att(prism_tensor *const *in, void *c) {
  at_ctx *a = c;
  return prism_op_attention(in[0], in[1], in[2], a->causal, a->scale);
}

static void ref_attention(const float *q, const float *k, const float *v, int64_t bh, int64_t t, int64_t d, double scale,
                          bool causal, double *out) {
  double p[64];
  for (int64_t b = 0; b < bh; b++)
    for (int64_t i = 0; i < t; i++) {
      const float *qi = q + (b * t + i) * d;
      int64_t end = causal ? i + 1 : t;
      double mx = -INFINITY, z = 0;
      for (int64_t j = 0; j < end; j++) {
        double s = 0;
        for (int64_t e = 0; e < d; e++) s += (double)qi[e] * k[(b * t + j) * d + e];
        p[j] = s * scale;
        mx = fmax(mx, p[j]);
      }
      for (int64_t j = 0; j < end; j++) z += (p[j] = exp(p[j] - mx));
      for (int64_t e = 0; e < d; e++) {
        double o = 0;
        for (int64_t j = 0; j < end; j++) o += p[j] / z * v[(b * t + j) * d + e];
        out[(b * t + i) * d + e] = o;
      }
    }
}

static void test_attention(void) {
  enum { B = 2, H = 2, T = 4, D = 3, NE = B * H * T * D };
  int64_t s[4] = {B, H, T, D};
  float q[NE], k[NE], v[NE];
  fill_rand(q, NE, 1.5f);
  fill_rand(k, NE, 1.5f);
  fill_rand(v, NE, 1.0f);
  prism_tensor *tq = tf(4, s, q), *tk = tf(4, s, k), *tv = tf(4, s, v);
  double ref[NE];
  for (int causal = 0; causal < 2; causal++)
    for (int sc = 0; sc < 2; sc++) {
      double scale = sc ? 0.7 : 0.0;
      ref_attention(q, k, v, B * H, T, D, sc ? 0.7 : 1.0 / sqrt((double)D), causal, ref);
      prism_tensor *y = prism_op_attention(tq, tk, tv, causal, scale);
      double e = max_diff(y, ref, NE);
      report(e < 2e-6, "attention %s, scale %s matches the naive reference (max err %.1e)",
             causal ? "causal" : "non-causal", sc ? "0.7" : "default 1/sqrt(D)", e);
      prism_tensor_release(y);
    }
  gc_in in[3] = {{4, {B, H, T, D}, q, true}, {4, {B, H, T, D}, k, true}, {4, {B, H, T, D}, v, true}};
  at_ctx c1 = {true, 0.0}, c2 = {false, 0.0}, c3 = {true, 0.9};
  gradcheck("attention causal (q, k, v)", fn_att, &c1, in, 3);
  gradcheck("attention non-causal (q, k, v)", fn_att, &c2, in, 3);
  in[0].grad = false;
  gradcheck("attention causal scale 0.9 (k, v only)", fn_att, &c3, in, 3);

  int64_t s3[3] = {B * H, T, D}, s2[4] = {B, H, T, D + 1};
  prism_tensor *t3 = tf(3, s3, q), *tw = prism_tensor_zeros(PRISM_FLOAT32, PRISM_CPU, 4, s2);
  prism_tensor *ti = prism_tensor_zeros(PRISM_INT64, PRISM_CPU, 4, s);
  report(failed_with(prism_op_attention(t3, t3, t3, true, 0) == NULL, "attention: q must be 4-D"), "attention rejects 3-D q");
  report(failed_with(prism_op_attention(tq, tw, tv, true, 0) == NULL, "attention: q, k and v must have the same shape"),
         "attention rejects mismatched k");
  report(failed_with(prism_op_attention(tq, tk, ti, true, 0) == NULL, "attention: v must be float32"),
         "attention rejects int64 v");
  prism_tensor_release(t3);
  prism_tensor_release(tw);
  prism_tensor_release(ti);
  prism_tensor_release(tq);
  prism_tensor_release(tk);
  prism_tensor_release(tv);
}

/* ---- rms_norm / layer_norm ---- */

typedef struct { bool w, b; double eps; } nm_ctx;
static prism_tensor *fn_rms(prism_tensor *const *in, void *c) {
  nm_ctx *n = c;
  return prism_op_rms_norm(in[0], n->w ? in[1] : NULL, n->eps);
}
static prism_tensor *fn_ln(prism_tensor *const *in, void *c) {
  nm_ctx *n = c;
  int i = 1;
  const prism_tensor *w = n->w ? in[i++] : NULL, *b = n->b ? in[i] : NULL;
  return prism_op_layer_norm(in[0], w, b, n->eps);
}

static void test_norm(void) {
  enum { R = 6, N = 5 };
  int64_t xs[3] = {2, 3, N}, ws[1] = {N};
  float x[R * N], w[N], b[N];
  fill_rand(x, R * N, 2.0f);
  fill_rand(w, N, 1.5f);
  fill_rand(b, N, 1.0f);
  prism_tensor *tx = tf(3, xs, x), *tw = tf(1, ws, w), *tb = tf(1, ws, b);
  double ref[R * N], eps = 1e-5;
  for (int with_w = 0; with_w < 2; with_w++) {
    for (int r = 0; r < R; r++) {
      double ss = 0;
      for (int j = 0; j < N; j++) ss += (double)x[r * N + j] * x[r * N + j];
      double rs = 1 / sqrt(ss / N + eps);
      for (int j = 0; j < N; j++) ref[r * N + j] = x[r * N + j] * rs * (with_w ? w[j] : 1.0);
    }
    prism_tensor *y = prism_op_rms_norm(tx, with_w ? tw : NULL, eps);
    double e = max_diff(y, ref, R * N);
    report(e < 2e-6, "rms_norm %s weight matches the naive reference (max err %.1e)", with_w ? "with" : "without", e);
    prism_tensor_release(y);
  }
  for (int mode = 0; mode < 3; mode++) { /* 0: no w/b, 1: w and b, 2: w only */
    for (int r = 0; r < R; r++) {
      double mu = 0, var = 0;
      for (int j = 0; j < N; j++) mu += x[r * N + j];
      mu /= N;
      for (int j = 0; j < N; j++) var += (x[r * N + j] - mu) * (x[r * N + j] - mu);
      double rs = 1 / sqrt(var / N + eps);
      for (int j = 0; j < N; j++)
        ref[r * N + j] = (x[r * N + j] - mu) * rs * (mode ? w[j] : 1.0) + (mode == 1 ? b[j] : 0.0);
    }
    prism_tensor *y = prism_op_layer_norm(tx, mode ? tw : NULL, mode == 1 ? tb : NULL, eps);
    double e = max_diff(y, ref, R * N);
    report(e < 4e-6, "layer_norm %s matches the naive reference (max err %.1e)",
           mode == 0 ? "without w/b" : mode == 1 ? "with w and b" : "with w only", e);
    prism_tensor_release(y);
  }
  gc_in in[3] = {{3, {2, 3, N}, x, true}, {1, {N}, w, true}, {1, {N}, b, true}};
  nm_ctx r1 = {true, false, 1e-5}, r0 = {false, false, 1e-5};
  gradcheck("rms_norm (x, w)", fn_rms, &r1, in, 2);
  gradcheck("rms_norm (x, no weight)", fn_rms, &r0, in, 1);
  nm_ctx l2 = {true, true, 1e-5}, l0 = {false, false, 1e-5}, l1 = {true, false, 1e-5};
  gradcheck("layer_norm (x, w, b)", fn_ln, &l2, in, 3);
  gradcheck("layer_norm (x, no w/b)", fn_ln, &l0, in, 1);
  gradcheck("layer_norm (x, w, no bias)", fn_ln, &l1, in, 2);
  in[0].grad = false;
  gradcheck("layer_norm (w, b only)", fn_ln, &l2, in, 3);

  int64_t bs[1] = {N - 1};
  prism_tensor *bad = prism_tensor_zeros(PRISM_FLOAT32, PRISM_CPU, 1, bs);
  report(failed_with(prism_op_rms_norm(tx, bad, eps) == NULL, "rms_norm: weight must have shape [5]"),
         "rms_norm rejects a weight of the wrong size");
  report(failed_with(prism_op_layer_norm(tx, tw, bad, eps) == NULL, "layer_norm: bias must have shape [5]"),
         "layer_norm rejects a bias of the wrong size");
  prism_tensor_release(bad);
  prism_tensor_release(tx);
  prism_tensor_release(tw);
  prism_tensor_release(tb);
}

/* ---- index ops ---- */

typedef struct { int dim; prism_tensor *idx; } ix_ctx;
static prism_tensor *fn_index_select(prism_tensor *const *in, void *c) {
  ix_ctx *x = c;
  return prism_op_index_select(in[0], x->dim, x->idx);
}
static prism_tensor *fn_embedding(prism_tensor *const *in, void *c) { return prism_op_embedding(in[0], c); }
static prism_tensor *fn_gather(prism_tensor *const *in, void *c) {
  ix_ctx *x = c;
  return prism_op_gather(in[0], x->dim, x->idx);
}
typedef struct { int64_t k; bool upper; } tri_ctx;
static prism_tensor *fn_triangle(prism_tensor *const *in, void *c) {
  tri_ctx *t = c;
  return prism_op_triangle(in[0], t->k, t->upper);
}

static void test_index(void) {
  /* index_select on x [4, 3] */
  int64_t xs[2] = {4, 3}, is[1] = {3}, is4[1] = {4};
  float x[12];
  fill_rand(x, 12, 1.0f);
  prism_tensor *tx = tf(2, xs, x);
  int64_t i0[3] = {2, 0, 2}, i1[4] = {1, 1, 0, 2};
  int32_t i0_32[3] = {2, 0, 2};
  prism_tensor *ti0 = ti64(1, is, i0), *ti1 = ti64(1, is4, i1);
  prism_tensor *ti0_32 = prism_tensor_from_host(PRISM_INT32, PRISM_CPU, 1, is, i0_32);
  double ref[24];
  for (int j = 0; j < 3; j++)
    for (int c = 0; c < 3; c++) ref[j * 3 + c] = x[i0[j] * 3 + c];
  prism_tensor *y = prism_op_index_select(tx, 0, ti0), *y32 = prism_op_index_select(tx, 0, ti0_32);
  report(max_diff(y, ref, 9) == 0 && max_diff(y32, ref, 9) == 0 && y->shape[0] == 3,
         "index_select dim 0 (int64 and int32 indices) picks the rows");
  prism_tensor_release(y);
  prism_tensor_release(y32);
  for (int r = 0; r < 4; r++)
    for (int j = 0; j < 4; j++) ref[r * 4 + j] = x[r * 3 + i1[j]];
  y = prism_op_index_select(tx, -1, ti1);
  report(max_diff(y, ref, 16) == 0 && y->shape[1] == 4, "index_select dim -1 picks the columns");
  prism_tensor_release(y);
  gc_in in = {2, {4, 3}, x, true};
  ix_ctx c0 = {0, ti0}, c1 = {1, ti1};
  gradcheck("index_select dim 0 (repeated ids)", fn_index_select, &c0, &in, 1);
  gradcheck("index_select dim 1 (repeated ids)", fn_index_select, &c1, &in, 1);
  int64_t badv[2] = {0, 4}, bs[1] = {2};
  prism_tensor *tbad = ti64(1, bs, badv);
  report(failed_with(prism_op_index_select(tx, 0, tbad) == NULL, "index_select: index 4 at position 1 is outside [0, 4)"),
         "index_select rejects an out-of-range index");
  prism_tensor *fidx = tf(1, bs, x);
  report(failed_with(prism_op_index_select(tx, 1, fidx) == NULL, "index_select: indices must be int64"),
         "index_select rejects float indices");
  report(failed_with(prism_op_index_select(tx, 1, tx) == NULL, "index_select: indices must be 1-D"),
         "index_select rejects 2-D indices");
  report(failed_with(prism_op_index_select(tx, -3, ti0) == NULL, "index_select: dimension -3 is out of range"),
         "index_select rejects dim -3 of a 2-D tensor");

  /* embedding: weight [5, 3], ids [2, 3] with repeats */
  int64_t wsz[2] = {5, 3}, ids_s[2] = {2, 3};
  float w[15];
  fill_rand(w, 15, 1.0f);
  int64_t ids[6] = {1, 4, 1, 0, 4, 4};
  prism_tensor *tw = tf(2, wsz, w), *tids = ti64(2, ids_s, ids);
  for (int j = 0; j < 6; j++)
    for (int c = 0; c < 3; c++) ref[j * 3 + c] = w[ids[j] * 3 + c];
  y = prism_op_embedding(tw, tids);
  report(y && y->ndim == 3 && y->shape[0] == 2 && y->shape[1] == 3 && y->shape[2] == 3 && max_diff(y, ref, 18) == 0,
         "embedding of ids [2, 3] gives [2, 3, 3] rows of the weight");
  prism_tensor_release(y);
  gc_in win = {2, {5, 3}, w, true};
  gradcheck("embedding (repeated ids)", fn_embedding, tids, &win, 1);
  int64_t bad_ids[2] = {5, 0};
  prism_tensor *tbid = ti64(1, bs, bad_ids);
  report(failed_with(prism_op_embedding(tw, tbid) == NULL, "embedding: index 5 at position 0 is outside [0, 5)"),
         "embedding rejects an out-of-range id");

  /* gather on x [4, 3]: dim 1 with idx [3, 2] (smaller in dim 0); dim 0 with idx [2, 2] */
  int64_t gs1[2] = {3, 2}, g1[6] = {2, 0, 1, 1, 0, 2}, gs0[2] = {2, 2}, g0[4] = {3, 0, 3, 1};
  prism_tensor *tg1 = ti64(2, gs1, g1), *tg0 = ti64(2, gs0, g0);
  for (int r = 0; r < 3; r++)
    for (int j = 0; j < 2; j++) ref[r * 2 + j] = x[r * 3 + g1[r * 2 + j]];
  y = prism_op_gather(tx, 1, tg1);
  report(y && prism_shape_equal(y, tg1) && max_diff(y, ref, 6) == 0, "gather dim 1 with a smaller index follows torch.gather");
  prism_tensor_release(y);
  for (int r = 0; r < 2; r++)
    for (int j = 0; j < 2; j++) ref[r * 2 + j] = x[g0[r * 2 + j] * 3 + j];
  y = prism_op_gather(tx, 0, tg0);
  report(y && prism_shape_equal(y, tg0) && max_diff(y, ref, 4) == 0, "gather dim 0 follows torch.gather");
  prism_tensor_release(y);
  ix_ctx gc1 = {1, tg1}, gc0 = {0, tg0};
  gradcheck("gather dim 1 (narrowed, repeats)", fn_gather, &gc1, &in, 1);
  gradcheck("gather dim 0 (narrowed, repeats)", fn_gather, &gc0, &in, 1);
  int64_t gbad[6] = {2, 0, 1, 3, 0, 2}, gs_big[2] = {5, 1};
  prism_tensor *tgb = ti64(2, gs1, gbad), *tgbig = prism_tensor_zeros(PRISM_INT64, PRISM_CPU, 2, gs_big);
  report(failed_with(prism_op_gather(tx, 1, tgb) == NULL, "gather: index 3 at position 3 is outside [0, 3)"),
         "gather rejects an out-of-range index");
  report(failed_with(prism_op_gather(tx, 1, ti0) == NULL, "gather: index must have as many dims"),
         "gather rejects an index of the wrong ndim");
  report(failed_with(prism_op_gather(tx, 1, tgbig) == NULL, "gather: index shape [5, 1] exceeds"),
         "gather rejects an index larger than the input outside dim");

  /* triangle on [2, 3, 4] */
  int64_t ts[3] = {2, 3, 4};
  float tv[24];
  fill_rand(tv, 24, 1.0f);
  prism_tensor *tt = tf(3, ts, tv);
  struct { int64_t k; bool upper; } cases[3] = {{0, true}, {-1, false}, {1, true}};
  for (int cs = 0; cs < 3; cs++) {
    double tref[24];
    for (int bb = 0; bb < 2; bb++)
      for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++) {
          bool keep = cases[cs].upper ? j - i >= cases[cs].k : j - i <= cases[cs].k;
          tref[(bb * 3 + i) * 4 + j] = keep ? tv[(bb * 3 + i) * 4 + j] : 0.0;
        }
    y = prism_op_triangle(tt, cases[cs].k, cases[cs].upper);
    report(max_diff(y, tref, 24) == 0, "%s k=%lld of [2, 3, 4]", cases[cs].upper ? "triu" : "tril", (long long)cases[cs].k);
    prism_tensor_release(y);
  }
  gc_in tin = {3, {2, 3, 4}, tv, true};
  tri_ctx tc1 = {1, true}, tc2 = {0, false};
  gradcheck("triu k=1", fn_triangle, &tc1, &tin, 1);
  gradcheck("tril k=0", fn_triangle, &tc2, &tin, 1);
  report(failed_with(prism_op_triangle(fidx, 0, true) == NULL, "triu: expected at least 2 dims"), "triu rejects a 1-D tensor");
  report(failed_with(prism_op_triangle(ti0, 0, false) == NULL, "tril: expected a float32 tensor"),
         "tril rejects an int64 tensor");

  prism_tensor *objs[] = {tx, ti0, ti1, ti0_32, tbad, fidx, tw, tids, tbid, tg1, tg0, tgb, tgbig, tt};
  for (size_t i = 0; i < sizeof objs / sizeof *objs; i++) prism_tensor_release(objs[i]);
}

/* ---- dropout and random initializers ---- */

typedef struct { double p; uint64_t seed; } dr_ctx;
static prism_tensor *fn_dropout(prism_tensor *const *in, void *c) {
  dr_ctx *d = c;
  prism_rng_seed(d->seed); /* the same mask on every evaluation */
  return prism_op_dropout(in[0], d->p, true);
}

static bool same_bits(const prism_tensor *a, const prism_tensor *b) {
  if (!a || !b || !prism_shape_equal(a, b)) return false;
  double *ha = host(a), *hb = host(b);
  bool same = ha && hb && memcmp(ha, hb, sizeof(double) * (size_t)prism_tensor_numel(a)) == 0;
  free(ha);
  free(hb);
  return same;
}

static void test_random(void) {
  int64_t s[2] = {4, 8};
  float x[32];
  fill_rand(x, 32, 1.0f);
  prism_tensor *tx = tf(2, s, x);
  prism_rng_seed(7);
  prism_tensor *y1 = prism_op_dropout(tx, 0.25, true), *y3 = prism_op_dropout(tx, 0.25, true);
  prism_rng_seed(7);
  prism_tensor *y2 = prism_op_dropout(tx, 0.25, true);
  report(same_bits(y1, y2), "dropout is reproducible after prism_rng_seed(same seed)");
  report(y1 && y3 && !same_bits(y1, y3), "consecutive dropout draws use different masks");
  double *h = host(y1);
  bool got = h != NULL;
  int zeros = 0, kept = 0, wrong = 0;
  for (int i = 0; got && i < 32; i++) {
    if (h[i] == 0) zeros++;
    else if (h[i] == (double)(x[i] * (float)(1.0 / 0.75))) kept++;
    else wrong++;
  }
  free(h);
  report(got && zeros > 0 && kept > 0 && wrong == 0, "dropout keeps x/(1-p) or zeroes (%d zeroed, %d kept of 32)", zeros, kept);
  prism_tensor *ye = prism_op_dropout(tx, 0.25, false), *y0 = prism_op_dropout(tx, 0.0, true);
  report(same_bits(ye, tx) && same_bits(y0, tx), "dropout in eval mode or with p=0 returns the same values");
  report(failed_with(prism_op_dropout(tx, 1.0, true) == NULL, "dropout: p must be in [0, 1)"), "dropout rejects p=1");
  gc_in in = {2, {4, 8}, x, true};
  dr_ctx dc = {0.4, 99}, de = {0.0, 99};
  gradcheck("dropout p=0.4 (fixed stream)", fn_dropout, &dc, &in, 1);
  gradcheck("dropout p=0 (identity)", fn_dropout, &de, &in, 1);
  prism_tensor *objs[] = {y1, y2, y3, ye, y0};
  for (size_t i = 0; i < sizeof objs / sizeof *objs; i++) prism_tensor_release(objs[i]);

  /* randn / rand */
  int64_t rs[1] = {2000};
  prism_rng_seed(42);
  prism_tensor *a = prism_op_randn(1, rs, PRISM_CPU), *c = prism_op_randn(1, rs, PRISM_CPU);
  prism_rng_seed(42);
  prism_tensor *b = prism_op_randn(1, rs, PRISM_CPU);
  report(same_bits(a, b) && !same_bits(a, c), "randn is reproducible after prism_rng_seed and advances otherwise");
  double *ha = host(a), mean = 0, var = 0;
  for (int i = 0; ha && i < 2000; i++) mean += ha[i] / 2000;
  for (int i = 0; ha && i < 2000; i++) var += (ha[i] - mean) * (ha[i] - mean) / 2000;
  free(ha);
  report(fabs(mean) < 0.1 && fabs(sqrt(var) - 1) < 0.1, "randn has mean ~0 and std ~1 (%.3f, %.3f)", mean, sqrt(var));
  prism_rng_seed(42);
  prism_tensor *u1 = prism_op_rand(1, rs, PRISM_CPU);
  prism_rng_seed(42);
  prism_tensor *u2 = prism_op_rand(1, rs, PRISM_CPU);
  double *hu = host(u1), lo = 1, hi = 0;
  for (int i = 0; hu && i < 2000; i++) lo = fmin(lo, hu[i]), hi = fmax(hi, hu[i]);
  free(hu);
  report(same_bits(u1, u2) && lo >= 0 && hi < 1 && hi - lo > 0.9, "rand is reproducible and in [0, 1) (%.4f..%.4f)", lo, hi);

  /* normal_ on a non-contiguous view follows the stream in logical order, like randn */
  int64_t ms[2] = {3, 4}, ns[1] = {12};
  prism_tensor *m = prism_tensor_zeros(PRISM_FLOAT32, PRISM_CPU, 2, ms);
  prism_tensor *mt = prism_tensor_transpose_raw(m, 0, 1);
  uint32_t v0 = m->storage->version;
  prism_rng_seed(5);
  int rc = prism_op_normal_(mt, 1.0, 2.0);
  prism_rng_seed(5);
  prism_tensor *z = prism_op_randn(1, ns, PRISM_CPU);
  double *hz = host(z), *hm = host(mt), err = rc == 0 ? 0 : INFINITY;
  for (int i = 0; hz && hm && i < 12; i++) err = fmax(err, fabs(hm[i] - (1.0 + 2.0 * hz[i])));
  free(hz);
  free(hm);
  report(err < 1e-6 && m->storage->version != v0, "normal_ on a transposed view = mean + std * randn in logical order");
  rc = prism_op_uniform_(m, -0.5, 0.25);
  double *hu2 = host(m);
  bool inr = rc == 0 && hu2;
  for (int i = 0; inr && i < 12; i++) inr = hu2[i] >= -0.5 && hu2[i] < 0.25;
  free(hu2);
  report(inr, "uniform_(-0.5, 0.25) fills in range");
  m->requires_grad = true;
  report(failed_with(prism_op_normal_(m, 0, 1) < 0,
                     "normal_: in-place initialization of a tensor that requires grad must run inside prism.no_grad"),
         "normal_ refuses a tensor that requires grad in grad mode");
  bool prev = prism_grad_set_enabled(false);
  rc = prism_op_uniform_(m, 0, 1);
  prism_grad_set_enabled(prev);
  report(rc == 0, "uniform_ on a tensor that requires grad works inside no_grad");
  prism_tensor *objs2[] = {tx, a, b, c, u1, u2, m, mt, z};
  for (size_t i = 0; i < sizeof objs2 / sizeof *objs2; i++) prism_tensor_release(objs2[i]);
}

/* ---- optimizer updates ---- */

static void test_optim(void) {
  enum { N = 6 };
  int64_t s[1] = {N};
  float p0[N], g1[N], g2[N], zero[N] = {0};
  fill_rand(p0, N, 1.0f);
  fill_rand(g1, N, 0.5f);
  fill_rand(g2, N, 0.5f);
  g1[0] = 0; /* a zero gradient still decays the weight */
  const double lr = 0.05, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.1;
  prism_tensor *p = tf(1, s, p0), *m = tf(1, s, zero), *v = tf(1, s, zero);
  prism_tensor *tg1 = tf(1, s, g1), *tg2 = tf(1, s, g2);
  double rp[N], rm[N] = {0}, rv[N] = {0};
  for (int i = 0; i < N; i++) rp[i] = p0[i];
  bool ok = true;
  for (int step = 1; step <= 2; step++) {
    const float *g = step == 1 ? g1 : g2;
    uint32_t ver = p->storage->version;
    ok &= prism_op_adamw_step(p, step == 1 ? tg1 : tg2, m, v, lr, b1, b2, eps, wd, step) == 0;
    ok &= p->storage->version != ver;
    for (int i = 0; i < N; i++) {
      rp[i] *= 1 - lr * wd;
      rm[i] = b1 * rm[i] + (1 - b1) * g[i];
      rv[i] = b2 * rv[i] + (1 - b2) * (double)g[i] * g[i];
      double mh = rm[i] / (1 - pow(b1, step)), vh = rv[i] / (1 - pow(b2, step));
      rp[i] -= lr * mh / (sqrt(vh) + eps);
    }
    double ep = max_diff(p, rp, N), em = max_diff(m, rm, N), ev = max_diff(v, rv, N);
    report(ok && ep < 2e-6 && em < 1e-7 && ev < 1e-8, "adamw_step %d matches the update rule in double (param err %.1e)",
           step, ep);
  }
  /* SGD with nesterov momentum and weight decay, two steps */
  prism_tensor *q = tf(1, s, p0), *buf = tf(1, s, zero);
  double rq[N], rb[N];
  for (int i = 0; i < N; i++) rq[i] = p0[i];
  for (int step = 1; step <= 2; step++) {
    const float *g = step == 1 ? g1 : g2;
    int rc = prism_op_sgd_step(q, step == 1 ? tg1 : tg2, buf, 0.1, 0.9, 0.0, true, 0.01, step == 1);
    for (int i = 0; i < N; i++) {
      double d = g[i] + 0.01 * rq[i];
      rb[i] = step == 1 ? d : 0.9 * rb[i] + d;
      rq[i] -= 0.1 * (d + 0.9 * rb[i]);
    }
    double e = max_diff(q, rq, N);
    report(rc == 0 && e < 1e-6 && max_diff(buf, rb, N) < 1e-6, "sgd_step %d (nesterov, wd) matches the update rule (err %.1e)",
           step, e);
  }
  /* global norm over two tensors, in order */
  prism_tensor *list[2] = {tg1, tg2};
  double norm = -1, rn = 0;
  for (int i = 0; i < N; i++) rn += (double)g1[i] * g1[i] + (double)g2[i] * g2[i];
  rn = sqrt(rn);
  int rc = prism_op_global_norm(list, 2, &norm);
  report(rc == 0 && fabs(norm - rn) < 1e-12 * rn, "global_norm = sqrt(sum of squares) (%.9f vs %.9f)", norm, rn);
  /* scale_ and add_, contiguous and through a transposed view */
  int64_t s2[2] = {2, 3};
  prism_tensor *a = tf(2, s2, p0), *bsrc = tf(2, s2, g1);
  prism_tensor *at = prism_tensor_transpose_raw(a, 0, 1), *bt = prism_tensor_transpose_raw(bsrc, 0, 1);
  rc = prism_op_scale_(a, 0.5);
  rc |= prism_op_add_(at, bt); /* a^T += b^T  <=>  a += b */
  rc |= prism_op_add_(a, bsrc);
  double ra[6];
  for (int i = 0; i < 6; i++) ra[i] = (double)(p0[i] * 0.5f + g1[i] + g1[i]);
  report(rc == 0 && max_diff(a, ra, 6) < 1e-6, "scale_ and add_ (contiguous and transposed views) update in place");
  prism_tensor *sq = prism_tensor_transpose_raw(p, 0, 0);
  rc = prism_op_scale_(sq, 2.0);
  for (int i = 0; i < N; i++) rp[i] *= 2;
  report(rc == 0 && max_diff(p, rp, N) < 4e-6, "scale_ through an alias view");

  int64_t s5[1] = {N - 1};
  prism_tensor *short_g = prism_tensor_zeros(PRISM_FLOAT32, PRISM_CPU, 1, s5);
  report(failed_with(prism_op_adamw_step(p, short_g, m, v, lr, b1, b2, eps, wd, 3) < 0, "adamw_step: grad has shape [5]"),
         "adamw_step rejects a gradient of the wrong shape");
  report(failed_with(prism_op_adamw_step(at, bt, at, at, lr, b1, b2, eps, wd, 1) < 0, "adamw_step: param must be contiguous"),
         "adamw_step rejects a non-contiguous param");
  report(failed_with(prism_op_adamw_step(p, tg1, m, v, lr, 1.5, b2, eps, wd, 1) < 0, "adamw_step: betas"),
         "adamw_step rejects beta1 = 1.5");
  report(failed_with(prism_op_add_(p, short_g) < 0, "add_: shapes [6] and [5] differ"), "add_ rejects mismatched shapes");
  p->requires_grad = true;
  report(failed_with(prism_op_scale_(p, 2) < 0, "scale_: in-place update of a tensor that requires grad"),
         "scale_ refuses a tensor that requires grad in grad mode");
  prism_tensor *objs[] = {p, m, v, tg1, tg2, q, buf, a, bsrc, at, bt, sq, short_g};
  for (size_t i = 0; i < sizeof objs / sizeof *objs; i++) prism_tensor_release(objs[i]);
}

int main(void) {
  size_t tensors0 = prism_mem_live_tensors();
  test_softmax();
  test_cross_entropy();
  test_attention();
  test_norm();
  test_index();
  test_random();
  test_optim();
  size_t nodes = prism_autograd_live_nodes(), tensors = prism_mem_live_tensors();
  report(nodes == 0, "no autograd node outlives the tests (%zu live)", nodes);
  report(tensors == tensors0, "no tensor leaks (%zu live, %zu at start)", tensors, tensors0);
  return check_summary();
}
