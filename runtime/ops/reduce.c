/* ops/reduce.c — sum, mean and max over one dim or over everything, with keepdim. Every
 * reduction is one call of the backend's reduce kernel on the contiguous input seen as
 * [outer, n, inner] (the whole tensor is [1, numel, 1]), so the summation order is the kernel's
 * fixed one whatever the dim or the thread count. Backwards broadcast the gradient back over the
 * reduced dim (sum, mean) or route it to the first argmax only (max), as PyTorch does. */
#include "ops.h"
#include "error.h"

#include <math.h>
#include <stdio.h>

typedef struct {
  int d;                /* reduced dim, -1 = all */
  int64_t outer, n, inner;
  int out_ndim;
  int64_t out_shape[PRISM_MAX_DIMS];
} reduce_geom;

/* Validates the arguments and works out the [outer, n, inner] split and the output shape. */
static int reduce_plan(const char *op, const prism_tensor *x, int dim, bool keepdim, bool all, reduce_geom *g) {
  if (x->dtype != PRISM_FLOAT32)
    return prism_fail_int(PRISM_ERR_ARG, "%s: expected a float32 tensor, got %s", op, prism_dtype_name(x->dtype));
  if (!all && x->ndim == 0 && dim != 0 && dim != -1)
    return prism_fail_int(PRISM_ERR_ARG, "%s: dim %d out of range for a zero-dimensional tensor (expected -1 or 0)", op, dim);
  if (!all && x->ndim == 0) all = true; /* a scalar reduced over its only "dim" is itself */
  if (all) {
    g->d = -1;
    g->outer = g->inner = 1;
    g->n = prism_tensor_numel(x);
    g->out_ndim = keepdim ? x->ndim : 0;
    for (int i = 0; i < g->out_ndim; i++) g->out_shape[i] = 1;
    return 0;
  }
  int d = prism_dim_normalize_op(op, dim, x->ndim, false);
  if (d < 0) return -1;
  g->d = d;
  g->outer = g->inner = 1;
  for (int i = 0; i < d; i++) g->outer *= x->shape[i];
  for (int i = d + 1; i < x->ndim; i++) g->inner *= x->shape[i];
  g->n = x->shape[d];
  g->out_ndim = 0;
  for (int i = 0; i < x->ndim; i++) {
    if (i != d) g->out_shape[g->out_ndim++] = x->shape[i];
    else if (keepdim) g->out_shape[g->out_ndim++] = 1;
  }
  return 0;
}

/* Runs the kernel; *argmax (when asked) receives an int64 tensor of the output's shape. */
static prism_tensor *reduce_run(prism_reduce_op rop, const prism_tensor *x, const reduce_geom *g, prism_tensor **argmax) {
  const prism_backend *be = prism_backend_get(x->storage->device);
  if (!be) return NULL;
  prism_device dev = x->storage->device;
  prism_tensor *y = prism_tensor_empty(PRISM_FLOAT32, dev, g->out_ndim, g->out_shape);
  prism_tensor *am = argmax && y ? prism_tensor_empty(PRISM_INT64, dev, g->out_ndim, g->out_shape) : NULL;
  prism_tensor *xc = y && (am || !argmax) ? prism_tensor_contiguous_raw(x) : NULL;
  int rc = xc ? 0 : -1;
  if (!rc && prism_tensor_numel(y) > 0) {
    if (g->n == 0) /* only sums get here: the empty sum */
      rc = prism_tensor_fill_(y, 0.0);
    else
      rc = be->reduce(rop, prism_tensor_data(y), am ? prism_tensor_data(am) : NULL, prism_tensor_data(xc), g->outer,
                      g->n, g->inner);
  }
  prism_tensor_release(xc);
  if (rc) {
    prism_tensor_release(y);
    prism_tensor_release(am);
    return NULL;
  }
  if (argmax) *argmax = am;
  return y;
}

/* gy (shape of the output) scaled by `scale`, broadcast back over the reduced dim(s) to the
 * input's shape, as a contiguous tensor. */
static prism_tensor *spread_grad(prism_node *n, const prism_tensor *gy, double scale) {
  int nd = n->input_ndim[0], d = (int)n->iarg[0];
  const int64_t *ish = n->input_shape[0];
  int64_t ks[PRISM_MAX_DIMS];
  for (int i = 0; i < nd; i++) ks[i] = (d < 0 || i == d) ? 1 : ish[i];
  prism_tensor *s = scale == 1.0 ? prism_tensor_retain((prism_tensor *)gy)
                                 : prism_op_unary(PRISM_UNARY_MUL_SCALAR, gy, scale, 0);
  prism_tensor *v = s ? prism_tensor_view_raw(s, nd, ks) : NULL;
  prism_tensor *e = v ? prism_tensor_expand_raw(v, nd, ish) : NULL;
  prism_tensor *c = e ? prism_tensor_contiguous_raw(e) : NULL;
  prism_tensor_release(s);
  prism_tensor_release(v);
  prism_tensor_release(e);
  return c;
}

static int sum_backward(prism_node *n, const prism_tensor *gy, prism_tensor **gx) {
  gx[0] = spread_grad(n, gy, n->farg[0]);
  return gx[0] ? 0 : -1;
}

static prism_tensor *sum_or_mean(const char *op, const prism_tensor *x, int dim, bool keepdim, bool all, bool mean) {
  reduce_geom g;
  if (reduce_plan(op, x, dim, keepdim, all, &g)) return NULL;
  prism_tensor *y = reduce_run(PRISM_REDUCE_SUM, x, &g, NULL);
  if (!y) return NULL;
  /* the mean of nothing is 0/0 = NaN, as in PyTorch */
  double scale = mean ? (g.n > 0 ? 1.0 / (double)g.n : NAN) : 1.0;
  if (mean) {
    prism_tensor *m = prism_op_unary(PRISM_UNARY_MUL_SCALAR, y, scale, 0);
    prism_tensor_release(y);
    if (!(y = m)) return NULL;
  }
  if (prism_autograd_needed((prism_tensor *const *)&x, 1)) {
    prism_node *n = prism_node_new(op, sum_backward, (prism_tensor *const *)&x, 1);
    if (!n) {
      prism_tensor_release(y);
      return NULL;
    }
    n->iarg[0] = g.d;
    n->farg[0] = scale;
    prism_tensor_set_grad_fn(y, n);
  }
  return y;
}

prism_tensor *prism_op_sum(const prism_tensor *x, int dim, bool keepdim, bool all) {
  return sum_or_mean("sum", x, dim, keepdim, all, false);
}

prism_tensor *prism_op_mean(const prism_tensor *x, int dim, bool keepdim, bool all) {
  return sum_or_mean("mean", x, dim, keepdim, all, true);
}

/* The whole gradient of each output element goes to the first position holding the max. */
static int max_backward(prism_node *n, const prism_tensor *gy, prism_tensor **gx) {
  prism_tensor *am = prism_node_saved(n, 0);
  if (!am) return -1;
  const prism_backend *be = prism_backend_get(gy->storage->device);
  if (!be) return -1;
  prism_tensor *g = prism_tensor_zeros(PRISM_FLOAT32, gy->storage->device, n->input_ndim[0], n->input_shape[0]);
  if (!g) return -1;
  if (prism_tensor_numel(gy) > 0 &&
      be->scatter_add(prism_tensor_data(g), prism_tensor_data(gy), prism_tensor_data(am), n->iarg[1], n->iarg[2], 1,
                      n->iarg[3])) {
    prism_tensor_release(g);
    return -1;
  }
  gx[0] = g;
  return 0;
}

prism_tensor *prism_op_max(const prism_tensor *x, int dim, bool keepdim, bool all, prism_tensor **indices) {
  reduce_geom g;
  if (reduce_plan("max", x, dim, keepdim, all, &g)) return NULL;
  if (g.n == 0) {
    char bx[128];
    return prism_fail(PRISM_ERR_ARG, "max: cannot take the maximum over an empty dimension (shape %s)",
                      prism_shape_str(x->ndim, x->shape, bx, sizeof bx));
  }
  prism_tensor *am = NULL;
  prism_tensor *y = reduce_run(PRISM_REDUCE_MAX, x, &g, &am);
  if (!y) return NULL;
  if (prism_autograd_needed((prism_tensor *const *)&x, 1)) {
    prism_node *n = prism_node_new("max", max_backward, (prism_tensor *const *)&x, 1);
    if (!n || prism_node_save(n, am) < 0) {
      prism_node_release(n);
      prism_tensor_release(y);
      prism_tensor_release(am);
      return NULL;
    }
    n->iarg[0] = g.d;
    n->iarg[1] = g.outer;
    n->iarg[2] = g.n;
    n->iarg[3] = g.inner;
    prism_tensor_set_grad_fn(y, n);
  }
  if (indices) *indices = am;
  else prism_tensor_release(am);
  return y;
}
