/* hook.c — the wall-clock count hook of submission states (SPEC §10; anchors §C.2 "Infinite
 * loops when JIT-compiled", "Catching the kill with pcall").
 *
 * Every submission state runs in LuaJIT's interpreter (state.c never opens the JIT), where a
 * count hook sees every VM instruction of every coroutine (LuaJIT hooks are global to the VM).
 * Every PRISM_SANDBOX_HOOK_COUNT instructions the hook compares CLOCK_MONOTONIC with the job's
 * deadline. The first time it is past, the hook records where Lua code was running (the first
 * frame in a bundle file), then fires on every instruction and raises a prism:budget-exceeded
 * error each time, so a pcall that swallows the first error cannot run one more instruction of
 * its own: the error climbs to the runtime, which reads the recorded location (C never trusts the
 * Lua error that arrives, the submission may have replaced it). Long C calls (string.rep, a huge
 * matmul) run no instructions: the parent's watchdog stays their bound. So does an xpcall message
 * handler running when the hook raises, because LuaJIT calls it with hooks disabled. */
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

#include "clock.h"
#include "internal.h"
#include "state.h"


/* The running location: the innermost frame in a bundle file (a loop inside the stdlib was
 * driven from there), else the innermost Lua frame. */
static void record_location(lua_State *L, sandbox_ctl *c) {
  lua_Debug d;
  snprintf(c->hit_where, sizeof c->hit_where, "(unknown location)");
  for (int level = 0; lua_getstack(L, level, &d); level++) {
    if (!lua_getinfo(L, "Sl", &d) || d.currentline <= 0) continue;
    bool in_bundle = d.source && d.source[0] == '@' && c->bundle && prism_bundle_find(c->bundle, d.source + 1);
    if (in_bundle || level == 0 || !strcmp(c->hit_where, "(unknown location)"))
      snprintf(c->hit_where, sizeof c->hit_where, "%s:%d", in_bundle ? d.source + 1 : d.short_src, d.currentline);
    if (in_bundle) {
      snprintf(c->hit_file, sizeof c->hit_file, "%s", d.source + 1);
      c->hit_line = d.currentline;
      return;
    }
  }
}

static void count_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  sandbox_ctl *c = sandbox_ctl_of(L);
  if (!c->deadline_hit) {
    if (!(c->deadline > 0) || prism_now() < c->deadline) return;
    c->deadline_hit = true;
    record_location(L, c);
    lua_sethook(L, count_hook, LUA_MASKCOUNT, 1); /* sticky: from now on every instruction raises */
  }
  lua_pushfstring(L, "prism:budget-exceeded: Lua code was still running at %s when it hit %s", c->hit_where,
                  c->deadline_limit);
  lua_error(L);
}

void sandbox_hook_install(lua_State *L, int count) {
  lua_sethook(L, count_hook, LUA_MASKCOUNT, count > 0 ? count : PRISM_SANDBOX_HOOK_COUNT);
}

void prism_sandbox_set_deadline(lua_State *L, double deadline, const char *limit) {
  sandbox_ctl *c = sandbox_ctl_of(L);
  c->deadline = deadline > 0 ? deadline : 0;
  snprintf(c->deadline_limit, sizeof c->deadline_limit, "%s", limit && *limit ? limit : "the job's wall-clock limit");
}

bool prism_sandbox_deadline_hit(lua_State *L) { return L && sandbox_ctl_of(L)->deadline_hit; }

void prism_sandbox_deadline_failure(lua_State *L, const char *rule, prism_failure *f) {
  sandbox_ctl *c = sandbox_ctl_of(L);
  prism_failure_set(f, rule, c->hit_file[0] ? c->hit_file : NULL, c->hit_line,
                    "Lua code was still running at %s when it hit %s", c->hit_where, c->deadline_limit);
}
