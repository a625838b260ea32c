/* child_internal.h — what the three child jobs (child.c: run; child_static.c: static gate;
 * heldout.c: held-out) share: opening the restricted state for a job, loading the architecture
 * entrypoint, calling the factory under the forced seed, and process telemetry. */
#ifndef PRISM_CHILD_INTERNAL_H
#define PRISM_CHILD_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <lua.h>

#include "child.h"
#include "ctx.h"
#include "failure.h"

/* A restricted state for cfg->bundle with the forced seed and the job's threads applied. */
lua_State *child_open_state(const prism_eval_config *cfg, prism_failure *err);

/* Loads the architecture entrypoint (pushing its module value), resolves the factory symbol
 * and wraps it with the forced init. run_rule/resource_rule classify errors raised while the
 * chunk runs. Leaves the module on the stack; -1 + err. */
int child_load_architecture(lua_State *L, const prism_eval_config *cfg, const char *run_rule,
                            const char *resource_rule, prism_failure *err);

/* Re-applies the forced seed and calls the architecture's factory with (ctx) where ctx is at
 * ctx_idx; on success the model is pushed and 0 returned; otherwise the error message (with
 * traceback) is pushed and -1 returned. */
int child_build_model(lua_State *L, const prism_eval_config *cfg, int ctx_idx);

/* True when the value at idx is a prism.nn.Module (the trusted check). */
bool child_is_module(lua_State *L, int idx);

/* Puts the model at idx in eval mode with the trusted Module.train(m, false). Raises. */
void child_eval_mode(lua_State *L, int idx);

int64_t child_peak_rss_bytes(void);

#endif
