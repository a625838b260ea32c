/* tensor_meta.c — what Lua sees when it touches a tensor without calling a method: the fields
 * (shape, dtype, device, ndim, grad, requires_grad, is_leaf), the two assignable ones, the
 * arithmetic metamethods, #t, tostring(t) and the finalizer.
 *
 * Writes are limited to requires_grad (leaves) and grad (nil or a same-shape detached tensor
 * without a grad of its own): anything that could make a reference cycle between C tensors
 * (t.grad = t, a.grad = b with b.grad = a, a grad whose graph reaches t) would leak it, since
 * C references are invisible to the Lua collector. */
#include <stdio.h>
#include <string.h>

#include "bridge.h"

int bridge_meta_gc(lua_State *L) {
  prism_tensor **slot = (prism_tensor **)lua_touserdata(L, 1);
  if (slot && *slot) {
    prism_tensor *t = *slot;
    *slot = NULL;
    prism_tensor_release(t);
  }
  return 0;
}

static void push_shape(lua_State *L, const prism_tensor *t) {
  lua_createtable(L, t->ndim, 0);
  for (int i = 0; i < t->ndim; i++) {
    lua_pushnumber(L, (lua_Number)t->shape[i]);
    lua_rawseti(L, -2, i + 1);
  }
}

/* Methods first (the common case), then fields; the method table is the closure's only
 * upvalue. Method and field names never overlap. */
int bridge_meta_index(lua_State *L) {
  prism_tensor *t = bridge_check_tensor(L, 1, "index", "self");
  if (lua_type(L, 2) != LUA_TSTRING)
    return bridge_errorf(L, "tensor: cannot index a tensor with a %s (tensors have no [] indexing; use narrow or index_select)",
                         luaL_typename(L, 2));
  lua_pushvalue(L, 2);
  lua_rawget(L, lua_upvalueindex(1));
  if (!lua_isnil(L, -1)) return 1;
  lua_pop(L, 1);
  const char *k = lua_tostring(L, 2);
  if (!strcmp(k, "shape")) {
    push_shape(L, t);
  } else if (!strcmp(k, "dtype")) {
    lua_pushstring(L, prism_dtype_name(t->dtype));
  } else if (!strcmp(k, "device")) {
    lua_pushstring(L, bridge_device_name(t->storage->device));
  } else if (!strcmp(k, "ndim")) {
    lua_pushinteger(L, t->ndim);
  } else if (!strcmp(k, "requires_grad")) {
    lua_pushboolean(L, t->requires_grad);
  } else if (!strcmp(k, "is_leaf")) {
    lua_pushboolean(L, t->grad_fn == NULL);
  } else if (!strcmp(k, "grad")) {
    if (!t->grad) {
      lua_pushnil(L);
    } else {
      prism_tensor **slot = bridge_new_slot(L);
      *slot = prism_tensor_retain(t->grad);
      bridge_finish(L, "grad");
    }
  } else {
    return bridge_errorf(L, "tensor: no field or method '%s'", k);
  }
  return 1;
}

static int set_requires_grad(lua_State *L, prism_tensor *t, int vidx, const char *fn) {
  if (lua_type(L, vidx) != LUA_TBOOLEAN)
    return bridge_errorf(L, "%s: expected a boolean, got %s", fn, luaL_typename(L, vidx));
  bool flag = lua_toboolean(L, vidx);
  if (t->grad_fn && flag == t->requires_grad) return 0; /* a no-op, as in PyTorch */
  if (t->grad_fn)
    return bridge_errorf(L, "%s: requires_grad can only be changed on leaf tensors (use :detach() first)", fn);
  if (flag && t->dtype != PRISM_FLOAT32)
    return bridge_errorf(L, "%s: only float32 tensors can require grad, this one is %s", fn, prism_dtype_name(t->dtype));
  t->requires_grad = flag;
  return 0;
}

int bridge_requires_grad_(lua_State *L) {
  prism_tensor *t = bridge_check_tensor(L, 1, "requires_grad_", "self");
  if (lua_isnoneornil(L, 2)) lua_pushboolean(L, 1);
  else lua_pushvalue(L, 2);
  set_requires_grad(L, t, lua_gettop(L), "requires_grad_");
  lua_pushvalue(L, 1);
  return 1;
}

static int set_grad(lua_State *L, prism_tensor *t) {
  if (t->grad_fn) return bridge_errorf(L, "grad: .grad can only be assigned on leaf tensors");
  if (lua_isnil(L, 3)) {
    prism_tensor *old = t->grad;
    t->grad = NULL;
    prism_tensor_release(old);
    return 0;
  }
  prism_tensor *g = bridge_to_tensor(L, 3);
  if (!g) return bridge_errorf(L, "grad: expected a tensor or nil, got %s", luaL_typename(L, 3));
  char s1[160], s2[160];
  if (!prism_shape_equal(g, t))
    return bridge_errorf(L, "grad: shape %s does not match the tensor's shape %s", prism_shape_str(g->ndim, g->shape, s1, sizeof s1),
                         prism_shape_str(t->ndim, t->shape, s2, sizeof s2));
  if (g->dtype != t->dtype)
    return bridge_errorf(L, "grad: dtype %s does not match the tensor's dtype %s", prism_dtype_name(g->dtype), prism_dtype_name(t->dtype));
  if (g->storage->device != t->storage->device)
    return bridge_errorf(L, "grad: device %s does not match the tensor's device %s", bridge_device_name(g->storage->device),
                         bridge_device_name(t->storage->device));
  if (g == t) return bridge_errorf(L, "grad: a tensor cannot be its own gradient");
  if (g->grad_fn) return bridge_errorf(L, "grad: the assigned gradient is part of a graph (assign g:detach())");
  if (g->grad) return bridge_errorf(L, "grad: the assigned gradient has a .grad of its own");
  prism_tensor *old = t->grad;
  t->grad = prism_tensor_retain(g);
  prism_tensor_release(old);
  return 0;
}

int bridge_meta_newindex(lua_State *L) {
  prism_tensor *t = bridge_check_tensor(L, 1, "newindex", "self");
  const char *k = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : NULL;
  if (!k) return bridge_errorf(L, "tensor: cannot assign to a tensor with a %s key", luaL_typename(L, 2));
  if (!strcmp(k, "requires_grad")) return set_requires_grad(L, t, 3, "requires_grad");
  if (!strcmp(k, "grad")) return set_grad(L, t);
  if (!strcmp(k, "shape") || !strcmp(k, "dtype") || !strcmp(k, "device") || !strcmp(k, "ndim") || !strcmp(k, "is_leaf"))
    return bridge_errorf(L, "tensor: field '%s' is read-only", k);
  return bridge_errorf(L, "tensor: cannot set field '%s' (only requires_grad and grad are assignable)", k);
}

int bridge_meta_len(lua_State *L) {
  prism_tensor *t = bridge_check_tensor(L, 1, "len", "operand");
  if (t->ndim == 0) return bridge_errorf(L, "len: a 0-d tensor has no length (#t needs at least one dimension)");
  lua_pushnumber(L, (lua_Number)t->shape[0]);
  return 1;
}

/* Element i (row-major) of t, through 1-element views so any layout and device works. */
static int read_element(const prism_tensor *t, int64_t i, double *out) {
  int64_t idx[PRISM_MAX_DIMS];
  for (int d = t->ndim - 1; d >= 0; d--) {
    idx[d] = i % t->shape[d];
    i /= t->shape[d];
  }
  prism_tensor *cur = prism_tensor_alias(t);
  for (int d = 0; cur && d < t->ndim; d++) {
    prism_tensor *next = prism_tensor_narrow_raw(cur, d, idx[d], 1);
    prism_tensor_release(cur);
    cur = next;
  }
  if (!cur) return -1;
  int rc = prism_tensor_to_host_f64(cur, out);
  prism_tensor_release(cur);
  return rc;
}

#define TOSTRING_VALUES 8

int bridge_meta_tostring(lua_State *L) {
  prism_tensor *t = bridge_check_tensor(L, 1, "tostring", "argument");
  char shape[160], buf[640];
  prism_shape_str(t->ndim, t->shape, shape, sizeof shape);
  size_t pos = (size_t)snprintf(buf, sizeof buf, "tensor(%s, %s%s%s) {", prism_dtype_name(t->dtype), shape,
                                t->storage->device == PRISM_CPU ? "" : ", cuda:0", t->requires_grad ? ", requires_grad" : "");
  int64_t n = prism_tensor_numel(t);
  int64_t k = n < TOSTRING_VALUES ? n : TOSTRING_VALUES;
  for (int64_t i = 0; i < k; i++) {
    double v;
    if (read_element(t, i, &v) < 0) return bridge_raise(L, "tostring");
    pos += (size_t)snprintf(buf + pos, sizeof buf - pos, t->dtype == PRISM_FLOAT32 ? "%s%.5g" : "%s%.0f", i ? ", " : "", v);
    if (pos >= sizeof buf) pos = sizeof buf - 1; /* cannot happen with 8 values; stay in bounds anyway */
  }
  snprintf(buf + pos, sizeof buf - pos, "%s}", n > k ? ", ..." : "");
  lua_pushstring(L, buf);
  return 1;
}

int bridge_meta_add(lua_State *L) { return bridge_arith(L, "add", PRISM_BINARY_ADD); }
int bridge_meta_sub(lua_State *L) { return bridge_arith(L, "sub", PRISM_BINARY_SUB); }
int bridge_meta_mul(lua_State *L) { return bridge_arith(L, "mul", PRISM_BINARY_MUL); }
int bridge_meta_div(lua_State *L) { return bridge_arith(L, "div", PRISM_BINARY_DIV); }
int bridge_meta_pow(lua_State *L) { return bridge_arith(L, "pow", PRISM_BINARY_POW); }

int bridge_meta_unm(lua_State *L) {
  prism_tensor *t = bridge_check_tensor(L, 1, "neg", "operand");
  prism_tensor **slot = bridge_new_slot(L);
  *slot = prism_op_unary(PRISM_UNARY_NEG, t, 0, 0);
  return bridge_finish(L, "neg");
}
