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
} sandbox_ctl;

sandbox_ctl *sandbox_ctl_of(lua_State *L);

/* Registry keys: only trusted C code reaches the registry (no debug library in these states). */
#define SB_ENV_SUBMISSION "prism.sandbox.env.submission"
#define SB_ENV_STDLIB "prism.sandbox.env.stdlib"
#define SB_LOADED "prism.sandbox.loaded"   /* module name -> value, shared by both requires */
#define SB_LOADING "prism.sandbox.loading" /* array of module names being loaded (cycles) */
#define SB_TRUSTED "prism.sandbox.trusted"
#define SB_FACTORY "prism.sandbox.factory" /* the architecture's own build_model (unwrapped) */

/* require: upvalue 1 is true for the stdlib's require (prism.core and stdlib modules only),
 * false for the submission's (stdlib without prism.core, plus the bundle's .lua files). */
int sandbox_require(lua_State *L);
/* Creates the module cache and registers prism.core in it. */
void sandbox_require_init(lua_State *L);
/* Loads the stdlib module `name` through the trusted require; pushes its value. Raises. */
void sandbox_require_trusted(lua_State *L, const char *name);

#endif
