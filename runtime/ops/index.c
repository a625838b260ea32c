/* ops/index.c — indexing: index_select, embedding, gather and triu/tril, with their backwards.
 * Index tensors are converted to contiguous int64 and every value is range-checked on the host
 * before a kernel sees it: kernels trust their indices, so this check is what turns a bad token id
 * into an error message instead of an out-of-bounds read. Backwards accumulate with the
 * backend's index_add / scatter_add, which add in a fixed order (no atomics), so repeated ids
 * give bitwise-reproducible gradients. */
#include "../ops.h"
#include "../error.h"
#include <stdio.h>
#include <stdlib.h>

static int64_t prod(const int64_t *s, int from, int to) {
  int64_t p = 1;
  for (int i = from; i < to; i++) p *= s[i];
  return p;
}

/* idx as a contiguous int64 tensor whose values all lie in [0, limit); NULL after an error that
 * names op, the first bad value, its flat position and the valid range. */
static prism_tensor *checked_index(const char *op, const prism_tensor *idx, int64_t limit) {
  if (idx->dtype != PRISM_INT64 && idx->dtype != PRISM_INT32)
    return prism_fail(PRISM_ERR_ARG, "%s: indices must be int64 (or int32), got %s", op, prism_dtype_name(idx->dtype));
  prism_tensor *t;
  if (idx->dtype == PRISM_INT64) {
    t = prism_tensor_contiguous_raw(idx);
  } else {
    prism_tensor *c = prism_tensor_to_dtype_raw(idx, PRISM_INT64);
    t = c ? prism_tensor_contiguous_raw(c) : NULL;
    prism_tensor_release(c);
  }
  if (!t) return NULL;
  int64_t n = prism_tensor_numel(t);
  if (t->storage->device == PRISM_CPU) {
    const int64_t *v = prism_tensor_data(t);
    for (int64_t i = 0; i < n; i++)
      if (v[i] < 0 || v[i] >= limit) {
        prism_fail(PRISM_ERR_ARG, "%s: index %lld at position %lld is outside [0, %lld)", op, (long long)v[i],
                   (long long)i, (long long)limit);
        prism_tensor_release(t);
        return NULL;
      }
    return t;
  }
  double *host = malloc((size_t)(n ? n : 1) * sizeof *host);
  int rc = host ? prism_tensor_to_host_f64(t, host)
                : prism_fail_int(PRISM_ERR_OOM, "%s: cannot allocate %lld host values to check indices", op, (long long)n);
  for (int64_t i = 0; rc == 0 && i < n; i++)
    if (!(host[i] >= 0 && host[i] < (double)limit))
      rc = prism_fail_int(PRISM_ERR_ARG, "%s: index %.0f at position %lld is outside [0, %lld)", op, host[i],
                          (long long)i, (long long)limit);
  free(host);
  if (rc < 0) {
    prism_tensor_release(t);
    return NULL;
  }
  return t;
}

static int check_float(const char *op, const prism_tensor *x) {
  if (!x) return prism_fail_int(PRISM_ERR_ARG, "%s: expected a tensor, got nil", op);
  if (x->dtype != PRISM_FLOAT32)
    return prism_fail_int(PRISM_ERR_ARG, "%s: expected a float32 tensor, got %s", op, prism_dtype_name(x->dtype));
  return 0;
}

static int check_pair(const char *op, const prism_tensor *x, const prism_tensor *idx) {
  if (check_float(op, x) < 0) return -1;
  if (!idx) return prism_fail_int(PRISM_ERR_ARG, "%s: expected an index tensor, got nil", op);
  if (idx->storage->device != x->storage->device)
    return prism_fail_int(PRISM_ERR_ARG, "%s: the tensor is on %s but the indices are on %s", op,
                          prism_device_name(x->storage->device), prism_device_name(idx->storage->device));
  return 0;
}

/* Records a node with one differentiable input x, saving the int64 indices. */
static prism_tensor *record(const char *op, prism_backward_fn fn, const prism_tensor *x, prism_tensor *y,
                            const prism_tensor *idx, int64_t a0, int64_t a1) {
  if (!prism_autograd_needed((prism_tensor *const *)&x, 1)) return y;
  prism_node *node = prism_node_new(op, fn, (prism_tensor *const *)&x, 1);
  if (!node || (idx && prism_node_save(node, idx) < 0)) {
    prism_node_release(node);
    prism_tensor_release(y);
    return NULL;
  }
  node->iarg[0] = a0;
  node->iarg[1] = a1;
  prism_tensor_set_grad_fn(y, node);
  return y;
}

/* ---- index_select / embedding: out[o, j, i] = x[o, idx[j], i] ----
 * iarg 0: dim of x that was indexed; input shape 0 gives x's shape. */
static int index_select_backward(prism_node *node, const prism_tensor *gy, prism_tensor **gx) {
  prism_tensor *idx = prism_node_saved(node, 0);
  if (!idx) return -1;
  if (!prism_node_needs_grad(node, 0)) return 0;
  const prism_backend *be = prism_backend_get(gy->storage->device);
  if (!be) return -1;
  int d = (int)node->iarg[0], nd = node->input_ndim[0];
  const int64_t *xs = node->input_shape[0];
  prism_tensor *g = prism_tensor_zeros(PRISM_FLOAT32, gy->storage->device, nd, xs);
  if (!g) return -1;
  int64_t outer = prod(xs, 0, d), inner = prod(xs, d + 1, nd), n_idx = prism_tensor_numel(idx);
  if (outer * n_idx * inner > 0 &&
      be->index_add(prism_tensor_data(g), prism_tensor_data(gy), prism_tensor_data(idx), outer, xs[d], n_idx, inner) < 0) {
    prism_tensor_release(g);
    return -1;
  }
  gx[0] = g;
  return 0;
}

/* Shared forward: x indexed along d by idx64 (already checked), output shape given. */
static prism_tensor *select_rows(const char *op, const prism_tensor *x, int d, prism_tensor *idx64, int out_ndim,
                                 const int64_t *out_shape) {
  const prism_backend *be = prism_backend_get(x->storage->device);
  if (!be) return NULL;
  int64_t outer = prod(x->shape, 0, d), inner = prod(x->shape, d + 1, x->ndim), n_idx = prism_tensor_numel(idx64);
  prism_tensor *xc = prism_tensor_contiguous_raw(x);
  prism_tensor *y = xc ? prism_tensor_empty(PRISM_FLOAT32, x->storage->device, out_ndim, out_shape) : NULL;
  if (y && outer * n_idx * inner > 0 &&
      be->index_select(prism_tensor_data(y), prism_tensor_data(xc), prism_tensor_data(idx64), outer, x->shape[d], n_idx,
                       inner) < 0) {
    prism_tensor_release(y);
    y = NULL;
  }
  prism_tensor_release(xc);
  return y ? record(op, index_select_backward, x, y, idx64, d, 0) : NULL;
}

prism_tensor *prism_op_index_select(const prism_tensor *x, int dim, const prism_tensor *idx) {
  char b1[96];
  if (check_pair("index_select", x, idx) < 0) return NULL;
  if (x->ndim < 1) return prism_fail(PRISM_ERR_ARG, "index_select: expected at least 1 dim, got a 0-dim tensor");
  if (idx->ndim != 1)
    return prism_fail(PRISM_ERR_ARG, "index_select: indices must be 1-D, got shape %s",
                      prism_shape_str(idx->ndim, idx->shape, b1, sizeof b1));
  int d = prism_dim_normalize_op("index_select", dim, x->ndim, false);
  if (d < 0) return NULL;
  prism_tensor *idx64 = checked_index("index_select", idx, x->shape[d]);
  if (!idx64) return NULL;
  int64_t shape[PRISM_MAX_DIMS];
  for (int i = 0; i < x->ndim; i++) shape[i] = x->shape[i];
  shape[d] = idx->shape[0];
  prism_tensor *y = select_rows("index_select", x, d, idx64, x->ndim, shape);
  prism_tensor_release(idx64);
  return y;
}

prism_tensor *prism_op_embedding(const prism_tensor *weight, const prism_tensor *ids) {
  char b1[96];
  if (check_pair("embedding", weight, ids) < 0) return NULL;
  if (weight->ndim != 2)
    return prism_fail(PRISM_ERR_ARG, "embedding: weight must be 2-D [num_embeddings, dim], got %s",
                      prism_shape_str(weight->ndim, weight->shape, b1, sizeof b1));
  if (ids->ndim >= PRISM_MAX_DIMS)
    return prism_fail(PRISM_ERR_ARG, "embedding: ids have %d dims; the output would exceed %d dims", ids->ndim,
                      PRISM_MAX_DIMS);
  prism_tensor *idx64 = checked_index("embedding", ids, weight->shape[0]);
  if (!idx64) return NULL;
  int64_t shape[PRISM_MAX_DIMS];
  for (int i = 0; i < ids->ndim; i++) shape[i] = ids->shape[i];
  shape[ids->ndim] = weight->shape[1];
  prism_tensor *y = select_rows("embedding", weight, 0, idx64, ids->ndim + 1, shape);
  prism_tensor_release(idx64);
  return y;
}

/* ---- gather (torch.gather): out[..j..] = x[.., idx[..j..], ..] along dim; idx may be smaller
 * than x in every dim but dim, so x is first narrowed to idx's extent there. ----
 * iarg 0: dim; input shape 0: x's shape; saved 0: idx (int64, contiguous, idx's shape). */
static int gather_backward(prism_node *node, const prism_tensor *gy, prism_tensor **gx) {
  prism_tensor *idx = prism_node_saved(node, 0);
  if (!idx) return -1;
  if (!prism_node_needs_grad(node, 0)) return 0;
  const prism_backend *be = prism_backend_get(gy->storage->device);
  if (!be) return -1;
  int d = (int)node->iarg[0], nd = node->input_ndim[0];
  const int64_t *xs = node->input_shape[0];
  int64_t small[PRISM_MAX_DIMS];
  bool narrowed = false;
  for (int i = 0; i < nd; i++) {
    small[i] = i == d ? xs[i] : idx->shape[i];
    narrowed |= small[i] != xs[i];
  }
  prism_tensor *gs = prism_tensor_zeros(PRISM_FLOAT32, gy->storage->device, nd, small);
  if (!gs) return -1;
  int64_t outer = prod(small, 0, d), inner = prod(small, d + 1, nd), n_idx = idx->shape[d];
  if (outer * n_idx * inner > 0 &&
      be->scatter_add(prism_tensor_data(gs), prism_tensor_data(gy), prism_tensor_data(idx), outer, xs[d], n_idx, inner) < 0) {
    prism_tensor_release(gs);
    return -1;
  }
  if (!narrowed) {
    gx[0] = gs;
    return 0;
  }
  /* embed the narrowed gradient in zeros of x's shape */
  prism_tensor *g = prism_tensor_zeros(PRISM_FLOAT32, gy->storage->device, nd, xs);
  prism_tensor *view = g ? prism_tensor_alias(g) : NULL;
  for (int i = 0; view && i < nd; i++) {
    if (small[i] == xs[i]) continue;
    prism_tensor *v = prism_tensor_narrow_raw(view, i, 0, small[i]);
    prism_tensor_release(view);
    view = v;
  }
  int rc = view ? prism_tensor_copy_(view, gs) : -1;
  prism_tensor_release(view);
  prism_tensor_release(gs);
  if (rc < 0) {
    prism_tensor_release(g);
    return -1;
  }
  gx[0] = g;
  return 0;
}

prism_tensor *prism_op_gather(const prism_tensor *x, int dim, const prism_tensor *idx) {
  char b1[96], b2[96];
  if (check_pair("gather", x, idx) < 0) return NULL;
  if (x->ndim < 1) return prism_fail(PRISM_ERR_ARG, "gather: expected at least 1 dim, got a 0-dim tensor");
  int d = prism_dim_normalize_op("gather", dim, x->ndim, false);
  if (d < 0) return NULL;
  if (idx->ndim != x->ndim)
    return prism_fail(PRISM_ERR_ARG, "gather: index must have as many dims as the input (%d), got shape %s for input %s",
                      x->ndim, prism_shape_str(idx->ndim, idx->shape, b1, sizeof b1),
                      prism_shape_str(x->ndim, x->shape, b2, sizeof b2));
  for (int i = 0; i < x->ndim; i++)
    if (i != d && idx->shape[i] > x->shape[i])
      return prism_fail(PRISM_ERR_ARG, "gather: index shape %s exceeds input shape %s in dim %d (only dim %d may differ)",
                        prism_shape_str(idx->ndim, idx->shape, b1, sizeof b1),
                        prism_shape_str(x->ndim, x->shape, b2, sizeof b2), i, d);
  const prism_backend *be = prism_backend_get(x->storage->device);
  if (!be) return NULL;
  prism_tensor *idx64 = checked_index("gather", idx, x->shape[d]);
  if (!idx64) return NULL;

  prism_tensor *view = prism_tensor_alias(x);
  for (int i = 0; view && i < x->ndim; i++) {
    if (i == d || idx->shape[i] == x->shape[i]) continue;
    prism_tensor *v = prism_tensor_narrow_raw(view, i, 0, idx->shape[i]);
    prism_tensor_release(view);
    view = v;
  }
  prism_tensor *src = view ? prism_tensor_contiguous_raw(view) : NULL;
  prism_tensor_release(view);
  prism_tensor *y = src ? prism_tensor_empty(PRISM_FLOAT32, x->storage->device, idx->ndim, idx->shape) : NULL;
  int64_t outer = prod(idx->shape, 0, d), inner = prod(idx->shape, d + 1, idx->ndim), n_idx = idx->shape[d];
  if (y && outer * n_idx * inner > 0 &&
      be->gather(prism_tensor_data(y), prism_tensor_data(src), prism_tensor_data(idx64), outer, x->shape[d], n_idx,
                 inner) < 0) {
    prism_tensor_release(y);
    y = NULL;
  }
  prism_tensor_release(src);
  y = y ? record("gather", gather_backward, x, y, idx64, d, 0) : NULL;
  prism_tensor_release(idx64);
  return y;
}

/* ---- triu / tril of the last two dims; the backward keeps the same triangle of the gradient.
 * iarg 0: k, 1: upper ---- */
static prism_tensor *triangle_raw(const prism_backend *be, const prism_tensor *xc, int64_t k, bool upper) {
  int nd = xc->ndim;
  int64_t rows = xc->shape[nd - 2], cols = xc->shape[nd - 1], batch = prod(xc->shape, 0, nd - 2);
  prism_tensor *y = prism_tensor_empty_like(xc);
  if (y && batch * rows * cols > 0 &&
      be->triangle(prism_tensor_data(y), prism_tensor_data(xc), batch, rows, cols, k, upper ? 1 : 0) < 0) {
    prism_tensor_release(y);
    return NULL;
  }
  return y;
}

static int triangle_backward(prism_node *node, const prism_tensor *gy, prism_tensor **gx) {
  if (!prism_node_needs_grad(node, 0)) return 0;
  const prism_backend *be = prism_backend_get(gy->storage->device);
  if (!be) return -1;
  gx[0] = triangle_raw(be, gy, node->iarg[0], node->iarg[1] != 0);
  return gx[0] ? 0 : -1;
}

prism_tensor *prism_op_triangle(const prism_tensor *x, int64_t k, bool upper) {
  const char *op = upper ? "triu" : "tril";
  if (check_float(op, x) < 0) return NULL;
  if (x->ndim < 2) return prism_fail(PRISM_ERR_ARG, "%s: expected at least 2 dims, got %d", op, x->ndim);
  const prism_backend *be = prism_backend_get(x->storage->device);
  if (!be) return NULL;
  prism_tensor *xc = prism_tensor_contiguous_raw(x);
  prism_tensor *y = xc ? triangle_raw(be, xc, k, upper) : NULL;
  prism_tensor_release(xc);
  return y ? record(op, triangle_backward, x, y, NULL, k, upper ? 1 : 0) : NULL;
}
