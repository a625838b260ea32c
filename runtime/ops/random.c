/* ops/random.c — everything that draws random numbers: dropout, the in-place initializers
 * normal_/uniform_, and randn/rand. Each draw reserves a block of its stream (runtime/rng.h)
 * before calling the backend, so element i of a tensor always gets element i of the reserved
 * block: the values depend only on the seed and the order of draws, never on threads or device.
 * Non-contiguous targets are filled through a contiguous temporary for the same reason (the
 * stream follows the logical row-major order). Only successful allocations consume the stream. */
#include "../ops.h"
#include "../rng.h"
#include "../error.h"
#include <math.h>

/* ---- dropout ---- */

/* identity (eval mode, p == 0): the gradient passes through unchanged */
static int dropout_identity_backward(prism_node *node, const prism_tensor *gy, prism_tensor **gx) {
  if (!prism_node_needs_grad(node, 0)) return 0;
  gx[0] = prism_tensor_alias(gy);
  return gx[0] ? 0 : -1;
}

/* saved 0: the mask (0 or 1/(1-p)); gx = gy * mask */
static int dropout_backward(prism_node *node, const prism_tensor *gy, prism_tensor **gx) {
  prism_tensor *mask = prism_node_saved(node, 0);
  if (!mask) return -1;
  if (!prism_node_needs_grad(node, 0)) return 0;
  const prism_backend *be = prism_backend_get(mask->storage->device);
  if (!be) return -1;
  prism_tensor *g = prism_tensor_empty_like(mask);
  if (!g) return -1;
  prism_layout l = prism_layout_contiguous(mask->ndim, mask->shape);
  if (prism_tensor_numel(g) > 0 &&
      be->binary(PRISM_BINARY_MUL, prism_tensor_data(g), &l, prism_tensor_data(gy), &l, prism_tensor_data(mask), &l) < 0) {
    prism_tensor_release(g);
    return -1;
  }
  gx[0] = g;
  return 0;
}

prism_tensor *prism_op_dropout(const prism_tensor *x, double p, bool training) {
  if (!x) return prism_fail(PRISM_ERR_ARG, "dropout: expected a tensor, got nil");
  if (x->dtype != PRISM_FLOAT32)
    return prism_fail(PRISM_ERR_ARG, "dropout: expected a float32 tensor, got %s", prism_dtype_name(x->dtype));
  if (!(p >= 0 && p < 1)) return prism_fail(PRISM_ERR_ARG, "dropout: p must be in [0, 1), got %g", p);
  prism_tensor *const *in = (prism_tensor *const *)&x;

  if (!training || p == 0) {
    prism_tensor *y = prism_tensor_alias(x);
    if (y && prism_autograd_needed(in, 1)) {
      prism_node *node = prism_node_new("dropout", dropout_identity_backward, in, 1);
      if (!node) {
        prism_tensor_release(y);
        return NULL;
      }
      prism_tensor_set_grad_fn(y, node);
    }
    return y;
  }

  const prism_backend *be = prism_backend_get(x->storage->device);
  if (!be) return NULL;
  prism_tensor *xc = prism_tensor_contiguous_raw(x);
  prism_tensor *y = xc ? prism_tensor_empty_like(xc) : NULL;
  prism_tensor *mask = y ? prism_tensor_empty_like(xc) : NULL;
  int rc = mask ? 0 : -1;
  if (rc == 0) {
    int64_t n = prism_tensor_numel(xc);
    uint64_t key, counter;
    prism_rng_reserve(PRISM_STREAM_DROPOUT, (uint64_t)n, &key, &counter);
    if (n > 0)
      rc = be->dropout(prism_tensor_data(y), prism_tensor_data(mask), prism_tensor_data(xc), n, (float)p, key, counter);
  }
  if (rc == 0 && prism_autograd_needed(in, 1)) {
    prism_node *node = prism_node_new("dropout", dropout_backward, in, 1);
    if (!node || prism_node_save(node, mask) < 0) {
      prism_node_release(node);
      rc = -1;
    } else {
      prism_tensor_set_grad_fn(y, node);
    }
  }
  prism_tensor_release(xc);
  prism_tensor_release(mask);
  if (rc != 0) {
    prism_tensor_release(y);
    return NULL;
  }
  return y;
}

/* ---- initializers ---- */

/* Fills n contiguous floats at dst from the init stream. */
static int draw(const prism_backend *be, float *dst, int64_t n, bool normal, double a, double b) {
  uint64_t key, counter;
  prism_rng_reserve(PRISM_STREAM_INIT, (uint64_t)n, &key, &counter);
  if (n == 0) return 0;
  return normal ? be->rand_normal(dst, n, key, counter, (float)a, (float)b)
                : be->rand_uniform(dst, n, key, counter, (float)a, (float)b);
}

static int fill_random_(const char *op, prism_tensor *t, bool normal, double a, double b) {
  if (!t) return prism_fail_int(PRISM_ERR_ARG, "%s: expected a tensor, got nil", op);
  if (t->dtype != PRISM_FLOAT32)
    return prism_fail_int(PRISM_ERR_ARG, "%s: expected a float32 tensor, got %s", op, prism_dtype_name(t->dtype));
  if (prism_grad_enabled() && t->requires_grad)
    return prism_fail_int(PRISM_ERR_ARG,
                          "%s: in-place initialization of a tensor that requires grad must run inside prism.no_grad", op);
  const prism_backend *be = prism_backend_get(t->storage->device);
  if (!be) return -1;
  if (prism_tensor_is_contiguous(t)) {
    if (draw(be, prism_tensor_data(t), prism_tensor_numel(t), normal, a, b) < 0) return -1;
    prism_tensor_bump_version(t);
    return 0;
  }
  prism_tensor *tmp = prism_tensor_empty(PRISM_FLOAT32, t->storage->device, t->ndim, t->shape);
  if (!tmp) return -1;
  int rc = draw(be, prism_tensor_data(tmp), prism_tensor_numel(tmp), normal, a, b);
  if (rc == 0) rc = prism_tensor_copy_(t, tmp); /* bumps t's version */
  prism_tensor_release(tmp);
  return rc;
}

int prism_op_normal_(prism_tensor *t, double mean, double std) {
  if (!isfinite(mean) || !(std >= 0) || !isfinite(std))
    return prism_fail_int(PRISM_ERR_ARG, "normal_: mean must be finite and std finite and >= 0, got mean %g, std %g", mean,
                          std);
  return fill_random_("normal_", t, true, mean, std);
}

int prism_op_uniform_(prism_tensor *t, double lo, double hi) {
  if (!isfinite(lo) || !isfinite(hi) || lo > hi)
    return prism_fail_int(PRISM_ERR_ARG, "uniform_: bounds must be finite with a <= b, got a %g, b %g", lo, hi);
  return fill_random_("uniform_", t, false, lo, hi);
}

static prism_tensor *fresh_random(const char *op, int ndim, const int64_t *shape, prism_device device, bool normal) {
  if (ndim < 0 || ndim > PRISM_MAX_DIMS || (ndim > 0 && !shape))
    return prism_fail(PRISM_ERR_ARG, "%s: expected 0 to %d dims, got %d", op, PRISM_MAX_DIMS, ndim);
  const int64_t none[1] = {1};
  if (!shape) shape = none; /* 0 dims: never hand NULL to a memcpy */
  if (prism_shape_check(ndim, shape) < 0) return NULL;
  const prism_backend *be = prism_backend_get(device);
  if (!be) return NULL;
  prism_tensor *t = prism_tensor_empty(PRISM_FLOAT32, device, ndim, shape);
  if (t && draw(be, prism_tensor_data(t), prism_tensor_numel(t), normal, 0.0, 1.0) < 0) {
    prism_tensor_release(t);
    return NULL;
  }
  return t;
}

prism_tensor *prism_op_randn(int ndim, const int64_t *shape, prism_device device) {
  return fresh_random("randn", ndim, shape, device, true);
}

prism_tensor *prism_op_rand(int ndim, const int64_t *shape, prism_device device) {
  return fresh_random("rand", ndim, shape, device, false);
}
