/* tensor_bridge.c — the tensor userdata itself: its locked metatable, the result-slot protocol
 * (see bridge.h) and the translation of C-core failures into Lua errors.
 *
 * A userdata holds one prism_tensor reference. A weak-valued cache maps each C tensor to its
 * userdata so the same C tensor is always the same Lua value (p.grad == p.grad, and an op that
 * returns its input unchanged returns the same object). The metatable is reachable only from
 * the registry: `__metatable` hides it from getmetatable/setmetatable, and the method table
 * lives in an upvalue of the C `__index`, so Lua code can neither read nor patch it. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bridge.h"

int bridge_errorf(lua_State *L, const char *fmt, ...) {
  char buf[640];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  lua_pushstring(L, buf);
  return lua_error(L);
}

int bridge_raise(lua_State *L, const char *fn) {
  /* Copy the record first: nothing below may run while it could be overwritten. */
  char msg[512];
  prism_error_kind kind = prism_error_kind_last();
  snprintf(msg, sizeof msg, "%s", prism_error_message());
  prism_error_clear();
  const char *oom = kind == PRISM_ERR_OOM ? "prism:resource-oom: " : "";
  if (kind == PRISM_OK || msg[0] == '\0')
    return bridge_errorf(L, "%s%s: internal error: the runtime failed without a message", oom, fn);
  size_t n = strlen(fn);
  if (strncmp(msg, fn, n) == 0 && msg[n] == ':') return bridge_errorf(L, "%s%s", oom, msg);
  return bridge_errorf(L, "%s%s: %s", oom, fn, msg);
}

/* The thread of the latest bridge entry. Tensor allocation happens inside bridge entries, so
 * when tensor.c calls the GC hook this is the running thread, the one LuaJIT expects lua_gc (and
 * the finalizers it runs) to be called on. Anchored in the registry so it cannot be collected
 * while remembered; forgotten when its state closes (bridge_forget_running). */
static lua_State *running;

static void note_running(lua_State *L) {
  if (L == running) return;
  lua_pushthread(L);
  lua_setfield(L, LUA_REGISTRYINDEX, BRIDGE_RUNNING_THREAD);
  running = L;
}

lua_State *bridge_running_thread(void) { return running; }

void bridge_forget_running(void) { running = NULL; }

prism_tensor **bridge_new_slot(lua_State *L) {
  note_running(L);
  prism_tensor **slot = (prism_tensor **)lua_newuserdata(L, sizeof *slot);
  *slot = NULL;
  lua_getfield(L, LUA_REGISTRYINDEX, BRIDGE_TENSOR_MT);
  lua_setmetatable(L, -2);
  return slot;
}

void bridge_finish_at(lua_State *L, int idx, const char *fn) {
  if (idx < 0) idx = lua_gettop(L) + idx + 1;
  prism_tensor **slot = (prism_tensor **)lua_touserdata(L, idx);
  if (!slot || !*slot) {
    bridge_raise(L, fn);
    return;
  }
  prism_tensor *t = *slot; /* owned by the userdata from here on: raising is safe */
  lua_getfield(L, LUA_REGISTRYINDEX, BRIDGE_TENSOR_CACHE);
  lua_pushlightuserdata(L, t);
  lua_rawget(L, -2);
  prism_tensor **other = (prism_tensor **)lua_touserdata(L, -1);
  if (other && other != slot && *other == t) {
    /* The C tensor already has a userdata (which holds its own reference): use that one. */
    *slot = NULL;
    prism_tensor_release(t);
    lua_replace(L, idx);
    lua_pop(L, 1);
    return;
  }
  lua_pop(L, 1);
  lua_pushlightuserdata(L, t);
  lua_pushvalue(L, idx);
  lua_rawset(L, -3);
  lua_pop(L, 1);
}

int bridge_finish(lua_State *L, const char *fn) {
  bridge_finish_at(L, -1, fn);
  return 1;
}

prism_tensor *bridge_to_tensor(lua_State *L, int idx) {
  note_running(L);
  prism_tensor **slot = (prism_tensor **)lua_touserdata(L, idx);
  if (!slot || lua_type(L, idx) != LUA_TUSERDATA) return NULL;
  if (!lua_getmetatable(L, idx)) return NULL;
  lua_getfield(L, LUA_REGISTRYINDEX, BRIDGE_TENSOR_MT);
  int same = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  return same ? *slot : NULL;
}

prism_tensor *bridge_check_tensor(lua_State *L, int idx, const char *fn, const char *what) {
  prism_tensor *t = bridge_to_tensor(L, idx);
  if (!t && !strcmp(what, "self")) bridge_errorf(L, "%s: expected a tensor, got %s", fn, luaL_typename(L, idx));
  if (!t) bridge_errorf(L, "%s: %s must be a tensor, got %s", fn, what, luaL_typename(L, idx));
  return t;
}

prism_tensor *bridge_opt_tensor(lua_State *L, int idx, const char *fn, const char *what) {
  if (lua_isnoneornil(L, idx)) return NULL;
  return bridge_check_tensor(L, idx, fn, what);
}

void bridge_tensor_init(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, BRIDGE_TENSOR_MT);
  int done = !lua_isnil(L, -1);
  lua_pop(L, 1);
  if (done) return;

  lua_newtable(L); /* the identity cache, weak in its values */
  lua_newtable(L);
  lua_pushliteral(L, "v");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_setfield(L, LUA_REGISTRYINDEX, BRIDGE_TENSOR_CACHE);

  luaL_newmetatable(L, BRIDGE_TENSOR_MT);
  lua_newtable(L); /* methods: only ever an upvalue of __index */
  luaL_register(L, NULL, bridge_methods_math);
  luaL_register(L, NULL, bridge_methods_shape);
  lua_pushcclosure(L, bridge_meta_index, 1);
  lua_setfield(L, -2, "__index");
  static const luaL_Reg meta[] = {
      {"__newindex", bridge_meta_newindex}, {"__tostring", bridge_meta_tostring},
      {"__len", bridge_meta_len},           {"__gc", bridge_meta_gc},
      {"__add", bridge_meta_add},           {"__sub", bridge_meta_sub},
      {"__mul", bridge_meta_mul},           {"__div", bridge_meta_div},
      {"__pow", bridge_meta_pow},           {"__unm", bridge_meta_unm},
      {NULL, NULL}};
  luaL_register(L, NULL, meta);
  lua_pushliteral(L, "locked");
  lua_setfield(L, -2, "__metatable");
  lua_pop(L, 1);
}
