/* ordered.h — deterministic pairs, next and table.foreach for the restricted states (issue 5).
 * Not for use outside sandbox/. */
#ifndef PRISM_SANDBOX_ORDERED_H
#define PRISM_SANDBOX_ORDERED_H

#include <lua.h>

/* Sets env.pairs, env.next and env.table.foreach (env.table must already be the environment's
 * own copy of the table library) in the environment table at env_idx. */
void sandbox_ordered_install(lua_State *L, int env_idx);

#endif
