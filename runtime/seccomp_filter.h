/* seccomp_filter.h — the system-call filter of the evaluation jail (SPEC §10.2, issue 5 "Process layer").
 *
 * Installed by the jail (jail.c) in every child that runs submission code (the static check, the
 * scored run, the held-out pass), after the rlimits and before the job. Default ALLOW with explicit
 * denials: an allow-list is stricter but must cover every syscall LuaJIT, OpenBLAS, libgomp and
 * glibc make on every host kernel, and one missing entry turns a good submission into a failure;
 * the deny-list closes what an escaped submission would need (network, new programs, new
 * processes, debugging other processes, namespaces and mounts, kernel modules and similar).
 *
 *   killed with SIGSYS (SCMP_ACT_KILL_PROCESS), which the parent reports as prism:sandbox-violation:
 *     execve, execveat, fork, vfork, clone without CLONE_THREAD (threads are allowed), ptrace,
 *     process_vm_readv/writev, mount, umount2, pivot_root, chroot, unshare, setns, the new mount
 *     API (fsopen, fsconfig, fsmount, fspick, move_mount, open_tree, mount_setattr), reboot,
 *     kexec_load, kexec_file_load, init_module, finit_module, delete_module, iopl, ioperm
 *   fail with EPERM (a library probing for them gets an ordinary error, not a dead process):
 *     socket, socketpair, connect, bind, listen, accept, accept4, bpf, perf_event_open, keyctl,
 *     add_key, request_key, personality (any change; the query personality(0xffffffff) is allowed),
 *     userfaultfd
 *   fail with ENOSYS: clone3 (its flags live in memory a filter cannot read; glibc then falls back
 *     to clone, whose flags are checked)
 *
 * Also sets PR_SET_NO_NEW_PRIVS (required for an unprivileged filter). Other architectures than the
 * native one are killed outright (no x32 / i386 syscall-table bypass).
 *
 * Under AddressSanitizer (-DPRISM_SANITIZE=ON) the jail does not install it: ASan's error report
 * forks llvm-symbolizer and LeakSanitizer stops the world with clone + ptrace, so a filtered
 * child would die with SIGSYS instead of printing the report the sanitizer build exists for. The
 * filter itself works under ASan (tests/unit/test_seccomp.c passes there). */
#ifndef PRISM_SECCOMP_FILTER_H
#define PRISM_SECCOMP_FILTER_H

/* Installs the filter in the calling process (and every thread it creates afterwards). Returns 0,
 * or a negative errno value when libseccomp or the kernel refused it (the caller must not run the
 * job then). Call it while single-threaded. */
int prism_seccomp_install(void);

/* The message for a child that ended with SIGSYS: the filter killed it. */
#define PRISM_SECCOMP_VIOLATION_MESSAGE                                                                 \
  "the process was killed by the sandbox's system-call filter (SIGSYS): submission code tried a "    \
  "forbidden system call (network, running a program, creating a process, ptrace, mount or "          \
  "similar); only computation, threads and files inside the sandbox are allowed"

#endif
