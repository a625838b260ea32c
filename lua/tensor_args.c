/* tensor_args.c — argument checking shared by every bridge entry point: integers that must be
 * exact (a size is never silently truncated), Lua's 1-based dimensions turned into the core's
 * 0-based ones, shapes given as varargs or as one table, dtype/device names, tensor lists.
 * Every check raises a Lua error naming the function and the offending value; none of them
 * may be called while the caller holds a C tensor reference (bridge.h). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bridge.h"

/* %.17g keeps the user's value recognizable in messages (2.5, 1e+20, inf). */
static void fmt_num(char *buf, size_t n, double x) { snprintf(buf, n, "%.17g", x); }

int64_t bridge_check_int(lua_State *L, int idx, const char *fn, const char *what) {
  if (lua_type(L, idx) != LUA_TNUMBER)
    return bridge_errorf(L, "%s: %s must be an integer, got %s", fn, what, luaL_typename(L, idx));
  double x = lua_tonumber(L, idx);
  char buf[48];
  if (x != floor(x) || isnan(x)) {
    fmt_num(buf, sizeof buf, x);
    return bridge_errorf(L, "%s: %s must be an integer, got %s", fn, what, buf);
  }
  if (fabs(x) > BRIDGE_MAX_EXACT_INT) {
    fmt_num(buf, sizeof buf, x);
    return bridge_errorf(L, "%s: %s is too large (%s; the limit is 2^53)", fn, what, buf);
  }
  return (int64_t)x;
}

int64_t bridge_opt_int(lua_State *L, int idx, const char *fn, const char *what, int64_t def) {
  return lua_isnoneornil(L, idx) ? def : bridge_check_int(L, idx, fn, what);
}

double bridge_check_num(lua_State *L, int idx, const char *fn, const char *what) {
  if (lua_type(L, idx) != LUA_TNUMBER)
    return bridge_errorf(L, "%s: %s must be a number, got %s", fn, what, luaL_typename(L, idx));
  return lua_tonumber(L, idx);
}

double bridge_opt_num(lua_State *L, int idx, const char *fn, const char *what, double def) {
  return lua_isnoneornil(L, idx) ? def : bridge_check_num(L, idx, fn, what);
}

bool bridge_opt_bool(lua_State *L, int idx, const char *fn, const char *what, bool def) {
  if (lua_isnoneornil(L, idx)) return def;
  if (lua_type(L, idx) != LUA_TBOOLEAN)
    return bridge_errorf(L, "%s: %s must be a boolean, got %s", fn, what, luaL_typename(L, idx));
  return lua_toboolean(L, idx);
}

int bridge_check_dim(lua_State *L, int idx, const char *fn, int ndim, bool allow_end) {
  int64_t d = bridge_check_int(L, idx, fn, "dimension");
  int hi = ndim + (allow_end ? 1 : 0);
  if (d == 0) return bridge_errorf(L, "%s: dimension 0: dimensions are 1-based (use 1 for the first, -1 for the last)", fn);
  if (hi == 0) return bridge_errorf(L, "%s: dimension %lld: a 0-d tensor has no dimensions", fn, (long long)d);
  if (d > hi || d < -hi)
    return bridge_errorf(L, "%s: dimension %lld out of range for a %d-d tensor (expected 1..%d or -%d..-1)", fn,
                         (long long)d, ndim, hi, hi);
  return d > 0 ? (int)(d - 1) : (int)(hi + d);
}

int bridge_opt_dim(lua_State *L, int idx, const char *fn, int ndim, bool allow_end, int def) {
  return lua_isnoneornil(L, idx) ? def : bridge_check_dim(L, idx, fn, ndim, allow_end);
}

/* One size of a shape: the value on top of the stack (popped by the caller). */
static int64_t check_size(lua_State *L, const char *fn, int pos, bool allow_neg1) {
  char what[32];
  snprintf(what, sizeof what, "size %d", pos);
  int64_t s = bridge_check_int(L, -1, fn, what);
  if (s < 0 && !(allow_neg1 && s == -1))
    return bridge_errorf(L, "%s: size %d must be %s, got %lld", fn, pos, allow_neg1 ? ">= 0 (or -1)" : ">= 0", (long long)s);
  return s;
}

int bridge_read_shape(lua_State *L, int first, const char *fn, bool allow_neg1, int *ndim, int64_t *shape) {
  if (lua_type(L, first) == LUA_TTABLE) {
    size_t n = lua_objlen(L, first);
    if (n > PRISM_MAX_DIMS)
      return bridge_errorf(L, "%s: a shape has at most %d dimensions, got %d", fn, PRISM_MAX_DIMS, (int)n);
    for (size_t i = 0; i < n; i++) {
      lua_rawgeti(L, first, (int)i + 1);
      shape[i] = check_size(L, fn, (int)i + 1, allow_neg1);
      lua_pop(L, 1);
    }
    *ndim = (int)n;
    return first + 1;
  }
  int n = 0;
  int top = lua_gettop(L);
  int i = first;
  for (; i <= top && lua_type(L, i) != LUA_TTABLE && !lua_isnil(L, i); i++) {
    if (n == PRISM_MAX_DIMS)
      return bridge_errorf(L, "%s: a shape has at most %d dimensions", fn, PRISM_MAX_DIMS);
    lua_pushvalue(L, i);
    shape[n] = check_size(L, fn, n + 1, allow_neg1);
    lua_pop(L, 1);
    n++;
  }
  *ndim = n;
  return i;
}

int bridge_parse_dtype(const char *s) {
  if (!strcmp(s, "float32") || !strcmp(s, "float")) return PRISM_FLOAT32;
  if (!strcmp(s, "int64") || !strcmp(s, "long")) return PRISM_INT64;
  if (!strcmp(s, "int32") || !strcmp(s, "int")) return PRISM_INT32;
  return -1;
}

int bridge_parse_device(const char *s) {
  if (!strcmp(s, "cpu")) return PRISM_CPU;
  if (!strcmp(s, "cuda") || !strcmp(s, "cuda:0")) return PRISM_CUDA;
  return -1;
}

const char *bridge_device_name(prism_device d) { return d == PRISM_CUDA ? "cuda:0" : "cpu"; }

prism_tensor **bridge_check_tensor_list(lua_State *L, int idx, const char *fn, bool allow_empty, int *n) {
  if (idx < 0) idx = lua_gettop(L) + idx + 1;
  if (lua_type(L, idx) != LUA_TTABLE)
    return bridge_errorf(L, "%s: expected a list (Lua array) of tensors, got %s", fn, luaL_typename(L, idx)), NULL;
  size_t len = lua_objlen(L, idx);
  if (len == 0 && !allow_empty) return bridge_errorf(L, "%s: expected a non-empty list of tensors", fn), NULL;
  if (len > (1u << 24)) return bridge_errorf(L, "%s: list of %zu tensors is too long", fn, len), NULL;
  prism_tensor **ts = (prism_tensor **)lua_newuserdata(L, (len ? len : 1) * sizeof *ts);
  for (size_t i = 0; i < len; i++) {
    lua_rawgeti(L, idx, (int)i + 1);
    ts[i] = bridge_to_tensor(L, -1);
    if (!ts[i])
      return bridge_errorf(L, "%s: element %zu of the list must be a tensor, got %s", fn, i + 1, luaL_typename(L, -1)), NULL;
    lua_pop(L, 1);
  }
  *n = (int)len;
  return ts;
}
