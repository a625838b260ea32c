/* seccomp_filter.c — the jail's system-call filter; seccomp_filter.h says what is denied and why.
 * (Not named seccomp.h/.c: runtime/ is on the include path and would shadow libseccomp's <seccomp.h>.) */
#define _GNU_SOURCE
#include "seccomp_filter.h"

#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>

/* Syscalls that must never happen in a submission's process: the process dies with SIGSYS. */
static const char *const kill_calls[] = {
    "execve",        "execveat",     "fork",        "vfork",       "ptrace",         "process_vm_readv",
    "process_vm_writev", "mount",    "umount2",     "pivot_root",  "chroot",         "unshare",
    "setns",         "fsopen",       "fsconfig",    "fsmount",     "fspick",         "move_mount",
    "open_tree",     "mount_setattr", "reboot",     "kexec_load",  "kexec_file_load", "init_module",
    "finit_module",  "delete_module", "iopl",       "ioperm",
};

/* Syscalls a library may probe for: they fail with EPERM. */
static const char *const eperm_calls[] = {
    "socket", "socketpair", "connect", "bind",    "listen",      "accept",     "accept4",
    "bpf",    "perf_event_open",       "keyctl",  "add_key",     "request_key", "userfaultfd",
};

static int add_named(scmp_filter_ctx ctx, uint32_t action, const char *name) {
  int nr = seccomp_syscall_resolve_name(name);
  if (nr == __NR_SCMP_ERROR) return 0; /* not on this architecture (e.g. iopl on arm64) */
  return seccomp_rule_add(ctx, action, nr, 0);
}

int prism_seccomp_install(void) {
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -errno;
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (!ctx) return -ENOMEM;
  int rc = 0;
  /* A syscall made through another architecture's table (int 0x80 on x86_64) would bypass every
   * rule below: kill it. */
  if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS)) != 0) goto out;
  for (size_t i = 0; i < sizeof kill_calls / sizeof kill_calls[0]; i++)
    if ((rc = add_named(ctx, SCMP_ACT_KILL_PROCESS, kill_calls[i])) != 0) goto out;
  for (size_t i = 0; i < sizeof eperm_calls / sizeof eperm_calls[0]; i++)
    if ((rc = add_named(ctx, SCMP_ACT_ERRNO(EPERM), eperm_calls[i])) != 0) goto out;
  /* A clone without CLONE_THREAD is a new process (fork, posix_spawn, vfork); a thread is fine. */
  if ((rc = seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, SCMP_SYS(clone), 1,
                             SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0))) != 0)
    goto out;
  /* clone3 passes its flags in memory the filter cannot read: ENOSYS makes glibc use clone. */
  if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0)) != 0) goto out;
  /* personality: querying (0xffffffff) is harmless; changing it (e.g. ADDR_NO_RANDOMIZE) is not. */
  if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(personality), 1,
                             SCMP_A0(SCMP_CMP_NE, 0xffffffffUL, 0) /* datum_b unused; clang wants it */)) != 0)
    goto out;
  rc = seccomp_load(ctx);
out:
  seccomp_release(ctx);
  return rc < 0 ? rc : (rc > 0 ? -EINVAL : 0);
}
