/* jail.h — the process boundary of an evaluation (SPEC §10.2, DESIGN "process-level isolation is
 * the real boundary"). Every piece of miner code runs in a child forked here: its own process
 * group, an empty temporary working directory, stdin on /dev/null, every descriptor closed except
 * the ones named, and rlimits on address space, CPU time, file size, open files, processes and core
 * dumps.
 * The parent side watches it: it reads the child's report pipe with poll() while waiting (a child
 * that writes many records never blocks on a full pipe), SIGKILLs the whole process group at the
 * hard wall-clock bound (the watchdog), and reports how the child ended. With limits.seccomp the
 * child installs the system-call filter of seccomp_filter.h last (a forbidden call kills it with
 * SIGSYS, which the caller reports as prism:sandbox-violation).
 *
 * Stray children: the first prism_jail_start makes the calling process a child subreaper, so a
 * descendant the child leaves behind (a grandchild that outlived it, also one that left the
 * process group with setsid()) is reparented to the caller, not to init. When the child has ended,
 * prism_jail_wait and prism_jail_cleanup kill its process group and then SIGKILL and reap every
 * child of the caller that did not exist when the jail started. So the caller must not fork other
 * children of its own while a jail runs (prism's parent forks only jails, one at a time); children
 * it had before prism_jail_start are left alone.
 *
 * The parent must not initialize OpenMP or OpenBLAS thread pools before forking (libgomp's pool
 * does not survive fork): children set their thread count themselves. */
#ifndef PRISM_JAIL_H
#define PRISM_JAIL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "failure.h"
#include "landlock.h"

#define PRISM_JAIL_MAX_KEEP_FDS 8
/* Children the caller may already have when a jail starts (left alone by the stray sweep). */
#define PRISM_JAIL_MAX_PRIOR_CHILDREN 64

typedef struct prism_jail_limits {
  uint64_t address_space_headroom; /* RLIMIT_AS = current size + this; 0 = unlimited (always
                                      unlimited under AddressSanitizer, which reserves terabytes) */
  double cpu_seconds;              /* RLIMIT_CPU soft limit (SIGXCPU; SIGKILL 5 s later); <= 0 none */
  int64_t file_size;               /* RLIMIT_FSIZE in bytes (SIGXFSZ past it); < 0 none */
  int nofile;                      /* RLIMIT_NOFILE; <= 0 keeps the inherited limit */
  int nproc_headroom;              /* RLIMIT_NPROC = tasks (threads included) of the real uid when the
                                      jail starts + this; <= 0 keeps the inherited limit. The kernel
                                      does not apply it to root (or CAP_SYS_RESOURCE/CAP_SYS_ADMIN). */
  int keep_fds[PRISM_JAIL_MAX_KEEP_FDS]; /* descriptors the child keeps besides 0, 1, 2 */
  int n_keep_fds;
  bool silence_output;             /* child stdout and stderr to /dev/null (--quiet) */
  /* Filesystem confinement (landlock.h): with landlock, the child may open only what these rules
   * grant, plus its working directory (read-write) and the CPU topology in /sys (read); a kernel
   * without Landlock leaves it unconfined. Not under ASan or valgrind (their runtimes read files). */
  bool landlock;
  prism_landlock_rule fs_rules[PRISM_LANDLOCK_MAX_RULES];
  int n_fs_rules;
  bool seccomp;                    /* install the system-call filter (seccomp_filter.h) last; for children
                                      that run submission code. Skipped under AddressSanitizer. */
} prism_jail_limits;

/* The job run in the child; its return value is the child's exit status (0..255). */
typedef int (*prism_jail_fn)(void *arg);

typedef struct prism_jail {
  pid_t pid;             /* 0 when not started */
  char workdir[4096];    /* the child's empty working directory ("" when none) */
  double started;        /* monotonic seconds */
  uint64_t nproc_limit;  /* the RLIMIT_NPROC the child got (0 = inherited) */
  pid_t prior_children[PRISM_JAIL_MAX_PRIOR_CHILDREN]; /* the caller's children before the fork */
  int n_prior_children;  /* -1: more than fit; the sweep then kills only the process group */
} prism_jail;

typedef struct prism_jail_watch {
  int read_fd;           /* report pipe read end (made non-blocking here); -1 = none */
  double timeout_s;      /* hard bound from the start; <= 0 = none */
  /* Called with every chunk read from read_fd, in order. */
  void (*on_data)(void *arg, const char *buf, size_t n);
  /* Called about every tick_s seconds while the child runs; a non-zero return kills the child and
   * is reported in result.tick_code (e.g. the artifacts quota check). */
  int (*on_tick)(void *arg);
  double tick_s;
  void *arg;
} prism_jail_watch;

typedef struct prism_jail_result {
  int exit_code;           /* valid when signal == 0 */
  int signal;              /* terminating signal, 0 when the child exited */
  bool timed_out;          /* killed by the watchdog at timeout_s */
  int tick_code;           /* killed because on_tick returned this (0 = not) */
  bool interrupted;        /* the parent got SIGINT/SIGTERM and killed the child */
  double wall_seconds;
  int64_t peak_rss_bytes;  /* the child's maximum resident set (wait4 rusage) */
} prism_jail_result;

/* Creates the working directory, forks, jails the child and runs fn(arg) in it. The parent gets
 * 0 and j filled in, or -1 with prism:internal in *err (nothing left behind). Flushes stdio first
 * so buffered output is not duplicated. */
int prism_jail_start(prism_jail *j, const prism_jail_limits *lim, prism_jail_fn fn, void *arg, prism_failure *err);

/* Watches the child until it ends (see prism_jail_watch), reaps it and its strays (see above) and
 * fills *res. Returns 0, or
 * -1 with prism:internal in *err when waiting itself failed (the child is killed then). */
int prism_jail_wait(prism_jail *j, const prism_jail_watch *w, prism_jail_result *res, prism_failure *err);

/* Kills and reaps the child and its strays if prism_jail_wait did not, then removes the working
 * directory and everything in it (never following symlinks). */
void prism_jail_cleanup(prism_jail *j);

/* What this build and kernel give every jailed child, for the manifest: whether the seccomp
 * filter is installed (not under ASan or valgrind) and the Landlock ABI applied (0 = none: the
 * kernel lacks it, or ASan/valgrind). */
bool prism_jail_seccomp_active(void);
int prism_jail_landlock_abi(void);

/* Installs SIGINT/SIGTERM handlers that make a running prism_jail_wait kill its child and return
 * with result.interrupted; the caller then cleans up and exits. */
void prism_jail_install_interrupt_handlers(void);
bool prism_jail_interrupted(void);

/* A readable name for a signal ("SIGKILL"), for failure messages. */
const char *prism_jail_signal_name(int sig);

#endif
