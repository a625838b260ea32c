/* ops/elementwise.c — broadcasting binary arithmetic, pointwise functions and masked_fill,
 * forward and backward side by side. Binary ops and masked_fill hand strided layouts straight
 * to the kernels (stride 0 on broadcast dims), so neither a broadcast nor a non-contiguous input
 * costs a copy; their backwards reduce the broadcast dims away with prism_grad_sum_to. Unary ops
 * run on contiguous data and differentiate through the backend's fused unary_backward kernel. */
#include "ops.h"
#include "error.h"

#include <math.h>

static const char *const binary_names[PRISM_BINARY_COUNT] = {
  "add", "sub", "mul", "div", "pow", "maximum", "minimum", "eq", "ne", "lt", "le", "gt", "ge",
};

static const char *const unary_names[PRISM_UNARY_COUNT] = {
  "neg", "exp", "log", "sqrt", "rsqrt", "tanh", "sigmoid", "relu", "gelu", "silu", "abs",
  "pow", "add", "mul", "rsub", "rdiv", "clamp",
};

/* Layout of t seen through the broadcast shape (nd, shape): dims aligned on the right, size-1
 * and missing dims get stride 0 so the kernel re-reads the same element. */
static void broadcast_layout(const prism_tensor *t, int nd, const int64_t *shape, prism_layout *l) {
  l->ndim = nd;
  int off = nd - t->ndim;
  for (int i = 0; i < nd; i++) {
    l->shape[i] = shape[i];
    int j = i - off;
    l->stride[i] = (j < 0 || t->shape[j] == 1) ? 0 : t->stride[j];
  }
}

static int check_float(const char *op, const char *what, const prism_tensor *t) {
  if (t->dtype != PRISM_FLOAT32)
    return prism_fail_int(PRISM_ERR_ARG, "%s: expected a float32 tensor for %s, got %s", op, what,
                          prism_dtype_name(t->dtype));
  return 0;
}

/* ---------------------------------------------------------------- binary ---- */

static prism_tensor *binary_raw(prism_binary_op op, const prism_tensor *a, const prism_tensor *b) {
  const char *name = binary_names[op];
  int64_t shape[PRISM_MAX_DIMS];
  int nd = prism_broadcast_shape(name, a, b, shape);
  if (nd < 0) return NULL;
  const prism_backend *be = prism_backend_get(a->storage->device);
  if (!be) return NULL;
  prism_tensor *y = prism_tensor_empty(PRISM_FLOAT32, a->storage->device, nd, shape);
  if (!y) return NULL;
  if (prism_tensor_numel(y) == 0) return y;
  prism_layout ol = prism_layout_contiguous(nd, shape), al, bl;
  broadcast_layout(a, nd, shape, &al);
  broadcast_layout(b, nd, shape, &bl);
  if (be->binary(op, prism_tensor_data(y), &ol, prism_tensor_data(a), &al, prism_tensor_data(b), &bl)) {
    prism_tensor_release(y);
    return NULL;
  }
  return y;
}

/* Sets *slot to g reduced to input i's shape; releases g. */
static int grad_to_input(prism_node *n, int i, prism_tensor *g, prism_tensor **slot) {
  if (!g) return -1;
  *slot = prism_grad_sum_to(g, n->input_ndim[i], n->input_shape[i]);
  prism_tensor_release(g);
  return *slot ? 0 : -1;
}

/* Temporaries of a chained backward computation, released together on every path. */
typedef struct { prism_tensor *t[12]; int n; } scratch;
static prism_tensor *keep(scratch *s, prism_tensor *t) {
  if (t) s->t[s->n++] = t;
  return t;
}
static void scratch_free(scratch *s) {
  for (int i = 0; i < s->n; i++) prism_tensor_release(s->t[i]);
  s->n = 0;
}

/* ga = gy * d(a op b)/da, gb likewise, each summed over the dims broadcasting added. */
static int binary_backward(prism_node *n, const prism_tensor *gy, prism_tensor **gx) {
  prism_binary_op op = (prism_binary_op)n->iarg[0];
  bool ga = prism_node_needs_grad(n, 0), gb = prism_node_needs_grad(n, 1);
  if (op == PRISM_BINARY_ADD || op == PRISM_BINARY_SUB) {
    if (ga && grad_to_input(n, 0, prism_tensor_retain((prism_tensor *)gy), &gx[0])) return -1;
    if (gb && grad_to_input(n, 1, op == PRISM_BINARY_ADD ? prism_tensor_retain((prism_tensor *)gy)
                                                          : prism_op_unary(PRISM_UNARY_NEG, gy, 0, 0), &gx[1]))
      return -1;
    return 0;
  }
  prism_tensor *a = prism_node_saved(n, 0), *b = a ? prism_node_saved(n, 1) : NULL;
  if (!a || !b) return -1;
  if (op == PRISM_BINARY_MUL) {
    if (ga && grad_to_input(n, 0, prism_op_mul(gy, b), &gx[0])) return -1;
    if (gb && grad_to_input(n, 1, prism_op_mul(gy, a), &gx[1])) return -1;
    return 0;
  }
  if (op == PRISM_BINARY_DIV) {
    prism_tensor *q = prism_op_div(gy, b); /* gy / b, shared by both grads */
    if (!q) return -1;
    int rc = 0;
    if (ga) rc = grad_to_input(n, 0, prism_tensor_retain(q), &gx[0]);
    if (!rc && gb) {
      /* d(a/b)/db = -a / b^2: (gy / b) * (a / b), negated */
      prism_tensor *ab = prism_op_div(a, b), *t = ab ? prism_op_mul(q, ab) : NULL;
      prism_tensor_release(ab);
      rc = grad_to_input(n, 1, t ? prism_op_unary(PRISM_UNARY_NEG, t, 0, 0) : NULL, &gx[1]);
      prism_tensor_release(t);
    }
    prism_tensor_release(q);
    return rc;
  }
  if (op == PRISM_BINARY_POW) {
    /* PyTorch's conventions: ga = gy * b * a^(b-1), zero where b == 0; gb = gy * a^b * log(a),
     * zero where a == 0 and b >= 0 (the limit of the product, not 0 * -inf). */
    scratch s = {{0}, 0};
    int64_t dummy[1] = {1};
    prism_tensor *zero = keep(&s, prism_tensor_zeros(PRISM_FLOAT32, a->storage->device, 0, dummy));
    int rc = zero ? 0 : -1;
    if (!rc && ga) {
      prism_tensor *bm1 = keep(&s, prism_op_unary(PRISM_UNARY_ADD_SCALAR, b, -1, 0));
      prism_tensor *p = bm1 ? keep(&s, prism_op_binary(PRISM_BINARY_POW, a, bm1)) : NULL;
      prism_tensor *t = p ? keep(&s, prism_op_mul(p, b)) : NULL;
      prism_tensor *bz = t ? keep(&s, prism_op_binary(PRISM_BINARY_EQ, b, zero)) : NULL;
      prism_tensor *m = bz ? keep(&s, prism_op_masked_fill(t, bz, 0)) : NULL;
      rc = grad_to_input(n, 0, m ? prism_op_mul(gy, m) : NULL, &gx[0]);
    }
    if (!rc && gb) {
      prism_tensor *y = prism_node_saved(n, 2);
      prism_tensor *la = y ? keep(&s, prism_op_unary(PRISM_UNARY_LOG, a, 0, 0)) : NULL;
      prism_tensor *t = la ? keep(&s, prism_op_mul(y, la)) : NULL;
      prism_tensor *az = t ? keep(&s, prism_op_binary(PRISM_BINARY_EQ, a, zero)) : NULL;
      prism_tensor *bp = az ? keep(&s, prism_op_binary(PRISM_BINARY_GE, b, zero)) : NULL;
      prism_tensor *mask = bp ? keep(&s, prism_op_mul(az, bp)) : NULL;
      prism_tensor *m = mask ? keep(&s, prism_op_masked_fill(t, mask, 0)) : NULL;
      rc = grad_to_input(n, 1, m ? prism_op_mul(gy, m) : NULL, &gx[1]);
    }
    scratch_free(&s);
    return rc;
  }
  /* maximum / minimum: the winner takes the gradient, ties split it evenly (PyTorch) */
  prism_binary_op win_a = op == PRISM_BINARY_MAXIMUM ? PRISM_BINARY_GT : PRISM_BINARY_LT;
  prism_binary_op win_b = op == PRISM_BINARY_MAXIMUM ? PRISM_BINARY_LT : PRISM_BINARY_GT;
  prism_tensor *eq = prism_op_binary(PRISM_BINARY_EQ, a, b);
  prism_tensor *half = eq ? prism_op_unary(PRISM_UNARY_MUL_SCALAR, eq, 0.5, 0) : NULL;
  prism_tensor_release(eq);
  if (!half) return -1;
  for (int i = 0; i < 2; i++) {
    if (!prism_node_needs_grad(n, i)) continue;
    prism_tensor *w = prism_op_binary(i == 0 ? win_a : win_b, a, b);
    prism_tensor *wt = w ? prism_op_add(w, half) : NULL;
    prism_tensor *g = wt ? prism_op_mul(gy, wt) : NULL;
    prism_tensor_release(w);
    prism_tensor_release(wt);
    if (grad_to_input(n, i, g, &gx[i])) { prism_tensor_release(half); return -1; }
  }
  prism_tensor_release(half);
  return 0;
}

prism_tensor *prism_op_binary(prism_binary_op op, const prism_tensor *a, const prism_tensor *b) {
  if ((unsigned)op >= PRISM_BINARY_COUNT)
    return prism_fail(PRISM_ERR_INTERNAL, "binary: unknown op %d", (int)op);
  const char *name = binary_names[op];
  if (check_float(name, "the first operand", a) || check_float(name, "the second operand", b)) return NULL;
  if (a->storage->device != b->storage->device)
    return prism_fail(PRISM_ERR_ARG, "%s: operands on different devices (%s and %s)", name,
                      prism_device_name(a->storage->device), prism_device_name(b->storage->device));
  prism_tensor *y = binary_raw(op, a, b);
  if (!y) return NULL;
  prism_tensor *in[2] = {(prism_tensor *)a, (prism_tensor *)b};
  /* the comparisons come after MINIMUM in the enum: 0/1 results, no gradient */
  if (op <= PRISM_BINARY_MINIMUM && prism_autograd_needed(in, 2)) {
    prism_node *n = prism_node_new(name, binary_backward, in, 2);
    if (!n) { prism_tensor_release(y); return NULL; }
    n->iarg[0] = op;
    int rc = 0;
    if (op != PRISM_BINARY_ADD && op != PRISM_BINARY_SUB) {
      rc |= prism_node_save(n, a) < 0;
      rc |= prism_node_save(n, b) < 0;
      if (op == PRISM_BINARY_POW) rc |= prism_node_save(n, y) < 0;
    }
    if (rc) { prism_node_release(n); prism_tensor_release(y); return NULL; }
    prism_tensor_set_grad_fn(y, n);
  }
  return y;
}

prism_tensor *prism_op_add(const prism_tensor *a, const prism_tensor *b) { return prism_op_binary(PRISM_BINARY_ADD, a, b); }
prism_tensor *prism_op_sub(const prism_tensor *a, const prism_tensor *b) { return prism_op_binary(PRISM_BINARY_SUB, a, b); }
prism_tensor *prism_op_mul(const prism_tensor *a, const prism_tensor *b) { return prism_op_binary(PRISM_BINARY_MUL, a, b); }
prism_tensor *prism_op_div(const prism_tensor *a, const prism_tensor *b) { return prism_op_binary(PRISM_BINARY_DIV, a, b); }

/* ----------------------------------------------------------------- unary ---- */

/* Which forward tensor each op's derivative reads (1 = input, 2 = output; the contract is in
 * kernels/cpu/unary.c): the output where it suffices, nothing for the ops affine in x. */
static int unary_needs(prism_unary_op op) {
  switch (op) {
  case PRISM_UNARY_NEG: case PRISM_UNARY_ADD_SCALAR: case PRISM_UNARY_MUL_SCALAR: case PRISM_UNARY_RSUB_SCALAR:
    return 0;
  case PRISM_UNARY_EXP: case PRISM_UNARY_SQRT: case PRISM_UNARY_RSQRT: case PRISM_UNARY_TANH:
  case PRISM_UNARY_SIGMOID: case PRISM_UNARY_RELU:
    return 2;
  default:
    return 1;
  }
}

static int unary_backward(prism_node *n, const prism_tensor *gy, prism_tensor **gx) {
  prism_unary_op op = (prism_unary_op)n->iarg[0];
  int needs = (int)n->iarg[1], slot = 0;
  prism_tensor *x = NULL, *y = NULL;
  if ((needs & 1) && !(x = prism_node_saved(n, slot++))) return -1;
  if ((needs & 2) && !(y = prism_node_saved(n, slot++))) return -1;
  const prism_backend *be = prism_backend_get(gy->storage->device);
  if (!be) return -1;
  prism_tensor *g = prism_tensor_empty_like(gy);
  if (!g) return -1;
  if (prism_tensor_numel(g) > 0 &&
      be->unary_backward(op, prism_tensor_data(g), prism_tensor_data(gy), x ? prism_tensor_data(x) : NULL,
                         y ? prism_tensor_data(y) : NULL, prism_tensor_numel(g), (float)n->farg[0], (float)n->farg[1])) {
    prism_tensor_release(g);
    return -1;
  }
  gx[0] = g;
  return 0;
}

prism_tensor *prism_op_unary(prism_unary_op op, const prism_tensor *x, double alpha, double beta) {
  if ((unsigned)op >= PRISM_UNARY_COUNT)
    return prism_fail(PRISM_ERR_INTERNAL, "unary: unknown op %d", (int)op);
  const char *name = unary_names[op];
  if (check_float(name, "the input", x)) return NULL;
  const prism_backend *be = prism_backend_get(x->storage->device);
  if (!be) return NULL;
  prism_tensor *xc = prism_tensor_contiguous_raw(x);
  if (!xc) return NULL;
  prism_tensor *y = prism_tensor_empty_like(xc);
  if (!y || (prism_tensor_numel(y) > 0 &&
             be->unary(op, prism_tensor_data(y), prism_tensor_data(xc), prism_tensor_numel(y), (float)alpha, (float)beta))) {
    prism_tensor_release(xc);
    prism_tensor_release(y);
    return NULL;
  }
  if (prism_autograd_needed((prism_tensor *const *)&x, 1)) {
    prism_node *n = prism_node_new(name, unary_backward, (prism_tensor *const *)&x, 1);
    int needs = unary_needs(op);
    /* xc rather than x: the backward reads the values the forward saw, contiguous */
    if (!n || ((needs & 1) && prism_node_save(n, xc) < 0) || ((needs & 2) && prism_node_save(n, y) < 0)) {
      prism_node_release(n);
      prism_tensor_release(xc);
      prism_tensor_release(y);
      return NULL;
    }
    n->iarg[0] = op;
    n->iarg[1] = needs;
    n->farg[0] = alpha;
    n->farg[1] = beta;
    prism_tensor_set_grad_fn(y, n);
  }
  prism_tensor_release(xc);
  return y;
}

/* ----------------------------------------------------------- masked_fill ---- */

/* out = where(mask != 0, value, x) with the (float32) mask broadcast to x's shape. */
static prism_tensor *masked_fill_raw(const prism_backend *be, const prism_tensor *x, const prism_tensor *mf, float value) {
  prism_tensor *y = prism_tensor_empty(PRISM_FLOAT32, x->storage->device, x->ndim, x->shape);
  if (!y) return NULL;
  if (prism_tensor_numel(y) == 0) return y;
  prism_layout ol = prism_layout_contiguous(x->ndim, x->shape), xl, ml;
  broadcast_layout(x, x->ndim, x->shape, &xl);
  broadcast_layout(mf, x->ndim, x->shape, &ml);
  if (be->masked_fill(prism_tensor_data(y), &ol, prism_tensor_data(x), &xl, prism_tensor_data(mf), &ml, value)) {
    prism_tensor_release(y);
    return NULL;
  }
  return y;
}

/* gx = gy where the mask is 0, else 0: the filled positions did not depend on x */
static int masked_fill_backward(prism_node *n, const prism_tensor *gy, prism_tensor **gx) {
  prism_tensor *mf = prism_node_saved(n, 0);
  if (!mf) return -1;
  const prism_backend *be = prism_backend_get(gy->storage->device);
  if (!be) return -1;
  gx[0] = masked_fill_raw(be, gy, mf, 0.0f);
  return gx[0] ? 0 : -1;
}

prism_tensor *prism_op_masked_fill(const prism_tensor *x, const prism_tensor *mask, double value) {
  if (check_float("masked_fill", "the input", x)) return NULL;
  if (x->storage->device != mask->storage->device)
    return prism_fail(PRISM_ERR_ARG, "masked_fill: input and mask on different devices (%s and %s)",
                      prism_device_name(x->storage->device), prism_device_name(mask->storage->device));
  bool ok = mask->ndim <= x->ndim;
  for (int i = 0; ok && i < mask->ndim; i++) {
    int64_t sm = mask->shape[i], sx = x->shape[i + x->ndim - mask->ndim];
    ok = sm == sx || sm == 1;
  }
  if (!ok) {
    char bm[96], bx[96];
    return prism_fail(PRISM_ERR_ARG, "masked_fill: mask of shape %s cannot be broadcast to the input's shape %s",
                      prism_shape_str(mask->ndim, mask->shape, bm, sizeof bm),
                      prism_shape_str(x->ndim, x->shape, bx, sizeof bx));
  }
  const prism_backend *be = prism_backend_get(x->storage->device);
  if (!be) return NULL;
  prism_tensor *mf = mask->dtype == PRISM_FLOAT32 ? prism_tensor_retain((prism_tensor *)mask)
                                                  : prism_tensor_to_dtype_raw(mask, PRISM_FLOAT32);
  if (!mf) return NULL;
  prism_tensor *y = masked_fill_raw(be, x, mf, (float)value);
  if (y && prism_autograd_needed((prism_tensor *const *)&x, 1)) {
    prism_node *n = prism_node_new("masked_fill", masked_fill_backward, (prism_tensor *const *)&x, 1);
    if (!n || prism_node_save(n, mf) < 0) {
      prism_node_release(n);
      prism_tensor_release(y);
      y = NULL;
    } else {
      prism_tensor_set_grad_fn(y, n);
    }
  }
  prism_tensor_release(mf);
  return y;
}
