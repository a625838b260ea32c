/* tensor_methods.c — the math methods of a tensor (arithmetic, pointwise functions, reductions,
 * matmul, softmax, masking, indexing, in-place initializers, autograd entry points), each a
 * thin checked call into runtime/ops.h. The same C functions are prism.core's free functions,
 * so `t:exp()` and `prism.exp(t)` cannot drift apart.
 *
 * A number on either side of an arithmetic op uses the scalar unary kernels where the result
 * is bitwise what the tensor op would give (x + s, s - x, x * s, s / x, x ^ s); t / s and
 * comparisons go through a 0-d tensor and the broadcasting binary op, because x * (1/s) is not
 * x / s in floating point. */
#include <math.h>

#include "bridge.h"

/* op(t, s) or op(s, t) with s wrapped in a 0-d float32 tensor on t's device. */
static prism_tensor *binary_with_scalar(prism_binary_op op, const prism_tensor *t, double s, bool tensor_left) {
  prism_tensor *sc = prism_tensor_full(PRISM_FLOAT32, t->storage->device, 0, NULL, s);
  if (!sc) return NULL;
  prism_tensor *r = tensor_left ? prism_op_binary(op, t, sc) : prism_op_binary(op, sc, t);
  prism_tensor_release(sc);
  return r;
}

int bridge_arith(lua_State *L, const char *fn, prism_binary_op op) {
  prism_tensor *a = bridge_to_tensor(L, 1), *b = bridge_to_tensor(L, 2);
  if (a && b) {
    prism_tensor **slot = bridge_new_slot(L);
    *slot = prism_op_binary(op, a, b);
    return bridge_finish(L, fn);
  }
  if (!a && !b)
    return bridge_errorf(L, "%s: expected a tensor operand, got %s and %s", fn, luaL_typename(L, 1), luaL_typename(L, 2));
  int num = a ? 2 : 1;
  if (lua_type(L, num) != LUA_TNUMBER)
    return bridge_errorf(L, "%s: expected a tensor or a number, got %s", fn, luaL_typename(L, num));
  double s = lua_tonumber(L, num);
  prism_tensor *t = a ? a : b;
  bool left = a != NULL;
  prism_tensor **slot = bridge_new_slot(L);
  switch (op) {
  case PRISM_BINARY_ADD: *slot = prism_op_unary(PRISM_UNARY_ADD_SCALAR, t, s, 0); break;
  case PRISM_BINARY_SUB:
    *slot = left ? prism_op_unary(PRISM_UNARY_ADD_SCALAR, t, -s, 0) : prism_op_unary(PRISM_UNARY_RSUB_SCALAR, t, s, 0);
    break;
  case PRISM_BINARY_MUL: *slot = prism_op_unary(PRISM_UNARY_MUL_SCALAR, t, s, 0); break;
  case PRISM_BINARY_DIV:
    *slot = left ? binary_with_scalar(op, t, s, true) : prism_op_unary(PRISM_UNARY_RDIV_SCALAR, t, s, 0);
    break;
  case PRISM_BINARY_POW:
    *slot = left ? prism_op_unary(PRISM_UNARY_POW_SCALAR, t, s, 0) : binary_with_scalar(op, t, s, false);
    break;
  default: *slot = binary_with_scalar(op, t, s, left); break;
  }
  return bridge_finish(L, fn);
}

#define ARITH(name, OP) \
  static int m_##name(lua_State *L) { \
    bridge_check_tensor(L, 1, #name, "self"); \
    return bridge_arith(L, #name, OP); \
  }
ARITH(add, PRISM_BINARY_ADD)
ARITH(sub, PRISM_BINARY_SUB)
ARITH(mul, PRISM_BINARY_MUL)
ARITH(div, PRISM_BINARY_DIV)
ARITH(pow, PRISM_BINARY_POW)
ARITH(maximum, PRISM_BINARY_MAXIMUM)
ARITH(minimum, PRISM_BINARY_MINIMUM)
ARITH(eq, PRISM_BINARY_EQ)
ARITH(ne, PRISM_BINARY_NE)
ARITH(lt, PRISM_BINARY_LT)
ARITH(le, PRISM_BINARY_LE)
ARITH(gt, PRISM_BINARY_GT)
ARITH(ge, PRISM_BINARY_GE)

static int unary(lua_State *L, const char *fn, prism_unary_op op) {
  prism_tensor *x = bridge_check_tensor(L, 1, fn, "self");
  if (!lua_isnone(L, 2)) return bridge_errorf(L, "%s: takes no arguments", fn);
  prism_tensor **slot = bridge_new_slot(L);
  *slot = prism_op_unary(op, x, 0, 0);
  return bridge_finish(L, fn);
}

#define UNARY(name, OP) \
  static int m_##name(lua_State *L) { return unary(L, #name, OP); }
UNARY(neg, PRISM_UNARY_NEG)
UNARY(exp, PRISM_UNARY_EXP)
UNARY(log, PRISM_UNARY_LOG)
UNARY(sqrt, PRISM_UNARY_SQRT)
UNARY(rsqrt, PRISM_UNARY_RSQRT)
UNARY(tanh, PRISM_UNARY_TANH)
UNARY(sigmoid, PRISM_UNARY_SIGMOID)
UNARY(relu, PRISM_UNARY_RELU)
UNARY(gelu, PRISM_UNARY_GELU)
UNARY(silu, PRISM_UNARY_SILU)
UNARY(abs, PRISM_UNARY_ABS)

static int m_clamp(lua_State *L) {
  prism_tensor *x = bridge_check_tensor(L, 1, "clamp", "self");
  if (lua_isnoneornil(L, 2) && lua_isnoneornil(L, 3)) return bridge_errorf(L, "clamp: at least one of min and max must be given");
  double lo = bridge_opt_num(L, 2, "clamp", "min", -INFINITY);
  double hi = bridge_opt_num(L, 3, "clamp", "max", INFINITY);
  prism_tensor **slot = bridge_new_slot(L);
  *slot = prism_op_unary(PRISM_UNARY_CLAMP, x, lo, hi);
  return bridge_finish(L, "clamp");
}

enum { RED_SUM, RED_MEAN, RED_MAX };

static int reduce(lua_State *L, const char *fn, int kind) {
  prism_tensor *x = bridge_check_tensor(L, 1, fn, "self");
  bool all = lua_isnoneornil(L, 2);
  int dim = all ? 0 : bridge_check_dim(L, 2, fn, x->ndim, false);
  bool keepdim = bridge_opt_bool(L, 3, fn, "keepdim", false);
  if (kind == RED_MAX && !all) {
    prism_tensor **values = bridge_new_slot(L);
    prism_tensor **indices = bridge_new_slot(L);
    prism_tensor *idx = NULL;
    *values = prism_op_max(x, dim, keepdim, false, &idx);
    *indices = idx;
    bridge_finish_at(L, -2, fn);
    bridge_finish_at(L, -1, fn);
    return 2;
  }
  prism_tensor **slot = bridge_new_slot(L);
  if (kind == RED_SUM) *slot = prism_op_sum(x, dim, keepdim, all);
  else if (kind == RED_MEAN) *slot = prism_op_mean(x, dim, keepdim, all);
  else *slot = prism_op_max(x, dim, keepdim, all, NULL);
  return bridge_finish(L, fn);
}

static int m_sum(lua_State *L) { return reduce(L, "sum", RED_SUM); }
static int m_mean(lua_State *L) { return reduce(L, "mean", RED_MEAN); }
static int m_max(lua_State *L) { return reduce(L, "max", RED_MAX); }

static int m_matmul(lua_State *L) {
  prism_tensor *a = bridge_check_tensor(L, 1, "matmul", "self");
  prism_tensor *b = bridge_check_tensor(L, 2, "matmul", "argument 2");
  prism_tensor **slot = bridge_new_slot(L);
  *slot = prism_op_matmul(a, b);
  return bridge_finish(L, "matmul");
}

static int softmax_like(lua_State *L, const char *fn, bool log) {
  prism_tensor *x = bridge_check_tensor(L, 1, fn, "self");
  if (lua_isnoneornil(L, 2)) return bridge_errorf(L, "%s: a dimension is required (e.g. -1 for the last)", fn);
  int dim = bridge_check_dim(L, 2, fn, x->ndim, false);
  prism_tensor **slot = bridge_new_slot(L);
  *slot = log ? prism_op_log_softmax(x, dim) : prism_op_softmax(x, dim);
  return bridge_finish(L, fn);
}

static int m_softmax(lua_State *L) { return softmax_like(L, "softmax", false); }
static int m_log_softmax(lua_State *L) { return softmax_like(L, "log_softmax", true); }

static int m_masked_fill(lua_State *L) {
  prism_tensor *x = bridge_check_tensor(L, 1, "masked_fill", "self");
  prism_tensor *mask = bridge_check_tensor(L, 2, "masked_fill", "mask");
  double v = bridge_check_num(L, 3, "masked_fill", "value");
  prism_tensor **slot = bridge_new_slot(L);
  *slot = prism_op_masked_fill(x, mask, v);
  return bridge_finish(L, "masked_fill");
}

static int triangle(lua_State *L, const char *fn, bool upper) {
  prism_tensor *x = bridge_check_tensor(L, 1, fn, "self");
  int64_t k = bridge_opt_int(L, 2, fn, "diagonal offset k", 0);
  prism_tensor **slot = bridge_new_slot(L);
  *slot = prism_op_triangle(x, k, upper);
  return bridge_finish(L, fn);
}

static int m_triu(lua_State *L) { return triangle(L, "triu", true); }
static int m_tril(lua_State *L) { return triangle(L, "tril", false); }

static int indexing(lua_State *L, const char *fn, bool gather) {
  prism_tensor *x = bridge_check_tensor(L, 1, fn, "self");
  int dim = bridge_check_dim(L, 2, fn, x->ndim, false);
  prism_tensor *idx = bridge_check_tensor(L, 3, fn, "index");
  prism_tensor **slot = bridge_new_slot(L);
  *slot = gather ? prism_op_gather(x, dim, idx) : prism_op_index_select(x, dim, idx);
  return bridge_finish(L, fn);
}

static int m_gather(lua_State *L) { return indexing(L, "gather", true); }
static int m_index_select(lua_State *L) { return indexing(L, "index_select", false); }

/* ---- in place: allowed on tensors that require grad only with recording off ---- */

static prism_tensor *check_inplace(lua_State *L, const char *fn) {
  prism_tensor *t = bridge_check_tensor(L, 1, fn, "self");
  if (t->requires_grad && prism_grad_enabled())
    bridge_errorf(L, "%s: in-place operation on a tensor that requires grad; run it inside prism.no_grad", fn);
  return t;
}

static int inplace_done(lua_State *L, prism_tensor *t, int rc, const char *fn) {
  if (rc < 0) return bridge_raise(L, fn);
  prism_tensor_bump_version(t);
  lua_pushvalue(L, 1);
  return 1;
}

static int m_zero_(lua_State *L) {
  prism_tensor *t = check_inplace(L, "zero_");
  return inplace_done(L, t, prism_tensor_fill_(t, 0.0), "zero_");
}

static int m_fill_(lua_State *L) {
  prism_tensor *t = check_inplace(L, "fill_");
  double v = bridge_check_num(L, 2, "fill_", "value");
  return inplace_done(L, t, prism_tensor_fill_(t, v), "fill_");
}

static int m_normal_(lua_State *L) {
  prism_tensor *t = check_inplace(L, "normal_");
  double mean = bridge_opt_num(L, 2, "normal_", "mean", 0.0);
  double std = bridge_opt_num(L, 3, "normal_", "std", 1.0);
  return inplace_done(L, t, prism_op_normal_(t, mean, std), "normal_");
}

static int m_uniform_(lua_State *L) {
  prism_tensor *t = check_inplace(L, "uniform_");
  double a = bridge_opt_num(L, 2, "uniform_", "a", 0.0);
  double b = bridge_opt_num(L, 3, "uniform_", "b", 1.0);
  return inplace_done(L, t, prism_op_uniform_(t, a, b), "uniform_");
}

static int m_copy_(lua_State *L) {
  prism_tensor *t = check_inplace(L, "copy_");
  prism_tensor *src = bridge_check_tensor(L, 2, "copy_", "source");
  if (prism_shape_equal(t, src)) return inplace_done(L, t, prism_tensor_copy_(t, src), "copy_");
  /* A smaller source broadcasts to the destination, as in PyTorch. */
  prism_tensor *e = prism_tensor_expand_raw(src, t->ndim, t->shape);
  if (!e) return bridge_raise(L, "copy_");
  int rc = prism_tensor_copy_(t, e);
  prism_tensor_release(e);
  return inplace_done(L, t, rc, "copy_");
}

/* ---- autograd ---- */

static int m_backward(lua_State *L) {
  prism_tensor *t = bridge_check_tensor(L, 1, "backward", "self");
  prism_tensor *g = bridge_opt_tensor(L, 2, "backward", "gradient");
  if (prism_backward(t, g) < 0) return bridge_raise(L, "backward");
  return 0;
}

static int m_detach(lua_State *L) {
  prism_tensor *t = bridge_check_tensor(L, 1, "detach", "self");
  prism_tensor **slot = bridge_new_slot(L);
  *slot = prism_op_detach(t);
  return bridge_finish(L, "detach");
}

const luaL_Reg bridge_methods_math[] = {
    {"add", m_add},       {"sub", m_sub},
    {"mul", m_mul},       {"div", m_div},
    {"pow", m_pow},       {"neg", m_neg},
    {"maximum", m_maximum}, {"minimum", m_minimum},
    {"eq", m_eq},         {"ne", m_ne},
    {"lt", m_lt},         {"le", m_le},
    {"gt", m_gt},         {"ge", m_ge},
    {"exp", m_exp},       {"log", m_log},
    {"sqrt", m_sqrt},     {"rsqrt", m_rsqrt},
    {"tanh", m_tanh},     {"sigmoid", m_sigmoid},
    {"relu", m_relu},     {"gelu", m_gelu},
    {"silu", m_silu},     {"abs", m_abs},
    {"clamp", m_clamp},   {"sum", m_sum},
    {"mean", m_mean},     {"max", m_max},
    {"matmul", m_matmul}, {"softmax", m_softmax},
    {"log_softmax", m_log_softmax}, {"masked_fill", m_masked_fill},
    {"triu", m_triu},     {"tril", m_tril},
    {"gather", m_gather}, {"index_select", m_index_select},
    {"zero_", m_zero_},   {"fill_", m_fill_},
    {"normal_", m_normal_}, {"uniform_", m_uniform_},
    {"copy_", m_copy_},   {"backward", m_backward},
    {"requires_grad_", bridge_requires_grad_}, {"detach", m_detach},
    {NULL, NULL}};
