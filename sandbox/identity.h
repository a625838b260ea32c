/* identity.h — no addresses for submission code (issue 5, SPEC §4). Stock LuaJIT prints tables,
 * functions, coroutines and userdata as "table: 0x55d0c1a2b3c0": ASLR makes that differ in every
 * process, so a submission could use it as entropy, order tables by it (t[tostring(obj)]) or
 * learn the memory layout. In the restricted states such a value prints as "table: #17", a
 * number given the first time it is printed (deterministic, since the program is), and
 * string.format refuses %p and formats those values through the same tostring. Failure
 * messages drop the "at 0x..." of unnamed C functions in tracebacks, so a manifest is identical
 * between runs even when the run failed. Not for use outside sandbox/. */
#ifndef PRISM_SANDBOX_IDENTITY_H
#define PRISM_SANDBOX_IDENTITY_H

#include <stddef.h>

#include <lua.h>

/* Builds the restricted tostring around the original one in the table at raw_idx (LuaJIT's
 * globals); call first, before the functions below. */
void sandbox_identity_init(lua_State *L, int raw_idx);

/* Replaces env.tostring in the environment table at env_idx (pushes nothing). The registry
 * holds the id table, created on first use. Also patches env.string (see below). */
void sandbox_identity_install(lua_State *L, int env_idx);

/* Replaces format in the string-library table at idx (an environment's copy, or the string
 * metatable's __index copy). */
void sandbox_identity_patch_string(lua_State *L, int idx);

/* Pushes the restricted tostring (for the runtime's own print). */
void sandbox_identity_push_tostring(lua_State *L);

/* Rewrites "at 0x<hex>" (an unnamed C function's address in a LuaJIT traceback) to "?", as Lua
 * 5.1 prints it, in place; returns s. */
char *sandbox_identity_scrub(char *s);

#endif
