/* state.c — building a restricted Lua state (SPEC §10 layer 1): the capped allocator, the two
 * global environments (submission and stdlib), the replaced library functions (print to
 * stderr, collectgarbage("count") only, math.random on the runtime's Philox stream), the
 * locked string metatable, the tensor-byte GC hook, and the trusted stdlib functions captured
 * before any submission code runs.
 *
 * Why two environments: the stdlib needs prism.core (raw kernels, manual_seed) and must see
 * pristine globals; the submission must see neither. Every chunk is loaded with an explicit
 * environment (lua_setfenv), and the thread's own globals are the submission environment, so
 * coroutines a submission creates inherit nothing more. The original library tables opened by
 * luaopen_* stay only in a registry slot nobody reads.
 *
 * Why JIT is off: luaopen_jit is never called (LuaJIT's JIT engine is switched on only by its
 * jit_init), which leaves every submission state in the interpreter, where the wall-clock count
 * hook (hook.c) sees every instruction: in compiled traces hooks never fire, so a JIT-compiled
 * `while true do end` could only be ended by the watchdog's SIGKILL, without a file:line, and a
 * compiled loop cannot be made to fail every pcall after the deadline. The cost is measured by
 * bench/jit_policy.c: the tiny-1m training step is C kernels and barely moves, pure-Lua loops are
 * several times slower than with the JIT (docs/security.md has the figures). jit_policy 1 and 2
 * exist only for that benchmark. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <lualib.h>

#include "bridge.h"
#include "internal.h"
#include "identity.h"
#include "ordered.h"
#include "rng.h"
#include "state.h"

/* ------------------------------------------------------------------ allocator */

static void *capped_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  sandbox_ctl *c = (sandbox_ctl *)ud;
  if (!ptr) osize = 0;
  if (nsize == 0) {
    free(ptr);
    c->used -= osize <= c->used ? osize : c->used;
    return NULL;
  }
  if (nsize > osize && c->limit && nsize - osize > c->limit - (c->used < c->limit ? c->used : c->limit)) {
    c->oom = true;
    return NULL;
  }
  void *p = realloc(ptr, nsize);
  if (!p) {
    c->oom = true;
    return NULL;
  }
  c->used = c->used - (osize <= c->used ? osize : c->used) + nsize;
  return p;
}

sandbox_ctl *sandbox_ctl_of(lua_State *L) {
  void *ud = NULL;
  lua_getallocf(L, &ud);
  return (sandbox_ctl *)ud;
}

bool prism_sandbox_lua_oom(lua_State *L) { return L && sandbox_ctl_of(L)->oom; }

/* ------------------------------------------------------------------ tensor-byte GC hook */

/* The same policy as the trusted loader's (lua/loader.c): when live tensor bytes would pass the
 * threshold, a full collection, then the threshold moves to twice the bytes still live (floored
 * at the soft limit, capped at the hard one), so a step's garbage is freed about once per step. */
static struct {
  lua_State *L;
  size_t soft, hard;
} gc;

static void gc_hook(void *userdata, size_t bytes_needed) {
  (void)bytes_needed;
  lua_State *L = bridge_running_thread();
  if (!L || lua_status(L) != 0) L = (lua_State *)userdata;
  lua_gc(L, LUA_GCCOLLECT, 0);
  size_t next = prism_mem_live_bytes() * 2;
  if (next < gc.soft) next = gc.soft;
  if (gc.hard && next > gc.hard) next = gc.hard;
  prism_mem_set_limits(next, gc.hard);
}

static size_t env_bytes(const char *name, size_t def) {
  const char *s = getenv(name);
  if (!s || !*s || s[0] == '-') return def;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  return (errno || *end) ? def : (size_t)v;
}

/* ------------------------------------------------------------------ replaced functions */

static unsigned log_window_start, log_in_window, log_dropped;

bool prism_sandbox_log_allow(void) {
  /* At most 20 lines per second: enough to follow a run, too few to flood a validator's log. */
  unsigned now = (unsigned)time(NULL);
  if (now != log_window_start) {
    log_window_start = now;
    log_in_window = 0;
    if (log_dropped) {
      fprintf(stderr, "prism: (%u submission log lines dropped by the rate limit)\n", log_dropped);
      log_dropped = 0;
    }
  }
  if (log_in_window >= 20) {
    log_dropped++;
    return false;
  }
  log_in_window++;
  return true;
}

/* print(...) goes to stderr: stdout belongs to the CLI (prism run --json). */
static int sb_print(lua_State *L) {
  int n = lua_gettop(L);
  if (!prism_sandbox_log_allow()) return 0;
  luaL_checkstack(L, 2 * n + 4, "print: too many arguments");
  for (int i = 1; i <= n; i++) {
    if (i > 1) lua_pushliteral(L, "\t");
    lua_getfield(L, LUA_REGISTRYINDEX, SB_TRUSTED);
    lua_getfield(L, -1, "tostring");
    lua_remove(L, -2);
    lua_pushvalue(L, i);
    lua_call(L, 1, 1);
    if (!lua_isstring(L, -1)) return luaL_error(L, "'tostring' must return a string to 'print'");
  }
  if (n == 0) lua_pushliteral(L, "");
  else lua_concat(L, 2 * n - 1);
  size_t len;
  const char *s = lua_tolstring(L, -1, &len);
  fprintf(stderr, "%.*s\n", (int)(len > 4000 ? 4000 : len), s);
  return 0;
}

static int sb_collectgarbage(lua_State *L) {
  const char *opt = lua_type(L, 1) == LUA_TSTRING ? lua_tostring(L, 1) : NULL;
  if (!opt || strcmp(opt, "count") != 0)
    return luaL_error(L, "collectgarbage: only collectgarbage(\"count\") is available to a submission "
                         "(the runtime manages collection)");
  lua_pushnumber(L, (lua_Number)lua_gc(L, LUA_GCCOUNT, 0) + (lua_Number)lua_gc(L, LUA_GCCOUNTB, 0) / 1024.0);
  return 1;
}

/* math.random with Lua 5.1's argument rules, drawn from the runtime's Lua stream (SPEC §4). */
static int sb_random(lua_State *L) {
  double r = prism_rng_next_double(PRISM_STREAM_LUA);
  switch (lua_gettop(L)) {
  case 0:
    lua_pushnumber(L, r);
    return 1;
  case 1: {
    double u = luaL_checknumber(L, 1);
    luaL_argcheck(L, 1.0 <= u, 1, "interval is empty");
    lua_pushnumber(L, floor(r * u) + 1.0);
    return 1;
  }
  case 2: {
    double l = luaL_checknumber(L, 1), u = luaL_checknumber(L, 2);
    luaL_argcheck(L, l <= u, 2, "interval is empty");
    lua_pushnumber(L, floor(r * (u - l + 1.0)) + l);
    return 1;
  }
  default:
    return luaL_error(L, "wrong number of arguments to 'random'");
  }
}

static int sb_clock(lua_State *L) {
  lua_pushnumber(L, (lua_Number)clock() / (lua_Number)CLOCKS_PER_SEC);
  return 1;
}

/* ------------------------------------------------------------------ environments */

static const char *const BASE_ALLOW[] = {
    "assert", "error", "ipairs", "pcall", "rawequal", "rawget", "rawset", "select",
    "setmetatable", "getmetatable", "tonumber", "tostring", "type", "unpack", "xpcall", "_VERSION", NULL};

/* Pushes a shallow copy of the table at idx without the keys in `skip`. */
static void push_copy(lua_State *L, int idx, const char *const *skip) {
  idx = idx < 0 ? lua_gettop(L) + idx + 1 : idx;
  lua_newtable(L);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    bool drop = false;
    if (skip && lua_type(L, -2) == LUA_TSTRING)
      for (const char *const *s = skip; *s; s++) drop = drop || !strcmp(*s, lua_tostring(L, -2));
    if (drop) {
      lua_pop(L, 1);
      continue;
    }
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, -4);
  }
}

/* Builds one environment from the opened libraries in `raw` (the original globals table at
 * raw_idx) and leaves it on the stack. */
static void push_env(lua_State *L, int raw_idx, bool trusted) {
  static const char *const string_skip[] = {"dump", NULL};
  static const char *const math_skip[] = {"random", "randomseed", NULL};
  lua_newtable(L);
  int env = lua_gettop(L);
  for (const char *const *n = BASE_ALLOW; *n; n++) {
    lua_getfield(L, raw_idx, *n);
    lua_setfield(L, env, *n);
  }
  lua_pushcfunction(L, sb_print);
  lua_setfield(L, env, "print");
  lua_pushcfunction(L, sb_collectgarbage);
  lua_setfield(L, env, "collectgarbage");
  lua_getfield(L, raw_idx, "string");
  push_copy(L, -1, string_skip);
  lua_setfield(L, env, "string");
  lua_pop(L, 1);
  lua_getfield(L, raw_idx, "math");
  push_copy(L, -1, math_skip);
  lua_pushcfunction(L, sb_random);
  lua_setfield(L, -2, "random");
  lua_setfield(L, env, "math");
  lua_pop(L, 1);
  const char *libs[] = {"table", "coroutine", "bit"};
  for (int i = 0; i < 3; i++) {
    lua_getfield(L, raw_idx, libs[i]);
    push_copy(L, -1, NULL);
    lua_setfield(L, env, libs[i]);
    lua_pop(L, 1);
  }
  sandbox_ordered_install(L, env); /* pairs, next, table.foreach in a fixed order (ordered.c) */
  sandbox_identity_install(L, env); /* tostring and string.format without addresses (identity.c) */
  sandbox_coroutine_install(L, env); /* resume/wrap refuse to exhaust the C stack (coroutine.c) */
  lua_newtable(L);
  lua_pushcfunction(L, sb_clock);
  lua_setfield(L, -2, "clock");
  lua_setfield(L, env, "os");
  lua_pushboolean(L, trusted);
  lua_pushcclosure(L, sandbox_require, 1);
  lua_setfield(L, env, "require");
  lua_pushvalue(L, env);
  lua_setfield(L, env, "_G");
}

/* The string metatable's __index is the VM-wide method table behind ("x"):upper(): it gets
 * its own copy (no dump) that no Lua code can reach, and the metatable is hidden. */
static void lock_string_metatable(lua_State *L, int raw_idx) {
  static const char *const skip[] = {"dump", NULL};
  lua_pushliteral(L, "");
  if (!lua_getmetatable(L, -1)) {
    lua_pop(L, 1);
    return;
  }
  lua_getfield(L, raw_idx, "string");
  push_copy(L, -1, skip);
  sandbox_identity_patch_string(L, -1);
  lua_setfield(L, -3, "__index");
  lua_pop(L, 1);
  lua_pushliteral(L, "locked");
  lua_setfield(L, -2, "__metatable");
  lua_pop(L, 2);
}

/* Loads the stdlib and records the functions the runtime trusts, before any submission code. */
static void capture_trusted(lua_State *L) {
  lua_newtable(L);
  int t = lua_gettop(L);
  sandbox_identity_push_tostring(L); /* print shows no addresses either */
  lua_setfield(L, t, "tostring");
  const char *mods[] = {"prism", "prism.nn", "prism.nn.functional", "prism.optim"};
  for (int i = 0; i < 4; i++) {
    sandbox_require_trusted(L, mods[i]);
    lua_pop(L, 1);
  }
  sandbox_require_trusted(L, "prism.nn.module");
  int m = lua_gettop(L);
  lua_getfield(L, m, "is_module");
  lua_setfield(L, t, "is_module");
  lua_getfield(L, m, "describe");
  lua_setfield(L, t, "describe");
  lua_getfield(L, m, "Module");
  const char *methods[] = {"parameters", "named_parameters", "train"};
  for (int i = 0; i < 3; i++) {
    lua_getfield(L, -1, methods[i]);
    if (!lua_isfunction(L, -1)) luaL_error(L, "prism.nn.Module lacks %s (a runtime build problem)", methods[i]);
    lua_setfield(L, t, methods[i]);
  }
  lua_pop(L, 2);
  lua_setfield(L, LUA_REGISTRYINDEX, SB_TRUSTED);
}

/* jit_policy 2 (benchmarks only): luaopen_jit switches the JIT engine on; the module it
 * registers (the raw globals' `jit` and the registry's _LOADED entries) is dropped at once, so
 * no code can reach jit.* (the sandbox's require never reads _LOADED). */
static void open_jit_unreachable(lua_State *L) {
  lua_pushcfunction(L, luaopen_jit);
  lua_call(L, 0, 0);
  lua_pushnil(L);
  lua_setfield(L, LUA_GLOBALSINDEX, "jit");
  lua_getfield(L, LUA_REGISTRYINDEX, "_LOADED");
  if (lua_istable(L, -1)) {
    const char *names[] = {"jit", "jit.opt", "jit.util", "jit.profile"};
    for (int i = 0; i < 4; i++) {
      lua_pushnil(L);
      lua_setfield(L, -2, names[i]);
    }
  }
  lua_pop(L, 1);
}

static int setup(lua_State *L) {
  static const lua_CFunction openers[] = {luaopen_base, luaopen_table, luaopen_string, luaopen_math, luaopen_bit};
  for (size_t i = 0; i < sizeof openers / sizeof *openers; i++) {
    lua_pushcfunction(L, openers[i]);
    lua_call(L, 0, 0);
  }
  if (sandbox_ctl_of(L)->jit_policy == PRISM_JIT_POLICY_JIT) open_jit_unreachable(L);
  lua_settop(L, 0);
  lua_pushvalue(L, LUA_GLOBALSINDEX); /* the original globals: read here, then never again */
  int raw = lua_gettop(L);
  bridge_tensor_init(L);
  sandbox_identity_init(L, raw);
  lock_string_metatable(L, raw);
  push_env(L, raw, true);
  lua_setfield(L, LUA_REGISTRYINDEX, SB_ENV_STDLIB);
  push_env(L, raw, false);
  lua_pushvalue(L, -1);
  lua_setfield(L, LUA_REGISTRYINDEX, SB_ENV_SUBMISSION);
  lua_replace(L, LUA_GLOBALSINDEX);
  sandbox_require_init(L);
  capture_trusted(L);
  lua_settop(L, 0);
  return 0;
}

lua_State *prism_sandbox_new(const prism_bundle *b, const prism_sandbox_opts *opts, prism_failure *err) {
  sandbox_ctl *c = (sandbox_ctl *)calloc(1, sizeof *c);
  if (!c) {
    prism_failure_set(err, "prism:internal", NULL, 0, "cannot create a Lua state (out of memory)");
    return NULL;
  }
  c->limit = opts && opts->lua_mem_limit ? opts->lua_mem_limit : PRISM_SANDBOX_LUA_MEM_DEFAULT;
  c->seed = opts ? opts->seed : 1337;
  c->bundle = b;
  c->jit_policy = opts ? opts->jit_policy : PRISM_JIT_POLICY_HOOK;
  lua_State *L = lua_newstate(capped_alloc, c);
  if (!L) {
    free(c);
    prism_failure_set(err, "prism:internal", NULL, 0, "cannot create a Lua state (out of memory)");
    return NULL;
  }
  if (lua_cpcall(L, setup, NULL) != 0) {
    prism_failure_set(err, "prism:internal", NULL, 0, "cannot set up the restricted Lua state: %s",
                      lua_tostring(L, -1) ? lua_tostring(L, -1) : "(no message)");
    bridge_forget_running();
    lua_close(L);
    free(c);
    return NULL;
  }
  /* After setup: the stdlib's own loading is not the submission's time. */
  if (c->jit_policy == PRISM_JIT_POLICY_HOOK) sandbox_hook_install(L, opts ? opts->hook_count : 0);
  gc.L = L;
  gc.soft = env_bytes("PRISM_TENSOR_SOFT_LIMIT", (size_t)64 << 20);
  gc.hard = env_bytes("PRISM_TENSOR_HARD_LIMIT", 0);
  prism_mem_set_limits(gc.soft, gc.hard);
  prism_mem_set_gc_hook(gc_hook, L);
  return L;
}

void prism_sandbox_close(lua_State *L) {
  if (!L) return;
  sandbox_ctl *c = sandbox_ctl_of(L);
  if (gc.L == L) {
    prism_mem_set_gc_hook(NULL, NULL);
    gc.L = NULL;
  }
  bridge_forget_running();
  lua_close(L);
  free(c);
}

/* ------------------------------------------------------------------ trusted helpers */

void prism_sandbox_push_trusted(lua_State *L, const char *name) {
  lua_getfield(L, LUA_REGISTRYINDEX, SB_TRUSTED);
  lua_getfield(L, -1, name);
  lua_remove(L, -2);
}

int64_t prism_sandbox_count_params(lua_State *L, int idx) {
  idx = idx < 0 ? lua_gettop(L) + idx + 1 : idx;
  prism_sandbox_push_trusted(L, "parameters");
  lua_pushvalue(L, idx);
  if (lua_pcall(L, 1, 1, 0) != 0) return -1;
  int64_t n = 0;
  size_t len = lua_objlen(L, -1);
  for (size_t i = 1; i <= len; i++) {
    lua_rawgeti(L, -1, (int)i);
    prism_tensor *t = bridge_to_tensor(L, -1);
    if (t) n += prism_tensor_numel(t);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return n;
}

const char *prism_sandbox_describe(lua_State *L, int idx, char *buf, size_t cap) {
  idx = idx < 0 ? lua_gettop(L) + idx + 1 : idx;
  int top = lua_gettop(L);
  prism_sandbox_push_trusted(L, "describe");
  lua_pushvalue(L, idx);
  if (lua_pcall(L, 1, 1, 0) == 0 && lua_type(L, -1) == LUA_TSTRING) snprintf(buf, cap, "%s", lua_tostring(L, -1));
  else snprintf(buf, cap, "%s", luaL_typename(L, idx));
  lua_settop(L, top);
  return buf;
}

const char *prism_format_count(int64_t n, char *buf, size_t cap) {
  char digits[32];
  snprintf(digits, sizeof digits, "%lld", (long long)(n < 0 ? -n : n));
  size_t len = strlen(digits), o = 0;
  char out[48];
  if (n < 0) out[o++] = '-';
  for (size_t i = 0; i < len; i++) {
    if (i > 0 && (len - i) % 3 == 0) out[o++] = ',';
    out[o++] = digits[i];
  }
  out[o] = '\0';
  snprintf(buf, cap, "%s", out);
  return buf;
}
