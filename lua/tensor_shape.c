/* tensor_shape.c — the size/type/layout methods of a tensor: size, dim, numel, item, tolist,
 * to/float/long, clone, views (view, reshape, transpose, t, permute, narrow, expand, unsqueeze,
 * squeeze), contiguous, chunk and split.
 *
 * Positions are checked here, in the user's 1-based terms, before the core sees them, so a
 * message says "narrow: start 5 ..." in the numbers the user wrote, not the core's 0-based ones. */
#include <stdio.h>

#include "bridge.h"

static void no_more_args(lua_State *L, int idx, const char *fn) {
  if (!lua_isnone(L, idx)) bridge_errorf(L, "%s: unexpected argument %d (%s)", fn, idx - 1, luaL_typename(L, idx));
}

static int m_size(lua_State *L) {
  prism_tensor *t = bridge_check_tensor(L, 1, "size", "self");
  if (lua_isnoneornil(L, 2)) {
    lua_createtable(L, t->ndim, 0);
    for (int i = 0; i < t->ndim; i++) {
      lua_pushnumber(L, (lua_Number)t->shape[i]);
      lua_rawseti(L, -2, i + 1);
    }
    return 1;
  }
  int d = bridge_check_dim(L, 2, "size", t->ndim, false);
  lua_pushnumber(L, (lua_Number)t->shape[d]);
  return 1;
}

static int m_dim(lua_State *L) {
  lua_pushinteger(L, bridge_check_tensor(L, 1, "dim", "self")->ndim);
  return 1;
}

static int m_numel(lua_State *L) {
  lua_pushnumber(L, (lua_Number)prism_tensor_numel(bridge_check_tensor(L, 1, "numel", "self")));
  return 1;
}

static int m_is_contiguous(lua_State *L) {
  lua_pushboolean(L, prism_tensor_is_contiguous(bridge_check_tensor(L, 1, "is_contiguous", "self")));
  return 1;
}

static int m_item(lua_State *L) {
  prism_tensor *t = bridge_check_tensor(L, 1, "item", "self");
  if (prism_tensor_numel(t) != 1) {
    char s[160];
    return bridge_errorf(L, "item: expected a one-element tensor, got shape %s", prism_shape_str(t->ndim, t->shape, s, sizeof s));
  }
  double v;
  if (prism_tensor_to_host_f64(t, &v) < 0) return bridge_raise(L, "item");
  lua_pushnumber(L, v);
  return 1;
}

static void build_list(lua_State *L, const prism_tensor *t, const double *v, int d, int64_t *pos) {
  luaL_checkstack(L, 2, "tolist");
  lua_createtable(L, (int)t->shape[d], 0);
  for (int64_t i = 0; i < t->shape[d]; i++) {
    if (d == t->ndim - 1) lua_pushnumber(L, v[(*pos)++]);
    else build_list(L, t, v, d + 1, pos);
    lua_rawseti(L, -2, (int)(i + 1));
  }
}

static int m_tolist(lua_State *L) {
  prism_tensor *t = bridge_check_tensor(L, 1, "tolist", "self");
  int64_t n = prism_tensor_numel(t);
  if (n > (1 << 26)) return bridge_errorf(L, "tolist: tensor of %lld elements is too large for a Lua table", (long long)n);
  double *v = (double *)lua_newuserdata(L, (size_t)(n > 0 ? n : 1) * sizeof *v);
  if (n > 0 && prism_tensor_to_host_f64(t, v) < 0) return bridge_raise(L, "tolist");
  if (t->ndim == 0) {
    lua_pushnumber(L, v[0]);
    return 1;
  }
  int64_t pos = 0;
  build_list(L, t, v, 0, &pos);
  return 1;
}

static int convert(lua_State *L, const char *fn, int dtype, int device) {
  prism_tensor *t = bridge_to_tensor(L, 1);
  prism_tensor **slot = bridge_new_slot(L);
  *slot = dtype >= 0 ? prism_op_to_dtype(t, (prism_dtype)dtype) : prism_op_to_device(t, (prism_device)device);
  return bridge_finish(L, fn);
}

static int m_to(lua_State *L) {
  bridge_check_tensor(L, 1, "to", "self");
  if (lua_type(L, 2) != LUA_TSTRING)
    return bridge_errorf(L, "to: expected a dtype or device name, got %s", luaL_typename(L, 2));
  const char *s = lua_tostring(L, 2);
  int dtype = bridge_parse_dtype(s), device = bridge_parse_device(s);
  if (dtype < 0 && device < 0)
    return bridge_errorf(L, "to: unknown dtype or device '%s' (expected float32, int64, int32, cpu or cuda)", s);
  return convert(L, "to", dtype, device);
}

static int m_float(lua_State *L) {
  bridge_check_tensor(L, 1, "float", "self");
  return convert(L, "float", PRISM_FLOAT32, -1);
}

static int m_long(lua_State *L) {
  bridge_check_tensor(L, 1, "long", "self");
  return convert(L, "long", PRISM_INT64, -1);
}

static int m_clone(lua_State *L) {
  prism_tensor *t = bridge_check_tensor(L, 1, "clone", "self");
  prism_tensor **slot = bridge_new_slot(L);
  *slot = prism_op_clone(t);
  return bridge_finish(L, "clone");
}

static int m_contiguous(lua_State *L) {
  prism_tensor *t = bridge_check_tensor(L, 1, "contiguous", "self");
  prism_tensor **slot = bridge_new_slot(L);
  *slot = prism_op_contiguous(t);
  return bridge_finish(L, "contiguous");
}

static int view_like(lua_State *L, const char *fn, bool expand) {
  prism_tensor *t = bridge_check_tensor(L, 1, fn, "self");
  int64_t shape[PRISM_MAX_DIMS];
  int ndim;
  int next = bridge_read_shape(L, 2, fn, true, &ndim, shape);
  no_more_args(L, next, fn);
  prism_tensor **slot = bridge_new_slot(L);
  *slot = expand ? prism_op_expand(t, ndim, shape) : prism_op_view(t, ndim, shape);
  return bridge_finish(L, fn);
}

static int m_view(lua_State *L) { return view_like(L, "view", false); }
static int m_reshape(lua_State *L) { return view_like(L, "reshape", false); }
static int m_expand(lua_State *L) { return view_like(L, "expand", true); }

static int m_transpose(lua_State *L) {
  prism_tensor *t = bridge_check_tensor(L, 1, "transpose", "self");
  int d0 = bridge_check_dim(L, 2, "transpose", t->ndim, false);
  int d1 = bridge_check_dim(L, 3, "transpose", t->ndim, false);
  prism_tensor **slot = bridge_new_slot(L);
  *slot = prism_op_transpose(t, d0, d1);
  return bridge_finish(L, "transpose");
}

static int m_t(lua_State *L) {
  prism_tensor *t = bridge_check_tensor(L, 1, "t", "self");
  if (t->ndim != 2) return bridge_errorf(L, "t: expected a 2-d tensor, got %d-d (use transpose)", t->ndim);
  prism_tensor **slot = bridge_new_slot(L);
  *slot = prism_op_transpose(t, 0, 1);
  return bridge_finish(L, "t");
}

static int m_permute(lua_State *L) {
  prism_tensor *t = bridge_check_tensor(L, 1, "permute", "self");
  int dims[PRISM_MAX_DIMS];
  int n = 0;
  bool table = lua_type(L, 2) == LUA_TTABLE;
  int count = table ? (int)lua_objlen(L, 2) : lua_gettop(L) - 1;
  if (table) no_more_args(L, 3, "permute");
  if (count != t->ndim)
    return bridge_errorf(L, "permute: expected %d dimensions for a %d-d tensor, got %d", t->ndim, t->ndim, count);
  bool seen[PRISM_MAX_DIMS] = {false};
  for (; n < count; n++) {
    if (table) lua_rawgeti(L, 2, n + 1);
    else lua_pushvalue(L, n + 2);
    dims[n] = bridge_check_dim(L, -1, "permute", t->ndim, false);
    lua_pop(L, 1);
    if (seen[dims[n]]) return bridge_errorf(L, "permute: dimension %d appears twice", dims[n] + 1);
    seen[dims[n]] = true;
  }
  prism_tensor **slot = bridge_new_slot(L);
  *slot = prism_op_permute(t, n, dims);
  return bridge_finish(L, "permute");
}

static int m_narrow(lua_State *L) {
  prism_tensor *t = bridge_check_tensor(L, 1, "narrow", "self");
  int dim = bridge_check_dim(L, 2, "narrow", t->ndim, false);
  int64_t start = bridge_check_int(L, 3, "narrow", "start");
  int64_t length = bridge_check_int(L, 4, "narrow", "length");
  int64_t size = t->shape[dim];
  if (start == 0) return bridge_errorf(L, "narrow: start 0: positions are 1-based (use 1 for the first, -1 for the last)");
  int64_t s0 = start > 0 ? start - 1 : size + start;
  if (s0 < 0 || s0 > size)
    return bridge_errorf(L, "narrow: start %lld out of range for dimension %d of size %lld", (long long)start, dim + 1,
                         (long long)size);
  if (length < 0 || length > size - s0)
    return bridge_errorf(L, "narrow: start %lld with length %lld exceeds dimension %d of size %lld", (long long)start,
                         (long long)length, dim + 1, (long long)size);
  prism_tensor **slot = bridge_new_slot(L);
  *slot = prism_op_narrow(t, dim, s0, length);
  return bridge_finish(L, "narrow");
}

/* Pushes an array of narrow pieces of t along dim: piece i is [starts[i], starts[i] + lens[i]). */
static int push_pieces(lua_State *L, const char *fn, prism_tensor *t, int dim, int64_t n, const int64_t *lens) {
  lua_createtable(L, (int)n, 0);
  int64_t start = 0;
  for (int64_t i = 0; i < n; i++) {
    prism_tensor **slot = bridge_new_slot(L);
    *slot = prism_op_narrow(t, dim, start, lens[i]);
    bridge_finish(L, fn);
    lua_rawseti(L, -2, (int)(i + 1));
    start += lens[i];
  }
  return 1;
}

static int m_chunk(lua_State *L) {
  prism_tensor *t = bridge_check_tensor(L, 1, "chunk", "self");
  int64_t n = bridge_check_int(L, 2, "chunk", "number of chunks");
  int dim = bridge_opt_dim(L, 3, "chunk", t->ndim, false, 0);
  if (t->ndim == 0) return bridge_errorf(L, "chunk: a 0-d tensor cannot be chunked");
  if (n < 1) return bridge_errorf(L, "chunk: number of chunks must be >= 1, got %lld", (long long)n);
  int64_t size = t->shape[dim];
  /* PyTorch: pieces of ceil(size / n), so there may be fewer than n; an empty dim gives n. */
  int64_t piece = size == 0 ? 0 : (size + n - 1) / n;
  int64_t count = size == 0 ? n : (size + piece - 1) / piece;
  if (count > (1 << 24)) return bridge_errorf(L, "chunk: %lld chunks is too many", (long long)count);
  int64_t *lens = (int64_t *)lua_newuserdata(L, (size_t)count * sizeof *lens);
  for (int64_t i = 0; i < count; i++) lens[i] = size - i * piece < piece ? size - i * piece : piece;
  return push_pieces(L, "chunk", t, dim, count, lens);
}

static int m_split(lua_State *L) {
  prism_tensor *t = bridge_check_tensor(L, 1, "split", "self");
  int dim = bridge_opt_dim(L, 3, "split", t->ndim, false, 0);
  if (t->ndim == 0) return bridge_errorf(L, "split: a 0-d tensor cannot be split");
  int64_t size = t->shape[dim];
  if (lua_type(L, 2) == LUA_TTABLE) {
    int64_t count = (int64_t)lua_objlen(L, 2), total = 0;
    if (count < 1 || count > (1 << 24)) return bridge_errorf(L, "split: expected a non-empty list of sizes");
    int64_t *lens = (int64_t *)lua_newuserdata(L, (size_t)count * sizeof *lens);
    for (int64_t i = 0; i < count; i++) {
      lua_rawgeti(L, 2, (int)(i + 1));
      lens[i] = bridge_check_int(L, -1, "split", "size");
      lua_pop(L, 1);
      if (lens[i] < 0) return bridge_errorf(L, "split: size %lld must be >= 0, got %lld", (long long)(i + 1), (long long)lens[i]);
      total += lens[i];
    }
    if (total != size)
      return bridge_errorf(L, "split: sizes sum to %lld but dimension %d has size %lld", (long long)total, dim + 1, (long long)size);
    return push_pieces(L, "split", t, dim, count, lens);
  }
  int64_t piece = bridge_check_int(L, 2, "split", "size");
  if (piece < 1) return bridge_errorf(L, "split: size must be >= 1, got %lld", (long long)piece);
  int64_t count = size == 0 ? 1 : (size + piece - 1) / piece;
  if (count > (1 << 24)) return bridge_errorf(L, "split: %lld pieces is too many", (long long)count);
  int64_t *lens = (int64_t *)lua_newuserdata(L, (size_t)count * sizeof *lens);
  for (int64_t i = 0; i < count; i++) lens[i] = size - i * piece < piece ? size - i * piece : piece;
  return push_pieces(L, "split", t, dim, count, lens);
}

static int m_unsqueeze(lua_State *L) {
  prism_tensor *t = bridge_check_tensor(L, 1, "unsqueeze", "self");
  int dim = bridge_check_dim(L, 2, "unsqueeze", t->ndim, true);
  prism_tensor **slot = bridge_new_slot(L);
  *slot = prism_op_unsqueeze(t, dim);
  return bridge_finish(L, "unsqueeze");
}

static int m_squeeze(lua_State *L) {
  prism_tensor *t = bridge_check_tensor(L, 1, "squeeze", "self");
  bool all = lua_isnoneornil(L, 2);
  int dim = all ? 0 : bridge_check_dim(L, 2, "squeeze", t->ndim, false);
  prism_tensor **slot = bridge_new_slot(L);
  *slot = prism_op_squeeze(t, dim, all);
  return bridge_finish(L, "squeeze");
}

const luaL_Reg bridge_methods_shape[] = {
    {"size", m_size},         {"dim", m_dim},
    {"numel", m_numel},       {"is_contiguous", m_is_contiguous},
    {"item", m_item},         {"tolist", m_tolist},
    {"to", m_to},             {"float", m_float},
    {"long", m_long},         {"clone", m_clone},
    {"contiguous", m_contiguous}, {"view", m_view},
    {"reshape", m_reshape},   {"expand", m_expand},
    {"transpose", m_transpose}, {"t", m_t},
    {"permute", m_permute},   {"narrow", m_narrow},
    {"chunk", m_chunk},       {"split", m_split},
    {"unsqueeze", m_unsqueeze}, {"squeeze", m_squeeze},
    {NULL, NULL}};
