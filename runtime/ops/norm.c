/* ops/norm.c — RMSNorm and LayerNorm over the last dimension, with optional weight (and bias).
 * Everything before the last dim is flattened into rows, so one rows × n kernel serves every
 * shape. The forward keeps the per-row statistics (rstd, and the mean for LayerNorm) so the
 * backward does not recompute them. Optional parameters are left out of the node's input list
 * rather than passed as NULL inputs; iarg records where each one sits. */
#include "../ops.h"
#include "../error.h"
#include <math.h>

/* Validates x [..., n] and an optional parameter p [n]. */
static int check_param(const char *op, const char *what, const prism_tensor *x, const prism_tensor *p) {
  char b1[96], b2[96];
  if (!p) return 0;
  if (p->dtype != PRISM_FLOAT32)
    return prism_fail_int(PRISM_ERR_ARG, "%s: %s must be float32, got %s", op, what, prism_dtype_name(p->dtype));
  if (p->storage->device != x->storage->device)
    return prism_fail_int(PRISM_ERR_ARG, "%s: input is on %s but %s is on %s", op, prism_device_name(x->storage->device),
                          what, prism_device_name(p->storage->device));
  if (p->ndim != 1 || p->shape[0] != x->shape[x->ndim - 1])
    return prism_fail_int(PRISM_ERR_ARG, "%s: %s must have shape [%lld] (the input's last dim), got %s for input %s", op,
                          what, (long long)x->shape[x->ndim - 1], prism_shape_str(p->ndim, p->shape, b1, sizeof b1),
                          prism_shape_str(x->ndim, x->shape, b2, sizeof b2));
  return 0;
}

static int check_input(const char *op, const prism_tensor *x, double eps) {
  if (!x) return prism_fail_int(PRISM_ERR_ARG, "%s: expected a tensor, got nil", op);
  if (x->dtype != PRISM_FLOAT32)
    return prism_fail_int(PRISM_ERR_ARG, "%s: expected a float32 tensor, got %s", op, prism_dtype_name(x->dtype));
  if (x->ndim < 1) return prism_fail_int(PRISM_ERR_ARG, "%s: expected at least 1 dim, got a 0-dim tensor", op);
  if (!(eps >= 0) || !isfinite(eps))
    return prism_fail_int(PRISM_ERR_ARG, "%s: eps must be a finite number >= 0, got %g", op, eps);
  return 0;
}

static const float *data_or_null(const prism_tensor *t) { return t ? prism_tensor_data(t) : NULL; }

/* ---- RMSNorm: y = x * rstd * w, rstd = 1/sqrt(mean(x^2) + eps) ----
 * inputs: 0 x, 1 w (if any); saved: 0 x, 1 rstd, 2 w (if any) */
static int rms_norm_backward(prism_node *node, const prism_tensor *gy, prism_tensor **gx) {
  bool has_w = node->n_inputs > 1;
  prism_tensor *x = prism_node_saved(node, 0);
  prism_tensor *rstd = x ? prism_node_saved(node, 1) : NULL;
  prism_tensor *w = rstd && has_w ? prism_node_saved(node, 2) : NULL;
  if (!rstd || (has_w && !w)) return -1;
  const prism_backend *be = prism_backend_get(x->storage->device);
  if (!be) return -1;
  int64_t n = x->shape[x->ndim - 1], rows = n ? prism_tensor_numel(x) / n : 0;
  prism_tensor *dx = prism_tensor_empty_like(x);
  prism_tensor *dw = dx && has_w ? prism_tensor_empty_like(w) : NULL;
  int rc = dx && (!has_w || dw) ? 0 : -1;
  if (rc == 0 && rows * n > 0)
    rc = be->rmsnorm_backward(prism_tensor_data(dx), dw ? prism_tensor_data(dw) : NULL, prism_tensor_data(gy),
                              prism_tensor_data(x), data_or_null(w), prism_tensor_data(rstd), rows, n);
  else if (rc == 0 && dw)
    rc = prism_tensor_fill_(dw, 0.0); /* no rows: the weight gradient is a sum over nothing */
  if (rc == 0 && prism_node_needs_grad(node, 0)) { gx[0] = dx; dx = NULL; }
  if (rc == 0 && has_w && prism_node_needs_grad(node, 1)) { gx[1] = dw; dw = NULL; }
  prism_tensor_release(dx);
  prism_tensor_release(dw);
  return rc;
}

prism_tensor *prism_op_rms_norm(const prism_tensor *x, const prism_tensor *w, double eps) {
  if (check_input("rms_norm", x, eps) < 0 || check_param("rms_norm", "weight", x, w) < 0) return NULL;
  const prism_backend *be = prism_backend_get(x->storage->device);
  if (!be) return NULL;
  int64_t n = x->shape[x->ndim - 1], rows = n ? prism_tensor_numel(x) / n : 0;

  prism_tensor *xc = prism_tensor_contiguous_raw(x);
  prism_tensor *wc = xc && w ? prism_tensor_contiguous_raw(w) : NULL;
  prism_tensor *y = xc && (!w || wc) ? prism_tensor_empty_like(xc) : NULL;
  prism_tensor *rstd = y ? prism_tensor_empty(PRISM_FLOAT32, x->storage->device, 1, &rows) : NULL;
  int rc = rstd ? 0 : -1;
  if (rc == 0 && rows * n > 0)
    rc = be->rmsnorm(prism_tensor_data(y), prism_tensor_data(rstd), prism_tensor_data(xc), data_or_null(wc), rows, n,
                     (float)eps);
  prism_tensor *inputs[2] = {(prism_tensor *)x, (prism_tensor *)w};
  int n_in = w ? 2 : 1;
  if (rc == 0 && prism_autograd_needed(inputs, n_in)) {
    prism_node *node = prism_node_new("rms_norm", rms_norm_backward, inputs, n_in);
    if (!node || prism_node_save(node, xc) < 0 || prism_node_save(node, rstd) < 0 || (wc && prism_node_save(node, wc) < 0)) {
      prism_node_release(node);
      rc = -1;
    } else {
      prism_tensor_set_grad_fn(y, node);
    }
  }
  prism_tensor_release(xc);
  prism_tensor_release(wc);
  prism_tensor_release(rstd);
  if (rc != 0) {
    prism_tensor_release(y);
    return NULL;
  }
  return y;
}

/* ---- LayerNorm: y = (x - mean) * rstd * w + b ----
 * inputs: x, then w and b when given (iarg 0/1: their input slots or -1);
 * saved: 0 x, 1 mean, 2 rstd, 3 w (if any) */
static int layer_norm_backward(prism_node *node, const prism_tensor *gy, prism_tensor **gx) {
  int wi = (int)node->iarg[0], bi = (int)node->iarg[1];
  prism_tensor *x = prism_node_saved(node, 0);
  prism_tensor *mean = x ? prism_node_saved(node, 1) : NULL;
  prism_tensor *rstd = mean ? prism_node_saved(node, 2) : NULL;
  prism_tensor *w = rstd && wi >= 0 ? prism_node_saved(node, 3) : NULL;
  if (!rstd || (wi >= 0 && !w)) return -1;
  const prism_backend *be = prism_backend_get(x->storage->device);
  if (!be) return -1;
  int64_t n = x->shape[x->ndim - 1], rows = n ? prism_tensor_numel(x) / n : 0;
  prism_tensor *dx = prism_tensor_empty_like(x);
  prism_tensor *dw = dx && wi >= 0 ? prism_tensor_empty(PRISM_FLOAT32, x->storage->device, 1, &n) : NULL;
  prism_tensor *db = dx && bi >= 0 ? prism_tensor_empty(PRISM_FLOAT32, x->storage->device, 1, &n) : NULL;
  int rc = dx && (wi < 0 || dw) && (bi < 0 || db) ? 0 : -1;
  if (rc == 0 && rows * n > 0) {
    rc = be->layernorm_backward(prism_tensor_data(dx), dw ? prism_tensor_data(dw) : NULL,
                                db ? prism_tensor_data(db) : NULL, prism_tensor_data(gy), prism_tensor_data(x),
                                data_or_null(w), prism_tensor_data(mean), prism_tensor_data(rstd), rows, n);
  } else if (rc == 0) { /* no rows: parameter gradients are sums over nothing */
    if (dw) rc = prism_tensor_fill_(dw, 0.0);
    if (rc == 0 && db) rc = prism_tensor_fill_(db, 0.0);
  }
  if (rc == 0 && prism_node_needs_grad(node, 0)) { gx[0] = dx; dx = NULL; }
  if (rc == 0 && wi >= 0 && prism_node_needs_grad(node, wi)) { gx[wi] = dw; dw = NULL; }
  if (rc == 0 && bi >= 0 && prism_node_needs_grad(node, bi)) { gx[bi] = db; db = NULL; }
  prism_tensor_release(dx);
  prism_tensor_release(dw);
  prism_tensor_release(db);
  return rc;
}

prism_tensor *prism_op_layer_norm(const prism_tensor *x, const prism_tensor *w, const prism_tensor *b, double eps) {
  if (check_input("layer_norm", x, eps) < 0 || check_param("layer_norm", "weight", x, w) < 0 ||
      check_param("layer_norm", "bias", x, b) < 0)
    return NULL;
  const prism_backend *be = prism_backend_get(x->storage->device);
  if (!be) return NULL;
  int64_t n = x->shape[x->ndim - 1], rows = n ? prism_tensor_numel(x) / n : 0;

  prism_tensor *xc = prism_tensor_contiguous_raw(x);
  prism_tensor *wc = xc && w ? prism_tensor_contiguous_raw(w) : NULL;
  prism_tensor *bc = xc && b ? prism_tensor_contiguous_raw(b) : NULL;
  prism_tensor *y = xc && (!w || wc) && (!b || bc) ? prism_tensor_empty_like(xc) : NULL;
  prism_tensor *mean = y ? prism_tensor_empty(PRISM_FLOAT32, x->storage->device, 1, &rows) : NULL;
  prism_tensor *rstd = mean ? prism_tensor_empty(PRISM_FLOAT32, x->storage->device, 1, &rows) : NULL;
  int rc = rstd ? 0 : -1;
  if (rc == 0 && rows * n > 0)
    rc = be->layernorm(prism_tensor_data(y), prism_tensor_data(mean), prism_tensor_data(rstd), prism_tensor_data(xc),
                       data_or_null(wc), data_or_null(bc), rows, n, (float)eps);
  prism_tensor *inputs[3] = {(prism_tensor *)x, NULL, NULL};
  int n_in = 1, wi = -1, bi = -1;
  if (w) { wi = n_in; inputs[n_in++] = (prism_tensor *)w; }
  if (b) { bi = n_in; inputs[n_in++] = (prism_tensor *)b; }
  if (rc == 0 && prism_autograd_needed(inputs, n_in)) {
    prism_node *node = prism_node_new("layer_norm", layer_norm_backward, inputs, n_in);
    if (!node || prism_node_save(node, xc) < 0 || prism_node_save(node, mean) < 0 || prism_node_save(node, rstd) < 0 ||
        (wc && prism_node_save(node, wc) < 0)) {
      prism_node_release(node);
      rc = -1;
    } else {
      node->iarg[0] = wi;
      node->iarg[1] = bi;
      prism_tensor_set_grad_fn(y, node);
    }
  }
  prism_tensor_release(xc);
  prism_tensor_release(wc);
  prism_tensor_release(bc);
  prism_tensor_release(mean);
  prism_tensor_release(rstd);
  if (rc != 0) {
    prism_tensor_release(y);
    return NULL;
  }
  return y;
}
