/* loader.h — Lua states for trusted code and the CLI commands that run Lua (exec, selftest).
 * runtime/main.c only parses global options and dispatches here. */
#ifndef PRISM_LUA_LOADER_H
#define PRISM_LUA_LOADER_H

#include <stddef.h>

#include <lua.h>

/* Process exit codes (SPEC §1). */
enum { PRISM_EXIT_OK = 0, PRISM_EXIT_FAILED = 1, PRISM_EXIT_USAGE = 2, PRISM_EXIT_REJECTED = 3, PRISM_EXIT_INTERNAL = 4 };

/* A state for trusted code (`prism exec`, `prism selftest`): standard libraries, `require` of
 * the embedded modules (lua/embedded.h) and of prism.core, and the tensor-byte accounting tied
 * to this state's collector (limits from PRISM_TENSOR_SOFT_LIMIT / PRISM_TENSOR_HARD_LIMIT).
 * Returns NULL with a message in err (a bad limit value, or no memory); *usage_error tells
 * which. Only one such state should be open at a time: the GC hook is process-wide. */
lua_State *prism_lua_open_trusted(char *err, size_t errlen, int *usage_error);
void prism_lua_close(lua_State *L);

/* Installs the embedded-module searcher and prism.core's preload entry in this state's
 * package library: the single place that decides what `require` can reach. */
void prism_lua_install_require(lua_State *L);

/* lua_pcall with a message handler that appends a traceback to the error. */
int prism_lua_pcall_traceback(lua_State *L, int nargs, int nresults);

/* `prism exec SCRIPT [args...]`: argv[0] is the script; prog (the binary's argv[0]) becomes
 * arg[-2], so a script can run the binary again. Returns an exit code. */
int prism_cmd_exec(const char *prog, int argc, char **argv);
/* `prism selftest [--threads N] [--device cpu|cuda]`: argv are the arguments after the command. */
int prism_cmd_selftest(int argc, char **argv);

#endif
