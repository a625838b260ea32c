/* identity.c — see identity.h. */
#include <ctype.h>
#include <string.h>

#include <lauxlib.h>

#include "identity.h"

#define IDS_KEY "prism.sandbox.ids"       /* weak-keyed: object → its number */
#define IDS_NEXT_KEY "prism.sandbox.ids.n" /* the last number handed out */
#define TOSTRING_KEY "prism.sandbox.tostring"

static int is_reference(int type) {
  return type == LUA_TTABLE || type == LUA_TFUNCTION || type == LUA_TTHREAD || type == LUA_TUSERDATA ||
         type == LUA_TLIGHTUSERDATA;
}

/* Pushes "<type>: #<n>" for the reference value at idx (absolute). */
static void push_identity(lua_State *L, int idx) {
  lua_getfield(L, LUA_REGISTRYINDEX, IDS_KEY);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, IDS_KEY);
  }
  lua_pushvalue(L, idx);
  lua_rawget(L, -2);
  lua_Number n = lua_tonumber(L, -1);
  lua_pop(L, 1);
  if (n == 0) {
    lua_getfield(L, LUA_REGISTRYINDEX, IDS_NEXT_KEY);
    n = lua_tonumber(L, -1) + 1;
    lua_pop(L, 1);
    lua_pushnumber(L, n);
    lua_setfield(L, LUA_REGISTRYINDEX, IDS_NEXT_KEY);
    lua_pushvalue(L, idx);
    lua_pushnumber(L, n);
    lua_rawset(L, -3);
  }
  lua_pop(L, 1);
  lua_pushfstring(L, "%s: #%d", luaL_typename(L, idx), (int)n);
}

/* tostring: a value with __tostring, or a number/string/boolean/nil, as LuaJIT prints it (the
 * original tostring is upvalue 1); any other reference value by its number, never its address. */
static int id_tostring(lua_State *L) {
  luaL_checkany(L, 1);
  lua_settop(L, 1);
  if (is_reference(lua_type(L, 1))) {
    if (!luaL_getmetafield(L, 1, "__tostring")) {
      push_identity(L, 1);
      return 1;
    }
    lua_pop(L, 1);
  }
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, 1, 1);
  return 1;
}

/* string.format without %p, and with reference arguments turned into strings by id_tostring
 * first (LuaJIT's %s would print their address). The original format is upvalue 1, the
 * restricted tostring upvalue 2. */
static int id_format(lua_State *L) {
  int n = lua_gettop(L);
  size_t len;
  const char *s = lua_type(L, 1) == LUA_TSTRING ? lua_tolstring(L, 1, &len) : NULL;
  for (size_t i = 0; s && i < len; i++) {
    if (s[i] != '%') continue;
    if (++i < len && s[i] == '%') continue;
    while (i < len && strchr("-+ #0", s[i])) i++;
    while (i < len && (isdigit((unsigned char)s[i]) || s[i] == '.')) i++;
    if (i < len && s[i] == 'p')
      return luaL_error(L, "bad argument #1 to 'format' (%%p, an address, is not available in the sandbox)");
  }
  for (int i = 2; i <= n; i++) {
    if (!is_reference(lua_type(L, i))) continue;
    lua_pushvalue(L, lua_upvalueindex(2));
    lua_pushvalue(L, i);
    lua_call(L, 1, 1);
    lua_replace(L, i);
  }
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, n, 1);
  return 1;
}

void sandbox_identity_init(lua_State *L, int raw_idx) {
  lua_getfield(L, raw_idx, "tostring");
  lua_pushcclosure(L, id_tostring, 1);
  lua_setfield(L, LUA_REGISTRYINDEX, TOSTRING_KEY);
}

void sandbox_identity_push_tostring(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, TOSTRING_KEY);
  if (lua_isnil(L, -1)) luaL_error(L, "sandbox_identity_init was not called (a runtime build problem)");
}

void sandbox_identity_install(lua_State *L, int env_idx) {
  env_idx = env_idx < 0 ? lua_gettop(L) + env_idx + 1 : env_idx;
  sandbox_identity_push_tostring(L);
  lua_setfield(L, env_idx, "tostring");
  lua_getfield(L, env_idx, "string");
  sandbox_identity_patch_string(L, -1);
  lua_pop(L, 1);
}

void sandbox_identity_patch_string(lua_State *L, int idx) {
  idx = idx < 0 ? lua_gettop(L) + idx + 1 : idx;
  lua_getfield(L, idx, "format");
  sandbox_identity_push_tostring(L);
  lua_pushcclosure(L, id_format, 2);
  lua_setfield(L, idx, "format");
}

char *sandbox_identity_scrub(char *s) {
  for (char *p = s ? strstr(s, "at 0x") : NULL; p; p = strstr(p, "at 0x")) {
    size_t hex = strspn(p + 5, "0123456789abcdefABCDEF");
    if (hex == 0) {
      p += 5;
      continue;
    }
    /* "[C]: at 0x55d0c1a2b3c0" becomes Lua 5.1's "[C]: ?" (shorter, so it is done in place). */
    *p = '?';
    memmove(p + 1, p + 5 + hex, strlen(p + 5 + hex) + 1);
    p++;
  }
  return s;
}
