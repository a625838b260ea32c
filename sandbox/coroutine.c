/* coroutine.c — coroutine.resume and coroutine.wrap with a nesting bound.
 *
 * Why: each nested resume is a C-level recursion in LuaJIT, and each coroutine brings a fresh
 * Lua stack, so LuaJIT's own "stack overflow" never fires for a chain of coroutines resuming
 * each other: the C stack (or, on a big one, the Lua heap, with LuaJIT then failing to raise
 * its own out-of-memory error) runs out first, and the process dies. So at most
 * SANDBOX_MAX_RESUME_DEPTH resumes may be nested — a fixed count, so the same submission fails
 * the same way on every machine — and, on the job thread's 1 GiB stack (cstack.h), none once
 * less than a quarter of it is left (a chain of coroutines each deep in C callbacks). */
#include <lauxlib.h>

#include "cstack.h"
#include "internal.h"

#define SANDBOX_MAX_RESUME_DEPTH 10000

static void check_depth(lua_State *L, sandbox_ctl *c) {
  if (c->resume_depth >= SANDBOX_MAX_RESUME_DEPTH)
    luaL_error(L, "C stack overflow: coroutines nested more than %d deep", SANDBOX_MAX_RESUME_DEPTH);
  size_t size = prism_cstack_size();
  if (size != (size_t)-1 && prism_cstack_remaining() < size / 4)
    luaL_error(L, "C stack overflow: coroutines nested too deeply (%d MiB of %d MiB of C stack left)",
               (int)(prism_cstack_remaining() >> 20), (int)(size >> 20));
}

/* Calls upvalue 1 with the arguments, counting the nesting; errors pass through unchanged. */
static int counted_call(lua_State *L) {
  sandbox_ctl *c = sandbox_ctl_of(L);
  check_depth(L, c);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  c->resume_depth++;
  int rc = lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0);
  c->resume_depth--;
  if (rc != 0) return lua_error(L);
  return lua_gettop(L);
}

/* wrap(f): upvalue 1 is LuaJIT's wrap; the function it makes is counted like resume. */
static int guarded_wrap(lua_State *L) {
  lua_settop(L, 1);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, 1, 1);
  lua_pushcclosure(L, counted_call, 1);
  return 1;
}

void sandbox_coroutine_install(lua_State *L, int env_idx) {
  env_idx = env_idx < 0 ? lua_gettop(L) + env_idx + 1 : env_idx;
  lua_getfield(L, env_idx, "coroutine"); /* the environment's own copy */
  lua_getfield(L, -1, "resume");
  lua_pushcclosure(L, counted_call, 1);
  lua_setfield(L, -2, "resume");
  lua_getfield(L, -1, "wrap");
  lua_pushcclosure(L, guarded_wrap, 1);
  lua_setfield(L, -2, "wrap");
  lua_pop(L, 1);
}
