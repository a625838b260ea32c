/* ops/matmul.c — matmul with torch.matmul's rules and linear (nn.Linear's x @ wᵀ + b), forward
 * and backward, all as batched GEMMs through the backend. The shape rules live in one plan that
 * the forward and the backward both rebuild from the input shapes, so they cannot disagree:
 * 1-D operands are promoted to matrices (and the added dim dropped from the result), batch dims
 * broadcast, a side whose batch is a single matrix gets batch stride 0, and when only the left
 * side is batched its batch is folded into the rows so one large GEMM runs instead of many small
 * ones. linear never transposes w in memory: the GEMM reads it transposed. */
#include "ops.h"
#include "error.h"

typedef struct {
  int64_t m, n, k;
  int bnd;                        /* broadcast batch dims */
  int64_t bshape[PRISM_MAX_DIMS];
  int64_t batch;                  /* product of bshape */
  int pa_nd, pb_nd;               /* operands promoted to >= 2-D */
  int64_t pa[PRISM_MAX_DIMS], pb[PRISM_MAX_DIMS];
  bool same_a, same_b;            /* the operand's batch dims equal bshape: stride m*k / k*n */
  bool bcast_a, bcast_b;          /* the operand's batch is one matrix: batch stride 0 */
  bool fold;                      /* b is one matrix, a fully batched: one [batch*m, k] GEMM */
  int out_nd;
  int64_t out_shape[PRISM_MAX_DIMS];
} mm_plan;

static int64_t prod(const int64_t *s, int n) {
  int64_t p = 1;
  for (int i = 0; i < n; i++) p *= s[i];
  return p;
}

static int mm_plan_make(int a_nd, const int64_t *ash, int b_nd, const int64_t *bsh, mm_plan *p) {
  char ba[128], bb[128];
  if (a_nd == 0 || b_nd == 0)
    return prism_fail_int(PRISM_ERR_ARG, "matmul: both arguments need at least 1 dim, got shapes %s and %s",
                          prism_shape_str(a_nd, ash, ba, sizeof ba), prism_shape_str(b_nd, bsh, bb, sizeof bb));
  if (a_nd == 1) { p->pa_nd = 2; p->pa[0] = 1; p->pa[1] = ash[0]; }
  else { p->pa_nd = a_nd; for (int i = 0; i < a_nd; i++) p->pa[i] = ash[i]; }
  if (b_nd == 1) { p->pb_nd = 2; p->pb[0] = bsh[0]; p->pb[1] = 1; }
  else { p->pb_nd = b_nd; for (int i = 0; i < b_nd; i++) p->pb[i] = bsh[i]; }
  p->m = p->pa[p->pa_nd - 2];
  p->k = p->pa[p->pa_nd - 1];
  p->n = p->pb[p->pb_nd - 1];
  if (p->pb[p->pb_nd - 2] != p->k)
    return prism_fail_int(PRISM_ERR_ARG, "matmul: shapes %s and %s cannot be multiplied (%lld != %lld)",
                          prism_shape_str(a_nd, ash, ba, sizeof ba), prism_shape_str(b_nd, bsh, bb, sizeof bb),
                          (long long)p->k, (long long)p->pb[p->pb_nd - 2]);
  int na = p->pa_nd - 2, nb = p->pb_nd - 2;
  p->bnd = na > nb ? na : nb;
  p->same_a = p->same_b = true;
  for (int i = 0; i < p->bnd; i++) {
    int ia = i - (p->bnd - na), ib = i - (p->bnd - nb);
    int64_t sa = ia < 0 ? 1 : p->pa[ia], sb = ib < 0 ? 1 : p->pb[ib];
    if (sa != sb && sa != 1 && sb != 1)
      return prism_fail_int(PRISM_ERR_ARG, "matmul: batch dims of shapes %s and %s cannot be broadcast",
                            prism_shape_str(a_nd, ash, ba, sizeof ba), prism_shape_str(b_nd, bsh, bb, sizeof bb));
    p->bshape[i] = sa == 1 ? sb : sa;
    p->same_a = p->same_a && sa == p->bshape[i];
    p->same_b = p->same_b && sb == p->bshape[i];
  }
  p->batch = prod(p->bshape, p->bnd);
  p->bcast_a = !p->same_a && prod(p->pa, na) == 1;
  p->bcast_b = !p->same_b && prod(p->pb, nb) == 1;
  p->fold = p->same_a && p->bcast_b && p->batch > 1;
  p->out_nd = 0;
  for (int i = 0; i < p->bnd; i++) p->out_shape[p->out_nd++] = p->bshape[i];
  if (a_nd > 1) p->out_shape[p->out_nd++] = p->m;
  if (b_nd > 1) p->out_shape[p->out_nd++] = p->n;
  return 0;
}

/* The operand as contiguous data a GEMM can walk with a fixed batch stride: itself when its
 * batch is complete or a single matrix, else broadcast to the full batch and materialized. */
static prism_tensor *mm_operand(const prism_tensor *tc, const mm_plan *p, bool is_a) {
  bool direct = is_a ? (p->same_a || p->bcast_a) : (p->same_b || p->bcast_b);
  if (direct) return prism_tensor_retain((prism_tensor *)tc);
  int nd = is_a ? p->pa_nd : p->pb_nd;
  const int64_t *ps = is_a ? p->pa : p->pb;
  int64_t full[PRISM_MAX_DIMS];
  for (int i = 0; i < p->bnd; i++) full[i] = p->bshape[i];
  full[p->bnd] = ps[nd - 2];
  full[p->bnd + 1] = ps[nd - 1];
  prism_tensor *v = prism_tensor_view_raw(tc, nd, ps);
  prism_tensor *e = v ? prism_tensor_expand_raw(v, p->bnd + 2, full) : NULL;
  prism_tensor *c = e ? prism_tensor_contiguous_raw(e) : NULL;
  prism_tensor_release(v);
  prism_tensor_release(e);
  return c;
}

/* C = op(A) @ op(B) over `batch` matrices; zero-fills C when the inner dim is empty. */
static int gemm_or_zero(const prism_backend *be, prism_tensor *c, int64_t batch, int ta, int tb, int64_t m, int64_t n,
                        int64_t k, const float *a, int64_t lda, int64_t sa, const float *b, int64_t ldb, int64_t sb,
                        int64_t ldc, int64_t sc) {
  if (prism_tensor_numel(c) == 0) return 0;
  if (k == 0) return prism_tensor_fill_(c, 0.0);
  return be->gemm(batch, ta, tb, m, n, k, 1.0f, a, lda, sa, b, ldb, sb, 0.0f, prism_tensor_data(c), ldc, sc);
}

static int check_pair(const char *op, const prism_tensor *a, const prism_tensor *b) {
  if (a->dtype != PRISM_FLOAT32 || b->dtype != PRISM_FLOAT32)
    return prism_fail_int(PRISM_ERR_ARG, "%s: expected float32 tensors, got %s and %s", op,
                          prism_dtype_name(a->dtype), prism_dtype_name(b->dtype));
  if (a->storage->device != b->storage->device)
    return prism_fail_int(PRISM_ERR_ARG, "%s: operands on different devices (%s and %s)", op,
                          prism_device_name(a->storage->device), prism_device_name(b->storage->device));
  return 0;
}

/* ---------------------------------------------------------------- matmul ---- */

/* A gradient computed per output batch (shape bshape + [r, c], or the operand's own shape when
 * folded), summed over the batch dims the operand was broadcast along and shaped like it. */
static int mm_grad_out(prism_tensor *full, const mm_plan *p, bool is_a, int nd, const int64_t *shape, prism_tensor **slot) {
  prism_tensor *s = p->fold ? prism_tensor_retain(full)
                            : prism_grad_sum_to(full, is_a ? p->pa_nd : p->pb_nd, is_a ? p->pa : p->pb);
  prism_tensor_release(full);
  if (!s) return -1;
  *slot = prism_op_view(s, nd, shape);
  prism_tensor_release(s);
  return *slot ? 0 : -1;
}

/* dA = dC · Bᵀ, dB = Aᵀ · dC per batch (the fold makes dB's batch sum part of one GEMM). */
static int matmul_backward(prism_node *nd, const prism_tensor *gy, prism_tensor **gx) {
  mm_plan p;
  if (mm_plan_make(nd->input_ndim[0], nd->input_shape[0], nd->input_ndim[1], nd->input_shape[1], &p)) return -1;
  prism_tensor *ac = prism_node_saved(nd, 0), *bc = ac ? prism_node_saved(nd, 1) : NULL;
  if (!bc) return -1;
  const prism_backend *be = prism_backend_get(gy->storage->device);
  if (!be) return -1;
  int64_t bt = p.fold ? 1 : p.batch, m = p.fold ? p.batch * p.m : p.m, n = p.n, k = p.k;
  int64_t sa = p.bcast_a || p.fold ? 0 : m * k, sb = p.bcast_b || p.fold ? 0 : k * n;
  int64_t full[PRISM_MAX_DIMS];
  for (int i = 0; i < p.bnd; i++) full[i] = p.bshape[i];
  const float *g = prism_tensor_data(gy);
  if (prism_node_needs_grad(nd, 0)) {
    full[p.bnd] = p.m;
    full[p.bnd + 1] = k;
    prism_tensor *B = mm_operand(bc, &p, false);
    prism_tensor *da = B ? (p.fold ? prism_tensor_empty(PRISM_FLOAT32, gy->storage->device, p.pa_nd, p.pa)
                                   : prism_tensor_empty(PRISM_FLOAT32, gy->storage->device, p.bnd + 2, full))
                         : NULL;
    int rc = da ? gemm_or_zero(be, da, bt, 0, 1, m, k, n, g, n, m * n, prism_tensor_data(B), n, sb, k, m * k) : -1;
    prism_tensor_release(B);
    if (rc) { prism_tensor_release(da); return -1; }
    if (mm_grad_out(da, &p, true, nd->input_ndim[0], nd->input_shape[0], &gx[0])) return -1;
  }
  if (prism_node_needs_grad(nd, 1)) {
    full[p.bnd] = k;
    full[p.bnd + 1] = n;
    prism_tensor *A = mm_operand(ac, &p, true);
    prism_tensor *db = A ? (p.fold ? prism_tensor_empty(PRISM_FLOAT32, gy->storage->device, p.pb_nd, p.pb)
                                   : prism_tensor_empty(PRISM_FLOAT32, gy->storage->device, p.bnd + 2, full))
                         : NULL;
    int rc = db ? gemm_or_zero(be, db, bt, 1, 0, k, n, m, prism_tensor_data(A), k, sa, g, n, m * n, n, p.fold ? 0 : k * n)
                : -1;
    prism_tensor_release(A);
    if (rc) { prism_tensor_release(db); return -1; }
    if (mm_grad_out(db, &p, false, nd->input_ndim[1], nd->input_shape[1], &gx[1])) return -1;
  }
  return 0;
}

prism_tensor *prism_op_matmul(const prism_tensor *a, const prism_tensor *b) {
  if (check_pair("matmul", a, b)) return NULL;
  mm_plan p;
  if (mm_plan_make(a->ndim, a->shape, b->ndim, b->shape, &p)) return NULL;
  if (prism_shape_check(p.out_nd, p.out_shape) < 0) return NULL;
  const prism_backend *be = prism_backend_get(a->storage->device);
  if (!be) return NULL;
  prism_tensor *ac = prism_tensor_contiguous_raw(a), *bc = ac ? prism_tensor_contiguous_raw(b) : NULL;
  prism_tensor *A = bc ? mm_operand(ac, &p, true) : NULL, *B = A ? mm_operand(bc, &p, false) : NULL;
  prism_tensor *y = B ? prism_tensor_empty(PRISM_FLOAT32, a->storage->device, p.out_nd, p.out_shape) : NULL;
  int64_t bt = p.fold ? 1 : p.batch, m = p.fold ? p.batch * p.m : p.m, n = p.n, k = p.k;
  int64_t sa = p.bcast_a || p.fold ? 0 : m * k, sb = p.bcast_b || p.fold ? 0 : k * n;
  int rc = y ? gemm_or_zero(be, y, bt, 0, 0, m, n, k, prism_tensor_data(A), k, sa, prism_tensor_data(B), n, sb, n,
                            p.fold ? 0 : m * n)
             : -1;
  prism_tensor_release(A);
  prism_tensor_release(B);
  prism_tensor *in[2] = {(prism_tensor *)a, (prism_tensor *)b};
  if (!rc && prism_autograd_needed(in, 2)) {
    /* the contiguous, not yet broadcast operands: what the backward needs, at their smallest */
    prism_node *node = prism_node_new("matmul", matmul_backward, in, 2);
    if (!node || prism_node_save(node, ac) < 0 || prism_node_save(node, bc) < 0) {
      prism_node_release(node);
      rc = -1;
    } else {
      prism_tensor_set_grad_fn(y, node);
    }
  }
  prism_tensor_release(ac);
  prism_tensor_release(bc);
  if (rc) {
    prism_tensor_release(y);
    return NULL;
  }
  return y;
}

/* ---------------------------------------------------------------- linear ---- */

/* Over all rows at once: dx = dy · w, dw = dyᵀ · x (A read transposed), db = column sums of dy. */
static int linear_backward(prism_node *nd, const prism_tensor *gy, prism_tensor **gx) {
  prism_tensor *xc = prism_node_saved(nd, 0), *wc = xc ? prism_node_saved(nd, 1) : NULL;
  if (!wc) return -1;
  const prism_backend *be = prism_backend_get(gy->storage->device);
  if (!be) return -1;
  int64_t out = wc->shape[0], in = wc->shape[1], rows = prod(nd->input_shape[0], nd->input_ndim[0] - 1);
  prism_device dev = gy->storage->device;
  const float *g = prism_tensor_data(gy);
  if (prism_node_needs_grad(nd, 0)) {
    gx[0] = prism_tensor_empty(PRISM_FLOAT32, dev, nd->input_ndim[0], nd->input_shape[0]);
    if (!gx[0] || gemm_or_zero(be, gx[0], 1, 0, 0, rows, in, out, g, out, 0, prism_tensor_data(wc), in, 0, in, 0))
      return -1;
  }
  if (prism_node_needs_grad(nd, 1)) {
    gx[1] = prism_tensor_empty(PRISM_FLOAT32, dev, 2, wc->shape);
    if (!gx[1] || gemm_or_zero(be, gx[1], 1, 1, 0, out, in, rows, g, out, 0, prism_tensor_data(xc), in, 0, in, 0))
      return -1;
  }
  if (nd->n_inputs > 2 && prism_node_needs_grad(nd, 2)) {
    gx[2] = prism_tensor_empty(PRISM_FLOAT32, dev, 1, &out);
    if (!gx[2]) return -1;
    if (out > 0) {
      int rc = rows == 0 ? prism_tensor_fill_(gx[2], 0.0)
                         : be->reduce(PRISM_REDUCE_SUM, prism_tensor_data(gx[2]), NULL, g, 1, rows, out);
      if (rc) return -1;
    }
  }
  return 0;
}

prism_tensor *prism_op_linear(const prism_tensor *x, const prism_tensor *w, const prism_tensor *b) {
  char bx[128], bw[128];
  if (check_pair("linear", x, w) || (b && check_pair("linear", x, b))) return NULL;
  if (x->ndim < 1 || w->ndim != 2 || x->shape[x->ndim - 1] != w->shape[1])
    return prism_fail(PRISM_ERR_ARG, "linear: input of shape %s does not match weight of shape %s (expected [out, %lld])",
                      prism_shape_str(x->ndim, x->shape, bx, sizeof bx), prism_shape_str(w->ndim, w->shape, bw, sizeof bw),
                      x->ndim ? (long long)x->shape[x->ndim - 1] : 0LL);
  int64_t out = w->shape[0], in = w->shape[1];
  if (b && (b->ndim != 1 || b->shape[0] != out))
    return prism_fail(PRISM_ERR_ARG, "linear: bias of shape %s does not match weight of shape %s (expected [%lld])",
                      prism_shape_str(b->ndim, b->shape, bx, sizeof bx), prism_shape_str(w->ndim, w->shape, bw, sizeof bw),
                      (long long)out);
  const prism_backend *be = prism_backend_get(x->storage->device);
  if (!be) return NULL;
  int64_t rows = prod(x->shape, x->ndim - 1), shape[PRISM_MAX_DIMS];
  for (int i = 0; i < x->ndim - 1; i++) shape[i] = x->shape[i];
  shape[x->ndim - 1] = out;
  prism_tensor *xc = prism_tensor_contiguous_raw(x), *wc = xc ? prism_tensor_contiguous_raw(w) : NULL;
  prism_tensor *y = wc ? prism_tensor_empty(PRISM_FLOAT32, x->storage->device, x->ndim, shape) : NULL;
  int rc = y ? 0 : -1;
  if (!rc && prism_tensor_numel(y) > 0) {
    if (b) {
      /* y starts as the bias broadcast over the rows; the GEMM then accumulates onto it */
      prism_layout dl = {2, {rows, out}, {out, 1}}, sl = {2, {rows, out}, {0, b->stride[0]}};
      rc = be->copy(prism_tensor_data(y), &dl, PRISM_FLOAT32, prism_tensor_data(b), &sl, PRISM_FLOAT32);
    } else if (in == 0) {
      rc = prism_tensor_fill_(y, 0.0);
    }
    if (!rc && in > 0)
      rc = be->gemm(1, 0, 1, rows, out, in, 1.0f, prism_tensor_data(xc), in, 0, prism_tensor_data(wc), in, 0,
                    b ? 1.0f : 0.0f, prism_tensor_data(y), out, 0);
  }
  prism_tensor *inputs[3] = {(prism_tensor *)x, (prism_tensor *)w, (prism_tensor *)b};
  int n_in = b ? 3 : 2;
  if (!rc && prism_autograd_needed(inputs, n_in)) {
    prism_node *node = prism_node_new("linear", linear_backward, inputs, n_in);
    if (!node || prism_node_save(node, xc) < 0 || prism_node_save(node, wc) < 0) {
      prism_node_release(node);
      rc = -1;
    } else {
      prism_tensor_set_grad_fn(y, node);
    }
  }
  prism_tensor_release(xc);
  prism_tensor_release(wc);
  if (rc) {
    prism_tensor_release(y);
    return NULL;
  }
  return y;
}
