/* test_kernels_fused.c — the CPU backend's fused kernels (softmax family, cross-entropy,
 * attention, RMSNorm/LayerNorm, dropout, AdamW/SGD, and vexp.h's exp) against naive
 * double-precision references, every backward against central differences of a naive double
 * forward, the optimizers against closed-form values of a few steps, and bitwise determinism
 * across 1, 2 and 3 threads. */
#include "../../kernels/cpu/cpu_kernels.h"
#include "../../kernels/cpu/vexp.h"
#include "../../runtime/rng.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed, failed;

static void report(int ok, const char *name, double max_abs, double max_rel) {
  printf("%-60s max_abs %.3e  max_rel %.3e  %s\n", name, max_abs, max_rel, ok ? "ok" : "FAIL");
  if (ok) passed++; else failed++;
}

static void report_flag(int ok, const char *name) {
  printf("%-60s %s\n", name, ok ? "ok" : "FAIL");
  if (ok) passed++; else failed++;
}

/* Every element must satisfy |got - want| <= atol + rtol |want| (NaN fails). */
static int compare(const char *name, const float *got, const double *want, int64_t n, double atol, double rtol) {
  double max_abs = 0, max_rel = 0;
  int ok = 1;
  for (int64_t i = 0; i < n; i++) {
    double e = fabs((double)got[i] - want[i]);
    if (!(e <= atol + rtol * fabs(want[i]))) ok = 0;
    if (e > max_abs || isnan(e)) max_abs = e;
    double r = e / (fabs(want[i]) > 1e-30 ? fabs(want[i]) : 1e-30);
    if (fabs(want[i]) > atol && r > max_rel) max_rel = r;
  }
  report(ok, name, max_abs, max_rel);
  return ok;
}

static uint64_t data_state = 0x9E3779B97F4A7C15ULL;
static double uniform_pm1(void) { /* splitmix64 -> [-1, 1) */
  uint64_t z = (data_state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  z ^= z >> 31;
  return (double)(z >> 11) * 0x1.0p-52 - 1.0;
}
static float *rand_floats(int64_t n, double amp) {
  float *p = malloc(sizeof(float) * (size_t)(n ? n : 1));
  for (int64_t i = 0; i < n; i++) p[i] = (float)(amp * uniform_pm1());
  return p;
}
static double *to_double(const float *x, int64_t n) {
  double *p = malloc(sizeof(double) * (size_t)(n ? n : 1));
  for (int64_t i = 0; i < n; i++) p[i] = x[i];
  return p;
}

/* Central differences of fn at x (modified in place and restored). */
typedef double (*scalar_fn)(const double *x, const void *ctx);
static void fd_grad(double *g, double *x, int64_t n, scalar_fn fn, const void *ctx) {
  for (int64_t i = 0; i < n; i++) {
    double xi = x[i], h = 1e-6 * (fabs(xi) > 1 ? fabs(xi) : 1);
    x[i] = xi + h;
    double fp = fn(x, ctx);
    x[i] = xi - h;
    double fm = fn(x, ctx);
    x[i] = xi;
    g[i] = (fp - fm) / (2 * h);
  }
}

/* ================= softmax family and cross-entropy ================= */

typedef struct { int64_t rows, n; const double *gy; const int64_t *tgt; double scale; int log; } sm_ctx;

static void ref_softmax_row(double *y, const double *x, int64_t n, int log_out) {
  double m = -INFINITY, s = 0;
  for (int64_t j = 0; j < n; j++) m = x[j] > m ? x[j] : m;
  for (int64_t j = 0; j < n; j++) s += exp(x[j] - m);
  for (int64_t j = 0; j < n; j++) y[j] = log_out ? x[j] - m - log(s) : exp(x[j] - m) / s;
}

static double sm_loss(const double *x, const void *vctx) { /* sum gy * softmax(x) */
  const sm_ctx *c = vctx;
  double *y = malloc(sizeof(double) * (size_t)c->n), acc = 0;
  for (int64_t r = 0; r < c->rows; r++) {
    ref_softmax_row(y, x + r * c->n, c->n, c->log);
    for (int64_t j = 0; j < c->n; j++) acc += c->gy[r * c->n + j] * y[j];
  }
  free(y);
  return acc;
}

static double ce_loss(const double *x, const void *vctx) { /* scale * sum_r (lse_r - x[r, t_r]) */
  const sm_ctx *c = vctx;
  double acc = 0;
  for (int64_t r = 0; r < c->rows; r++) {
    const double *xr = x + r * c->n;
    double m = -INFINITY, s = 0;
    for (int64_t j = 0; j < c->n; j++) m = xr[j] > m ? xr[j] : m;
    for (int64_t j = 0; j < c->n; j++) s += exp(xr[j] - m);
    acc += m + log(s) - xr[c->tgt[r]];
  }
  return c->scale * acc;
}

static void test_softmax_family(int64_t rows, int64_t n) {
  char name[96];
  int64_t sz = rows * n;
  float *x = rand_floats(sz, 4.0), *gy = rand_floats(sz, 1.0), *y = malloc(sizeof(float) * sz);
  float *gx = malloc(sizeof(float) * sz);
  double *xd = to_double(x, sz), *gyd = to_double(gy, sz), *want = malloc(sizeof(double) * sz);
  for (int log_out = 0; log_out <= 1; log_out++) {
    const char *fn = log_out ? "log_softmax" : "softmax";
    (log_out ? prism_cpu_log_softmax : prism_cpu_softmax)(y, x, rows, n);
    for (int64_t r = 0; r < rows; r++) ref_softmax_row(want + r * n, xd + r * n, n, log_out);
    snprintf(name, sizeof name, "%s fwd [%lld x %lld]", fn, (long long)rows, (long long)n);
    compare(name, y, want, sz, 1e-6, 1e-5);
    (log_out ? prism_cpu_log_softmax_backward : prism_cpu_softmax_backward)(gx, gy, y, rows, n);
    sm_ctx c = {rows, n, gyd, NULL, 1.0, log_out};
    fd_grad(want, xd, sz, sm_loss, &c);
    snprintf(name, sizeof name, "%s bwd vs finite diff [%lld x %lld]", fn, (long long)rows, (long long)n);
    compare(name, gx, want, sz, 1e-5, 1e-4);
  }
  free(x); free(gy); free(y); free(gx); free(xd); free(gyd); free(want);
}

static void test_cross_entropy(int64_t rows, int64_t n, double amp, int extreme) {
  char name[96];
  int64_t sz = rows * n;
  float *x = rand_floats(sz, amp), *loss = malloc(sizeof(float) * rows), *lse = malloc(sizeof(float) * rows);
  int64_t *tgt = malloc(sizeof(int64_t) * rows);
  for (int64_t r = 0; r < rows; r++) {
    tgt[r] = (int64_t)((uniform_pm1() + 1) * 0.5 * n) % n;
    if (extreme) /* alternate: target is the dominant logit, or a hopeless one */
      for (int64_t j = 0; j < n; j++) x[r * n + j] = (j == tgt[r]) == (r % 2 == 0) ? 1e4f : -1e4f;
  }
  if (extreme && n > 2) x[1] = 1e4f;  /* a tie at the top in row 0 */
  double *xd = to_double(x, sz), *want_loss = calloc((size_t)rows, sizeof(double)), *want_lse = calloc((size_t)rows, sizeof(double));
  for (int64_t r = 0; r < rows; r++) {
    const double *xr = xd + r * n;
    double m = -INFINITY, s = 0;
    for (int64_t j = 0; j < n; j++) m = xr[j] > m ? xr[j] : m;
    for (int64_t j = 0; j < n; j++) s += exp(xr[j] - m);
    want_lse[r] = m + log(s);
    want_loss[r] = want_lse[r] - xr[tgt[r]];
  }
  prism_cpu_cross_entropy(loss, lse, x, tgt, rows, n);
  const char *tag = extreme ? "cross_entropy logits +-1e4" : "cross_entropy";
  snprintf(name, sizeof name, "%s loss [%lld x %lld]", tag, (long long)rows, (long long)n);
  compare(name, loss, want_loss, rows, 1e-5, 1e-5);
  snprintf(name, sizeof name, "%s lse [%lld x %lld]", tag, (long long)rows, (long long)n);
  compare(name, lse, want_lse, rows, 1e-5, 1e-6);

  float *gx = malloc(sizeof(float) * sz);
  double scale = 1.0 / (double)rows;
  prism_cpu_cross_entropy_backward(gx, x, lse, tgt, rows, n, (float)scale);
  double *want = malloc(sizeof(double) * sz);
  if (extreme) { /* finite differences are meaningless at 1e4; use the closed form */
    double *pr = malloc(sizeof(double) * (size_t)n);
    for (int64_t r = 0; r < rows; r++) {
      ref_softmax_row(pr, xd + r * n, n, 0);
      for (int64_t j = 0; j < n; j++) want[r * n + j] = scale * (pr[j] - (j == tgt[r]));
    }
    free(pr);
    int finite = 1;
    for (int64_t i = 0; i < rows; i++) finite &= isfinite(loss[i]) && isfinite(lse[i]);
    for (int64_t i = 0; i < sz; i++) finite &= isfinite(gx[i]);
    report_flag(finite, "cross_entropy logits +-1e4: loss, lse, grad finite");
  } else {
    sm_ctx c = {rows, n, NULL, tgt, scale, 0};
    fd_grad(want, xd, sz, ce_loss, &c);
  }
  snprintf(name, sizeof name, "%s bwd%s [%lld x %lld]", tag, extreme ? " vs closed form" : " vs finite diff",
           (long long)rows, (long long)n);
  /* at 1e4 the saved float lse carries ~5e-4 absolute error, so p does too */
  compare(name, gx, want, sz, extreme ? 2e-3 * scale : 1e-6, 1e-4);
  free(x); free(loss); free(lse); free(tgt); free(xd); free(want_loss); free(want_lse); free(gx); free(want);
}

/* ================= attention ================= */

typedef struct { int64_t bh, t, d; double scale; int causal; const double *dout; } at_ctx;

/* Naive double attention; qkv = [q | k | v], each [bh, t, d]. out/lse may be NULL. */
static void ref_attention(double *out, double *lse, const double *qkv, const at_ctx *c) {
  int64_t bh = c->bh, t = c->t, d = c->d, blk = bh * t * d;
  const double *q = qkv, *k = qkv + blk, *v = qkv + 2 * blk;
  double *s = malloc(sizeof(double) * (size_t)t);
  for (int64_t b = 0; b < bh; b++)
    for (int64_t i = 0; i < t; i++) {
      int64_t nk = c->causal ? i + 1 : t;
      double m = -INFINITY, l = 0;
      for (int64_t j = 0; j < nk; j++) {
        double acc = 0;
        for (int64_t e = 0; e < d; e++) acc += q[(b * t + i) * d + e] * k[(b * t + j) * d + e];
        s[j] = c->scale * acc;
        m = s[j] > m ? s[j] : m;
      }
      for (int64_t j = 0; j < nk; j++) l += (s[j] = exp(s[j] - m));
      if (lse) lse[b * t + i] = m + log(l);
      for (int64_t e = 0; e < d && out; e++) {
        double acc = 0;
        for (int64_t j = 0; j < nk; j++) acc += s[j] * v[(b * t + j) * d + e];
        out[(b * t + i) * d + e] = acc / l;
      }
    }
  free(s);
}

static double at_loss(const double *qkv, const void *vctx) { /* sum dout * attention(q, k, v) */
  const at_ctx *c = vctx;
  int64_t blk = c->bh * c->t * c->d;
  double *out = malloc(sizeof(double) * blk), acc = 0;
  ref_attention(out, NULL, qkv, c);
  for (int64_t i = 0; i < blk; i++) acc += c->dout[i] * out[i];
  free(out);
  return acc;
}

/* Analytic double backward, for sizes where finite differences would be slow. */
static void ref_attention_backward(double *grad, const double *qkv, const at_ctx *c) {
  int64_t bh = c->bh, t = c->t, d = c->d, blk = bh * t * d;
  const double *q = qkv, *k = qkv + blk, *v = qkv + 2 * blk;
  double *out = malloc(sizeof(double) * blk), *lse = malloc(sizeof(double) * bh * t);
  ref_attention(out, lse, qkv, c);
  memset(grad, 0, sizeof(double) * 3 * blk);
  double *dq = grad, *dk = grad + blk, *dv = grad + 2 * blk;
  for (int64_t b = 0; b < bh; b++)
    for (int64_t i = 0; i < t; i++) {
      const double *dor = c->dout + (b * t + i) * d;
      double delta = 0;
      for (int64_t e = 0; e < d; e++) delta += dor[e] * out[(b * t + i) * d + e];
      for (int64_t j = 0; j < (c->causal ? i + 1 : t); j++) {
        double sdot = 0, dp = 0;
        for (int64_t e = 0; e < d; e++) {
          sdot += q[(b * t + i) * d + e] * k[(b * t + j) * d + e];
          dp += dor[e] * v[(b * t + j) * d + e];
        }
        double p = exp(c->scale * sdot - lse[b * t + i]), ds = p * (dp - delta);
        for (int64_t e = 0; e < d; e++) {
          dq[(b * t + i) * d + e] += c->scale * ds * k[(b * t + j) * d + e];
          dk[(b * t + j) * d + e] += c->scale * ds * q[(b * t + i) * d + e];
          dv[(b * t + j) * d + e] += p * dor[e];
        }
      }
    }
  free(out);
  free(lse);
}

static void test_attention(int64_t bh, int64_t t, int64_t d, int causal, int use_fd) {
  char name[128], shape[64];
  snprintf(shape, sizeof shape, "[%lld, %lld, %lld]%s", (long long)bh, (long long)t, (long long)d,
           causal ? " causal" : "");
  int64_t blk = bh * t * d;
  float *qkv = rand_floats(3 * blk, 1.5), *dout = rand_floats(blk, 1.0);
  float *out = malloc(sizeof(float) * blk), *lse = malloc(sizeof(float) * bh * t), *grad = malloc(sizeof(float) * 3 * blk);
  double *qkvd = to_double(qkv, 3 * blk), *doutd = to_double(dout, blk);
  double *want_out = malloc(sizeof(double) * blk), *want_lse = malloc(sizeof(double) * bh * t);
  double *want_grad = malloc(sizeof(double) * 3 * blk);
  at_ctx c = {bh, t, d, 1.0 / sqrt((double)d), causal, doutd};
  float scale = (float)c.scale;

  prism_cpu_attention(out, lse, qkv, qkv + blk, qkv + 2 * blk, bh, t, d, scale, causal);
  ref_attention(want_out, want_lse, qkvd, &c);
  snprintf(name, sizeof name, "attention fwd out %s", shape);
  compare(name, out, want_out, blk, 1e-5, 1e-4);
  snprintf(name, sizeof name, "attention fwd lse %s", shape);
  compare(name, lse, want_lse, bh * t, 1e-5, 1e-5);

  prism_cpu_attention_backward(grad, grad + blk, grad + 2 * blk, dout, qkv, qkv + blk, qkv + 2 * blk, out, lse,
                               bh, t, d, scale, causal);
  if (use_fd) fd_grad(want_grad, qkvd, 3 * blk, at_loss, &c);
  else ref_attention_backward(want_grad, qkvd, &c);
  const char *how = use_fd ? "finite diff" : "double ref";
  const char *names[3] = {"dq", "dk", "dv"};
  for (int g = 0; g < 3; g++) {
    snprintf(name, sizeof name, "attention bwd %s vs %s %s", names[g], how, shape);
    compare(name, grad + g * blk, want_grad + g * blk, blk, 2e-5, 2e-4);
  }
  free(qkv); free(dout); free(out); free(lse); free(grad); free(qkvd); free(doutd);
  free(want_out); free(want_lse); free(want_grad);
}

/* ================= RMSNorm / LayerNorm ================= */

typedef struct { int64_t rows, n; int has_w, has_b, layer; double eps; const double *dy; } nm_ctx;

/* p = [x (rows*n) | w (n) | b (n)] */
static void ref_norm(double *y, const double *p, const nm_ctx *c) {
  const double *w = p + c->rows * c->n, *b = w + c->n;
  for (int64_t r = 0; r < c->rows; r++) {
    const double *xr = p + r * c->n;
    double mu = 0, ss = 0;
    if (c->layer) {
      for (int64_t j = 0; j < c->n; j++) mu += xr[j];
      mu /= (double)c->n;
    }
    for (int64_t j = 0; j < c->n; j++) ss += (xr[j] - mu) * (xr[j] - mu);
    double rs = 1.0 / sqrt(ss / (double)c->n + c->eps);
    for (int64_t j = 0; j < c->n; j++)
      y[r * c->n + j] = (xr[j] - mu) * rs * (c->has_w ? w[j] : 1.0) + (c->has_b ? b[j] : 0.0);
  }
}

static double nm_loss(const double *p, const void *vctx) {
  const nm_ctx *c = vctx;
  double *y = malloc(sizeof(double) * c->rows * c->n), acc = 0;
  ref_norm(y, p, c);
  for (int64_t i = 0; i < c->rows * c->n; i++) acc += c->dy[i] * y[i];
  free(y);
  return acc;
}

static void test_norm(int layer, int64_t rows, int64_t n, int has_w) {
  char name[128], shape[64];
  const char *fn = layer ? "layernorm" : "rmsnorm";
  snprintf(shape, sizeof shape, "[%lld x %lld]%s", (long long)rows, (long long)n, has_w ? "" : " no w/b");
  int64_t sz = rows * n, np = sz + 2 * n;
  float *p = rand_floats(np, 2.0), *dy = rand_floats(sz, 1.0);
  for (int64_t i = 0; i < sz; i++) p[i] += 0.5f;  /* a non-zero mean for layernorm to remove */
  float *x = p, *w = has_w ? p + sz : NULL, *b = (has_w && layer) ? p + sz + n : NULL;
  float *y = malloc(sizeof(float) * sz), *grad = malloc(sizeof(float) * np);
  float *mean = malloc(sizeof(float) * rows), *rstd = malloc(sizeof(float) * rows);
  double *pd = to_double(p, np), *dyd = to_double(dy, sz), *want = malloc(sizeof(double) * np);
  nm_ctx c = {rows, n, has_w, b != NULL, layer, layer ? 1e-5 : 1e-6, dyd};

  if (layer) prism_cpu_layernorm(y, mean, rstd, x, w, b, rows, n, (float)c.eps);
  else prism_cpu_rmsnorm(y, rstd, x, w, rows, n, (float)c.eps);
  ref_norm(want, pd, &c);
  snprintf(name, sizeof name, "%s fwd %s", fn, shape);
  compare(name, y, want, sz, 1e-5, 1e-5);

  float *dw = has_w ? grad + sz : NULL, *db = b ? grad + sz + n : NULL;
  if (layer) prism_cpu_layernorm_backward(grad, dw, db, dy, x, w, mean, rstd, rows, n);
  else prism_cpu_rmsnorm_backward(grad, dw, dy, x, w, rstd, rows, n);
  fd_grad(want, pd, np, nm_loss, &c);
  snprintf(name, sizeof name, "%s bwd dx vs finite diff %s", fn, shape);
  compare(name, grad, want, sz, 2e-5, 2e-4);
  if (dw) {
    snprintf(name, sizeof name, "%s bwd dw vs finite diff %s", fn, shape);
    compare(name, dw, want + sz, n, 2e-5, 2e-4);
  }
  if (db) {
    snprintf(name, sizeof name, "%s bwd db vs finite diff %s", fn, shape);
    compare(name, db, want + sz + n, n, 2e-5, 2e-4);
  }
  free(p); free(dy); free(y); free(grad); free(mean); free(rstd); free(pd); free(dyd); free(want);
}

/* ================= optimizers ================= */

static void test_adamw(void) {
  /* With a constant gradient the bias-corrected moments are exactly g and g^2 at every step, so
   * p_k = p_{k-1} (1 - lr wd) - lr g / (|g| + eps) and m_k = (1 - b1^k) g, v_k = (1 - b2^k) g^2. */
  enum { N = 37 };
  float p[N], g[N], m[N], v[N];
  double pw[N], mw[N], vw[N];
  const double lr = 1e-2, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.1;
  for (int i = 0; i < N; i++) {
    p[i] = (float)uniform_pm1();
    g[i] = (float)(uniform_pm1() * (i % 3 == 0 ? 1e-3 : 1.0));
    m[i] = v[i] = 0.0f;
    pw[i] = p[i];
  }
  float pf[N], mf[N], vf[N];
  for (int step = 1; step <= 3; step++) {
    prism_cpu_adamw(p, g, m, v, N, (float)lr, (float)b1, (float)b2, (float)eps, (float)wd, step);
    for (int i = 0; i < N; i++) {
      pw[i] = pw[i] * (1 - lr * wd) - lr * g[i] / (fabs(g[i]) + eps);
      mw[i] = (1 - pow((float)b1, step)) * g[i];
      vw[i] = (1 - pow((float)b2, step)) * (double)g[i] * g[i];
    }
  }
  memcpy(pf, p, sizeof p); memcpy(mf, m, sizeof m); memcpy(vf, v, sizeof v);
  compare("adamw 3 steps, constant grad: p closed form", pf, pw, N, 1e-6, 1e-5);
  compare("adamw 3 steps, constant grad: m closed form", mf, mw, N, 1e-9, 1e-5);
  compare("adamw 3 steps, constant grad: v closed form", vf, vw, N, 1e-12, 1e-4);

  /* Changing gradients: step by step against the PyTorch formula in double. */
  double pd[N], md[N], vd[N];
  for (int i = 0; i < N; i++) { pd[i] = p[i] = (float)uniform_pm1(); md[i] = m[i] = 0; vd[i] = v[i] = 0; }
  for (int step = 1; step <= 5; step++) {
    for (int i = 0; i < N; i++) g[i] = (float)uniform_pm1();
    prism_cpu_adamw(p, g, m, v, N, (float)lr, (float)b1, (float)b2, (float)eps, (float)wd, step);
    double bc1 = 1 - pow((float)b1, step), bc2 = 1 - pow((float)b2, step);
    for (int i = 0; i < N; i++) {
      pd[i] *= 1 - lr * wd;
      md[i] = (float)b1 * md[i] + (1 - (float)b1) * g[i];
      vd[i] = (float)b2 * vd[i] + (1 - (float)b2) * (double)g[i] * g[i];
      pd[i] -= lr * (md[i] / bc1) / (sqrt(vd[i] / bc2) + eps);
    }
  }
  compare("adamw 5 steps, varying grad vs double formula", p, pd, N, 1e-6, 1e-5);

  /* the vector body and the scalar tail must give an element the same bits: update each
   * element alone (n = 1 is all tail) and compare with the bulk update */
  float p1[N], m1[N], v1[N];
  memcpy(p1, p, sizeof p); memcpy(m1, m, sizeof m); memcpy(v1, v, sizeof v);
  for (int i = 0; i < N; i++) g[i] = (float)uniform_pm1();
  prism_cpu_adamw(p, g, m, v, N, (float)lr, (float)b1, (float)b2, (float)eps, (float)wd, 6);
  for (int i = 0; i < N; i++)
    prism_cpu_adamw(p1 + i, g + i, m1 + i, v1 + i, 1, (float)lr, (float)b1, (float)b2, (float)eps, (float)wd, 6);
  report_flag(!memcmp(p, p1, sizeof p) && !memcmp(m, m1, sizeof m) && !memcmp(v, v1, sizeof v),
              "adamw: bulk update == one element at a time, bitwise");
}

static void test_sgd(void) {
  /* Constant gradient, momentum 0.9: buf_k = g (1, 1.9, 2.71); nesterov steps use
   * g + 0.9 buf_k = (1.9, 2.71, 3.439) g; dampening 0.5 gives buf_k = (1, 1.4, 1.76) g. */
  enum { N = 19 };
  const double lr = 0.05;
  float g[N], p0[N];
  for (int i = 0; i < N; i++) { g[i] = (float)uniform_pm1(); p0[i] = (float)uniform_pm1(); }
  static const struct { const char *name; float momentum, dampening; int nesterov; double coef[3]; } cases[] = {
    {"sgd momentum 0.9, 3 steps", 0.9f, 0.0f, 0, {1.0, 1.9, 2.71}},
    {"sgd nesterov 0.9, 3 steps", 0.9f, 0.0f, 1, {1.9, 2.71, 3.439}},
    {"sgd momentum 0.9 dampening 0.5, 3 steps", 0.9f, 0.5f, 0, {1.0, 1.4, 1.76}},
    {"sgd plain (no momentum, NULL buf), 3 steps", 0.0f, 0.0f, 0, {1.0, 1.0, 1.0}},
  };
  for (int cs = 0; cs < 4; cs++) {
    float p[N], buf[N];
    double want[N];
    memcpy(p, p0, sizeof p);
    for (int i = 0; i < N; i++) want[i] = p0[i];
    for (int step = 0; step < 3; step++) {
      prism_cpu_sgd(p, g, cases[cs].momentum != 0.0f ? buf : NULL, N, (float)lr, cases[cs].momentum,
                    cases[cs].dampening, cases[cs].nesterov, 0.0f, step == 0);
      for (int i = 0; i < N; i++) want[i] -= lr * cases[cs].coef[step] * g[i];
    }
    compare(cases[cs].name, p, want, N, 1e-6, 1e-5);
  }
  /* weight decay folds into the gradient before momentum: buf_1 = g + wd p0 */
  float p[N], buf[N];
  double want[N];
  memcpy(p, p0, sizeof p);
  prism_cpu_sgd(p, g, buf, N, (float)lr, 0.9f, 0.0f, 0, 0.01f, 1);
  for (int i = 0; i < N; i++) want[i] = p0[i] - lr * (g[i] + (double)0.01f * p0[i]);
  compare("sgd weight decay 0.01, step 1", p, want, N, 1e-7, 1e-6);
}

/* ================= dropout statistics ================= */

static void test_dropout(void) {
  const int64_t n = 200003;
  float *x = rand_floats(n, 1.0), *y = malloc(sizeof(float) * n), *mask = malloc(sizeof(float) * n);
  uint64_t key = prism_rng_stream_key(5, PRISM_STREAM_DROPOUT);
  prism_cpu_dropout(y, mask, x, n, 0.25f, key, 11);
  int64_t kept = 0;
  int ok = 1;
  for (int64_t i = 0; i < n; i++) {
    if (mask[i] != 0.0f) { kept++; ok &= mask[i] == 1.0f / 0.75f; }
    ok &= y[i] == x[i] * mask[i];
  }
  double frac = (double)kept / n;
  ok &= fabs(frac - 0.75) < 0.005;
  printf("%-60s kept %.4f (want 0.75)  %s\n", "dropout p=0.25: mask values and keep rate", frac, ok ? "ok" : "FAIL");
  if (ok) passed++; else failed++;
  prism_cpu_dropout(y, mask, x, n, 1.0f, key, 11);
  ok = 1;
  for (int64_t i = 0; i < n; i++) ok &= mask[i] == 0.0f && y[i] == 0.0f;
  prism_cpu_dropout(y, mask, x, n, 0.0f, key, 11);
  for (int64_t i = 0; i < n; i++) ok &= mask[i] == 1.0f && y[i] == x[i];
  report_flag(ok, "dropout p=1 drops all, p=0 keeps all");
  free(x); free(y); free(mask);
}

/* ================= vexp.h ================= */

static void test_vexp(void) {
  double max_rel = 0;
  int ok = 1;
  for (float x = -87.0f; x < 88.5f; x += 0.000731f * (1.0f + fabsf(x))) {
    double want = exp((double)x), rel = fabs(prism_exp1(x, 0.0f) - want) / want;
    if (rel > max_rel) max_rel = rel;
  }
  ok = max_rel < 3e-7;
  report(ok, "vexp: exp(x) on [-87, 88.5], relative error", 0.0, max_rel);
  float sp[] = {-INFINITY, INFINITY, NAN, -100.0f, 100.0f, 0.0f, -87.4f, 88.8f};
  float want[] = {0.0f, INFINITY, NAN, 0.0f, INFINITY, 1.0f, 0.0f, INFINITY};
  ok = 1;
  for (int i = 0; i < 8; i++) {
    float y = prism_exp1(sp[i], 0.0f);
    ok &= isnan(want[i]) ? isnan(y) : y == want[i];
  }
  report_flag(ok, "vexp: -inf, +inf, NaN, under/overflow, exp(0) = 1");
  /* every element gets the same bits in the 4-lane body and in the padded tail */
  enum { N = 23 };
  float x[N], y[N], sh[N], z[N];
  for (int i = 0; i < N; i++) { x[i] = (float)(20 * uniform_pm1()); sh[i] = (float)uniform_pm1(); }
  ok = 1;
  for (int off = 0; off < 4; off++) {
    prism_exp_shifted(y, x + off, 0.5f, N - off);
    prism_exp_sub(z, x + off, sh + off, N - off);
    for (int i = 0; i < N - off; i++) {
      ok &= y[i] == prism_exp1(x[off + i], 0.5f);
      float d = x[off + i] - sh[off + i];
      ok &= z[i] == prism_exp1(d, 0.0f);
    }
  }
  report_flag(ok, "vexp: bulk == single element at any offset");
}

/* ================= determinism across thread counts ================= */

typedef void (*det_fn)(float *out, const float *in);
static int64_t det_rows = 1000, det_n = 129, det_bh = 16, det_t = 128, det_d = 32;

static void det_attention(float *o, const float *in) {
  int64_t blk = det_bh * det_t * det_d;
  prism_cpu_attention(o, o + blk, in, in + blk, in + 2 * blk, det_bh, det_t, det_d, 0.17677669f, 1);
  float *dq = o + blk + det_bh * det_t;
  prism_cpu_attention_backward(dq, dq + blk, dq + 2 * blk, in + 3 * blk, in, in + blk, in + 2 * blk, o, o + blk,
                               det_bh, det_t, det_d, 0.17677669f, 1);
}
static void det_norm(float *o, const float *in) {
  int64_t sz = det_rows * det_n;
  prism_cpu_rmsnorm(o, o + sz, in, in + 2 * sz, det_rows, det_n, 1e-6f);
  float *g = o + sz + det_rows;
  prism_cpu_rmsnorm_backward(g, g + sz, in + sz, in, in + 2 * sz, o + sz, det_rows, det_n);
  float *h = g + sz + det_n;
  prism_cpu_layernorm(h, h + sz, h + sz + det_rows, in, in + 2 * sz, in + 2 * sz + det_n, det_rows, det_n, 1e-5f);
  float *k = h + sz + 2 * det_rows;
  prism_cpu_layernorm_backward(k, k + sz, k + sz + det_n, in + sz, in, in + 2 * sz, h + sz, h + sz + det_rows,
                               det_rows, det_n);
}
static void det_xent(float *o, const float *in) {
  int64_t sz = det_rows * det_n, tg[1000];
  for (int64_t r = 0; r < det_rows; r++) tg[r] = (r * 37) % det_n;
  prism_cpu_cross_entropy(o, o + det_rows, in, tg, det_rows, det_n);
  prism_cpu_cross_entropy_backward(o + 2 * det_rows, in, o + det_rows, tg, det_rows, det_n, 1e-3f);
  prism_cpu_softmax(o + 2 * det_rows + sz, in, det_rows, det_n);
}
static void det_dropout(float *o, const float *in) {
  prism_cpu_dropout(o, o + det_rows * det_n, in, det_rows * det_n, 0.1f, 0x1234567890ULL, 3);
}

/* Norm inputs that expose any change of row grouping even though dw/db are summed in double:
 * rows 4k+2 and 4k+3 have equal x and opposite dy of size ~2^40, so their products cancel
 * exactly, but each time one is added the running partial sum is rounded to a multiple of 2^-12
 * — a quantization that depends on what the partial held at that point, i.e. on the grouping. */
static void det_prep_norm(float *in) {
  int64_t sz = det_rows * det_n;
  for (int64_t r = 3; r < det_rows; r += 4)
    for (int64_t j = 0; j < det_n; j++) {
      in[r * det_n + j] = in[(r - 1) * det_n + j];
      in[sz + (r - 1) * det_n + j] *= 0x1p40f;
      in[sz + r * det_n + j] = -in[sz + (r - 1) * det_n + j];
    }
}

static void test_determinism(const char *name, det_fn fn, int64_t n_in, int64_t n_out, void (*prep)(float *)) {
  float *in = rand_floats(n_in, 1.0), *ref = malloc(sizeof(float) * n_out), *got = malloc(sizeof(float) * n_out);
  if (prep) prep(in);
  int ok = 1;
  for (int threads = 1; threads <= 3; threads++) {
    omp_set_num_threads(threads);
    memset(threads == 1 ? ref : got, 0xff, sizeof(float) * n_out);  /* NaN fill: unwritten shows */
    fn(threads == 1 ? ref : got, in);
    if (threads > 1 && memcmp(ref, got, sizeof(float) * n_out) != 0) ok = 0;
  }
  for (int64_t i = 0; i < n_out; i++) ok &= isfinite(ref[i]);
  char label[96];
  snprintf(label, sizeof label, "determinism 1/2/3 threads: %s", name);
  report_flag(ok, label);
  free(in); free(ref); free(got);
}

int main(void) {
  int default_threads = omp_get_max_threads();
  openblas_set_num_threads(1);  /* as the CPU backend does: kernels call sgemm from OpenMP threads */

  test_softmax_family(7, 33);
  test_softmax_family(1, 5);
  test_softmax_family(4, 1);
  test_cross_entropy(9, 31, 3.0, 0);
  test_cross_entropy(1, 2, 3.0, 0);
  test_cross_entropy(6, 1000, 1.0, 1);

  test_attention(2, 5, 3, 1, 1);
  test_attention(3, 17, 7, 1, 1);
  test_attention(3, 17, 7, 0, 1);
  test_attention(2, 1, 5, 1, 1);
  test_attention(1, 1, 4, 0, 1);
  test_attention(1, 70, 3, 1, 1);   /* more than one 64-row tile, ragged last tile */
  test_attention(4, 64, 32, 1, 0);
  test_attention(2, 33, 16, 0, 0);
  test_attention(2, 150, 8, 1, 0);
  test_attention(2, 150, 8, 0, 0);

  test_norm(0, 5, 13, 1);
  test_norm(0, 1, 8, 1);
  test_norm(0, 3, 7, 0);
  test_norm(0, 131, 9, 1);  /* three row blocks for dw */
  test_norm(1, 5, 13, 1);
  test_norm(1, 1, 8, 1);
  test_norm(1, 3, 7, 0);
  test_norm(1, 131, 9, 1);

  test_vexp();
  test_adamw();
  test_sgd();
  test_dropout();

  int64_t at_blk = det_bh * det_t * det_d, nm = det_rows * det_n;
  test_determinism("attention fwd+bwd [16,128,32] causal", det_attention, 4 * at_blk, 4 * at_blk + det_bh * det_t, NULL);
  det_bh = 3; det_t = 61; det_d = 13;
  at_blk = det_bh * det_t * det_d;
  test_determinism("attention fwd+bwd [3,61,13] causal", det_attention, 4 * at_blk, 4 * at_blk + det_bh * det_t, NULL);
  test_determinism("rmsnorm/layernorm fwd+bwd incl. dw, db", det_norm, 2 * nm + 2 * det_n,
                   4 * nm + 3 * det_rows + 3 * det_n, det_prep_norm);
  test_determinism("cross_entropy fwd+bwd, softmax", det_xent, nm, 2 * det_rows + 2 * nm, NULL);
  test_determinism("dropout", det_dropout, nm, 2 * nm, NULL);
  omp_set_num_threads(default_threads);

  printf("%d passed, %d failed\n", passed, failed);
  return failed != 0;
}
