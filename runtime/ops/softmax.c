/* ops/softmax.c — softmax and log_softmax over any dimension, forward and backward.
 * The kernels only know contiguous rows × n, so a reduction over a dimension other than the last
 * is done on a contiguous copy with that dimension swapped to the end and swapped back after:
 * two extra copies buy one kernel per op for every backend. Both ops save their output, which is
 * all the backward needs (softmax: y; log_softmax: exp(y) comes from y). */
#include "../ops.h"
#include "../error.h"

#include <stdio.h>

typedef int (*rows_fn)(float *y, const float *x, int64_t rows, int64_t n);
typedef int (*rows_bwd_fn)(float *gx, const float *gy, const float *y, int64_t rows, int64_t n);

/* A contiguous tensor whose last dim is t's dim d (d swapped with the last); t itself, retained,
 * when d is already last and t is contiguous. The swap is its own inverse, so the same call maps
 * results back. */
static prism_tensor *swap_last(const prism_tensor *t, int d) {
  if (t->ndim == 0 || d == t->ndim - 1) return prism_tensor_contiguous_raw(t);
  prism_tensor *tt = prism_tensor_transpose_raw(t, d, t->ndim - 1);
  if (!tt) return NULL;
  prism_tensor *c = prism_tensor_contiguous_raw(tt);
  prism_tensor_release(tt);
  return c;
}

static int softmax_family_backward(prism_node *node, const prism_tensor *gy, prism_tensor **gx, bool log) {
  prism_tensor *y = prism_node_saved(node, 0);
  if (!y) return -1;
  if (!prism_node_needs_grad(node, 0)) return 0;
  const prism_backend *be = prism_backend_get(y->storage->device);
  if (!be) return -1;
  int d = (int)node->iarg[0];
  int64_t n = y->ndim ? y->shape[d] : 1;
  int64_t rows = n ? prism_tensor_numel(y) / n : 0;
  prism_tensor *yt = swap_last(y, d);
  prism_tensor *gyt = yt ? swap_last(gy, d) : NULL;
  prism_tensor *gxt = gyt ? prism_tensor_empty_like(gyt) : NULL;
  int rc = -1;
  if (gxt) {
    rows_bwd_fn k = log ? be->log_softmax_backward : be->softmax_backward;
    rc = rows * n == 0 ? 0 : k(prism_tensor_data(gxt), prism_tensor_data(gyt), prism_tensor_data(yt), rows, n);
  }
  if (rc == 0) {
    gx[0] = swap_last(gxt, d);
    if (!gx[0]) rc = -1;
  }
  prism_tensor_release(yt);
  prism_tensor_release(gyt);
  prism_tensor_release(gxt);
  return rc;
}

static int softmax_backward(prism_node *node, const prism_tensor *gy, prism_tensor **gx) {
  return softmax_family_backward(node, gy, gx, false);
}

static int log_softmax_backward(prism_node *node, const prism_tensor *gy, prism_tensor **gx) {
  return softmax_family_backward(node, gy, gx, true);
}

static prism_tensor *softmax_family(const char *name, const prism_tensor *x, int dim, bool log) {
  if (!x) return prism_fail(PRISM_ERR_ARG, "%s: expected a tensor, got nil", name);
  if (x->dtype != PRISM_FLOAT32)
    return prism_fail(PRISM_ERR_ARG, "%s: expected a float32 tensor, got %s", name, prism_dtype_name(x->dtype));
  /* a 0-dim tensor behaves as one row of one element, like PyTorch (dim 0 or -1) */
  if (x->ndim == 0 && dim != 0 && dim != -1)
    return prism_fail(PRISM_ERR_ARG, "%s: dim %d is out of range for a 0-dim tensor (expected 0 or -1)", name, dim);
  int d = prism_dim_normalize_op(name, dim, x->ndim ? x->ndim : 1, false);
  if (d < 0) return NULL;
  const prism_backend *be = prism_backend_get(x->storage->device);
  if (!be) return NULL;
  int64_t n = x->ndim ? x->shape[d] : 1;
  int64_t rows = n ? prism_tensor_numel(x) / n : 0;

  prism_tensor *xt = swap_last(x, d);
  if (!xt) return NULL;
  prism_tensor *yt = prism_tensor_empty_like(xt);
  int rc = -1;
  if (yt) {
    rows_fn k = log ? be->log_softmax : be->softmax;
    rc = rows * n == 0 ? 0 : k(prism_tensor_data(yt), prism_tensor_data(xt), rows, n);
  }
  prism_tensor_release(xt);
  prism_tensor *y = rc == 0 ? swap_last(yt, d) : NULL;
  prism_tensor_release(yt);
  if (!y) return NULL;

  if (prism_autograd_needed((prism_tensor *const *)&x, 1)) {
    prism_node *node = prism_node_new(name, log ? log_softmax_backward : softmax_backward, (prism_tensor *const *)&x, 1);
    if (!node || prism_node_save(node, y) < 0) {
      prism_node_release(node);
      prism_tensor_release(y);
      return NULL;
    }
    node->iarg[0] = d;
    prism_tensor_set_grad_fn(y, node);
  }
  return y;
}

prism_tensor *prism_op_softmax(const prism_tensor *x, int dim) { return softmax_family("softmax", x, dim, false); }

prism_tensor *prism_op_log_softmax(const prism_tensor *x, int dim) {
  return softmax_family("log_softmax", x, dim, true);
}
