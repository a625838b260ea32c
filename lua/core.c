/* core.c — the `prism.core` module: the C functions the standard library (stdlib/prism/)
 * and trusted tools build on. Constructors (tensor, zeros, ones, full, empty, arange, randn,
 * rand), grad mode, the free-function forms of every tensor method, and the trusted tools
 * (threads, memory and tape counters, manual_seed, raw bytes and digests for bitwise tests).
 * The fused nn and optimizer kernels live in core_kernels.c.
 *
 * Who may require this module is decided by the loader (loader.c), not here: manual_seed and
 * data_bytes are for trusted code, and the miner-facing `prism` module must not re-export them. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bridge.h"
#include "rng.h"

typedef struct {
  prism_dtype dtype;
  prism_device device;
  bool requires_grad;
} ctor_opts;

/* Reads the trailing options table at idx (or nothing) and rejects anything after it. */
static void read_opts(lua_State *L, int idx, const char *fn, prism_dtype def_dtype, ctor_opts *o) {
  o->dtype = def_dtype;
  o->device = PRISM_CPU;
  o->requires_grad = false;
  if (!lua_isnone(L, idx + 1) || (!lua_isnoneornil(L, idx) && lua_type(L, idx) != LUA_TTABLE)) {
    int bad = lua_isnone(L, idx + 1) ? idx : idx + 1;
    bridge_errorf(L, "%s: unexpected argument %d (%s); options go in one trailing table", fn, bad, luaL_typename(L, bad));
  }
  if (lua_isnoneornil(L, idx)) return;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
    if (k && !strcmp(k, "dtype")) {
      int d = lua_type(L, -1) == LUA_TSTRING ? bridge_parse_dtype(lua_tostring(L, -1)) : -1;
      if (d < 0) bridge_errorf(L, "%s: dtype must be \"float32\", \"int64\" or \"int32\"", fn);
      o->dtype = (prism_dtype)d;
    } else if (k && !strcmp(k, "device")) {
      int d = lua_type(L, -1) == LUA_TSTRING ? bridge_parse_device(lua_tostring(L, -1)) : -1;
      if (d < 0) bridge_errorf(L, "%s: device must be \"cpu\" or \"cuda\"", fn);
      o->device = (prism_device)d;
    } else if (k && !strcmp(k, "requires_grad")) {
      if (lua_type(L, -1) != LUA_TBOOLEAN) bridge_errorf(L, "%s: requires_grad must be a boolean", fn);
      o->requires_grad = lua_toboolean(L, -1);
    } else {
      bridge_errorf(L, "%s: unknown option '%s' (expected dtype, device, requires_grad)", fn, k ? k : luaL_typename(L, -2));
    }
    lua_pop(L, 1);
  }
  if (o->requires_grad && o->dtype != PRISM_FLOAT32)
    bridge_errorf(L, "%s: only float32 tensors can require grad, not %s", fn, prism_dtype_name(o->dtype));
}

/* Completes a constructor: the slot on top is checked, then marked as a grad-requiring leaf. */
static int finish_ctor(lua_State *L, const char *fn, const ctor_opts *o) {
  bridge_finish(L, fn);
  if (o->requires_grad) bridge_to_tensor(L, -1)->requires_grad = true;
  return 1;
}

static void check_shape(lua_State *L, const char *fn, int ndim, const int64_t *shape) {
  if (prism_shape_check(ndim, shape) < 0) bridge_raise(L, fn);
}

enum { C_ZEROS, C_ONES, C_EMPTY, C_RANDN, C_RAND };

static int shaped_ctor(lua_State *L, const char *fn, int kind) {
  int64_t shape[PRISM_MAX_DIMS];
  int ndim;
  int next = bridge_read_shape(L, 1, fn, false, &ndim, shape);
  ctor_opts o;
  read_opts(L, next, fn, PRISM_FLOAT32, &o);
  check_shape(L, fn, ndim, shape);
  if ((kind == C_RANDN || kind == C_RAND) && o.dtype != PRISM_FLOAT32)
    return bridge_errorf(L, "%s: random tensors are float32, not %s", fn, prism_dtype_name(o.dtype));
  prism_tensor **slot = bridge_new_slot(L);
  switch (kind) {
  case C_ONES: *slot = prism_tensor_full(o.dtype, o.device, ndim, shape, 1.0); break;
  case C_RANDN: *slot = prism_op_randn(ndim, shape, o.device); break;
  case C_RAND: *slot = prism_op_rand(ndim, shape, o.device); break;
  default: *slot = prism_tensor_zeros(o.dtype, o.device, ndim, shape); break; /* empty too: never uninitialized */
  }
  return finish_ctor(L, fn, &o);
}

static int c_zeros(lua_State *L) { return shaped_ctor(L, "zeros", C_ZEROS); }
static int c_ones(lua_State *L) { return shaped_ctor(L, "ones", C_ONES); }
static int c_empty(lua_State *L) { return shaped_ctor(L, "empty", C_EMPTY); }
static int c_randn(lua_State *L) { return shaped_ctor(L, "randn", C_RANDN); }
static int c_rand(lua_State *L) { return shaped_ctor(L, "rand", C_RAND); }

static int c_full(lua_State *L) {
  int64_t shape[PRISM_MAX_DIMS];
  int ndim = 1;
  if (lua_type(L, 1) == LUA_TNUMBER) {
    shape[0] = bridge_check_int(L, 1, "full", "size");
    if (shape[0] < 0) return bridge_errorf(L, "full: size must be >= 0, got %lld", (long long)shape[0]);
  } else if (lua_type(L, 1) == LUA_TTABLE) {
    bridge_read_shape(L, 1, "full", false, &ndim, shape);
  } else {
    return bridge_errorf(L, "full: shape must be a table of sizes (or one size), got %s", luaL_typename(L, 1));
  }
  double v = bridge_check_num(L, 2, "full", "value");
  ctor_opts o;
  read_opts(L, 3, "full", PRISM_FLOAT32, &o);
  check_shape(L, "full", ndim, shape);
  prism_tensor **slot = bridge_new_slot(L);
  *slot = prism_tensor_full(o.dtype, o.device, ndim, shape, v);
  return finish_ctor(L, "full", &o);
}

/* ---- tensor(data): nested Lua arrays -> a tensor ---- */

typedef struct {
  int ndim;
  int64_t shape[PRISM_MAX_DIMS];
  int64_t path[PRISM_MAX_DIMS]; /* 0-based position being filled, for messages */
  prism_dtype dtype;
  char *out;
  int64_t pos;
} nest;

static const char *path_str(const nest *s, int depth, char *buf, size_t n) {
  size_t p = (size_t)snprintf(buf, n, "{");
  for (int i = 0; i < depth && p < n; i++) p += (size_t)snprintf(buf + p, n - p, "%s%lld", i ? ", " : "", (long long)s->path[i] + 1);
  if (p < n) snprintf(buf + p, n - p, "}");
  return buf;
}

static void store_number(lua_State *L, nest *s, int depth) {
  char where[128];
  if (lua_type(L, -1) != LUA_TNUMBER)
    bridge_errorf(L, "tensor: element %s must be a number, got %s (ragged or mixed nested arrays?)",
                  path_str(s, depth, where, sizeof where), luaL_typename(L, -1));
  double x = lua_tonumber(L, -1);
  size_t es = prism_dtype_size(s->dtype);
  if (s->dtype == PRISM_FLOAT32) {
    float f = (float)x;
    memcpy(s->out + s->pos * es, &f, sizeof f);
  } else {
    double lim = s->dtype == PRISM_INT32 ? 2147483648.0 : BRIDGE_MAX_EXACT_INT;
    if (x != floor(x) || !(x >= -lim && x < lim))
      bridge_errorf(L, "tensor: element %s = %.17g is not a valid %s", path_str(s, depth, where, sizeof where), x,
                    prism_dtype_name(s->dtype));
    if (s->dtype == PRISM_INT32) {
      int32_t v = (int32_t)x;
      memcpy(s->out + s->pos * es, &v, sizeof v);
    } else {
      int64_t v = (int64_t)x;
      memcpy(s->out + s->pos * es, &v, sizeof v);
    }
  }
  s->pos++;
}

static void fill_nested(lua_State *L, nest *s, int depth) {
  if (depth == s->ndim) {
    store_number(L, s, depth);
    return;
  }
  char where[128];
  if (lua_type(L, -1) != LUA_TTABLE)
    bridge_errorf(L, "tensor: ragged nested arrays: element %s is a %s where a list of %lld was expected",
                  path_str(s, depth, where, sizeof where), luaL_typename(L, -1), (long long)s->shape[depth]);
  size_t n = lua_objlen(L, -1);
  if ((int64_t)n != s->shape[depth])
    bridge_errorf(L, "tensor: ragged nested arrays: list %s has %lld elements, expected %lld",
                  path_str(s, depth, where, sizeof where), (long long)n, (long long)s->shape[depth]);
  luaL_checkstack(L, 2, "tensor");
  for (int64_t i = 0; i < s->shape[depth]; i++) {
    s->path[depth] = i;
    lua_rawgeti(L, -1, (int)(i + 1));
    fill_nested(L, s, depth + 1);
    lua_pop(L, 1);
  }
}

static int c_tensor(lua_State *L) {
  ctor_opts o;
  read_opts(L, 2, "tensor", PRISM_FLOAT32, &o);
  nest s = {.ndim = 0, .dtype = o.dtype, .pos = 0};
  int t = lua_type(L, 1);
  if (t != LUA_TNUMBER && t != LUA_TTABLE)
    return bridge_errorf(L, "tensor: data must be a number or nested arrays of numbers, got %s", luaL_typename(L, 1));
  /* The shape is read along the first elements; fill_nested then checks every list against it. */
  lua_pushvalue(L, 1);
  while (lua_type(L, -1) == LUA_TTABLE) {
    if (s.ndim == PRISM_MAX_DIMS)
      return bridge_errorf(L, "tensor: nested arrays deeper than %d dimensions (or a table that contains itself)", PRISM_MAX_DIMS);
    size_t n = lua_objlen(L, -1);
    s.shape[s.ndim++] = (int64_t)n;
    if (n == 0) break;
    lua_rawgeti(L, -1, 1);
  }
  lua_settop(L, 2);
  check_shape(L, "tensor", s.ndim, s.shape);
  int64_t numel = 1;
  for (int i = 0; i < s.ndim; i++) numel *= s.shape[i];
  if (numel > (1 << 28)) return bridge_errorf(L, "tensor: %lld elements is too many to build from Lua tables", (long long)numel);
  s.out = (char *)lua_newuserdata(L, (size_t)(numel > 0 ? numel : 1) * prism_dtype_size(o.dtype));
  lua_pushvalue(L, 1);
  fill_nested(L, &s, 0);
  lua_pop(L, 1);
  prism_tensor **slot = bridge_new_slot(L);
  *slot = prism_tensor_from_host(o.dtype, o.device, s.ndim, s.shape, s.out);
  return finish_ctor(L, "tensor", &o);
}

/* arange(n) / arange(start, stop[, step]): int64 when every argument is an integer (PyTorch). */
static int c_arange(lua_State *L) {
  double a[3];
  int n = 0;
  bool integral = true;
  while (n < 3 && lua_type(L, n + 1) == LUA_TNUMBER) {
    a[n] = lua_tonumber(L, n + 1);
    if (!isfinite(a[n])) return bridge_errorf(L, "arange: argument %d must be finite", n + 1);
    integral = integral && a[n] == floor(a[n]) && fabs(a[n]) <= BRIDGE_MAX_EXACT_INT;
    n++;
  }
  if (n == 0) return bridge_errorf(L, "arange: expected (n) or (start, stop[, step]), got %s", luaL_typename(L, 1));
  double start = n == 1 ? 0 : a[0], stop = n == 1 ? a[0] : a[1], step = n == 3 ? a[2] : 1;
  ctor_opts o;
  read_opts(L, n + 1, "arange", integral ? PRISM_INT64 : PRISM_FLOAT32, &o);
  if (step == 0) return bridge_errorf(L, "arange: step must not be 0");
  if ((stop - start) * step < 0)
    return bridge_errorf(L, "arange: start %.17g cannot reach stop %.17g with step %.17g", start, stop, step);
  double count = ceil((stop - start) / step);
  if (!(count <= BRIDGE_MAX_EXACT_INT)) return bridge_errorf(L, "arange: %.17g elements is too many", count);
  int64_t len = (int64_t)count;
  check_shape(L, "arange", 1, &len);
  prism_tensor **slot = bridge_new_slot(L);
  *slot = prism_tensor_empty(o.dtype, o.device, 1, &len);
  bridge_finish(L, "arange");
  prism_tensor *t = bridge_to_tensor(L, -1);
  const prism_backend *be = prism_backend_get(o.device);
  if (!be || (len > 0 && be->arange(prism_tensor_data(t), o.dtype, len, start, step) < 0)) return bridge_raise(L, "arange");
  if (o.requires_grad) t->requires_grad = true;
  return 1;
}

static int c_is_tensor(lua_State *L) {
  lua_pushboolean(L, bridge_to_tensor(L, 1) != NULL);
  return 1;
}

static int c_set_grad_enabled(lua_State *L) {
  if (lua_type(L, 1) != LUA_TBOOLEAN)
    return bridge_errorf(L, "set_grad_enabled: expected a boolean, got %s", luaL_typename(L, 1));
  lua_pushboolean(L, prism_grad_set_enabled(lua_toboolean(L, 1)));
  return 1;
}

static int c_is_grad_enabled(lua_State *L) {
  lua_pushboolean(L, prism_grad_enabled());
  return 1;
}

static int list_op(lua_State *L, const char *fn, bool stack) {
  lua_settop(L, 2); /* the list buffer is pushed next: it must not pass for argument 2 */
  int n;
  prism_tensor **ts = bridge_check_tensor_list(L, 1, fn, false, &n);
  int dim = bridge_opt_dim(L, 2, fn, ts[0]->ndim, stack, 0);
  prism_tensor **slot = bridge_new_slot(L);
  *slot = stack ? prism_op_stack(ts, n, dim) : prism_op_cat(ts, n, dim);
  return bridge_finish(L, fn);
}

static int c_cat(lua_State *L) { return list_op(L, "cat", false); }
static int c_stack(lua_State *L) { return list_op(L, "stack", true); }

/* ---- trusted tools ---- */

static int c_set_num_threads(lua_State *L) {
  int64_t n = bridge_check_int(L, 1, "set_num_threads", "thread count");
  if (n < 1 || n > 4096) return bridge_errorf(L, "set_num_threads: thread count must be in 1..4096, got %lld", (long long)n);
  prism_backend_set_threads((int)n);
  return 0;
}

static int c_get_num_threads(lua_State *L) {
  lua_pushinteger(L, prism_backend_get_threads());
  return 1;
}

static int c_live_nodes(lua_State *L) {
  lua_pushnumber(L, (lua_Number)prism_autograd_live_nodes());
  return 1;
}

static int c_mem_live_bytes(lua_State *L) {
  lua_pushnumber(L, (lua_Number)prism_mem_live_bytes());
  return 1;
}

static int c_mem_peak_bytes(lua_State *L) {
  lua_pushnumber(L, (lua_Number)prism_mem_peak_bytes());
  return 1;
}

static int c_live_tensors(lua_State *L) {
  lua_pushnumber(L, (lua_Number)prism_mem_live_tensors());
  return 1;
}

static int c_manual_seed(lua_State *L) {
  int64_t seed = bridge_check_int(L, 1, "manual_seed", "seed");
  if (seed < 0) return bridge_errorf(L, "manual_seed: seed must be >= 0, got %lld", (long long)seed);
  prism_rng_seed((uint64_t)seed);
  return 0;
}

/* The tensor's elements in row-major order as raw bytes, in a userdata pushed on the stack. */
static const unsigned char *raw_bytes(lua_State *L, const char *fn, size_t *nbytes) {
  prism_tensor *t = bridge_check_tensor(L, 1, fn, "argument");
  size_t nb = (size_t)prism_tensor_numel(t) * prism_dtype_size(t->dtype);
  unsigned char *buf = (unsigned char *)lua_newuserdata(L, nb ? nb : 1);
  if (nb) {
    prism_tensor *c = prism_tensor_contiguous_raw(t);
    if (!c) bridge_raise(L, fn);
    const prism_backend *be = prism_backend_get(c->storage->device);
    int rc = be ? be->download(buf, prism_tensor_data(c), nb) : -1;
    prism_tensor_release(c);
    if (rc < 0) bridge_raise(L, fn);
  }
  *nbytes = nb;
  return buf;
}

static int c_data_bytes(lua_State *L) {
  size_t n;
  const unsigned char *b = raw_bytes(L, "data_bytes", &n);
  lua_pushlstring(L, (const char *)b, n);
  return 1;
}

static int c_tensor_digest(lua_State *L) {
  size_t n;
  const unsigned char *b = raw_bytes(L, "tensor_digest", &n);
  uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a 64 */
  for (size_t i = 0; i < n; i++) {
    h ^= b[i];
    h *= 0x100000001b3ull;
  }
  char hex[17];
  snprintf(hex, sizeof hex, "%016llx", (unsigned long long)h);
  lua_pushstring(L, hex);
  return 1;
}

static const luaL_Reg core_funcs[] = {
    {"tensor", c_tensor},
    {"zeros", c_zeros},
    {"ones", c_ones},
    {"full", c_full},
    {"empty", c_empty},
    {"arange", c_arange},
    {"randn", c_randn},
    {"rand", c_rand},
    {"is_tensor", c_is_tensor},
    {"set_grad_enabled", c_set_grad_enabled},
    {"is_grad_enabled", c_is_grad_enabled},
    {"cat", c_cat},
    {"stack", c_stack},
    {"set_num_threads", c_set_num_threads},
    {"get_num_threads", c_get_num_threads},
    {"live_nodes", c_live_nodes},
    {"mem_live_bytes", c_mem_live_bytes},
    {"mem_peak_bytes", c_mem_peak_bytes},
    {"live_tensors", c_live_tensors},
    {"manual_seed", c_manual_seed},
    {"tensor_digest", c_tensor_digest},
    {"data_bytes", c_data_bytes},
    {NULL, NULL}};

int luaopen_prism_core(lua_State *L) {
  bridge_tensor_init(L);
  lua_newtable(L);
  /* Every method is also a free function taking the tensor first: prism.exp(t) == t:exp(). */
  luaL_register(L, NULL, bridge_methods_math);
  luaL_register(L, NULL, bridge_methods_shape);
  luaL_register(L, NULL, bridge_core_kernels);
  luaL_register(L, NULL, core_funcs);
  lua_pushstring(L, PRISM_VERSION);
  lua_setfield(L, -2, "version");
  return 1;
}
