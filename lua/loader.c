/* loader.c — building a Lua state for trusted code: standard libraries, the `require` path to
 * the embedded modules and to prism.core, the traceback message handler, and the wiring of the
 * tensor-byte accounting (runtime/tensor.h) to the Lua collector.
 *
 * Why the GC hook exists: a tensor userdata weighs a few bytes to the Lua collector but may own
 * megabytes of C memory, so the collector alone would let dead tensors pile up. When live tensor
 * bytes would pass the current threshold, tensor.c calls the hook before allocating; the hook
 * runs a full collection and moves the threshold to twice the bytes still live (Lua's own pause
 * rule, floored at the soft limit), so a training step's garbage is freed about once per step
 * while a program whose live set really is large does not pay a collection per allocation. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lualib.h>

#include "bridge.h"
#include "embedded.h"
#include "loader.h"

#define DEFAULT_SOFT_LIMIT ((size_t)64 << 20)

static struct {
  lua_State *L;
  size_t soft, hard;
} gc;

static void gc_hook(void *userdata, size_t bytes_needed) {
  /* The collector must run on the running thread (a coroutine, possibly): LuaJIT runs the
   * finalizers on the thread it is given. A remembered thread that has since yielded is not
   * running; then the main thread is the best remaining choice. */
  lua_State *L = bridge_running_thread();
  if (!L || lua_status(L) != 0) L = (lua_State *)userdata;
  lua_gc(L, LUA_GCCOLLECT, 0);
  size_t next = prism_mem_live_bytes() * 2;
  if (next < gc.soft) next = gc.soft;
  if (gc.hard && next > gc.hard) next = gc.hard; /* near the cap, collect before every allocation */
  prism_mem_set_limits(next, gc.hard);
  (void)bytes_needed;
}

/* Byte count from the environment; 0 when unset. -1 when set but not a plain number. */
static int env_bytes(const char *name, size_t *out) {
  const char *s = getenv(name);
  if (!s || !*s) return 0;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end || s[0] == '-') return -1;
  *out = (size_t)v;
  return 1;
}

static int embedded_searcher(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  for (const prism_embedded_lua *e = prism_embedded_lua_files; e->module; e++) {
    if (strcmp(e->module, name) != 0) continue;
    if (luaL_loadbuffer(L, e->source, e->length, e->chunkname) != 0) return lua_error(L);
    return 1;
  }
  lua_pushfstring(L, "\n\tno embedded module '%s'", name);
  return 1;
}

void prism_lua_install_require(lua_State *L) {
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "preload");
  lua_pushcfunction(L, luaopen_prism_core);
  lua_setfield(L, -2, "prism.core");
  lua_pop(L, 1);
  /* package.loaders = {preload, embedded, <the file searchers>...}: embedded modules win over
   * files on package.path, so a stray prism/nn.lua on disk cannot shadow the stdlib. */
  lua_getfield(L, -1, "loaders");
  int n = (int)lua_objlen(L, -1);
  for (int i = n; i >= 2; i--) {
    lua_rawgeti(L, -1, i);
    lua_rawseti(L, -2, i + 1);
  }
  lua_pushcfunction(L, embedded_searcher);
  lua_rawseti(L, -2, 2);
  lua_pop(L, 2);
}

static int msg_handler(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (!msg) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) msg = lua_tostring(L, -1);
    else msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

int prism_lua_pcall_traceback(lua_State *L, int nargs, int nresults) {
  int base = lua_gettop(L) - nargs;
  lua_pushcfunction(L, msg_handler);
  lua_insert(L, base);
  int rc = lua_pcall(L, nargs, nresults, base);
  lua_remove(L, base);
  return rc;
}

static int open_libs(lua_State *L) {
  luaL_openlibs(L);
  bridge_tensor_init(L);
  prism_lua_install_require(L);
  return 0;
}

lua_State *prism_lua_open_trusted(char *err, size_t errlen, int *usage_error) {
  size_t soft = DEFAULT_SOFT_LIMIT, hard = 0;
  *usage_error = 0;
  if (env_bytes("PRISM_TENSOR_SOFT_LIMIT", &soft) < 0 || env_bytes("PRISM_TENSOR_HARD_LIMIT", &hard) < 0) {
    snprintf(err, errlen, "PRISM_TENSOR_SOFT_LIMIT and PRISM_TENSOR_HARD_LIMIT must be byte counts (digits only)");
    *usage_error = 1;
    return NULL;
  }
  lua_State *L = luaL_newstate();
  if (!L) {
    snprintf(err, errlen, "cannot create a Lua state (out of memory)");
    return NULL;
  }
  if (lua_cpcall(L, open_libs, NULL) != 0) {
    snprintf(err, errlen, "cannot set up the Lua state: %s", lua_tostring(L, -1));
    lua_close(L);
    return NULL;
  }
  gc.L = L;
  gc.soft = soft;
  gc.hard = hard;
  prism_mem_set_limits(soft, hard);
  prism_mem_set_gc_hook(gc_hook, L);
  return L;
}

void prism_lua_close(lua_State *L) {
  if (!L) return;
  if (gc.L == L) {
    /* Finalizers run inside lua_close; they only release, but no hook may see a dying state. */
    prism_mem_set_gc_hook(NULL, NULL);
    gc.L = NULL;
  }
  bridge_forget_running();
  lua_close(L);
}
