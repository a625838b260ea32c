/* landlock.h — filesystem confinement of a jail child with Linux Landlock (SPEC §10 layer 2,
 * defence in depth behind the Lua sandbox and the seccomp filter).
 *
 * Why: the Lua sandbox gives a submission no file API at all, and seccomp stops exec, new
 * processes and sockets — but a memory-corruption escape from the Lua VM would still run native
 * code with the validator's uid, free to open the val/test splits or write anywhere. Landlock
 * (Linux 5.13+, unprivileged, per process, irrevocable) narrows what the child may open to the
 * directories its job needs: the run child reads the train split and the tokenizer files and
 * writes only the artifacts directory and its empty working directory; the held-out child reads
 * the val/test split, the artifacts directory and the tokenizer files. Since ABI 6 the child is
 * also scoped: it cannot signal processes outside its own domain (the parent, other runs).
 *
 * Best effort by design: a kernel without Landlock (or with it disabled) leaves the child
 * unconfined and prism_landlock_confine says so (0); the caller records that, it is never an
 * error. Must run after every file the child needs outside its rules is already open. */
#ifndef PRISM_LANDLOCK_H
#define PRISM_LANDLOCK_H

#include <stdbool.h>
#include <stddef.h>

#define PRISM_LANDLOCK_MAX_RULES 8

typedef struct prism_landlock_rule {
  const char *path; /* a directory (or file); a NULL or empty path is skipped */
  bool write;       /* false: read files and list directories; true: also create, write, remove */
} prism_landlock_rule;

/* The highest Landlock ABI the running kernel offers, or 0 when it has none. */
int prism_landlock_abi(void);

/* Restricts the calling process (and its future threads) to the rules: returns the ABI version
 * applied (> 0), 0 when the kernel has no Landlock (nothing done), or -1 with a reason in why
 * (a rule's path cannot be opened, or a Landlock call failed): the caller decides whether that
 * is fatal. Needs PR_SET_NO_NEW_PRIVS (or CAP_SYS_ADMIN); sets it itself. */
int prism_landlock_confine(const prism_landlock_rule *rules, int n, char *why, size_t whycap);

#endif
