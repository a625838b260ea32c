/* commands.c — the CLI commands that run trusted Lua: `prism exec` (a developer's script, with
 * `arg` set like the lua interpreter does) and `prism selftest` (the embedded tools.selftest
 * module's main(args)). Each returns a process exit code; every failure is one
 * "prism: <message>" on stderr (with a traceback for Lua errors). */
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

#include "backend.h"
#include "embedded.h"
#include "loader.h"

typedef struct {
  const char *prog;
  int argc;
  char **argv;
  int code;
} exec_job;

/* package.path gains the script's directory and the working directory, before the defaults. */
static void extend_path(lua_State *L, const char *script) {
  const char *slash = strrchr(script, '/');
  lua_getglobal(L, "package");
  if (slash) lua_pushlstring(L, script, (size_t)(slash - script) + (slash == script));
  else lua_pushliteral(L, ".");
  const char *dir = lua_tostring(L, -1);
  lua_getfield(L, -2, "path");
  lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;./?.lua;./?/init.lua;%s", dir, dir, lua_tostring(L, -1));
  lua_setfield(L, -4, "path");
  lua_pop(L, 3);
}

static int exec_main(lua_State *L) {
  exec_job *job = (exec_job *)lua_touserdata(L, 1);
  lua_settop(L, 0);
  const char *script = job->argv[0];
  lua_createtable(L, job->argc, 3);
  lua_pushstring(L, job->prog);
  lua_rawseti(L, -2, -2);
  lua_pushliteral(L, "exec");
  lua_rawseti(L, -2, -1);
  for (int i = 0; i < job->argc; i++) {
    lua_pushstring(L, job->argv[i]);
    lua_rawseti(L, -2, i);
  }
  lua_setglobal(L, "arg");
  extend_path(L, script);
  if (luaL_loadfile(L, script) != 0) {
    fprintf(stderr, "prism: %s\n", lua_tostring(L, -1));
    job->code = PRISM_EXIT_FAILED;
    return 0;
  }
  for (int i = 1; i < job->argc; i++) lua_pushstring(L, job->argv[i]);
  if (prism_lua_pcall_traceback(L, job->argc - 1, 0) != 0) {
    fprintf(stderr, "prism: %s\n", lua_tostring(L, -1));
    job->code = PRISM_EXIT_FAILED;
    return 0;
  }
  job->code = PRISM_EXIT_OK;
  return 0;
}

/* Opens a trusted state, runs fn(job) protected, closes the state. */
static int run_in_state(lua_CFunction fn, void *job, int *code) {
  char err[256];
  int usage;
  lua_State *L = prism_lua_open_trusted(err, sizeof err, &usage);
  if (!L) {
    fprintf(stderr, "prism: %s\n", err);
    return usage ? PRISM_EXIT_USAGE : PRISM_EXIT_INTERNAL;
  }
  int rc = lua_cpcall(L, fn, job);
  if (rc != 0) {
    /* Only a failure outside the script's own pcall gets here (e.g. Lua out of memory). */
    const char *msg = lua_tostring(L, -1);
    fprintf(stderr, "prism: %s\n", msg ? msg : "internal error in the Lua state");
    *code = PRISM_EXIT_INTERNAL;
  }
  prism_lua_close(L);
  return *code;
}

static void exec_usage(FILE *f) {
  fprintf(f,
          "usage: prism exec SCRIPT.lua [ARGS...]\n"
          "Runs a trusted Lua script (a developer command: no sandbox). The script sees `arg`\n"
          "like the lua interpreter sets it and can require the prism modules, prism.core and\n"
          "files next to it or in the working directory.\n");
}

int prism_cmd_exec(const char *prog, int argc, char **argv) {
  if (argc >= 1 && (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h"))) {
    exec_usage(stdout);
    return PRISM_EXIT_OK;
  }
  if (argc < 1 || argv[0][0] == '-') {
    if (argc >= 1) fprintf(stderr, "prism: exec: unknown option '%s'\n", argv[0]);
    exec_usage(stderr);
    return PRISM_EXIT_USAGE;
  }
  exec_job job = {prog, argc, argv, PRISM_EXIT_INTERNAL};
  return run_in_state(exec_main, &job, &job.code);
}

/* ---- selftest ---- */

/* The module owns its options (--threads, --device, --only, --help) and its usage message; the
 * CLI only answers what the module cannot: a CUDA request in a build without CUDA, and a build
 * without the module. */
typedef struct {
  int argc;
  char **argv;
  int code;
} selftest_job;

static int selftest_main(lua_State *L) {
  selftest_job *job = (selftest_job *)lua_touserdata(L, 1);
  lua_settop(L, 0);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "tools.selftest");
  if (prism_lua_pcall_traceback(L, 1, 1) != 0) {
    fprintf(stderr, "prism: selftest: cannot load tools.selftest: %s\n", lua_tostring(L, -1));
    job->code = PRISM_EXIT_INTERNAL;
    return 0;
  }
  lua_getfield(L, -1, "main");
  if (!lua_isfunction(L, -1)) {
    fprintf(stderr, "prism: selftest: tools.selftest has no main function\n");
    job->code = PRISM_EXIT_INTERNAL;
    return 0;
  }
  lua_createtable(L, job->argc, 0); /* args: the command's arguments, as strings */
  for (int i = 0; i < job->argc; i++) {
    lua_pushstring(L, job->argv[i]);
    lua_rawseti(L, -2, i + 1);
  }
  if (prism_lua_pcall_traceback(L, 1, 1) != 0) {
    fprintf(stderr, "prism: selftest: %s\n", lua_tostring(L, -1));
    job->code = PRISM_EXIT_FAILED;
    return 0;
  }
  if (lua_type(L, -1) == LUA_TNUMBER) {
    lua_Number n = lua_tonumber(L, -1);
    job->code = n >= 0 && n <= 255 && n == (int)n ? (int)n : PRISM_EXIT_INTERNAL;
  } else if (lua_isnil(L, -1) || (lua_type(L, -1) == LUA_TBOOLEAN && lua_toboolean(L, -1))) {
    job->code = PRISM_EXIT_OK;
  } else {
    job->code = PRISM_EXIT_FAILED;
  }
  return 0;
}

static int embedded_has(const char *module) {
  for (const prism_embedded_lua *e = prism_embedded_lua_files; e->module; e++)
    if (!strcmp(e->module, module)) return 1;
  return 0;
}

int prism_cmd_selftest(int argc, char **argv) {
  int help = 0;
  for (int i = 0; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) help = 1;
    if (!strcmp(argv[i], "--device") && i + 1 < argc && !strcmp(argv[i + 1], "cuda") && !prism_backend_get(PRISM_CUDA)) {
      fprintf(stderr, "prism: selftest: this build has no CUDA backend (--device cuda is unavailable)\n");
      return PRISM_EXIT_USAGE;
    }
  }
  if (!embedded_has("tools.selftest")) {
    if (help) {
      printf("usage: prism selftest [--threads N] [--device cpu|cuda]\n"
             "(this build does not include the selftest module)\n");
      return PRISM_EXIT_OK;
    }
    fprintf(stderr, "prism: selftest: this build does not include the selftest module "
                    "(tools.selftest, from lua/tools/selftest.lua)\n");
    return PRISM_EXIT_INTERNAL;
  }
  selftest_job job = {argc, argv, PRISM_EXIT_INTERNAL};
  return run_in_state(selftest_main, &job, &job.code);
}
