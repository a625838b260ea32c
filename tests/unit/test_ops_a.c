/* test_ops_a.c — the elementwise, shape, reduction and matmul ops (runtime/ops/elementwise.c,
 * shape.c, reduce.c, matmul.c): forward values against small hand-worked cases and naive double
 * loops, broadcasting shapes, the errors users will hit (each must name the op), and a
 * finite-difference gradcheck of every differentiable op on non-contiguous, broadcasting inputs
 * (central differences of sum(out * w) in double, against prism_backward). Ends by checking that
 * the tape and every tensor header were released. One line per check; exit 1 on any failure. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd.h"
#include "error.h"
#include "ops.h"
#include "tensor.h"

#include "check.h"
#include "op_tensors.h"

/* A deterministic stream of floats in [lo, hi) (LCG; the tests must not depend on the runtime's rng). */
static uint64_t lcg_state = 12345;
static float urand(float lo, float hi) {
  lcg_state = lcg_state * 6364136223846793005ULL + 1442695040888963407ULL;
  return lo + (hi - lo) * (float)((lcg_state >> 40) / (double)(1ULL << 24));
}

/* t has shape (nd, shape) and values close to want (absolute + relative tolerance). Releases t. */
static void expect(const char *name, prism_tensor *t, int nd, const int64_t *shape, const double *want, double tol) {
  bool ok = t && t->ndim == nd && (nd == 0 || memcmp(t->shape, shape, sizeof(int64_t) * (size_t)nd) == 0);
  double *h = ok ? host(t) : NULL, max_err = 0;
  if (!h) ok = false;
  for (int64_t i = 0; ok && i < numel_of(nd, shape); i++) {
    double e = fabs(h[i] - want[i]);
    if (!(e <= tol * (1 + fabs(want[i])))) {
      printf("     %s: element %lld is %.9g, expected %.9g\n", name, (long long)i, h[i], want[i]);
      ok = false;
    }
    if (e > max_err) max_err = e;
  }
  if (!t) printf("     %s: %s\n", name, prism_error_message());
  report(ok, "%-44s max err %.2e", name, max_err);
  free(h);
  prism_tensor_release(t);
}

/* The op failed (NULL) with an argument error whose message names it. */
static void expect_error(const char *name, prism_tensor *t, const char *op_name) {
  const char *msg = prism_error_message();
  bool ok = !t && prism_error_kind_last() == PRISM_ERR_ARG && strstr(msg, op_name) == msg;
  report(ok, "error %-38s -> \"%s\"", name, msg);
  prism_tensor_release(t);
  prism_error_clear();
}

/* ------------------------------------------------------------------ forward values */

static void test_elementwise_values(void) {
  int64_t s213[] = {2, 1, 3}, s41[] = {4, 1}, s243[] = {2, 4, 3}, s3[] = {3}, s23[] = {2, 3};
  float av[6] = {1, 2, 3, 4, 5, 6}, bv[4] = {10, 20, 30, 40};
  prism_tensor *a = tf(3, s213, av), *b = tf(2, s41, bv);
  double want[24];
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 4; j++)
      for (int k = 0; k < 3; k++) want[(i * 4 + j) * 3 + k] = av[i * 3 + k] + bv[j];
  expect("add [2,1,3] + [4,1] -> [2,4,3]", prism_op_add(a, b), 3, s243, want, 0);
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 4; j++)
      for (int k = 0; k < 3; k++) want[(i * 4 + j) * 3 + k] = av[i * 3 + k] / bv[j];
  expect("div [2,1,3] / [4,1] -> [2,4,3]", prism_op_div(a, b), 3, s243, want, 1e-7);
  prism_tensor_release(a);
  prism_tensor_release(b);

  float xv[3] = {1, -2, 3}, yv[3] = {2, 2, -3};
  prism_tensor *x = tf(1, s3, xv), *y = tf(1, s3, yv);
  expect("sub", prism_op_sub(x, y), 1, s3, (double[]){-1, -4, 6}, 0);
  expect("mul", prism_op_mul(x, y), 1, s3, (double[]){2, -4, -9}, 0);
  expect("pow", prism_op_binary(PRISM_BINARY_POW, x, y), 1, s3, (double[]){1, 4, 1.0 / 27}, 1e-7);
  expect("maximum", prism_op_binary(PRISM_BINARY_MAXIMUM, x, y), 1, s3, (double[]){2, 2, 3}, 0);
  expect("minimum", prism_op_binary(PRISM_BINARY_MINIMUM, x, y), 1, s3, (double[]){1, -2, -3}, 0);
  expect("lt", prism_op_binary(PRISM_BINARY_LT, x, y), 1, s3, (double[]){1, 1, 0}, 0);
  expect("ge", prism_op_binary(PRISM_BINARY_GE, x, y), 1, s3, (double[]){0, 0, 1}, 0);
  x->requires_grad = true;
  prism_tensor *eq = prism_op_binary(PRISM_BINARY_EQ, x, y);
  report(eq && !eq->grad_fn && !eq->requires_grad, "comparison records no grad_fn");
  prism_tensor_release(eq);
  x->requires_grad = false;

  /* every unary op against libm in double */
  float uv[6] = {0.25f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f};
  prism_tensor *u = tf(1, (int64_t[]){6}, uv);
  struct { prism_unary_op op; double a, b; const char *name; } ops[] = {
    {PRISM_UNARY_NEG, 0, 0, "neg"}, {PRISM_UNARY_EXP, 0, 0, "exp"}, {PRISM_UNARY_LOG, 0, 0, "log"},
    {PRISM_UNARY_SQRT, 0, 0, "sqrt"}, {PRISM_UNARY_RSQRT, 0, 0, "rsqrt"}, {PRISM_UNARY_TANH, 0, 0, "tanh"},
    {PRISM_UNARY_SIGMOID, 0, 0, "sigmoid"}, {PRISM_UNARY_GELU, 0, 0, "gelu"}, {PRISM_UNARY_SILU, 0, 0, "silu"},
    {PRISM_UNARY_POW_SCALAR, 1.7, 0, "pow scalar"}, {PRISM_UNARY_ADD_SCALAR, 2.5, 0, "add scalar"},
    {PRISM_UNARY_MUL_SCALAR, -3, 0, "mul scalar"}, {PRISM_UNARY_RSUB_SCALAR, 1, 0, "rsub scalar"},
    {PRISM_UNARY_RDIV_SCALAR, 2, 0, "rdiv scalar"}, {PRISM_UNARY_CLAMP, 0.6, 1.75, "clamp"},
  };
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
    double w[6];
    for (int j = 0; j < 6; j++) {
      double v = uv[j], al = ops[i].a;
      switch (ops[i].op) {
      case PRISM_UNARY_NEG: w[j] = -v; break;
      case PRISM_UNARY_EXP: w[j] = exp(v); break;
      case PRISM_UNARY_LOG: w[j] = log(v); break;
      case PRISM_UNARY_SQRT: w[j] = sqrt(v); break;
      case PRISM_UNARY_RSQRT: w[j] = 1 / sqrt(v); break;
      case PRISM_UNARY_TANH: w[j] = tanh(v); break;
      case PRISM_UNARY_SIGMOID: w[j] = 1 / (1 + exp(-v)); break;
      case PRISM_UNARY_GELU: w[j] = 0.5 * v * (1 + erf(v / sqrt(2))); break;
      case PRISM_UNARY_SILU: w[j] = v / (1 + exp(-v)); break;
      case PRISM_UNARY_POW_SCALAR: w[j] = pow(v, al); break;
      case PRISM_UNARY_ADD_SCALAR: w[j] = v + al; break;
      case PRISM_UNARY_MUL_SCALAR: w[j] = v * al; break;
      case PRISM_UNARY_RSUB_SCALAR: w[j] = al - v; break;
      case PRISM_UNARY_RDIV_SCALAR: w[j] = al / v; break;
      case PRISM_UNARY_CLAMP: w[j] = v < al ? al : v > ops[i].b ? ops[i].b : v; break;
      default: w[j] = NAN;
      }
    }
    char name[64];
    snprintf(name, sizeof name, "unary %s", ops[i].name);
    expect(name, prism_op_unary(ops[i].op, u, ops[i].a, ops[i].b), 1, (int64_t[]){6}, w, 1e-6);
  }
  prism_tensor_release(u);
  expect("relu", prism_op_unary(PRISM_UNARY_RELU, x, 0, 0), 1, s3, (double[]){1, 0, 3}, 0);
  expect("abs", prism_op_unary(PRISM_UNARY_ABS, x, 0, 0), 1, s3, (double[]){1, 2, 3}, 0);
  prism_tensor_release(x);
  prism_tensor_release(y);

  /* zero-dimensional operands */
  prism_tensor *s0 = tf(0, NULL, (float[]){2.5f}), *s1 = tf(0, NULL, (float[]){-4});
  expect("0-d + 0-d -> 0-d", prism_op_add(s0, s1), 0, NULL, (double[]){-1.5}, 0);
  expect("exp of a 0-d tensor", prism_op_unary(PRISM_UNARY_EXP, s0, 0, 0), 0, NULL, (double[]){exp(2.5)}, 1e-6);
  expect("sum dim 0 of a 0-d tensor", prism_op_sum(s0, 0, false, false), 0, NULL, (double[]){2.5}, 0);
  prism_tensor_release(s0);
  prism_tensor_release(s1);

  /* masked_fill: an int64 mask broadcast over rows; nonzero (including negative) fills */
  float mv[6] = {1, 2, 3, 4, 5, 6};
  int64_t mk[3] = {0, -7, 1};
  prism_tensor *m = tf(2, s23, mv), *mask = prism_tensor_from_host(PRISM_INT64, PRISM_CPU, 1, s3, mk);
  expect("masked_fill int64 mask [3] over [2,3]", prism_op_masked_fill(m, mask, -1.5), 2, s23,
         (double[]){1, -1.5, -1.5, 4, -1.5, -1.5}, 0);
  prism_tensor_release(m);
  prism_tensor_release(mask);
}

static void test_shape_values(void) {
  int64_t s23[] = {2, 3}, s32[] = {3, 2}, s6[] = {6};
  float v[6] = {0, 1, 2, 3, 4, 5};
  prism_tensor *a = tf(2, s23, v);
  prism_tensor *t = prism_op_transpose(a, 0, 1);
  report(t && t->storage == a->storage, "transpose shares storage");
  prism_tensor *r = prism_op_view(t, 1, (int64_t[]){-1});
  report(r && r->storage != a->storage, "view of a transposed tensor copies (reshape semantics)");
  expect("view(-1) of transpose", r, 1, s6, (double[]){0, 3, 1, 4, 2, 5}, 0);
  prism_tensor *n = prism_op_narrow(a, 1, 1, 2); /* [2,2] with row stride 3: flattening copies */
  prism_tensor *nv = prism_op_view(n, 3, (int64_t[]){2, 1, 2});
  report(nv && nv->storage == a->storage, "view of a narrowed tensor that strides allow shares storage");
  expect("view [2,1,2] of narrow", nv, 3, (int64_t[]){2, 1, 2}, (double[]){1, 2, 4, 5}, 0);
  expect("permute(1,0)", prism_op_permute(a, 2, (int[]){1, 0}), 2, s32, (double[]){0, 3, 1, 4, 2, 5}, 0);
  expect("contiguous of transpose", prism_op_contiguous(t), 2, s32, (double[]){0, 3, 1, 4, 2, 5}, 0);
  prism_tensor *c = prism_op_contiguous(a);
  report(c == a, "contiguous of a contiguous tensor is the tensor itself");
  prism_tensor_release(c);
  expect("narrow(1, 1, 2)", n, 2, (int64_t[]){2, 2}, (double[]){1, 2, 4, 5}, 0);
  prism_tensor *col = prism_op_narrow(a, 1, 0, 1);
  expect("expand [2,1] -> [2,2,3] with -1", prism_op_expand(col, 3, (int64_t[]){2, -1, 3}), 3, (int64_t[]){2, 2, 3},
         (double[]){0, 0, 0, 3, 3, 3, 0, 0, 0, 3, 3, 3}, 0);
  prism_tensor *uq = prism_op_unsqueeze(a, -1);
  report(uq && uq->ndim == 3 && uq->shape[2] == 1 && uq->storage == a->storage, "unsqueeze(-1) -> [2,3,1] view");
  expect("squeeze(2)", prism_op_squeeze(uq, 2, false), 2, s23, (double[]){0, 1, 2, 3, 4, 5}, 0);
  expect("squeeze(0) of a size-2 dim leaves it", prism_op_squeeze(uq, 0, false), 3, (int64_t[]){2, 3, 1},
         (double[]){0, 1, 2, 3, 4, 5}, 0);
  prism_tensor *u4 = prism_op_unsqueeze(uq, 0);
  expect("squeeze all [1,2,3,1] -> [2,3]", prism_op_squeeze(u4, 0, true), 2, s23, (double[]){0, 1, 2, 3, 4, 5}, 0);
  prism_tensor_release(u4);
  prism_tensor_release(uq);
  prism_tensor_release(col);
  prism_tensor_release(t);
  prism_tensor_release(a);
}

static void test_cat_dtype_device_values(void) {
  int64_t s23[] = {2, 3}, s21[] = {2, 1}, s32[] = {3, 2};
  float av[6] = {0, 1, 2, 3, 4, 5}, bv[2] = {10, 11}, dv[6] = {20, 21, 22, 23, 24, 25};
  prism_tensor *a = tf(2, s23, av), *b = tf(2, s21, bv), *d = tf(2, s32, dv);
  prism_tensor *dt = prism_op_transpose(d, 0, 1);
  prism_tensor *xs[3] = {a, b, dt};
  expect("cat dim 1 of [2,3], [2,1], [3,2]^T", prism_op_cat(xs, 3, 1), 2, (int64_t[]){2, 7},
         (double[]){0, 1, 2, 10, 20, 22, 24, 3, 4, 5, 11, 21, 23, 25}, 0);
  prism_tensor *ys[2] = {a, dt};
  expect("cat dim -2", prism_op_cat(ys, 2, -2), 2, (int64_t[]){4, 3}, (double[]){0, 1, 2, 3, 4, 5, 20, 22, 24, 21, 23, 25}, 0);
  expect("stack dim 0", prism_op_stack(ys, 2, 0), 3, (int64_t[]){2, 2, 3},
         (double[]){0, 1, 2, 3, 4, 5, 20, 22, 24, 21, 23, 25}, 0);
  expect("stack dim -1", prism_op_stack(ys, 2, -1), 3, (int64_t[]){2, 3, 2},
         (double[]){0, 20, 1, 22, 2, 24, 3, 21, 4, 23, 5, 25}, 0);
  int64_t iv[3] = {7, 8, 9};
  prism_tensor *it = prism_tensor_from_host(PRISM_INT64, PRISM_CPU, 1, (int64_t[]){3}, iv);
  prism_tensor *is[2] = {it, it};
  prism_tensor *ic = prism_op_cat(is, 2, 0);
  report(ic && ic->dtype == PRISM_INT64, "cat of int64 tensors stays int64");
  expect("cat int64 values", ic, 1, (int64_t[]){6}, (double[]){7, 8, 9, 7, 8, 9}, 0);

  a->requires_grad = true;
  prism_tensor *same = prism_op_to_dtype(a, PRISM_FLOAT32);
  report(same == a, "to(float32) of a float32 tensor is the tensor itself (keeps its grad)");
  prism_tensor_release(same);
  float fv[3] = {-1.75f, 2.5f, 3.0f};
  prism_tensor *f = tf(1, (int64_t[]){3}, fv);
  f->requires_grad = true;
  prism_tensor *l = prism_op_to_dtype(f, PRISM_INT64);
  report(l && l->dtype == PRISM_INT64 && !l->requires_grad && !l->grad_fn, "to(int64) gives int64 without grad");
  expect("to(int64) truncates", l, 1, (int64_t[]){3}, (double[]){-1, 2, 3}, 0);
  prism_tensor *sd = prism_op_to_device(a, PRISM_CPU);
  report(sd == a, "to(cpu) of a cpu tensor is the tensor itself");
  prism_tensor_release(sd);
  expect_error("to(cuda) without a CUDA backend", prism_op_to_device(a, PRISM_CUDA), "to");

  prism_tensor *cl = prism_op_clone(dt);
  report(cl && cl->storage != d->storage && prism_tensor_is_contiguous(cl) && cl->grad_fn == NULL,
         "clone copies into new contiguous storage");
  expect("clone values", cl, 2, s23, (double[]){20, 22, 24, 21, 23, 25}, 0);
  prism_tensor *dd = prism_op_detach(a);
  report(dd && dd->storage == a->storage && !dd->requires_grad && !dd->grad_fn, "detach shares storage, no grad");
  prism_tensor_release(dd);
  prism_tensor *ca = prism_op_clone(a);
  report(ca && ca->grad_fn && ca->requires_grad, "clone of a tensor requiring grad records a node");
  prism_tensor_release(ca);
  prism_tensor_release(f);
  prism_tensor_release(it);
  prism_tensor_release(dt);
  prism_tensor_release(a);
  prism_tensor_release(b);
  prism_tensor_release(d);
}

static void test_reduce_values(void) {
  int64_t s23[] = {2, 3};
  float xv[6] = {1, 5, 3, 4, 2, 6};
  prism_tensor *x = tf(2, s23, xv);
  expect("sum all -> 0-d", prism_op_sum(x, 0, false, true), 0, NULL, (double[]){21}, 0);
  expect("sum all keepdim -> [1,1]", prism_op_sum(x, 0, true, true), 2, (int64_t[]){1, 1}, (double[]){21}, 0);
  expect("sum dim 0", prism_op_sum(x, 0, false, false), 1, (int64_t[]){3}, (double[]){5, 7, 9}, 0);
  expect("sum dim 0 keepdim", prism_op_sum(x, 0, true, false), 2, (int64_t[]){1, 3}, (double[]){5, 7, 9}, 0);
  expect("sum dim -1 keepdim", prism_op_sum(x, -1, true, false), 2, (int64_t[]){2, 1}, (double[]){9, 12}, 0);
  expect("mean dim 1", prism_op_mean(x, 1, false, false), 1, (int64_t[]){2}, (double[]){3, 4}, 1e-7);
  expect("mean all", prism_op_mean(x, 0, false, true), 0, NULL, (double[]){3.5}, 1e-7);
  prism_tensor *xt = prism_op_transpose(x, 0, 1);
  expect("sum dim 1 of a transposed tensor", prism_op_sum(xt, 1, false, false), 1, (int64_t[]){3}, (double[]){5, 7, 9}, 0);
  prism_tensor *idx = NULL;
  expect("max dim 1 values", prism_op_max(x, 1, false, false, &idx), 1, (int64_t[]){2}, (double[]){5, 6}, 0);
  report(idx && idx->dtype == PRISM_INT64, "max indices are int64");
  expect("max dim 1 indices", idx, 1, (int64_t[]){2}, (double[]){1, 2}, 0);
  idx = NULL;
  expect("max dim 0 keepdim values", prism_op_max(x, 0, true, false, &idx), 2, (int64_t[]){1, 3}, (double[]){4, 5, 6}, 0);
  expect("max dim 0 keepdim indices", idx, 2, (int64_t[]){1, 3}, (double[]){1, 0, 1}, 0);
  expect("max all", prism_op_max(x, 0, false, true, NULL), 0, NULL, (double[]){6}, 0);

  /* the middle dim of [2,3,2], against a loop */
  float v[12];
  for (int i = 0; i < 12; i++) v[i] = urand(-1, 1);
  prism_tensor *y = tf(3, (int64_t[]){2, 3, 2}, v);
  double want[4] = {0};
  for (int o = 0; o < 2; o++)
    for (int j = 0; j < 3; j++)
      for (int i = 0; i < 2; i++) want[o * 2 + i] += v[(o * 3 + j) * 2 + i];
  expect("sum over the middle dim of [2,3,2]", prism_op_sum(y, 1, false, false), 2, (int64_t[]){2, 2}, want, 1e-6);

  /* gradients by hand: max goes to the first of tied maxima; maximum splits ties */
  float tv[3] = {3, 7, 7};
  prism_tensor *t = tf(1, (int64_t[]){3}, tv);
  t->requires_grad = true;
  prism_tensor *m = prism_op_max(t, 0, false, true, NULL);
  report(m && prism_backward(m, NULL) == 0, "backward through max");
  expect("max grad goes to the first maximum", t->grad ? prism_tensor_retain(t->grad) : NULL, 1, (int64_t[]){3},
         (double[]){0, 1, 0}, 0);
  prism_tensor_release(m);
  float uv[3] = {7, 7, 9};
  prism_tensor *u = tf(1, (int64_t[]){3}, uv);
  u->requires_grad = true;
  prism_tensor_release(t->grad);
  t->grad = NULL;
  prism_tensor *mx = prism_op_binary(PRISM_BINARY_MAXIMUM, t, u);
  report(mx && prism_backward(mx, NULL) != 0, "backward of a non-scalar without a gradient is refused");
  prism_error_clear();
  prism_tensor *s = mx ? prism_op_sum(mx, 0, false, true) : NULL;
  report(s && prism_backward(s, NULL) == 0, "backward through maximum");
  expect("maximum grad of a: ties split", t->grad ? prism_tensor_retain(t->grad) : NULL, 1, (int64_t[]){3},
         (double[]){0, 0.5, 0}, 0);
  expect("maximum grad of b: ties split", u->grad ? prism_tensor_retain(u->grad) : NULL, 1, (int64_t[]){3},
         (double[]){1, 0.5, 1}, 0);
  prism_tensor_release(s);
  prism_tensor_release(mx);
  prism_tensor_release(u);
  prism_tensor_release(t);
  prism_tensor_release(y);
  prism_tensor_release(xt);
  prism_tensor_release(x);
}

/* C[b] = A[b] @ B[b] in double, for row-major host arrays with batch strides (0 = broadcast). */
static void ref_bmm(const float *A, int64_t sa, const float *B, int64_t sb, int64_t batch, int64_t m, int64_t k,
                    int64_t n, double *C) {
  for (int64_t b = 0; b < batch; b++)
    for (int64_t i = 0; i < m; i++)
      for (int64_t j = 0; j < n; j++) {
        double acc = 0;
        for (int64_t p = 0; p < k; p++) acc += (double)A[b * sa + i * k + p] * B[b * sb + p * n + j];
        C[(b * m + i) * n + j] = acc;
      }
}

static void test_matmul_values(void) {
  float av[6] = {1, 2, 3, 4, 5, 6}, bv[6] = {7, 8, 9, 10, 11, 12};
  prism_tensor *a = tf(2, (int64_t[]){2, 3}, av), *b = tf(2, (int64_t[]){3, 2}, bv);
  expect("matmul [2,3] @ [3,2]", prism_op_matmul(a, b), 2, (int64_t[]){2, 2}, (double[]){58, 64, 139, 154}, 0);
  prism_tensor *v1 = tf(1, (int64_t[]){3}, (float[]){1, 2, 3}), *v2 = tf(1, (int64_t[]){3}, (float[]){4, 5, 6});
  expect("matmul 1-D . 1-D -> 0-d", prism_op_matmul(v1, v2), 0, NULL, (double[]){32}, 0);
  prism_tensor *v3 = tf(1, (int64_t[]){3}, (float[]){1, 0, -1}), *v4 = tf(1, (int64_t[]){2}, (float[]){1, -1});
  expect("matmul [2,3] @ [3] -> [2]", prism_op_matmul(a, v3), 1, (int64_t[]){2}, (double[]){-2, -2}, 0);
  expect("matmul [2] @ [2,3] -> [3]", prism_op_matmul(v4, a), 1, (int64_t[]){3}, (double[]){-3, -3, -3}, 0);
  prism_tensor *bt = prism_op_transpose(a, 0, 1); /* [3,2], non-contiguous */
  expect("matmul [2,3] @ ([2,3]^T)", prism_op_matmul(a, bt), 2, (int64_t[]){2, 2}, (double[]){14, 32, 32, 77}, 0);

  /* broadcast batches: [2,1,2,3] @ [4,3,2] -> [2,4,2,2] */
  float A[12], B[24], C[32];
  double want[64];
  for (int i = 0; i < 12; i++) A[i] = urand(-1, 1);
  for (int i = 0; i < 24; i++) B[i] = urand(-1, 1);
  prism_tensor *ta = tf(4, (int64_t[]){2, 1, 2, 3}, A), *tb = tf(3, (int64_t[]){4, 3, 2}, B);
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 4; j++) ref_bmm(A + i * 6, 0, B + j * 6, 0, 1, 2, 3, 2, want + (i * 4 + j) * 4);
  expect("matmul [2,1,2,3] @ [4,3,2] -> [2,4,2,2]", prism_op_matmul(ta, tb), 4, (int64_t[]){2, 4, 2, 2}, want, 1e-6);
  /* left batched, right one matrix (the folded GEMM): [4,2,3] @ [3,2] */
  prism_tensor *ta3 = tf(3, (int64_t[]){4, 2, 3}, B), *tb2 = tf(2, (int64_t[]){3, 2}, A);
  ref_bmm(B, 6, A, 0, 4, 2, 3, 2, want);
  expect("matmul [4,2,3] @ [3,2] (folded)", prism_op_matmul(ta3, tb2), 3, (int64_t[]){4, 2, 2}, want, 1e-6);
  /* left one matrix, right batched: [2,3] @ [4,3,2] */
  prism_tensor *ta2 = tf(2, (int64_t[]){2, 3}, A);
  ref_bmm(A, 0, B, 6, 4, 2, 3, 2, want);
  expect("matmul [2,3] @ [4,3,2] (batch stride 0)", prism_op_matmul(ta2, tb), 3, (int64_t[]){4, 2, 2}, want, 1e-6);
  /* linear: x @ w^T + b */
  prism_tensor *w = tf(2, (int64_t[]){2, 3}, (float[]){1, 0, -1, 2, 1, 0}), *bias = tf(1, (int64_t[]){2}, (float[]){0.5f, -1});
  expect("linear with bias", prism_op_linear(a, w, bias), 2, (int64_t[]){2, 2}, (double[]){-1.5, 3, -1.5, 12}, 0);
  expect("linear without bias, 1-D input", prism_op_linear(v1, w, NULL), 1, (int64_t[]){2}, (double[]){-2, 4}, 0);
  for (int i = 0; i < 32; i++) C[i] = urand(-1, 1);
  prism_tensor *x3 = tf(3, (int64_t[]){2, 4, 4}, C);
  prism_tensor *x3n = prism_op_narrow(x3, 2, 1, 3); /* [2,4,3], non-contiguous */
  double lw[16];
  for (int r = 0; r < 8; r++)
    for (int o = 0; o < 2; o++) {
      double acc = o == 0 ? 0.5 : -1;
      for (int p = 0; p < 3; p++) acc += (double)C[r * 4 + 1 + p] * (o == 0 ? (p == 0 ? 1 : p == 2 ? -1 : 0) : (p == 0 ? 2 : p == 1 ? 1 : 0));
      lw[r * 2 + o] = acc;
    }
  expect("linear of a non-contiguous [2,4,3]", prism_op_linear(x3n, w, bias), 3, (int64_t[]){2, 4, 2}, lw, 1e-6);
  prism_tensor *rel[] = {a, b, v1, v2, v3, v4, bt, ta, tb, ta3, tb2, ta2, w, bias, x3, x3n};
  for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) prism_tensor_release(rel[i]);
}

static void test_errors(void) {
  prism_tensor *a = prism_tensor_zeros(PRISM_FLOAT32, PRISM_CPU, 2, (int64_t[]){2, 3});
  prism_tensor *b = prism_tensor_zeros(PRISM_FLOAT32, PRISM_CPU, 2, (int64_t[]){4, 3});
  prism_tensor *c = prism_tensor_zeros(PRISM_FLOAT32, PRISM_CPU, 2, (int64_t[]){3, 2});
  prism_tensor *i64 = prism_tensor_zeros(PRISM_INT64, PRISM_CPU, 2, (int64_t[]){2, 3});
  prism_tensor *e = prism_tensor_zeros(PRISM_FLOAT32, PRISM_CPU, 2, (int64_t[]){2, 0});
  prism_tensor *s = prism_tensor_zeros(PRISM_FLOAT32, PRISM_CPU, 0, (int64_t[]){1});
  expect_error("add [2,3] + [4,3]", prism_op_add(a, b), "add");
  expect_error("maximum [2,3], [3,2]", prism_op_binary(PRISM_BINARY_MAXIMUM, a, c), "maximum");
  expect_error("mul of an int64 tensor", prism_op_mul(a, i64), "mul");
  expect_error("exp of an int64 tensor", prism_op_unary(PRISM_UNARY_EXP, i64, 0, 0), "exp");
  expect_error("masked_fill with a [4,3] mask on [2,3]", prism_op_masked_fill(a, b, 0), "masked_fill");
  expect_error("view [2,3] as [4]", prism_op_view(a, 1, (int64_t[]){4}), "view");
  expect_error("view with two -1", prism_op_view(a, 2, (int64_t[]){-1, -1}), "view");
  expect_error("view with -1 in a 0-element shape", prism_op_view(e, 2, (int64_t[]){0, -1}), "view");
  expect_error("transpose dim 5 of a 2-D tensor", prism_op_transpose(a, 0, 5), "transpose");
  expect_error("permute with a repeated dim", prism_op_permute(a, 2, (int[]){1, 1}), "permute");
  expect_error("permute with too few dims", prism_op_permute(a, 1, (int[]){0}), "permute");
  expect_error("narrow past the end", prism_op_narrow(a, 1, 2, 2), "narrow");
  expect_error("expand [2,3] to [2,4]", prism_op_expand(a, 2, (int64_t[]){2, 4}), "expand");
  expect_error("unsqueeze dim 4 of a 2-D tensor", prism_op_unsqueeze(a, 4), "unsqueeze");
  expect_error("squeeze dim -3 of a 2-D tensor", prism_op_squeeze(a, -3, false), "squeeze");
  prism_tensor *ab[2] = {a, c}, *ai[2] = {a, i64}, *ss[2] = {s, s};
  expect_error("cat [2,3] and [3,2] on dim 0", prism_op_cat(ab, 2, 0), "cat");
  expect_error("cat float32 and int64", prism_op_cat(ai, 2, 0), "cat");
  expect_error("cat of 0-d tensors", prism_op_cat(ss, 2, 0), "cat");
  expect_error("cat of nothing", prism_op_cat(ab, 0, 0), "cat");
  expect_error("stack [2,3] and [3,2]", prism_op_stack(ab, 2, 0), "stack");
  expect_error("sum over dim 2 of a 2-D tensor", prism_op_sum(a, 2, false, false), "sum");
  expect_error("mean of an int64 tensor", prism_op_mean(i64, 0, false, true), "mean");
  expect_error("max over an empty dim", prism_op_max(e, 1, false, false, NULL), "max");
  expect_error("matmul [2,3] @ [4,3]", prism_op_matmul(a, b), "matmul");
  prism_tensor *b3 = prism_tensor_zeros(PRISM_FLOAT32, PRISM_CPU, 3, (int64_t[]){2, 2, 3});
  prism_tensor *c3 = prism_tensor_zeros(PRISM_FLOAT32, PRISM_CPU, 3, (int64_t[]){3, 3, 2});
  expect_error("matmul batch [2] vs [3]", prism_op_matmul(b3, c3), "matmul");
  expect_error("matmul of a 0-d tensor", prism_op_matmul(s, a), "matmul");
  expect_error("linear [2,3] with weight [4,3]^T", prism_op_linear(a, c, NULL), "linear");
  expect_error("linear with a bias of the wrong size", prism_op_linear(a, b, a), "linear");
  prism_tensor *rel[] = {a, b, c, i64, e, s, b3, c3};
  for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) prism_tensor_release(rel[i]);
}

/* ------------------------------------------------------------------ gradcheck */

#define GC_MAX 4
typedef prism_tensor *(*gc_fn)(prism_tensor *const *in, int variant);
typedef struct {
  int nd;
  int64_t shape[PRISM_MAX_DIMS];
  float data[256];
} gc_in;

/* Intermediate tensors of a gradcheck function, released once the output holds the graph. */
typedef struct { prism_tensor *t[16]; int n; } pool;
static prism_tensor *K(pool *p, prism_tensor *t) {
  if (t) p->t[p->n++] = t;
  return t;
}
static prism_tensor *done(pool *p, prism_tensor *out) {
  for (int i = 0; i < p->n; i++) prism_tensor_release(p->t[i]);
  return out;
}

static void gc_rand(gc_in *in, int nd, const int64_t *shape, float lo, float hi) {
  in->nd = nd;
  for (int i = 0; i < nd; i++) in->shape[i] = shape[i];
  for (int64_t i = 0; i < numel_of(nd, shape); i++) in->data[i] = urand(lo, hi);
}

/* Values lo + off + step * (a permutation of 0..n-1): distinct and at least `step` apart, so a
 * perturbation of 1e-2 never crosses a kink (relu, abs, clamp, max, maximum). */
static void gc_grid(gc_in *in, int nd, const int64_t *shape, float lo, float step, float off) {
  in->nd = nd;
  for (int i = 0; i < nd; i++) in->shape[i] = shape[i];
  int64_t n = numel_of(nd, shape);
  bool shuffle = n % 7 != 0; /* (7i + 3) mod n is a permutation only when 7 does not divide n */
  for (int64_t i = 0; i < n; i++) in->data[i] = lo + off + step * (float)(shuffle ? (i * 7 + 3) % n : i);
}

static double gc_eval(gc_fn fn, int variant, gc_in *in, int n, const double *w, int64_t wn, int *rc) {
  prism_tensor *t[GC_MAX] = {0};
  for (int i = 0; i < n; i++) t[i] = tf(in[i].nd, in[i].shape, in[i].data);
  bool prev = prism_grad_set_enabled(false);
  prism_tensor *y = fn(t, variant);
  prism_grad_set_enabled(prev);
  double *h = host(y), s = 0;
  if (!h || prism_tensor_numel(y) != wn) *rc = -1;
  for (int64_t j = 0; h && j < wn; j++) s += h[j] * w[j];
  free(h);
  prism_tensor_release(y);
  for (int i = 0; i < n; i++) prism_tensor_release(t[i]);
  return s;
}

static void gradcheck(const char *name, gc_fn fn, int variant, gc_in *in, int n) {
  const double h = 1e-2, atol = 3e-3, rtol = 1e-2;
  prism_tensor *leaf[GC_MAX] = {0};
  bool ok = true;
  for (int i = 0; i < n; i++) {
    leaf[i] = tf(in[i].nd, in[i].shape, in[i].data);
    leaf[i]->requires_grad = true;
  }
  prism_tensor *y = fn(leaf, variant);
  if (!y) printf("     %s: forward failed: %s\n", name, prism_error_message());
  int64_t wn = y ? prism_tensor_numel(y) : 0;
  float *wf = calloc((size_t)wn + 1, sizeof *wf);
  double *w = calloc((size_t)wn + 1, sizeof *w);
  for (int64_t j = 0; j < wn; j++) w[j] = wf[j] = urand(-1, 1);
  prism_tensor *wt = y ? tf(y->ndim, y->shape, wf) : NULL;
  if (!y || !wt || !y->grad_fn || prism_backward(y, wt) < 0) {
    if (y) printf("     %s: backward failed: %s\n", name, prism_error_message());
    ok = false;
  }
  prism_tensor_release(wt);
  prism_tensor_release(y);
  double max_abs = 0, max_rel = 0;
  int64_t checked = 0;
  for (int i = 0; ok && i < n; i++) {
    int64_t m = numel_of(in[i].nd, in[i].shape);
    double *an = leaf[i]->grad ? host(leaf[i]->grad) : calloc((size_t)m + 1, sizeof(double));
    if (!an || (leaf[i]->grad && !prism_shape_equal(leaf[i]->grad, leaf[i]))) ok = false;
    for (int64_t j = 0; ok && j < m; j++) {
      float v = in[i].data[j], vp = (float)(v + h), vm = (float)(v - h);
      int rc = 0;
      in[i].data[j] = vp;
      double lp = gc_eval(fn, variant, in, n, w, wn, &rc);
      in[i].data[j] = vm;
      double lm = gc_eval(fn, variant, in, n, w, wn, &rc);
      in[i].data[j] = v;
      double num = (lp - lm) / ((double)vp - (double)vm), err = fabs(an[j] - num);
      if (rc || !(err <= atol + rtol * fabs(num))) {
        printf("     %s: input %d element %lld analytic %.6g numeric %.6g\n", name, i, (long long)j, an[j], num);
        ok = false;
      }
      if (err > max_abs) max_abs = err;
      if (err / fmax(fabs(num), 1e-3) > max_rel) max_rel = err / fmax(fabs(num), 1e-3);
      checked++;
    }
    free(an);
  }
  report(ok, "gradcheck %-34s %4lld grads, max abs err %.2e, max rel err %.2e", name, (long long)checked, max_abs, max_rel);
  free(wf);
  free(w);
  for (int i = 0; i < n; i++) prism_tensor_release(leaf[i]);
  prism_error_clear();
}

/* a: [3,2] transposed and unsqueezed to [2,1,3]; b: [4,3] narrowed to [4,1]; -> [2,4,3] */
static prism_tensor *gc_binary(prism_tensor *const *in, int op) {
  pool p = {{0}, 0};
  prism_tensor *at = K(&p, prism_op_transpose(in[0], 0, 1));
  prism_tensor *au = at ? K(&p, prism_op_unsqueeze(at, 1)) : NULL;
  prism_tensor *bn = K(&p, prism_op_narrow(in[1], 1, 1, 1));
  return done(&p, au && bn ? prism_op_binary((prism_binary_op)op, au, bn) : NULL);
}

/* x [3,2]^T times a 0-d scalar */
static prism_tensor *gc_scalar_mul(prism_tensor *const *in, int v) {
  pool p = {{0}, 0};
  prism_tensor *at = K(&p, prism_op_transpose(in[0], 0, 1));
  return done(&p, at ? prism_op_mul(at, in[1]) : NULL);
}

static const double unary_args[PRISM_UNARY_COUNT][2] = {
  [PRISM_UNARY_POW_SCALAR] = {1.7, 0}, [PRISM_UNARY_ADD_SCALAR] = {2.5, 0}, [PRISM_UNARY_MUL_SCALAR] = {-3, 0},
  [PRISM_UNARY_RSUB_SCALAR] = {1, 0}, [PRISM_UNARY_RDIV_SCALAR] = {2, 0}, [PRISM_UNARY_CLAMP] = {-0.5, 0.5},
};

static prism_tensor *gc_unary(prism_tensor *const *in, int op) {
  pool p = {{0}, 0};
  prism_tensor *at = K(&p, prism_op_transpose(in[0], 0, 1));
  return done(&p, at ? prism_op_unary((prism_unary_op)op, at, unary_args[op][0], unary_args[op][1]) : NULL);
}

static prism_tensor *gc_masked_fill(prism_tensor *const *in, int v) {
  pool p = {{0}, 0};
  int64_t mk[3] = {1, 0, 0};
  prism_tensor *mask = K(&p, prism_tensor_from_host(PRISM_INT64, PRISM_CPU, 1, (int64_t[]){3}, mk));
  prism_tensor *at = K(&p, prism_op_transpose(in[0], 0, 1));
  return done(&p, at && mask ? prism_op_masked_fill(at, mask, 2.0) : NULL);
}

/* the layout ops, each on a non-contiguous input */
static prism_tensor *gc_shape(prism_tensor *const *in, int v) {
  pool p = {{0}, 0};
  prism_tensor *x = in[0], *t = NULL;
  switch (v) {
  case 0: /* view that must copy: [3,4]^T -> [2,6] */
    t = K(&p, prism_op_transpose(x, 0, 1));
    return done(&p, t ? prism_op_view(t, 2, (int64_t[]){2, -1}) : NULL);
  case 1: /* view that strides allow: [3,4] narrowed to [3,2] -> [3,1,2] */
    t = K(&p, prism_op_narrow(x, 1, 1, 2));
    return done(&p, t ? prism_op_view(t, 3, (int64_t[]){3, 1, 2}) : NULL);
  case 2: return prism_op_permute(x, 3, (int[]){2, 0, 1});
  case 3: /* [3,1] -> [2,3,4] */
    return prism_op_expand(x, 3, (int64_t[]){2, -1, 4});
  case 4: /* [3,1,4] -> squeeze -> [3,4] -> transpose -> unsqueeze(0) -> [1,4,3] */
    t = K(&p, prism_op_squeeze(x, 1, false));
    t = t ? K(&p, prism_op_transpose(t, 0, 1)) : NULL;
    return done(&p, t ? prism_op_unsqueeze(t, 0) : NULL);
  case 5:
    t = K(&p, prism_op_transpose(x, 0, 1));
    return done(&p, t ? prism_op_contiguous(t) : NULL);
  case 6:
    t = K(&p, prism_op_transpose(x, 0, 1));
    return done(&p, t ? prism_op_clone(t) : NULL);
  case 7: /* narrow of a narrow */
    t = K(&p, prism_op_narrow(x, 1, 1, 2));
    return done(&p, t ? prism_op_narrow(t, 0, 1, 2) : NULL);
  case 8: /* squeeze all of [3,1,4]^T-ish: [4,1,3] */
    t = K(&p, prism_op_transpose(x, 0, 2));
    return done(&p, t ? prism_op_squeeze(t, 0, true) : NULL);
  default: return NULL;
  }
}

/* cat of [2,3], [3,2]^T and [2,1] on dim 1; stack of the first two on dim 1 */
static prism_tensor *gc_cat(prism_tensor *const *in, int v) {
  pool p = {{0}, 0};
  prism_tensor *bt = K(&p, prism_op_transpose(in[1], 0, 1));
  if (!bt) return done(&p, NULL);
  prism_tensor *xs[3] = {in[0], bt, in[2]};
  return done(&p, v == 0 ? prism_op_cat(xs, 3, 1) : prism_op_stack(xs, 2, 1));
}

/* variants: 0 sum dim 0 keepdim, 1 sum dim -1, 2 sum all, 3 mean dim 1, 4 mean all keepdim,
 * 5 max dim 0, 6 max dim 1 keepdim, 7 max all, 8 sum over the middle dim of [2,3,4] */
static prism_tensor *gc_reduce(prism_tensor *const *in, int v) {
  pool p = {{0}, 0};
  prism_tensor *t = v == 8 ? K(&p, prism_op_permute(in[0], 3, (int[]){1, 0, 2})) : K(&p, prism_op_transpose(in[0], 0, 1));
  if (!t) return done(&p, NULL);
  switch (v) {
  case 0: return done(&p, prism_op_sum(t, 0, true, false));
  case 1: return done(&p, prism_op_sum(t, -1, false, false));
  case 2: return done(&p, prism_op_sum(t, 0, false, true));
  case 3: return done(&p, prism_op_mean(t, 1, false, false));
  case 4: return done(&p, prism_op_mean(t, 0, true, true));
  case 5: return done(&p, prism_op_max(t, 0, false, false, NULL));
  case 6: return done(&p, prism_op_max(t, 1, true, false, NULL));
  case 7: return done(&p, prism_op_max(t, 0, false, true, NULL));
  case 8: return done(&p, prism_op_sum(t, 1, false, false));
  default: return done(&p, NULL);
  }
}

/* matmul with its first input transposed where noted */
static prism_tensor *gc_matmul(prism_tensor *const *in, int v) {
  pool p = {{0}, 0};
  prism_tensor *a = in[0], *b = in[1];
  if (v == 0 || v == 7) a = K(&p, prism_op_transpose(in[0], -1, -2)); /* non-contiguous left side */
  if (v == 7) b = K(&p, prism_op_transpose(in[1], -1, -2));
  return done(&p, a && b ? prism_op_matmul(a, b) : NULL);
}

static prism_tensor *gc_linear(prism_tensor *const *in, int v) {
  pool p = {{0}, 0};
  prism_tensor *x = in[0];
  if (v == 0) x = K(&p, prism_op_permute(in[0], 3, (int[]){2, 1, 0})); /* [4,3,2] -> [2,3,4] */
  return done(&p, x ? prism_op_linear(x, in[1], v == 1 ? NULL : in[2]) : NULL);
}

static void test_gradcheck(void) {
  gc_in in[GC_MAX];
  static const char *bnames[] = {"add", "sub", "mul", "div", "pow", "maximum", "minimum"};
  for (int op = PRISM_BINARY_ADD; op <= PRISM_BINARY_MINIMUM; op++) {
    if (op == PRISM_BINARY_POW) {
      gc_rand(&in[0], 2, (int64_t[]){3, 2}, 0.5f, 2.0f);
      gc_rand(&in[1], 2, (int64_t[]){4, 3}, -1.5f, 1.5f);
    } else if (op == PRISM_BINARY_MAXIMUM || op == PRISM_BINARY_MINIMUM) {
      gc_grid(&in[0], 2, (int64_t[]){3, 2}, -0.6f, 0.1f, 0.013f);
      gc_grid(&in[1], 2, (int64_t[]){4, 3}, -0.6f, 0.1f, 0.061f);
    } else {
      gc_rand(&in[0], 2, (int64_t[]){3, 2}, -1, 1);
      gc_rand(&in[1], 2, (int64_t[]){4, 3}, op == PRISM_BINARY_DIV ? 0.5f : -1.0f, 2.0f);
    }
    char name[64];
    snprintf(name, sizeof name, "%s [2,1,3]^T x [4,1]-narrow", bnames[op]);
    gradcheck(name, gc_binary, op, in, 2);
  }
  gc_rand(&in[0], 2, (int64_t[]){3, 2}, -1, 1);
  gc_rand(&in[1], 0, NULL, 0.5f, 1.5f);
  gradcheck("mul by a 0-d tensor", gc_scalar_mul, 0, in, 2);

  static const char *unames[] = {"neg", "exp", "log", "sqrt", "rsqrt", "tanh", "sigmoid", "relu", "gelu",
                                 "silu", "abs", "pow_scalar", "add_scalar", "mul_scalar", "rsub_scalar",
                                 "rdiv_scalar", "clamp"};
  for (int op = 0; op < PRISM_UNARY_COUNT; op++) {
    bool positive = op == PRISM_UNARY_LOG || op == PRISM_UNARY_SQRT || op == PRISM_UNARY_RSQRT ||
                    op == PRISM_UNARY_POW_SCALAR || op == PRISM_UNARY_RDIV_SCALAR;
    bool kinked = op == PRISM_UNARY_RELU || op == PRISM_UNARY_ABS || op == PRISM_UNARY_CLAMP;
    if (positive) gc_rand(&in[0], 2, (int64_t[]){3, 4}, 0.5f, 2.0f);
    else if (kinked) gc_grid(&in[0], 2, (int64_t[]){3, 4}, -0.6f, 0.1f, 0.037f);
    else gc_rand(&in[0], 2, (int64_t[]){3, 4}, -1.5f, 1.5f);
    char name[64];
    snprintf(name, sizeof name, "%s of [3,4]^T", unames[op]);
    gradcheck(name, gc_unary, op, in, 1);
  }
  gc_rand(&in[0], 2, (int64_t[]){3, 4}, -1, 1);
  gradcheck("masked_fill [4,3] mask [3] int64", gc_masked_fill, 0, in, 1);

  static const struct { const char *name; int nd; int64_t shape[3]; } shapes[] = {
    {"view (copy) [3,4]^T -> [2,6]", 2, {3, 4}}, {"view (strided) narrow -> [3,1,2]", 2, {3, 4}},
    {"permute [2,3,4] (2,0,1)", 3, {2, 3, 4}}, {"expand [3,1] -> [2,3,4]", 2, {3, 1}},
    {"squeeze/transpose/unsqueeze", 3, {3, 1, 4}}, {"contiguous of a transpose", 2, {3, 4}},
    {"clone of a transpose", 2, {3, 4}}, {"narrow of a narrow", 2, {3, 4}}, {"squeeze all", 3, {3, 1, 4}},
  };
  for (int v = 0; v < (int)(sizeof shapes / sizeof shapes[0]); v++) {
    gc_rand(&in[0], shapes[v].nd, shapes[v].shape, -1, 1);
    gradcheck(shapes[v].name, gc_shape, v, in, 1);
  }
  gc_rand(&in[0], 2, (int64_t[]){2, 3}, -1, 1);
  gc_rand(&in[1], 2, (int64_t[]){3, 2}, -1, 1);
  gc_rand(&in[2], 2, (int64_t[]){2, 1}, -1, 1);
  gradcheck("cat [2,3], [3,2]^T, [2,1] dim 1", gc_cat, 0, in, 3);
  gradcheck("stack [2,3], [3,2]^T dim 1", gc_cat, 1, in, 3);

  static const char *rnames[] = {"sum dim 0 keepdim", "sum dim -1", "sum all", "mean dim 1", "mean all keepdim",
                                 "max dim 0", "max dim 1 keepdim", "max all", "sum middle dim of [2,3,4]"};
  for (int v = 0; v < 9; v++) {
    if (v == 8) gc_rand(&in[0], 3, (int64_t[]){3, 2, 4}, -1, 1);
    else if (v >= 5) gc_grid(&in[0], 2, (int64_t[]){4, 3}, -0.6f, 0.1f, 0.02f);
    else gc_rand(&in[0], 2, (int64_t[]){4, 3}, -1, 1);
    char name[64];
    snprintf(name, sizeof name, "%s of [4,3]^T", rnames[v]);
    gradcheck(v == 8 ? rnames[v] : name, gc_reduce, v, in, 1);
  }

  static const struct { const char *name; int na; int64_t a[4]; int nb; int64_t b[4]; } mm[] = {
    {"matmul [3,2]^T @ [3,4]", 2, {3, 2}, 2, {3, 4}},
    {"matmul [3] . [3]", 1, {3}, 1, {3}},
    {"matmul [2,3] @ [3]", 2, {2, 3}, 1, {3}},
    {"matmul [3] @ [3,2]", 1, {3}, 2, {3, 2}},
    {"matmul [2,1,2,3] @ [4,3,2]", 4, {2, 1, 2, 3}, 3, {4, 3, 2}},
    {"matmul [3,2,4] @ [4,2] (folded)", 3, {3, 2, 4}, 2, {4, 2}},
    {"matmul [2,4] @ [3,4,2] (stride 0)", 2, {2, 4}, 3, {3, 4, 2}},
    {"matmul [2,4,3]^T @ [2,2,4]^T", 3, {2, 4, 3}, 3, {2, 2, 4}},
    {"matmul [2,1,3] @ [1,3,2]", 3, {2, 1, 3}, 3, {1, 3, 2}},
  };
  for (int v = 0; v < (int)(sizeof mm / sizeof mm[0]); v++) {
    gc_rand(&in[0], mm[v].na, mm[v].a, -1, 1);
    gc_rand(&in[1], mm[v].nb, mm[v].b, -1, 1);
    gradcheck(mm[v].name, gc_matmul, v, in, 2);
  }
  gc_rand(&in[0], 3, (int64_t[]){4, 3, 2}, -1, 1);
  gc_rand(&in[1], 2, (int64_t[]){5, 4}, -1, 1);
  gc_rand(&in[2], 1, (int64_t[]){5}, -1, 1);
  gradcheck("linear [4,3,2]-permuted, w [5,4], b", gc_linear, 0, in, 3);
  gc_rand(&in[0], 3, (int64_t[]){2, 3, 4}, -1, 1);
  gradcheck("linear [2,3,4], w [5,4], no bias", gc_linear, 1, in, 2);
  gc_rand(&in[0], 1, (int64_t[]){4}, -1, 1);
  gradcheck("linear [4], w [5,4], b", gc_linear, 2, in, 3);
}

int main(void) {
  size_t tensors0 = prism_mem_live_tensors();
  test_elementwise_values();
  test_shape_values();
  test_cat_dtype_device_values();
  test_reduce_values();
  test_matmul_values();
  test_errors();
  test_gradcheck();
  report(prism_autograd_live_nodes() == 0, "no autograd node left alive (%zu)", prism_autograd_live_nodes());
  report(prism_mem_live_tensors() == tensors0, "no tensor left alive (%zu at start, %zu now)", tensors0,
         prism_mem_live_tensors());
  return check_summary();
}
