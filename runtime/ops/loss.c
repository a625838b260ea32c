/* ops/loss.c — the fused cross-entropy loss: softmax + negative log-likelihood in one kernel
 * (stable log-sum-exp), mean over rows. The mean is taken by the backend's double-accumulating
 * sum with fixed chunking, not by a float reduction, because this number is the score's input
 * and must be bitwise identical whatever the thread count. Every target is range-checked on the
 * host before any kernel runs, so a bad token id is a clear error instead of a wild read. */
#include "../ops.h"
#include "../error.h"
#include <stdlib.h>

/* Targets as a contiguous int64 tensor on their device (int32 converted). */
static prism_tensor *targets_i64(const prism_tensor *t) {
  if (t->dtype == PRISM_INT64) return prism_tensor_contiguous_raw(t);
  prism_tensor *c = prism_tensor_to_dtype_raw(t, PRISM_INT64);
  if (!c) return NULL;
  prism_tensor *cc = prism_tensor_contiguous_raw(c);
  prism_tensor_release(c);
  return cc;
}

/* Checks every target of the contiguous int64 tensor t against [0, classes). */
static int check_targets(const prism_tensor *t, int64_t classes) {
  int64_t n = prism_tensor_numel(t);
  if (t->storage->device == PRISM_CPU) {
    const int64_t *v = prism_tensor_data(t);
    for (int64_t i = 0; i < n; i++)
      if (v[i] < 0 || v[i] >= classes)
        return prism_fail_int(PRISM_ERR_ARG, "cross_entropy: target %lld at row %lld is outside [0, %lld)",
                              (long long)v[i], (long long)i, (long long)classes);
    return 0;
  }
  double *host = malloc((size_t)(n ? n : 1) * sizeof *host);
  if (!host)
    return prism_fail_int(PRISM_ERR_OOM, "cross_entropy: cannot allocate %lld host values to check targets", (long long)n);
  int rc = prism_tensor_to_host_f64(t, host);
  for (int64_t i = 0; rc == 0 && i < n; i++)
    if (!(host[i] >= 0 && host[i] < (double)classes))
      rc = prism_fail_int(PRISM_ERR_ARG, "cross_entropy: target %.0f at row %lld is outside [0, %lld)", host[i],
                          (long long)i, (long long)classes);
  free(host);
  return rc;
}

/* saved: 0 logits (contiguous), 1 lse [N], 2 targets (int64 contiguous) */
static int cross_entropy_backward(prism_node *node, const prism_tensor *gy, prism_tensor **gx) {
  prism_tensor *logits = prism_node_saved(node, 0);
  prism_tensor *lse = logits ? prism_node_saved(node, 1) : NULL;
  prism_tensor *targets = lse ? prism_node_saved(node, 2) : NULL;
  if (!targets) return -1;
  if (!prism_node_needs_grad(node, 0)) return 0;
  const prism_backend *be = prism_backend_get(logits->storage->device);
  if (!be) return -1;
  double g;
  if (prism_tensor_to_host_f64(gy, &g) < 0) return -1;
  int64_t rows = logits->shape[0], classes = logits->shape[1];
  prism_tensor *out = prism_tensor_empty_like(logits);
  if (!out) return -1;
  if (be->cross_entropy_backward(prism_tensor_data(out), prism_tensor_data(logits), prism_tensor_data(lse),
                                 prism_tensor_data(targets), rows, classes, (float)(g / (double)rows)) < 0) {
    prism_tensor_release(out);
    return -1;
  }
  gx[0] = out;
  return 0;
}

prism_tensor *prism_op_cross_entropy(const prism_tensor *logits, const prism_tensor *targets) {
  char b1[96], b2[96];
  if (!logits || !targets) return prism_fail(PRISM_ERR_ARG, "cross_entropy: expected logits and targets tensors, got nil");
  if (logits->dtype != PRISM_FLOAT32)
    return prism_fail(PRISM_ERR_ARG, "cross_entropy: logits must be float32, got %s", prism_dtype_name(logits->dtype));
  if (targets->dtype != PRISM_INT64 && targets->dtype != PRISM_INT32)
    return prism_fail(PRISM_ERR_ARG, "cross_entropy: targets must be int64 (or int32) class ids, got %s",
                      prism_dtype_name(targets->dtype));
  if (logits->ndim != 2 || targets->ndim != 1 || targets->shape[0] != logits->shape[0])
    return prism_fail(PRISM_ERR_ARG, "cross_entropy: expected logits [N, C] and targets [N], got %s and %s",
                      prism_shape_str(logits->ndim, logits->shape, b1, sizeof b1),
                      prism_shape_str(targets->ndim, targets->shape, b2, sizeof b2));
  if (logits->shape[0] == 0)
    return prism_fail(PRISM_ERR_ARG, "cross_entropy: the mean over an empty batch (logits %s) is undefined",
                      prism_shape_str(logits->ndim, logits->shape, b1, sizeof b1));
  if (logits->storage->device != targets->storage->device)
    return prism_fail(PRISM_ERR_ARG, "cross_entropy: logits are on %s but targets are on %s",
                      prism_device_name(logits->storage->device), prism_device_name(targets->storage->device));
  const prism_backend *be = prism_backend_get(logits->storage->device);
  if (!be) return NULL;
  int64_t rows = logits->shape[0], classes = logits->shape[1];

  prism_tensor *t64 = targets_i64(targets);
  if (!t64) return NULL;
  if (check_targets(t64, classes) < 0) {
    prism_tensor_release(t64);
    return NULL;
  }
  prism_tensor *xc = prism_tensor_contiguous_raw(logits);
  prism_tensor *loss_rows = xc ? prism_tensor_empty(PRISM_FLOAT32, xc->storage->device, 1, &rows) : NULL;
  prism_tensor *lse = loss_rows ? prism_tensor_empty(PRISM_FLOAT32, xc->storage->device, 1, &rows) : NULL;
  prism_tensor *loss = NULL;
  double total = 0;
  const int64_t scalar_shape[1] = {1}; /* unused by a 0-dim shape; never NULL for memcpy's sake */
  if (lse && be->cross_entropy(prism_tensor_data(loss_rows), prism_tensor_data(lse), prism_tensor_data(xc),
                               prism_tensor_data(t64), rows, classes) == 0 &&
      be->sum_f64(&total, prism_tensor_data(loss_rows), rows) == 0)
    loss = prism_tensor_full(PRISM_FLOAT32, xc->storage->device, 0, scalar_shape, total / (double)rows);
  prism_tensor_release(loss_rows);

  if (loss && prism_autograd_needed((prism_tensor *const *)&logits, 1)) {
    prism_node *node = prism_node_new("cross_entropy", cross_entropy_backward, (prism_tensor *const *)&logits, 1);
    if (!node || prism_node_save(node, xc) < 0 || prism_node_save(node, lse) < 0 || prism_node_save(node, t64) < 0) {
      prism_node_release(node);
      prism_tensor_release(loss);
      loss = NULL;
    } else {
      prism_tensor_set_grad_fn(loss, node);
    }
  }
  prism_tensor_release(xc);
  prism_tensor_release(lse);
  prism_tensor_release(t64);
  return loss;
}
