/* internal.h — what the two files of the sandbox state (state.c: environments, allocator,
 * trusted captures; require.c: require, compiling and loading bundle files) share. Not for use
 * outside sandbox/. */
#ifndef PRISM_SANDBOX_INTERNAL_H
#define PRISM_SANDBOX_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lua.h>

#include "bundle.h"

/* The allocator's userdata doubles as the state's control block. */
typedef struct sandbox_ctl {
  size_t used, limit;
  bool oom;
  uint64_t seed;
  const prism_bundle *bundle;
  char syntax_msg[512]; /* the last syntax error require() raised: an error ending a job with it is prism:syntax */
  int jit_policy;       /* prism_sandbox_opts.jit_policy */
  /* the wall-clock count hook (hook.c) */
  double deadline;          /* CLOCK_MONOTONIC seconds; 0 = none */
  bool deadline_hit;        /* sticky once the hook saw the deadline pass */
  char deadline_limit[256]; /* the limit the error names */
  char hit_where[300];      /* "file:line" where Lua code was running at the deadline */
  char hit_file[256];       /* the bundle file of hit_where ("" when not in the bundle) */
  int hit_line;
  int resume_depth; /* coroutines being resumed right now, nested (coroutine.c) */
} sandbox_ctl;

sandbox_ctl *sandbox_ctl_of(lua_State *L);

/* Registry keys: only trusted C code reaches the registry (no debug library in these states). */
#define SB_ENV_SUBMISSION "prism.sandbox.env.submission"
#define SB_ENV_STDLIB "prism.sandbox.env.stdlib"
#define SB_LOADED "prism.sandbox.loaded"   /* module name -> value, shared by both requires */
#define SB_LOADING "prism.sandbox.loading" /* array of module names being loaded (cycles) */
#define SB_TRUSTED "prism.sandbox.trusted"
#define SB_FACTORY "prism.sandbox.factory" /* the architecture's own build_model (unwrapped) */

/* Installs the count hook (every `count` VM instructions; <= 0 = PRISM_SANDBOX_HOOK_COUNT). */
void sandbox_hook_install(lua_State *L, int count);

/* require: upvalue 1 is true for the stdlib's require (prism.core and stdlib modules only),
 * false for the submission's (stdlib without prism.core, plus the bundle's .lua files). */
/* Replaces coroutine.resume/wrap in the environment at env_idx with C-stack-guarded ones
 * (coroutine.c). */
void sandbox_coroutine_install(lua_State *L, int env_idx);

int sandbox_require(lua_State *L);
/* Creates the module cache and registers prism.core in it. */
void sandbox_require_init(lua_State *L);
/* Loads the stdlib module `name` through the trusted require; pushes its value. Raises. */
void sandbox_require_trusted(lua_State *L, const char *name);

#endif
