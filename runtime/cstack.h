/* cstack.h — a big C stack for submission code, and how much of it is left.
 *
 * Why: LuaJIT bounds the *Lua* stack (65,500 slots: "stack overflow"), but not the C stack that
 * callbacks from C into Lua consume (a string.gsub callback that calls gsub again costs about
 * 9 KB of C stack per level), nor nesting coroutine resumes (each resume is a C-level
 * recursion, and every coroutine gets a fresh Lua stack). On the default 8 MiB stack both end in
 * SIGSEGV. So the jail runs each child's job on a thread with a 1 GiB stack (reserved address
 * space, committed only as it is touched): one coroutine's Lua-stack-bounded recursion needs far
 * less (gsub: ~72 MiB at LuaJIT's own "stack overflow"), and the sandbox's coroutine.resume and
 * coroutine.wrap refuse to go deeper once less than a quarter of the stack is left. */
#ifndef PRISM_CSTACK_H
#define PRISM_CSTACK_H

#include <stddef.h>

#define PRISM_CSTACK_BYTES ((size_t)1 << 30)

/* Runs fn(arg) on a new thread with a stack of `bytes` and returns its result; -1 (errno set)
 * when the thread cannot be created. */
int prism_cstack_run(int (*fn)(void *), void *arg, size_t bytes);

/* Bytes of C stack left below the caller on a thread started by prism_cstack_run, and that
 * thread's stack size; (size_t)-1 for both on any other thread (nothing known). */
size_t prism_cstack_remaining(void);
size_t prism_cstack_size(void);

#endif
