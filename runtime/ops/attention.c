/* ops/attention.c — fused scaled-dot-product attention on [B, H, T, D]. The op only checks
 * shapes and flattens B and H into one batch dim: the backend kernel computes
 * softmax(scale q k^T (+ causal mask)) v without materializing the [T, T] probabilities for the
 * caller and returns the per-row log-sum-exp, which is what its backward needs to rebuild them.
 * Saved for backward: q, k, v (contiguous), the output and the log-sum-exp. */
#include "../ops.h"
#include "../error.h"
#include <math.h>

/* saved: 0 q, 1 k, 2 v, 3 out, 4 lse; iarg: 0 causal; farg: 0 scale */
static int attention_backward(prism_node *node, const prism_tensor *gy, prism_tensor **gx) {
  prism_tensor *s[5];
  for (int i = 0; i < 5; i++)
    if (!(s[i] = prism_node_saved(node, i))) return -1;
  const prism_backend *be = prism_backend_get(s[0]->storage->device);
  if (!be) return -1;
  int64_t bh = s[0]->shape[0] * s[0]->shape[1], t = s[0]->shape[2], d = s[0]->shape[3];
  prism_tensor *g[3] = {NULL, NULL, NULL};
  int rc = 0;
  for (int i = 0; i < 3 && rc == 0; i++)
    if (!(g[i] = prism_tensor_empty_like(s[i]))) rc = -1;
  if (rc == 0 && bh * t * d > 0)
    rc = be->attention_backward(prism_tensor_data(g[0]), prism_tensor_data(g[1]), prism_tensor_data(g[2]),
                                prism_tensor_data(gy), prism_tensor_data(s[0]), prism_tensor_data(s[1]),
                                prism_tensor_data(s[2]), prism_tensor_data(s[3]), prism_tensor_data(s[4]), bh, t, d,
                                (float)node->farg[0], (int)node->iarg[0]);
  for (int i = 0; i < 3; i++) {
    if (rc == 0 && prism_node_needs_grad(node, i)) gx[i] = g[i];
    else prism_tensor_release(g[i]);
  }
  return rc;
}

prism_tensor *prism_op_attention(const prism_tensor *q, const prism_tensor *k, const prism_tensor *v, bool causal,
                                 double scale) {
  char b1[96], b2[96], b3[96];
  if (!q || !k || !v) return prism_fail(PRISM_ERR_ARG, "attention: expected q, k and v tensors, got nil");
  const prism_tensor *in[3] = {q, k, v};
  const char *names[3] = {"q", "k", "v"};
  for (int i = 0; i < 3; i++) {
    if (in[i]->dtype != PRISM_FLOAT32)
      return prism_fail(PRISM_ERR_ARG, "attention: %s must be float32, got %s", names[i], prism_dtype_name(in[i]->dtype));
    if (in[i]->ndim != 4)
      return prism_fail(PRISM_ERR_ARG, "attention: %s must be 4-D [B, H, T, D], got %s", names[i],
                        prism_shape_str(in[i]->ndim, in[i]->shape, b1, sizeof b1));
    if (in[i]->storage->device != q->storage->device)
      return prism_fail(PRISM_ERR_ARG, "attention: q is on %s but %s is on %s", prism_device_name(q->storage->device),
                        names[i], prism_device_name(in[i]->storage->device));
  }
  if (!prism_shape_equal(q, k) || !prism_shape_equal(q, v))
    return prism_fail(PRISM_ERR_ARG, "attention: q, k and v must have the same shape, got %s, %s and %s",
                      prism_shape_str(q->ndim, q->shape, b1, sizeof b1), prism_shape_str(k->ndim, k->shape, b2, sizeof b2),
                      prism_shape_str(v->ndim, v->shape, b3, sizeof b3));
  int64_t d = q->shape[3];
  if (d == 0) return prism_fail(PRISM_ERR_ARG, "attention: head dim D must be positive, got shape %s",
                                prism_shape_str(q->ndim, q->shape, b1, sizeof b1));
  if (!(scale <= 0) && !isfinite(scale))
    return prism_fail(PRISM_ERR_ARG, "attention: scale must be a finite number, got %g", scale);
  if (scale <= 0) scale = 1.0 / sqrt((double)d);
  const prism_backend *be = prism_backend_get(q->storage->device);
  if (!be) return NULL;
  int64_t bh = q->shape[0] * q->shape[1], t = q->shape[2];

  prism_tensor *c[3] = {NULL, NULL, NULL};
  prism_tensor *out = NULL, *lse = NULL;
  int rc = 0;
  for (int i = 0; i < 3 && rc == 0; i++)
    if (!(c[i] = prism_tensor_contiguous_raw(in[i]))) rc = -1;
  int64_t lse_shape[2] = {bh, t};
  if (rc == 0 && (!(out = prism_tensor_empty_like(c[0])) ||
                  !(lse = prism_tensor_empty(PRISM_FLOAT32, q->storage->device, 2, lse_shape))))
    rc = -1;
  if (rc == 0 && bh * t > 0)
    rc = be->attention(prism_tensor_data(out), prism_tensor_data(lse), prism_tensor_data(c[0]), prism_tensor_data(c[1]),
                       prism_tensor_data(c[2]), bh, t, d, (float)scale, causal ? 1 : 0);

  prism_tensor *const *inputs = (prism_tensor *const *)in;
  if (rc == 0 && prism_autograd_needed(inputs, 3)) {
    prism_node *node = prism_node_new("attention", attention_backward, inputs, 3);
    if (!node) rc = -1;
    for (int i = 0; i < 3 && rc == 0; i++)
      if (prism_node_save(node, c[i]) < 0) rc = -1;
    if (rc == 0 && (prism_node_save(node, out) < 0 || prism_node_save(node, lse) < 0)) rc = -1;
    if (rc == 0) {
      node->iarg[0] = causal ? 1 : 0;
      node->farg[0] = scale;
      prism_tensor_set_grad_fn(out, node);
    } else {
      prism_node_release(node);
    }
  }
  for (int i = 0; i < 3; i++) prism_tensor_release(c[i]);
  prism_tensor_release(lse);
  if (rc != 0) {
    prism_tensor_release(out);
    return NULL;
  }
  return out;
}
