/* ops/optim.c — the in-place updates optimizers are built from: fused AdamW and SGD steps,
 * the global gradient norm for clipping, and t *= s / dst += src. None of these records on the
 * tape; each bumps the version of what it writes, so a tensor saved for a pending backward that
 * an update touched is reported instead of silently giving wrong gradients. The global norm
 * sums per-tensor double sums of squares in the caller's order, so it is the same number for the
 * same parameter list whatever the thread count. */
#include "../ops.h"
#include "../error.h"
#include <math.h>

/* t (named what) must be a float32 tensor on ref's device with ref's shape, contiguous when
 * it is written in place. */
static int check_state(const char *op, const char *what, const prism_tensor *ref, const prism_tensor *t, bool contiguous) {
  char b1[96], b2[96];
  if (!t) return prism_fail_int(PRISM_ERR_ARG, "%s: %s is nil", op, what);
  if (t->dtype != PRISM_FLOAT32)
    return prism_fail_int(PRISM_ERR_ARG, "%s: %s must be float32, got %s", op, what, prism_dtype_name(t->dtype));
  if (ref && t->storage->device != ref->storage->device)
    return prism_fail_int(PRISM_ERR_ARG, "%s: param is on %s but %s is on %s", op, prism_device_name(ref->storage->device),
                          what, prism_device_name(t->storage->device));
  if (ref && !prism_shape_equal(ref, t))
    return prism_fail_int(PRISM_ERR_ARG, "%s: %s has shape %s but param has shape %s", op, what,
                          prism_shape_str(t->ndim, t->shape, b1, sizeof b1),
                          prism_shape_str(ref->ndim, ref->shape, b2, sizeof b2));
  if (contiguous && !prism_tensor_is_contiguous(t))
    return prism_fail_int(PRISM_ERR_ARG, "%s: %s must be contiguous (it is updated in place)", op, what);
  return 0;
}

int prism_op_adamw_step(prism_tensor *param, const prism_tensor *grad, prism_tensor *exp_avg, prism_tensor *exp_avg_sq,
                        double lr, double beta1, double beta2, double eps, double weight_decay, int64_t step) {
  const char *op = "adamw_step";
  if (check_state(op, "param", NULL, param, true) < 0 || check_state(op, "grad", param, grad, false) < 0 ||
      check_state(op, "exp_avg", param, exp_avg, true) < 0 || check_state(op, "exp_avg_sq", param, exp_avg_sq, true) < 0)
    return -1;
  if (!(lr >= 0) || !isfinite(lr)) return prism_fail_int(PRISM_ERR_ARG, "%s: lr must be finite and >= 0, got %g", op, lr);
  if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1))
    return prism_fail_int(PRISM_ERR_ARG, "%s: betas must be in [0, 1), got (%g, %g)", op, beta1, beta2);
  if (!(eps >= 0) || !isfinite(eps)) return prism_fail_int(PRISM_ERR_ARG, "%s: eps must be finite and >= 0, got %g", op, eps);
  if (!(weight_decay >= 0) || !isfinite(weight_decay))
    return prism_fail_int(PRISM_ERR_ARG, "%s: weight_decay must be finite and >= 0, got %g", op, weight_decay);
  if (step < 1) return prism_fail_int(PRISM_ERR_ARG, "%s: step must be >= 1, got %lld", op, (long long)step);
  const prism_backend *be = prism_backend_get(param->storage->device);
  if (!be) return -1;
  prism_tensor *g = prism_tensor_contiguous_raw(grad);
  if (!g) return -1;
  int64_t n = prism_tensor_numel(param);
  int rc = n == 0 ? 0
                  : be->adamw(prism_tensor_data(param), prism_tensor_data(g), prism_tensor_data(exp_avg),
                              prism_tensor_data(exp_avg_sq), n, (float)lr, (float)beta1, (float)beta2, (float)eps,
                              (float)weight_decay, step);
  prism_tensor_release(g);
  if (rc < 0) return -1;
  prism_tensor_bump_version(param);
  prism_tensor_bump_version(exp_avg);
  prism_tensor_bump_version(exp_avg_sq);
  return 0;
}

int prism_op_sgd_step(prism_tensor *param, const prism_tensor *grad, prism_tensor *momentum_buf, double lr,
                      double momentum, double dampening, bool nesterov, double weight_decay, bool first) {
  const char *op = "sgd_step";
  if (check_state(op, "param", NULL, param, true) < 0 || check_state(op, "grad", param, grad, false) < 0) return -1;
  if (!(lr >= 0) || !isfinite(lr)) return prism_fail_int(PRISM_ERR_ARG, "%s: lr must be finite and >= 0, got %g", op, lr);
  if (!(momentum >= 0) || !isfinite(momentum))
    return prism_fail_int(PRISM_ERR_ARG, "%s: momentum must be finite and >= 0, got %g", op, momentum);
  if (!isfinite(dampening)) return prism_fail_int(PRISM_ERR_ARG, "%s: dampening must be finite, got %g", op, dampening);
  if (!(weight_decay >= 0) || !isfinite(weight_decay))
    return prism_fail_int(PRISM_ERR_ARG, "%s: weight_decay must be finite and >= 0, got %g", op, weight_decay);
  if (nesterov && (momentum <= 0 || dampening != 0))
    return prism_fail_int(PRISM_ERR_ARG, "%s: nesterov needs momentum > 0 and dampening 0, got momentum %g, dampening %g", op,
                          momentum, dampening);
  if (momentum != 0 && check_state(op, "momentum_buf", param, momentum_buf, true) < 0) return -1;
  const prism_backend *be = prism_backend_get(param->storage->device);
  if (!be) return -1;
  prism_tensor *g = prism_tensor_contiguous_raw(grad);
  if (!g) return -1;
  float *buf = momentum != 0 ? prism_tensor_data(momentum_buf) : NULL;
  int64_t n = prism_tensor_numel(param);
  int rc = n == 0 ? 0
                  : be->sgd(prism_tensor_data(param), prism_tensor_data(g), buf, n, (float)lr, (float)momentum,
                            (float)dampening, nesterov ? 1 : 0, (float)weight_decay, first ? 1 : 0);
  prism_tensor_release(g);
  if (rc < 0) return -1;
  prism_tensor_bump_version(param);
  if (buf) prism_tensor_bump_version(momentum_buf);
  return 0;
}

int prism_op_global_norm(prism_tensor *const *ts, int n, double *out) {
  if (n < 0 || (n > 0 && !ts) || !out) return prism_fail_int(PRISM_ERR_ARG, "global_norm: bad tensor list (%d tensors)", n);
  double total = 0;
  for (int i = 0; i < n; i++) {
    if (check_state("global_norm", "tensor", NULL, ts[i], false) < 0) return -1;
    const prism_backend *be = prism_backend_get(ts[i]->storage->device);
    if (!be) return -1;
    prism_tensor *c = prism_tensor_contiguous_raw(ts[i]);
    if (!c) return -1;
    double s = 0;
    int64_t numel = prism_tensor_numel(c);
    int rc = numel == 0 ? 0 : be->sum_squares_f64(&s, prism_tensor_data(c), numel);
    prism_tensor_release(c);
    if (rc < 0) return -1;
    total += s;
  }
  *out = sqrt(total);
  return 0;
}

/* These two do not record on the tape: used on a tensor the tape tracks, they would make its
 * gradient silently wrong, so they refuse (like PyTorch's in-place check on leaves). */
static int check_inplace(const char *op, const prism_tensor *t) {
  if (check_state(op, "tensor", NULL, t, false) < 0) return -1;
  if (prism_grad_enabled() && t->requires_grad)
    return prism_fail_int(PRISM_ERR_ARG, "%s: in-place update of a tensor that requires grad must run inside prism.no_grad",
                          op);
  return 0;
}

int prism_op_scale_(prism_tensor *t, double s) {
  if (check_inplace("scale_", t) < 0) return -1;
  const prism_backend *be = prism_backend_get(t->storage->device);
  if (!be) return -1;
  int64_t n = prism_tensor_numel(t);
  if (n == 0) return 0;
  if (prism_tensor_is_contiguous(t)) {
    float *d = prism_tensor_data(t);
    if (be->unary(PRISM_UNARY_MUL_SCALAR, d, d, n, (float)s, 0) < 0) return -1;
    prism_tensor_bump_version(t);
    return 0;
  }
  prism_tensor *tmp = prism_tensor_contiguous_raw(t);
  if (!tmp) return -1;
  float *d = prism_tensor_data(tmp);
  int rc = be->unary(PRISM_UNARY_MUL_SCALAR, d, d, n, (float)s, 0);
  if (rc == 0) rc = prism_tensor_copy_(t, tmp);
  prism_tensor_release(tmp);
  return rc;
}

int prism_op_add_(prism_tensor *dst, const prism_tensor *src) {
  char b1[96], b2[96];
  if (check_inplace("add_", dst) < 0 || check_state("add_", "src", NULL, src, false) < 0) return -1;
  if (src->storage->device != dst->storage->device)
    return prism_fail_int(PRISM_ERR_ARG, "add_: destination is on %s but source is on %s",
                          prism_device_name(dst->storage->device), prism_device_name(src->storage->device));
  if (!prism_shape_equal(dst, src))
    return prism_fail_int(PRISM_ERR_ARG, "add_: shapes %s and %s differ", prism_shape_str(dst->ndim, dst->shape, b1, sizeof b1),
                          prism_shape_str(src->ndim, src->shape, b2, sizeof b2));
  const prism_backend *be = prism_backend_get(dst->storage->device);
  if (!be) return -1;
  if (prism_tensor_numel(dst) == 0) return 0;
  prism_layout dl = prism_layout_of(dst), sl = prism_layout_of(src);
  /* writing in place is safe unless src is another view of dst's memory (it would read values
   * already updated) */
  bool same_view = src->storage == dst->storage && src->offset == dst->offset &&
                   prism_tensor_is_contiguous(src);
  if (prism_tensor_is_contiguous(dst) && (src->storage != dst->storage || same_view)) {
    float *d = prism_tensor_data(dst);
    prism_layout cl = prism_layout_contiguous(dst->ndim, dst->shape);
    if (be->binary(PRISM_BINARY_ADD, d, &cl, d, &cl, prism_tensor_data(src), &sl) < 0) return -1;
    prism_tensor_bump_version(dst);
    return 0;
  }
  prism_tensor *tmp = prism_tensor_empty_like(dst);
  if (!tmp) return -1;
  prism_layout tl = prism_layout_contiguous(tmp->ndim, tmp->shape);
  int rc = be->binary(PRISM_BINARY_ADD, prism_tensor_data(tmp), &tl, prism_tensor_data(dst), &dl, prism_tensor_data(src), &sl);
  if (rc == 0) rc = prism_tensor_copy_(dst, tmp);
  prism_tensor_release(tmp);
  return rc;
}
