/* static_gate.c — drives tools.static_gate (lua/tools/static_gate.lua) over a bundle's
 * in-memory .lua files in a fresh plain lua_State of the trusted parent. The state compiles
 * the submission's sources (text mode) but never calls them; it is closed before returning. */
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "embedded.h"
#include "static_gate.h"

static const prism_embedded_lua *find_embedded(const char *module) {
  for (const prism_embedded_lua *e = prism_embedded_lua_files; e->module; e++)
    if (!strcmp(e->module, module)) return e;
  return NULL;
}

typedef struct {
  const prism_bundle *b;
  prism_failure *hits;
  int n;
} gate_job;

static const char *field_str(lua_State *L, int t, const char *k) {
  lua_getfield(L, t, k);
  const char *s = lua_tostring(L, -1);
  lua_pop(L, 1);
  return s ? s : "";
}

static int gate_main(lua_State *L) {
  gate_job *job = (gate_job *)lua_touserdata(L, 1);
  luaL_openlibs(L);
  const prism_embedded_lua *tool = find_embedded("tools.static_gate");
  if (!tool) return luaL_error(L, "this build does not include tools.static_gate (lua/tools/static_gate.lua)");
  if (luaL_loadbuffer(L, tool->source, tool->length, tool->chunkname) != 0) return lua_error(L);
  lua_call(L, 0, 1);
  lua_getfield(L, -1, "scan");
  lua_newtable(L); /* files */
  int i = 0;
  for (int k = 0; k < job->b->n_files; k++) {
    const prism_bundle_file *f = &job->b->files[k];
    size_t len = strlen(f->path);
    if (len < 4 || strcmp(f->path + len - 4, ".lua")) continue;
    lua_createtable(L, 0, 2);
    lua_pushstring(L, f->path);
    lua_setfield(L, -2, "path");
    lua_pushlstring(L, (const char *)f->data, f->size);
    lua_setfield(L, -2, "source");
    lua_rawseti(L, -2, ++i);
  }
  lua_newtable(L); /* stdlib module names */
  for (const prism_embedded_lua *e = prism_embedded_lua_files; e->module; e++) {
    if (strncmp(e->chunkname, "@stdlib/", 8)) continue;
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, e->module);
  }
  lua_call(L, 2, 1);
  int t = lua_gettop(L);
  int n = (int)lua_objlen(L, t);
  if (n == 0) return 0;
  job->hits = calloc((size_t)n, sizeof *job->hits);
  if (!job->hits) return luaL_error(L, "out of memory");
  for (int k = 1; k <= n; k++) {
    lua_rawgeti(L, t, k);
    int h = lua_gettop(L);
    const char *rule = field_str(L, h, "rule"), *msg = field_str(L, h, "message");
    prism_failure *f = &job->hits[job->n++];
    if (!strcmp(rule, "prism:syntax")) {
      prism_failure_from_lua(f, rule, msg);
    } else {
      lua_getfield(L, h, "line");
      int line = (int)lua_tointeger(L, -1);
      lua_pop(L, 1);
      prism_failure_set(f, rule, field_str(L, h, "file"), line, "%s", msg);
    }
    lua_pop(L, 1);
  }
  return 0;
}

int prism_static_gate_scan(const prism_bundle *b, prism_failure **hits) {
  *hits = NULL;
  gate_job job = {b, NULL, 0};
  lua_State *L = luaL_newstate();
  int rc = L ? lua_cpcall(L, gate_main, &job) : -1;
  if (rc != 0) {
    free(job.hits);
    *hits = calloc(1, sizeof **hits);
    if (*hits)
      prism_failure_set(*hits, "prism:internal", NULL, 0, "the bytecode static gate failed: %s",
                        L && lua_tostring(L, -1) ? lua_tostring(L, -1) : "cannot create a Lua state");
    if (L) lua_close(L);
    return -1;
  }
  lua_close(L);
  *hits = job.hits;
  return job.n;
}
