/* require.c — what `require` can reach from a restricted state (SPEC §3), and loading the
 * bundle's files: the stdlib from the binary's embedded sources (lua/embedded.h) with the stdlib
 * environment, the bundle's .lua files from the bundle's in-memory bytes (never the disk) with
 * the submission environment, one module cache per state shared by both (a stdlib module is
 * one instance whoever requires it), prism.core only for the stdlib, cycles reported by name.
 * Also the entrypoint loader, the forced-init wrapper around build_model, and turning a Lua
 * error into a prism_failure that points at the submission's file and line. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <lauxlib.h>

#include "bridge.h"
#include "embedded.h"
#include "identity.h"
#include "internal.h"
#include "loader.h"
#include "rng.h"
#include "state.h"

static char LOADING; /* address = the "being loaded" mark in the cache */

void sandbox_require_init(lua_State *L) {
  lua_newtable(L);
  lua_pushcfunction(L, luaopen_prism_core);
  lua_call(L, 0, 1);
  lua_setfield(L, -2, "prism.core");
  lua_setfield(L, LUA_REGISTRYINDEX, SB_LOADED);
  lua_newtable(L);
  lua_setfield(L, LUA_REGISTRYINDEX, SB_LOADING);
}

static const prism_embedded_lua *find_stdlib(const char *name) {
  for (const prism_embedded_lua *e = prism_embedded_lua_files; e->module; e++)
    if (!strcmp(e->module, name) && !strncmp(e->chunkname, "@stdlib/", 8)) return e;
  return NULL;
}

/* "a.b" names a bundle module when every dot-separated part is [A-Za-z0-9_-]+. */
static bool valid_module_name(const char *name) {
  size_t part = 0;
  for (const char *p = name; *p; p++) {
    if (*p == '.') {
      if (part == 0) return false;
      part = 0;
    } else if (isalnum((unsigned char)*p) || *p == '_' || *p == '-') {
      part++;
    } else {
      return false;
    }
  }
  return part > 0 && strlen(name) < 200;
}

static const prism_bundle_file *find_bundle_module(lua_State *L, const char *name, char *path, size_t cap) {
  const prism_bundle *b = sandbox_ctl_of(L)->bundle;
  if (!b) return NULL;
  char base[256];
  snprintf(base, sizeof base, "%s", name);
  for (char *p = base; *p; p++)
    if (*p == '.') *p = '/';
  snprintf(path, cap, "%s.lua", base);
  const prism_bundle_file *f = prism_bundle_find(b, path);
  if (f) return f;
  snprintf(path, cap, "%s/init.lua", base);
  return prism_bundle_find(b, path);
}

/* Compiles text only; leaves the function (or the error message) on the stack. */
static int compile_text(lua_State *L, const char *data, size_t size, const char *path) {
  char chunkname[300];
  if (size > 0 && data[0] == '\033') {
    lua_pushfstring(L, "%s:1: precompiled (binary) Lua chunks are not accepted; submit Lua source", path);
    return -1;
  }
  snprintf(chunkname, sizeof chunkname, "@%s", path);
  return luaL_loadbufferx(L, data, size, chunkname, "t") == 0 ? 0 : -1;
}

static void set_env(lua_State *L, const char *env_key) {
  lua_getfield(L, LUA_REGISTRYINDEX, env_key);
  lua_setfenv(L, -2);
}

/* Error for a require cycle: "a -> b -> a". */
static int cycle_error(lua_State *L, const char *name) {
  lua_getfield(L, LUA_REGISTRYINDEX, SB_LOADING);
  int list = lua_gettop(L);
  size_t n = lua_objlen(L, list);
  int pieces = 0;
  bool on = false;
  luaL_checkstack(L, (int)(2 * n + 4), "require");
  for (size_t i = 1; i <= n; i++) {
    lua_rawgeti(L, list, (int)i);
    const char *m = lua_tostring(L, -1);
    on = on || (m && !strcmp(m, name));
    if (!on || !m) {
      lua_pop(L, 1);
      continue;
    }
    lua_pushliteral(L, " -> ");
    pieces += 2;
  }
  lua_pushstring(L, name);
  lua_concat(L, pieces + 1);
  return luaL_error(L, "require: cyclic require of module '%s' (%s): a module cannot require itself, directly or "
                       "through the modules it requires",
                    name, lua_tostring(L, -1));
}

/* Runs the chunk on top of the stack as module `name` and caches its value; pushes it. */
static void run_module(lua_State *L, const char *name) {
  int fn = lua_gettop(L);
  lua_getfield(L, LUA_REGISTRYINDEX, SB_LOADED);
  int loaded = lua_gettop(L);
  lua_getfield(L, LUA_REGISTRYINDEX, SB_LOADING);
  int loading = lua_gettop(L);
  int depth = (int)lua_objlen(L, loading) + 1;
  lua_pushstring(L, name);
  lua_rawseti(L, loading, depth);
  lua_pushlightuserdata(L, &LOADING);
  lua_setfield(L, loaded, name);
  lua_pushvalue(L, fn);
  lua_pushstring(L, name);
  int rc = lua_pcall(L, 1, 1, 0);
  lua_pushnil(L);
  lua_rawseti(L, loading, depth);
  if (rc != 0) {
    lua_pushnil(L);
    lua_setfield(L, loaded, name);
    lua_error(L); /* the module's own error value, unchanged */
  }
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_pushboolean(L, 1);
  }
  lua_pushvalue(L, -1);
  lua_setfield(L, loaded, name);
  lua_replace(L, fn);
  lua_settop(L, fn);
}

int sandbox_require(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  bool trusted = lua_toboolean(L, lua_upvalueindex(1));
  lua_settop(L, 1);
  if (!trusted && !strcmp(name, "prism.core"))
    return luaL_error(L, "require: module 'prism.core' is internal to the runtime and not available to a submission "
                         "(use require(\"prism\"), require(\"prism.nn\"), ...)");
  lua_getfield(L, LUA_REGISTRYINDEX, SB_LOADED);
  lua_getfield(L, -1, name);
  if (lua_touserdata(L, -1) == &LOADING) return cycle_error(L, name);
  if (!lua_isnil(L, -1)) return 1;
  lua_settop(L, 1);
  const prism_embedded_lua *e = find_stdlib(name);
  if (e) {
    if (compile_text(L, e->source, e->length, e->chunkname + 1) != 0) return lua_error(L);
    set_env(L, SB_ENV_STDLIB);
    run_module(L, name);
    return 1;
  }
  char path[300];
  const prism_bundle_file *f = !trusted && valid_module_name(name) ? find_bundle_module(L, name, path, sizeof path) : NULL;
  if (!f)
    return luaL_error(L, "require: module '%s' not found (a submission can require the prism standard library — "
                         "prism, prism.nn, prism.nn.functional, prism.optim — and the bundle's own .lua files: "
                         "'a.b' is a/b.lua)",
                      name);
  if (compile_text(L, (const char *)f->data, f->size, f->path) != 0) {
    sandbox_ctl *c = sandbox_ctl_of(L);
    snprintf(c->syntax_msg, sizeof c->syntax_msg, "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "");
    return lua_error(L);
  }
  set_env(L, SB_ENV_SUBMISSION);
  run_module(L, name);
  return 1;
}

void sandbox_require_trusted(lua_State *L, const char *name) {
  lua_getfield(L, LUA_REGISTRYINDEX, SB_ENV_STDLIB);
  lua_getfield(L, -1, "require");
  lua_remove(L, -2);
  lua_pushstring(L, name);
  lua_call(L, 1, 1);
}

/* ------------------------------------------------------------------ entrypoints */

/* "model/arch.lua" -> "model.arch" (suffix case-insensitive); false when not a .lua path. */
static bool module_name_of(const char *path, char *out, size_t cap) {
  size_t n = strlen(path);
  if (n < 5 || n - 4 >= cap || strcasecmp(path + n - 4, ".lua") != 0) return false;
  memcpy(out, path, n - 4);
  out[n - 4] = '\0';
  for (char *p = out; *p; p++)
    if (*p == '/') *p = '.';
  return true;
}

int prism_sandbox_compile(lua_State *L, const char *path, prism_failure *err) {
  const prism_bundle *b = sandbox_ctl_of(L)->bundle;
  const prism_bundle_file *f = b ? prism_bundle_find(b, path) : NULL;
  if (!f) return prism_failure_set(err, "prism:contract", path, 0, "entrypoint %s is not in the bundle", path);
  if (compile_text(L, (const char *)f->data, f->size, f->path) != 0) {
    prism_failure_from_lua(err, "prism:syntax", lua_tostring(L, -1));
    if (!err->file[0]) snprintf(err->file, sizeof err->file, "%s", path);
    lua_pop(L, 1);
    return -1;
  }
  set_env(L, SB_ENV_SUBMISSION);
  return 0;
}

int prism_sandbox_load_entry(lua_State *L, const char *path, const char *run_rule, const char *resource_rule,
                             prism_failure *err) {
  char name[256];
  if (prism_sandbox_compile(L, path, err) != 0) return -1;
  int fn = lua_gettop(L);
  bool named = module_name_of(path, name, sizeof name);
  lua_getfield(L, LUA_REGISTRYINDEX, SB_LOADED);
  int loaded = lua_gettop(L);
  if (named) {
    lua_getfield(L, loaded, name);
    if (!lua_isnil(L, -1) && lua_touserdata(L, -1) != &LOADING) { /* already required by the other entrypoint */
      lua_replace(L, fn);
      lua_settop(L, fn);
      return 0;
    }
    lua_pop(L, 1);
    lua_pushlightuserdata(L, &LOADING);
    lua_setfield(L, loaded, name);
  }
  lua_pushvalue(L, fn);
  lua_pushstring(L, named ? name : path);
  if (prism_lua_pcall_traceback(L, 1, 1) != 0) {
    prism_sandbox_failure(L, lua_tostring(L, -1), run_rule, resource_rule, err);
    if (named) {
      lua_pushnil(L);
      lua_setfield(L, loaded, name);
    }
    lua_settop(L, fn - 1);
    return -1;
  }
  if (lua_isnil(L, -1)) { /* a chunk that defines globals: a table stands for it in the cache */
    lua_pop(L, 1);
    lua_newtable(L);
  }
  if (named) {
    lua_pushvalue(L, -1);
    lua_setfield(L, loaded, name);
  }
  lua_replace(L, fn);
  lua_settop(L, fn);
  return 0;
}

int prism_sandbox_resolve(lua_State *L, int mod_idx, const char *path, const char *symbol, const char *role,
                          prism_failure *err) {
  mod_idx = mod_idx < 0 ? lua_gettop(L) + mod_idx + 1 : mod_idx;
  if (lua_istable(L, mod_idx)) {
    lua_pushstring(L, symbol);
    lua_rawget(L, mod_idx);
    if (lua_isfunction(L, -1)) return 0;
    lua_pop(L, 1);
  }
  lua_getfield(L, LUA_REGISTRYINDEX, SB_ENV_SUBMISSION);
  lua_pushstring(L, symbol);
  lua_rawget(L, -2);
  lua_remove(L, -2);
  if (lua_isfunction(L, -1)) return 0;
  lua_pop(L, 1);
  return prism_failure_set(err, "prism:contract", path, 0,
                           "%s entrypoint %s is missing %s (return a table holding the function %s, or define it as a "
                           "global function)",
                           role, path, symbol, symbol);
}

static int factory_wrapper(lua_State *L) {
  prism_rng_seed(sandbox_ctl_of(L)->seed);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

void prism_sandbox_wrap_factory(lua_State *L, int mod_idx, const char *symbol) {
  mod_idx = mod_idx < 0 ? lua_gettop(L) + mod_idx + 1 : mod_idx;
  prism_failure ignored;
  if (prism_sandbox_resolve(L, mod_idx, "", symbol, "", &ignored) != 0) return;
  int orig = lua_gettop(L);
  lua_pushvalue(L, orig);
  lua_setfield(L, LUA_REGISTRYINDEX, SB_FACTORY);
  lua_pushvalue(L, orig);
  lua_pushcclosure(L, factory_wrapper, 1);
  int wrap = lua_gettop(L);
  if (lua_istable(L, mod_idx)) {
    lua_pushstring(L, symbol);
    lua_pushvalue(L, wrap);
    lua_rawset(L, mod_idx);
  }
  lua_getfield(L, LUA_REGISTRYINDEX, SB_ENV_SUBMISSION);
  lua_pushstring(L, symbol);
  lua_rawget(L, -2);
  if (lua_rawequal(L, -1, orig)) {
    lua_pushstring(L, symbol);
    lua_pushvalue(L, wrap);
    lua_rawset(L, -4);
  }
  lua_settop(L, orig - 1);
}

void prism_sandbox_push_factory(lua_State *L) { lua_getfield(L, LUA_REGISTRYINDEX, SB_FACTORY); }

/* ------------------------------------------------------------------ errors -> failures */

/* Finds "<file>:<line>:" naming a bundle file at s (the start of the message or of a traceback
 * line). */
static bool bundle_location(const prism_bundle *b, const char *s, char *file, size_t cap, int *line) {
  const char *colon = strchr(s, ':');
  if (!b || !colon || (size_t)(colon - s) >= cap || colon == s) return false;
  int l = 0;
  const char *p = colon + 1;
  if (!isdigit((unsigned char)*p)) return false;
  while (isdigit((unsigned char)*p) && l < 10000000) l = l * 10 + (*p++ - '0');
  if (*p != ':') return false;
  char name[256];
  memcpy(name, s, (size_t)(colon - s));
  name[colon - s] = '\0';
  if (!prism_bundle_find(b, name)) return false;
  snprintf(file, cap, "%s", name);
  *line = l;
  return true;
}

void prism_sandbox_failure(lua_State *L, const char *msg, const char *rule, const char *resource_rule,
                           prism_failure *f) {
  sandbox_ctl *c = sandbox_ctl_of(L);
  if (!msg) msg = "(error object is not a string)";
  const char *r = rule;
  if (c->oom || strstr(msg, "prism:resource-oom") || strstr(msg, "not enough memory")) r = resource_rule;
  else if (c->syntax_msg[0] && !strncmp(msg, c->syntax_msg, strlen(c->syntax_msg))) r = "prism:syntax";
  else if (strstr(msg, "prism:tokenizer-missing: ")) r = "prism:tokenizer-missing";
  else if (c->deadline_hit && strstr(msg, "prism:budget-exceeded: ")) r = "prism:budget-exceeded"; /* hook.c */
  prism_failure_set(f, r, NULL, 0, "%s", msg);
  sandbox_identity_scrub(f->message); /* a manifest never carries an address */
  /* "not enough memory" alone does not say which cap: name the Lua-heap cap and its knob (the
   * tensor-byte cap's own message already names PRISM_TENSOR_HARD_LIMIT). */
  if (r == resource_rule && c->oom) {
    size_t n = strlen(f->message);
    snprintf(f->message + n, sizeof f->message - n,
             " (the Lua heap cap of %zu bytes was hit, %zu in use; PRISM_LUA_MEM_LIMIT sets it)", c->limit, c->used);
  }
  char file[256];
  int line = 0;
  if (bundle_location(c->bundle, msg, file, sizeof file, &line)) {
    snprintf(f->file, sizeof f->file, "%s", file);
    f->line = line;
    return;
  }
  /* The error was raised inside the stdlib or the runtime: the first frame of the traceback in
   * a bundle file is where the submission made the call. */
  for (const char *p = strstr(msg, "\n\t"); p; p = strstr(p + 2, "\n\t")) {
    if (bundle_location(c->bundle, p + 2, file, sizeof file, &line)) {
      snprintf(f->file, sizeof f->file, "%s", file);
      f->line = line;
      return;
    }
  }
}
