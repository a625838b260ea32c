/* bridge.h — private interface between the C files of the Lua bridge in lua/: the tensor
 * userdata, argument checking, and the one way a C-core failure becomes a Lua error.
 *
 * The rule every entry point follows, because lua_error longjmps past C frames: never hold a C
 * tensor reference across a call that can raise (luaL_check*, lua_push*, lua_new*). So a result
 * slot (an empty tensor userdata) is pushed BEFORE the op runs, the op's new reference goes
 * straight into the slot, and only then is the result checked (bridge_finish raises if the slot
 * is empty). Temporary C buffers are Lua userdata, so an error frees them too. */
#ifndef PRISM_LUA_BRIDGE_H
#define PRISM_LUA_BRIDGE_H

#include <stdbool.h>
#include <stdint.h>

#include <lua.h>
#include <lauxlib.h>

#include "error.h"
#include "ops.h"

/* Registry keys (light strings are fine: only trusted C code reaches the registry). */
#define BRIDGE_TENSOR_MT "prism.tensor.mt"      /* the locked metatable */
#define BRIDGE_TENSOR_CACHE "prism.tensor.cache" /* weak: lightuserdata(C tensor) -> its userdata */
#define BRIDGE_RUNNING_THREAD "prism.running"    /* anchors the thread bridge_running_thread names */

/* Largest integer a Lua number carries exactly; sizes and counts beyond it are rejected. */
#define BRIDGE_MAX_EXACT_INT 9007199254740992.0 /* 2^53 */

/* ---- tensor userdata (tensor_bridge.c) ---- */
/* The Lua thread that last entered the bridge (NULL before the first entry): the GC hook runs
 * the collector on it. Every entry point that may allocate tensors passes through
 * bridge_to_tensor or bridge_new_slot first, which record it. Forget it before closing a state. */
lua_State *bridge_running_thread(void);
void bridge_forget_running(void);
/* Creates the metatable and the identity cache in this state if not done yet. */
void bridge_tensor_init(lua_State *L);
/* Pushes an empty tensor userdata (holding NULL) and returns its slot. */
prism_tensor **bridge_new_slot(lua_State *L);
/* The slot at idx must have been made by bridge_new_slot. If it is empty, pops nothing and
 * raises the core's last error (prefixed with fn). Otherwise, when the C tensor already has a
 * userdata, that userdata replaces the one at idx (one Lua object per C tensor, so identity
 * means what users expect: t:contiguous() == t when nothing was copied). */
void bridge_finish_at(lua_State *L, int idx, const char *fn);
/* bridge_finish_at on the top of the stack; returns 1 (the number of results). */
int bridge_finish(lua_State *L, const char *fn);
/* The C tensor of the userdata at idx, or NULL if the value is not a (live) tensor. */
prism_tensor *bridge_to_tensor(lua_State *L, int idx);
/* Same, raising "fn: <what> must be a tensor, got <type>" otherwise. */
prism_tensor *bridge_check_tensor(lua_State *L, int idx, const char *fn, const char *what);
/* nil/none -> NULL, else bridge_check_tensor. */
prism_tensor *bridge_opt_tensor(lua_State *L, int idx, const char *fn, const char *what);
/* Raises the C core's last error as a Lua error: "prism:resource-oom: " first when it was an
 * OOM, then "fn: " unless the message already starts with it. Never returns. */
int bridge_raise(lua_State *L, const char *fn);
/* Formats with printf rules (lua_pushfstring knows neither %g nor %lld) and raises. */
int bridge_errorf(lua_State *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* a op b where either side may be a number (the other then a tensor): the arithmetic behind
 * both the metamethods and t:add()/t:sub()/...; comparison ops too. Pushes the result. */
int bridge_arith(lua_State *L, const char *fn, prism_binary_op op);
/* The tensor methods (tensor_methods.c, tensor_shape.c), NULL-terminated, for the method
 * table and for prism.core's free functions. */
extern const luaL_Reg bridge_methods_math[];
extern const luaL_Reg bridge_methods_shape[];

/* ---- argument checking (tensor_args.c) ---- */
/* A number that is an exact integer with |x| <= 2^53; raises naming fn and what otherwise. */
int64_t bridge_check_int(lua_State *L, int idx, const char *fn, const char *what);
int64_t bridge_opt_int(lua_State *L, int idx, const char *fn, const char *what, int64_t def);
double bridge_check_num(lua_State *L, int idx, const char *fn, const char *what);
double bridge_opt_num(lua_State *L, int idx, const char *fn, const char *what, double def);
bool bridge_opt_bool(lua_State *L, int idx, const char *fn, const char *what, bool def);
/* A 1-based (or negative) Lua dimension -> 0-based, range-checked against ndim (ndim + 1 dims
 * allowed when allow_end, for unsqueeze/stack). Dimension 0 is an error. */
int bridge_check_dim(lua_State *L, int idx, const char *fn, int ndim, bool allow_end);
int bridge_opt_dim(lua_State *L, int idx, const char *fn, int ndim, bool allow_end, int def);
/* Reads a shape given as one table at `first` or as numbers from `first` on (up to the first
 * table or nil). Sizes must be integers >= 0 (or exactly -1 when allow_neg1). Returns the index
 * just after the shape (where an options table may sit). Raises on a bad shape. */
int bridge_read_shape(lua_State *L, int first, const char *fn, bool allow_neg1, int *ndim, int64_t *shape);
/* Parses "float32"/"int64"/"int32" (also "float", "long", "int"); -1 when unknown. */
int bridge_parse_dtype(const char *s);
/* Parses "cpu", "cuda", "cuda:0"; -1 when unknown. */
int bridge_parse_device(const char *s);
/* "cpu" or "cuda:0" (the device names users see). */
const char *bridge_device_name(prism_device d);
/* A list (Lua array) of tensors at idx -> borrowed pointers in a userdata buffer pushed on the
 * stack (freed by the GC); *n receives the count (>= 1 unless allow_empty). */
prism_tensor **bridge_check_tensor_list(lua_State *L, int idx, const char *fn, bool allow_empty, int *n);

/* ---- tensor fields and metamethods (tensor_meta.c) ---- */
int bridge_meta_index(lua_State *L);
int bridge_meta_newindex(lua_State *L);
int bridge_meta_tostring(lua_State *L);
int bridge_meta_len(lua_State *L);
int bridge_meta_gc(lua_State *L);
int bridge_meta_add(lua_State *L);
int bridge_meta_sub(lua_State *L);
int bridge_meta_mul(lua_State *L);
int bridge_meta_div(lua_State *L);
int bridge_meta_pow(lua_State *L);
int bridge_meta_unm(lua_State *L);
/* t:requires_grad_([flag]) shares the leaf rules of `t.requires_grad = flag`. */
int bridge_requires_grad_(lua_State *L);

/* ---- the prism.core module (core.c, core_kernels.c) ---- */
int luaopen_prism_core(lua_State *L);
extern const luaL_Reg bridge_core_kernels[];

#endif
