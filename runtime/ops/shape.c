/* ops/shape.c — views and layout: view/reshape, transpose, permute, contiguous, narrow, expand,
 * unsqueeze, squeeze, cat, stack, dtype/device moves, clone and detach. The views share storage
 * (built with tensor.h's *_raw functions, which know nothing of autograd) and this file adds the
 * tape: each backward maps the gradient back onto the input's geometry (the inverse view, a
 * zero-padded copy for narrow, a broadcast sum for expand). Every check happens here, before
 * anything is allocated, so errors name the op the user called. */
#include "ops.h"
#include "error.h"

#include <stdio.h>
#include <stdlib.h>

/* Attaches a node with one input (x) to the fresh result y, when the tape needs one. The view
 * headers from tensor.c carry no autograd state; requires_grad is cleared so that a view made
 * under no_grad of a parameter is not mistaken for a leaf that requires grad. Releases y and
 * returns NULL on failure. */
static prism_tensor *record1(prism_tensor *y, const prism_tensor *x, const char *name, prism_backward_fn fn,
                             const int64_t *iargs, int n_iargs) {
  if (!y) return NULL;
  y->requires_grad = false;
  if (!prism_autograd_needed((prism_tensor *const *)&x, 1)) return y;
  prism_node *n = prism_node_new(name, fn, (prism_tensor *const *)&x, 1);
  if (!n) {
    prism_tensor_release(y);
    return NULL;
  }
  for (int i = 0; i < n_iargs; i++) n->iarg[i] = iargs[i];
  prism_tensor_set_grad_fn(y, n);
  return y;
}

/* Gradient of an op that only relabels the elements of a contiguous-equivalent input (view,
 * unsqueeze, squeeze): the same elements under the input's shape. */
static int reshape_backward(prism_node *n, const prism_tensor *gy, prism_tensor **gx) {
  gx[0] = prism_tensor_view_raw(gy, n->input_ndim[0], n->input_shape[0]);
  return gx[0] ? 0 : -1;
}

/* Gradient of an op that copies its input unchanged (contiguous, clone). */
static int identity_backward(prism_node *n, const prism_tensor *gy, prism_tensor **gx) {
  gx[0] = prism_tensor_retain((prism_tensor *)gy);
  return 0;
}

/* ------------------------------------------------------------------ view ---- */

/* Whether (nd, shape) can view x's elements in row-major order without a copy: the rule
 * prism_tensor_view_raw applies (PyTorch's computeStride: dims of x that are contiguous with
 * each other form chunks, and the new shape must split along chunk boundaries), asked first so
 * that an input needing the copy takes that path without an error being recorded. */
static bool viewable(const prism_tensor *x, int nd, const int64_t *shape) {
  if (prism_tensor_numel(x) <= 1 || prism_tensor_is_contiguous(x)) return true;
  int view_d = nd - 1;
  int64_t chunk_base = x->stride[x->ndim - 1], tensor_numel = 1, view_numel = 1;
  for (int td = x->ndim - 1; td >= 0; td--) {
    tensor_numel *= x->shape[td];
    if (td == 0 || (x->shape[td - 1] != 1 && x->stride[td - 1] != tensor_numel * chunk_base)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) view_numel *= shape[view_d--];
      if (view_numel != tensor_numel) return false;
      if (td > 0) {
        chunk_base = x->stride[td - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  return view_d == -1;
}

prism_tensor *prism_op_view(const prism_tensor *x, int ndim, const int64_t *shape) {
  char bs[128], bx[128];
  if (ndim < 0 || ndim > PRISM_MAX_DIMS)
    return prism_fail(PRISM_ERR_ARG, "view: %d dims requested, at most %d allowed", ndim, PRISM_MAX_DIMS);
  int64_t sh[PRISM_MAX_DIMS], known = 1;
  int infer = -1;
  for (int i = 0; i < ndim; i++) {
    sh[i] = shape[i];
    if (shape[i] == -1) {
      if (infer >= 0) return prism_fail(PRISM_ERR_ARG, "view: only one dimension can be -1, got %s",
                                        prism_shape_str(ndim, shape, bs, sizeof bs));
      infer = i;
    } else if (shape[i] < 0) {
      return prism_fail(PRISM_ERR_ARG, "view: invalid size %lld in shape %s", (long long)shape[i],
                        prism_shape_str(ndim, shape, bs, sizeof bs));
    } else {
      if (shape[i] > 0 && known > INT64_MAX / shape[i])
        return prism_fail(PRISM_ERR_ARG, "view: shape %s is too large", prism_shape_str(ndim, shape, bs, sizeof bs));
      known *= shape[i];
    }
  }
  int64_t numel = prism_tensor_numel(x);
  if (infer >= 0) {
    if (known == 0 || numel % known != 0)
      return prism_fail(PRISM_ERR_ARG, "view: shape %s is invalid for a tensor of %lld elements (shape %s)",
                        prism_shape_str(ndim, shape, bs, sizeof bs), (long long)numel,
                        prism_shape_str(x->ndim, x->shape, bx, sizeof bx));
    sh[infer] = numel / known;
  } else if (known != numel) {
    return prism_fail(PRISM_ERR_ARG, "view: shape %s is invalid for a tensor of %lld elements (shape %s)",
                      prism_shape_str(ndim, shape, bs, sizeof bs), (long long)numel,
                      prism_shape_str(x->ndim, x->shape, bx, sizeof bx));
  }
  prism_tensor *y;
  if (viewable(x, ndim, sh)) {
    y = prism_tensor_view_raw(x, ndim, sh);
  } else {
    prism_tensor *xc = prism_tensor_contiguous_raw(x); /* reshape semantics: copy when not viewable */
    y = xc ? prism_tensor_view_raw(xc, ndim, sh) : NULL;
    prism_tensor_release(xc);
  }
  return record1(y, x, "view", reshape_backward, NULL, 0);
}

/* ------------------------------------------------------ transpose/permute ---- */

static int transpose_backward(prism_node *n, const prism_tensor *gy, prism_tensor **gx) {
  gx[0] = prism_tensor_transpose_raw(gy, (int)n->iarg[0], (int)n->iarg[1]);
  return gx[0] ? 0 : -1;
}

prism_tensor *prism_op_transpose(const prism_tensor *x, int d0, int d1) {
  int a = prism_dim_normalize_op("transpose", d0, x->ndim, false);
  int b = a < 0 ? -1 : prism_dim_normalize_op("transpose", d1, x->ndim, false);
  if (b < 0) return NULL;
  int64_t args[2] = {a, b};
  return record1(prism_tensor_transpose_raw(x, a, b), x, "transpose", transpose_backward, args, 2);
}

static int permute_backward(prism_node *n, const prism_tensor *gy, prism_tensor **gx) {
  int inv[PRISM_MAX_DIMS];
  for (int i = 0; i < gy->ndim; i++) inv[i] = (int)n->iarg[i];
  gx[0] = prism_tensor_permute_raw(gy, inv);
  return gx[0] ? 0 : -1;
}

prism_tensor *prism_op_permute(const prism_tensor *x, int ndim, const int *dims) {
  if (ndim != x->ndim) {
    char bx[128];
    return prism_fail(PRISM_ERR_ARG, "permute: %d dims given for a tensor of shape %s (%d dims)", ndim,
                      prism_shape_str(x->ndim, x->shape, bx, sizeof bx), x->ndim);
  }
  int p[PRISM_MAX_DIMS];
  int64_t inv[PRISM_MAX_DIMS];
  bool seen[PRISM_MAX_DIMS] = {false};
  for (int i = 0; i < ndim; i++) {
    p[i] = prism_dim_normalize_op("permute", dims[i], ndim, false);
    if (p[i] < 0) return NULL;
    if (seen[p[i]]) return prism_fail(PRISM_ERR_ARG, "permute: dim %d appears twice", dims[i]);
    seen[p[i]] = true;
    inv[p[i]] = i;
  }
  return record1(prism_tensor_permute_raw(x, p), x, "permute", permute_backward, inv, ndim);
}

/* ------------------------------------------------------ contiguous/clone ---- */

prism_tensor *prism_op_contiguous(const prism_tensor *x) {
  if (prism_tensor_is_contiguous(x)) return prism_tensor_retain((prism_tensor *)x);
  return record1(prism_tensor_contiguous_raw(x), x, "contiguous", identity_backward, NULL, 0);
}

prism_tensor *prism_op_clone(const prism_tensor *x) {
  prism_tensor *y = prism_tensor_empty_like(x);
  if (y && prism_tensor_copy_(y, x)) {
    prism_tensor_release(y);
    return NULL;
  }
  return record1(y, x, "clone", identity_backward, NULL, 0);
}

prism_tensor *prism_op_detach(const prism_tensor *x) {
  prism_tensor *y = prism_tensor_alias(x);
  if (y) y->requires_grad = false;
  return y;
}

/* ---------------------------------------------------------------- narrow ---- */

/* The gradient of a slice: zeros everywhere but the slice, which receives gy. */
static int narrow_backward(prism_node *n, const prism_tensor *gy, prism_tensor **gx) {
  prism_tensor *g = prism_tensor_zeros(gy->dtype, gy->storage->device, n->input_ndim[0], n->input_shape[0]);
  if (!g) return -1;
  prism_tensor *v = prism_tensor_narrow_raw(g, (int)n->iarg[0], n->iarg[1], n->iarg[2]);
  if (!v || prism_tensor_copy_(v, gy)) {
    prism_tensor_release(v);
    prism_tensor_release(g);
    return -1;
  }
  prism_tensor_release(v);
  gx[0] = g;
  return 0;
}

prism_tensor *prism_op_narrow(const prism_tensor *x, int dim, int64_t start, int64_t length) {
  int d = prism_dim_normalize_op("narrow", dim, x->ndim, false);
  if (d < 0) return NULL;
  if (start < 0 || length < 0 || start > x->shape[d] - length)
    return prism_fail(PRISM_ERR_ARG, "narrow: start %lld with length %lld is out of range for dim %d of size %lld",
                      (long long)start, (long long)length, dim, (long long)x->shape[d]);
  int64_t args[3] = {d, start, length};
  return record1(prism_tensor_narrow_raw(x, d, start, length), x, "narrow", narrow_backward, args, 3);
}

/* ---------------------------------------------------------------- expand ---- */

static int expand_backward(prism_node *n, const prism_tensor *gy, prism_tensor **gx) {
  gx[0] = prism_grad_sum_to(gy, n->input_ndim[0], n->input_shape[0]);
  return gx[0] ? 0 : -1;
}

prism_tensor *prism_op_expand(const prism_tensor *x, int ndim, const int64_t *shape) {
  char bx[128], bs[128];
  if (ndim < x->ndim || ndim > PRISM_MAX_DIMS)
    return prism_fail(PRISM_ERR_ARG, "expand: cannot expand shape %s to %d dims",
                      prism_shape_str(x->ndim, x->shape, bx, sizeof bx), ndim);
  int64_t sh[PRISM_MAX_DIMS];
  int lead = ndim - x->ndim;
  for (int i = 0; i < ndim; i++) {
    int j = i - lead;
    sh[i] = shape[i];
    if (shape[i] == -1 && j >= 0) sh[i] = x->shape[j];
    if (sh[i] < 0 || (j >= 0 && x->shape[j] != 1 && x->shape[j] != sh[i]))
      return prism_fail(PRISM_ERR_ARG, "expand: cannot expand shape %s to %s (dim %d)",
                        prism_shape_str(x->ndim, x->shape, bx, sizeof bx), prism_shape_str(ndim, shape, bs, sizeof bs), i + 1);
  }
  if (prism_shape_check(ndim, sh) < 0) return NULL;
  return record1(prism_tensor_expand_raw(x, ndim, sh), x, "expand", expand_backward, NULL, 0);
}

/* ------------------------------------------------------ unsqueeze/squeeze ---- */

prism_tensor *prism_op_unsqueeze(const prism_tensor *x, int dim) {
  if (x->ndim >= PRISM_MAX_DIMS)
    return prism_fail(PRISM_ERR_ARG, "unsqueeze: the tensor already has the maximum of %d dims", PRISM_MAX_DIMS);
  int d = prism_dim_normalize_op("unsqueeze", dim, x->ndim, true);
  if (d < 0) return NULL;
  return record1(prism_tensor_unsqueeze_raw(x, d), x, "unsqueeze", reshape_backward, NULL, 0);
}

prism_tensor *prism_op_squeeze(const prism_tensor *x, int dim, bool all) {
  prism_tensor *y;
  if (all) {
    y = prism_tensor_squeeze_raw(x, PRISM_SQUEEZE_ALL);
  } else if (x->ndim == 0 && (dim == 0 || dim == -1)) {
    y = prism_tensor_alias(x); /* PyTorch accepts dim 0/-1 on a scalar: nothing to remove */
  } else {
    int d = prism_dim_normalize_op("squeeze", dim, x->ndim, false);
    if (d < 0) return NULL;
    /* a dim whose size is not 1 is left alone, as in PyTorch */
    y = x->shape[d] == 1 ? prism_tensor_squeeze_raw(x, d) : prism_tensor_alias(x);
  }
  return record1(y, x, "squeeze", reshape_backward, NULL, 0);
}

/* ------------------------------------------------------------- cat/stack ---- */

/* Each input's gradient is its slice of gy; the slice sizes are kept in a saved host-side
 * int64 tensor since there may be more inputs than the node has integer slots. */
static int cat_backward(prism_node *n, const prism_tensor *gy, prism_tensor **gx) {
  prism_tensor *sizes = prism_node_saved(n, 0);
  if (!sizes) return -1;
  const int64_t *sz = prism_tensor_data(sizes);
  int dim = (int)n->iarg[0];
  int64_t off = 0;
  for (int i = 0; i < n->n_inputs; i++) {
    if (prism_node_needs_grad(n, i)) {
      gx[i] = prism_tensor_narrow_raw(gy, dim, off, sz[i]);
      if (!gx[i]) return -1;
    }
    off += sz[i];
  }
  return 0;
}

static int check_list(const char *op, prism_tensor *const *xs, int n) {
  if (n < 1 || !xs) return prism_fail_int(PRISM_ERR_ARG, "%s: expected at least one tensor", op);
  for (int i = 0; i < n; i++) {
    if (!xs[i]) return prism_fail_int(PRISM_ERR_ARG, "%s: input %d is not a tensor", op, i + 1);
    if (xs[i]->dtype != xs[0]->dtype)
      return prism_fail_int(PRISM_ERR_ARG, "%s: input %d has dtype %s, input 1 has %s", op, i + 1,
                            prism_dtype_name(xs[i]->dtype), prism_dtype_name(xs[0]->dtype));
    if (xs[i]->storage->device != xs[0]->storage->device)
      return prism_fail_int(PRISM_ERR_ARG, "%s: input %d is on %s, input 1 on %s", op, i + 1,
                            prism_device_name(xs[i]->storage->device), prism_device_name(xs[0]->storage->device));
  }
  return 0;
}

prism_tensor *prism_op_cat(prism_tensor *const *xs, int n, int dim) {
  if (check_list("cat", xs, n)) return NULL;
  const prism_tensor *x0 = xs[0];
  if (x0->ndim == 0) return prism_fail(PRISM_ERR_ARG, "cat: zero-dimensional tensors cannot be concatenated");
  int d = prism_dim_normalize_op("cat", dim, x0->ndim, false);
  if (d < 0) return NULL;
  int64_t shape[PRISM_MAX_DIMS];
  for (int j = 0; j < x0->ndim; j++) shape[j] = x0->shape[j];
  shape[d] = 0;
  for (int i = 0; i < n; i++) {
    bool ok = xs[i]->ndim == x0->ndim;
    for (int j = 0; ok && j < x0->ndim; j++) ok = j == d || xs[i]->shape[j] == x0->shape[j];
    if (!ok) {
      char bi[128], b0[128];
      return prism_fail(PRISM_ERR_ARG, "cat: input %d has shape %s, which does not match input 1's %s except in dim %d",
                        i + 1, prism_shape_str(xs[i]->ndim, xs[i]->shape, bi, sizeof bi),
                        prism_shape_str(x0->ndim, x0->shape, b0, sizeof b0), dim);
    }
    if (xs[i]->shape[d] > INT64_MAX - shape[d]) return prism_fail(PRISM_ERR_ARG, "cat: result too large");
    shape[d] += xs[i]->shape[d];
  }
  if (prism_shape_check(x0->ndim, shape) < 0) return NULL;
  int64_t *sizes = malloc(sizeof(int64_t) * (size_t)n);
  if (!sizes) return prism_fail(PRISM_ERR_OOM, "cat: out of host memory");
  prism_tensor *y = prism_tensor_empty(x0->dtype, x0->storage->device, x0->ndim, shape);
  int64_t off = 0;
  for (int i = 0; y && i < n; i++) {
    sizes[i] = xs[i]->shape[d];
    if (sizes[i] == 0) continue;
    prism_tensor *v = prism_tensor_narrow_raw(y, d, off, sizes[i]);
    if (!v || prism_tensor_copy_(v, xs[i])) {
      prism_tensor_release(y);
      y = NULL;
    }
    prism_tensor_release(v);
    off += sizes[i];
  }
  if (y && prism_autograd_needed(xs, n)) {
    int64_t nn = n;
    prism_tensor *st = prism_tensor_from_host(PRISM_INT64, PRISM_CPU, 1, &nn, sizes);
    prism_node *node = st ? prism_node_new("cat", cat_backward, xs, n) : NULL;
    if (!node || prism_node_save(node, st) < 0) {
      prism_node_release(node);
      prism_tensor_release(y);
      y = NULL;
    } else {
      node->iarg[0] = d;
      prism_tensor_set_grad_fn(y, node);
    }
    prism_tensor_release(st);
  }
  free(sizes);
  return y;
}

prism_tensor *prism_op_stack(prism_tensor *const *xs, int n, int dim) {
  if (check_list("stack", xs, n)) return NULL;
  for (int i = 1; i < n; i++) {
    if (!prism_shape_equal(xs[i], xs[0])) {
      char bi[128], b0[128];
      return prism_fail(PRISM_ERR_ARG, "stack: input %d has shape %s, input 1 has %s", i + 1,
                        prism_shape_str(xs[i]->ndim, xs[i]->shape, bi, sizeof bi),
                        prism_shape_str(xs[0]->ndim, xs[0]->shape, b0, sizeof b0));
    }
  }
  if (xs[0]->ndim >= PRISM_MAX_DIMS)
    return prism_fail(PRISM_ERR_ARG, "stack: inputs already have the maximum of %d dims", PRISM_MAX_DIMS);
  int d = prism_dim_normalize_op("stack", dim, xs[0]->ndim, true);
  if (d < 0) return NULL;
  prism_tensor **us = calloc((size_t)n, sizeof *us);
  if (!us) return prism_fail(PRISM_ERR_OOM, "stack: out of host memory");
  prism_tensor *y = NULL;
  int made = 0;
  while (made < n && (us[made] = prism_op_unsqueeze(xs[made], d))) made++;
  if (made == n) y = prism_op_cat(us, n, d);
  for (int i = 0; i < made; i++) prism_tensor_release(us[i]);
  free(us);
  return y;
}

/* ------------------------------------------------------------ dtype/device ---- */

prism_tensor *prism_op_to_dtype(const prism_tensor *x, prism_dtype dtype) {
  if ((unsigned)dtype >= PRISM_DTYPE_COUNT) return prism_fail(PRISM_ERR_ARG, "to: unknown dtype %d", (int)dtype);
  /* float32 is the only float dtype, so a float->float conversion is the identity and keeps
   * the graph by returning x itself; any other conversion leaves the differentiable domain. */
  if (x->dtype == dtype) return prism_tensor_retain((prism_tensor *)x);
  prism_tensor *y = prism_tensor_to_dtype_raw(x, dtype);
  if (y) y->requires_grad = false;
  return y;
}

static int to_device_backward(prism_node *n, const prism_tensor *gy, prism_tensor **gx) {
  gx[0] = prism_tensor_to_device_raw(gy, (prism_device)n->iarg[0]);
  return gx[0] ? 0 : -1;
}

prism_tensor *prism_op_to_device(const prism_tensor *x, prism_device device) {
  if ((unsigned)device >= PRISM_DEVICE_COUNT) return prism_fail(PRISM_ERR_ARG, "to: unknown device %d", (int)device);
  if (x->storage->device == device) return prism_tensor_retain((prism_tensor *)x);
  if (!prism_backend_get(device)) {
    char msg[400];
    snprintf(msg, sizeof msg, "%s", prism_error_message());
    return prism_fail(PRISM_ERR_ARG, "to: cannot move a tensor to %s: %s", prism_device_name(device), msg);
  }
  int64_t src = x->storage->device;
  return record1(prism_tensor_to_device_raw(x, device), x, "to_device", to_device_backward, &src, 1);
}
