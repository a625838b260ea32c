/* state.h — restricted Lua states for submission code (SPEC §10 layer 1, §3 require).
 *
 * One state per child job holds both entrypoints (training.lua's require("architecture") must
 * return the very module the runtime loaded). Two global environments live in it: the
 * submission's (an allow-list of the base library, copies of string/table/math/coroutine/bit,
 * os.clock, and a require that reaches the stdlib and the bundle's .lua files) and the
 * standard library's own (the same allow-list, plus prism.core). Neither can reach the other's
 * tables, io, os, debug, jit, ffi, package or any loader of code. The stdlib is loaded, and the
 * functions the runtime trusts for parameter counting and saving are captured, before any
 * submission code runs, so a submission that patches nn.Module cannot fool the runtime.
 *
 * Every function that can fail because of the submission fills a prism_failure and returns -1
 * (or NULL). They are called from protected mode (the child's lua_cpcall), where the only Lua
 * error they can raise is running out of Lua memory. */
#ifndef PRISM_SANDBOX_STATE_H
#define PRISM_SANDBOX_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lua.h>

#include "bundle.h"
#include "failure.h"

#define PRISM_SANDBOX_LUA_MEM_DEFAULT ((size_t)2 << 30) /* 2 GiB of Lua heap */
/* VM instructions between two clock reads of the count hook (hook.c). bench/jit_policy's loops
 * ran alike with 100, 1,000, 10,000 and 100,000 (a vDSO clock read is tens of nanoseconds); at
 * 10,000 a deadline is overrun by well under a millisecond of interpreted code. */
#define PRISM_SANDBOX_HOOK_COUNT 10000

/* How the state runs Lua (bench/jit_policy.c compares them; the runtime uses the default). */
enum {
  PRISM_JIT_POLICY_HOOK = 0,   /* interpreter + the wall-clock count hook: what prism runs */
  PRISM_JIT_POLICY_INTERP = 1, /* interpreter, no hook (only the watchdog bounds a loop) */
  PRISM_JIT_POLICY_JIT = 2,    /* LuaJIT's JIT on, no hook (hooks do not fire in compiled traces) */
};

typedef struct prism_sandbox_opts {
  uint64_t seed;        /* the forced seed: the build_model wrapper re-applies it */
  size_t lua_mem_limit; /* cap on the Lua heap in bytes; 0 = PRISM_SANDBOX_LUA_MEM_DEFAULT */
  int jit_policy;       /* PRISM_JIT_POLICY_*; 0 (the hook) unless a benchmark says otherwise */
  int hook_count;       /* instructions between clock reads; 0 = PRISM_SANDBOX_HOOK_COUNT */
} prism_sandbox_opts;

/* A fresh restricted state over the bundle's in-memory files (the bundle must outlive the
 * state). Also installs the tensor-byte GC hook (process-wide: one sandbox at a time) with the
 * limits of PRISM_TENSOR_SOFT_LIMIT / PRISM_TENSOR_HARD_LIMIT. NULL + err (prism:internal). */
lua_State *prism_sandbox_new(const prism_bundle *b, const prism_sandbox_opts *opts, prism_failure *err);
void prism_sandbox_close(lua_State *L);

/* True once the capped allocator has refused an allocation (the Lua-memory cap was hit). */
bool prism_sandbox_lua_oom(lua_State *L);

/* Compiles a bundle file (text only; chunkname "@<path>") with the submission environment and
 * pushes the function. A missing file → prism:contract; a syntax error or a binary chunk →
 * prism:syntax with file:line. */
int prism_sandbox_compile(lua_State *L, const char *path, prism_failure *err);

/* Loads an entrypoint as a module: compiles it, runs it (protected, with a traceback) and
 * registers the result in the module cache under the module name of its path
 * ("model/arch.lua" → "model.arch"), so require() of that name returns this instance. Pushes
 * the module value (the chunk's table, or a fresh table when the chunk returned nothing). A
 * Lua error while running → run_rule (resource errors → resource_rule). */
int prism_sandbox_load_entry(lua_State *L, const char *path, const char *run_rule, const char *resource_rule,
                             prism_failure *err);

/* Pushes the entrypoint's function: mod[symbol] when the module at mod_idx is a table holding a
 * function there, else the submission global of that name. -1 + prism:contract otherwise. */
int prism_sandbox_resolve(lua_State *L, int mod_idx, const char *path, const char *symbol, const char *role,
                          prism_failure *err);

/* Replaces the function at mod[symbol] (and the global of that name, if it is the same
 * function) with a wrapper that re-applies the forced seed before calling it (SPEC §4). */
void prism_sandbox_wrap_factory(lua_State *L, int mod_idx, const char *symbol);

/* Pushes the architecture's own factory as it was before wrapping (nil before wrap_factory):
 * ctx:build_model re-applies the seed itself, then calls it with (ctx, ...). */
void prism_sandbox_push_factory(lua_State *L);

/* Turns a Lua error message (with traceback) into a failure: resource_rule when the Lua-memory
 * cap was hit or the message is a tensor-memory error, prism:syntax when it is a syntax error
 * a require() met, prism:tokenizer-missing for a reference tokenizer without staged files, else
 * rule; file:line from the message, or else from the first traceback
 * frame in a bundle file (an error raised inside the stdlib points at the submission's call). */
void prism_sandbox_failure(lua_State *L, const char *msg, const char *rule, const char *resource_rule,
                           prism_failure *f);

/* Pushes a stdlib function captured before any submission code ran: "is_module",
 * "parameters", "named_parameters", "train" (Module.train(m, mode)), "describe". */
void prism_sandbox_push_trusted(lua_State *L, const char *name);

/* Unique parameters of the module at idx (trusted parameters(), tied weights once): the sum of
 * their numel, or -1 with the Lua error message pushed when listing them failed. */
int64_t prism_sandbox_count_params(lua_State *L, int idx);

/* The description of the value at idx that errors show ("Module Net", "tensor", "nil", ...). */
const char *prism_sandbox_describe(lua_State *L, int idx, char *buf, size_t cap);

/* Rate limit shared by print, ctx:log and ctx:report (observability only, never scored):
 * true when one more line may go to stderr now. Notes dropped lines once output resumes. */
bool prism_sandbox_log_allow(void);

/* The wall-clock count hook (hook.c). From `deadline` (CLOCK_MONOTONIC seconds, as
 * prism_now in clock.h; <= 0 = none) on, every VM instruction of submission Lua raises
 * "prism:budget-exceeded: Lua code was still running at FILE:LINE when it hit LIMIT", so no
 * pcall can keep a loop alive; the first location is kept for C. No effect on a state opened
 * without the hook (jit_policy != 0). */
void prism_sandbox_set_deadline(lua_State *L, double deadline, const char *limit);
/* True once the hook has stopped the state: the job ends with prism_sandbox_deadline_failure,
 * whatever error the submission let through. */
bool prism_sandbox_deadline_hit(lua_State *L);
/* The failure for a deadline hit: rule, the bundle file:line where Lua code was running. */
void prism_sandbox_deadline_failure(lua_State *L, const char *rule, prism_failure *f);

/* Formats n with thousands separators ("150,912,000"). */
const char *prism_format_count(int64_t n, char *buf, size_t cap);

#endif
