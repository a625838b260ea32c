/* jail.c — fork a child into the evaluation jail and watch it (see jail.h). The child side runs
 * between fork and the job with only async-signal-safe-ish work (the parent is single-threaded
 * when it forks, so this is safe): process group, parent-death signal, descriptors, working
 * directory, rlimits. The parent side is one poll() loop that drains the report pipe, runs the
 * periodic check, enforces the hard wall-clock bound and reaps the child with wait4 so the peak
 * RSS comes from the kernel, not from anything the child claims; then it sweeps the strays the
 * child left behind (the parent is a child subreaper, so they end up as its children). */
#define _GNU_SOURCE
#include "jail.h"
#include "clock.h"
#include "cstack.h"
#include "seccomp_filter.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define PRISM_JAIL_UNDER_ASAN 1
#else
#define PRISM_JAIL_UNDER_ASAN 0
#endif

/* Under valgrind (tests/e2e/valgrind.sh, a memory check of our code, not of the jail) two things
 * cannot work and are skipped: valgrind refuses the guest's setrlimit(RLIMIT_NOFILE) with EPERM
 * unless the hard limit stays the one it chose (it keeps descriptors of its own above the guest's
 * limit), so the child lowers only the soft limit; and valgrind 3.19 does not implement the
 * seccomp system call (nor can a filter tell its syscalls from the guest's), so no filter is
 * installed, as under ASan. Detected with valgrind's own client request, a no-op instruction
 * sequence on real hardware that nothing the submission controls can change. */
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define PRISM_JAIL_UNDER_VALGRIND() (RUNNING_ON_VALGRIND != 0)
#endif
#endif
#ifndef PRISM_JAIL_UNDER_VALGRIND
#define PRISM_JAIL_UNDER_VALGRIND() 0
#endif

/* Whether the kernel-level layers (the seccomp filter, Landlock) go on: not under ASan, whose
 * runtime forks a symbolizer, ptraces for leaks and reads the binary, nor under valgrind (above).
 * One answer for the child set-up and for what the manifest reports. */
static bool kernel_layers_apply(void) { return !PRISM_JAIL_UNDER_ASAN && !PRISM_JAIL_UNDER_VALGRIND(); }

/* ------------------------------------------------------------------ interrupts */

static volatile sig_atomic_t interrupted_flag;

static void on_interrupt(int sig) {
  (void)sig;
  interrupted_flag = 1;
}

void prism_jail_install_interrupt_handlers(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_interrupt;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
}

bool prism_jail_interrupted(void) { return interrupted_flag != 0; }

const char *prism_jail_signal_name(int sig) {
  switch (sig) {
  case SIGKILL: return "SIGKILL";
  case SIGSEGV: return "SIGSEGV";
  case SIGBUS: return "SIGBUS";
  case SIGABRT: return "SIGABRT";
  case SIGFPE: return "SIGFPE";
  case SIGILL: return "SIGILL";
  case SIGXCPU: return "SIGXCPU";
  case SIGXFSZ: return "SIGXFSZ";
  case SIGTERM: return "SIGTERM";
  case SIGINT: return "SIGINT";
  case SIGPIPE: return "SIGPIPE";
  case SIGSYS: return "SIGSYS";
  default: return "signal";
  }
}

/* ------------------------------------------------------------------ child side */

/* Current virtual size in bytes, from /proc/self/statm (first field, pages). */
static uint64_t current_vm_bytes(void) {
  int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[128];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  unsigned long long pages = strtoull(buf, NULL, 10);
  return (uint64_t)pages * (uint64_t)sysconf(_SC_PAGESIZE);
}

static int set_limit(int resource, rlim_t soft, rlim_t hard) {
  struct rlimit rl;
  if (getrlimit(resource, &rl) == 0 && rl.rlim_max != RLIM_INFINITY) {
    if (hard > rl.rlim_max) hard = rl.rlim_max;
    if (soft > hard) soft = hard;
  }
  rl.rlim_cur = soft;
  rl.rlim_max = hard;
  return setrlimit(resource, &rl);
}

static int cmp_int(const void *a, const void *b) {
  int x = *(const int *)a, y = *(const int *)b;
  return (x > y) - (x < y);
}

/* Closes every descriptor >= 3 that is not in keep (sorted copy). */
static void close_other_fds(const int *keep_in, int n) {
  int keep[PRISM_JAIL_MAX_KEEP_FDS];
  int k = 0;
  for (int i = 0; i < n && i < PRISM_JAIL_MAX_KEEP_FDS; i++)
    if (keep_in[i] >= 3) keep[k++] = keep_in[i];
  qsort(keep, (size_t)k, sizeof keep[0], cmp_int);
  unsigned int from = 3;
  for (int i = 0; i < k; i++) {
    if ((unsigned int)keep[i] > from) close_range(from, (unsigned int)keep[i] - 1, 0);
    from = (unsigned int)keep[i] + 1;
  }
  close_range(from, ~0U, 0);
}

static void child_fatal(const char *what) {
  /* stderr may already be redirected; this is a best-effort diagnostic for a broken host. */
  dprintf(2, "prism: jail: %s: %s\n", what, strerror(errno));
  _exit(125);
}

static void child_setup(const prism_jail *j, const prism_jail_limits *lim, pid_t parent) {
  setpgid(0, 0);
  /* If the parent dies (crash, kill -9), so does the evaluation: no orphaned training runs. */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(125); /* it died before the line above took effect */
  prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  signal(SIGPIPE, SIG_DFL);

  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull < 0) child_fatal("open /dev/null");
  if (dup2(devnull, 0) < 0) child_fatal("stdin");
  /* stdout carries the parent's summary (--json): nothing from the child may land there. */
  if (lim->silence_output) {
    if (dup2(devnull, 1) < 0 || dup2(devnull, 2) < 0) child_fatal("silence output");
  } else if (dup2(2, 1) < 0) {
    child_fatal("stdout");
  }
  close_other_fds(lim->keep_fds, lim->n_keep_fds);
  if (chdir(j->workdir) != 0) child_fatal("chdir into the working directory");

  set_limit(RLIMIT_CORE, 0, 0);
  if (lim->nofile > 0) {
    struct rlimit cur;
    rlim_t hard = (rlim_t)lim->nofile;
    if (PRISM_JAIL_UNDER_VALGRIND() && getrlimit(RLIMIT_NOFILE, &cur) == 0) hard = cur.rlim_max;
    if (set_limit(RLIMIT_NOFILE, (rlim_t)lim->nofile, hard) != 0) child_fatal("RLIMIT_NOFILE");
  }
  /* The second layer under the seccomp filter's ban on new processes (and the only one without
   * it): a fork bomb stops at the limit. Counted per real uid over all its tasks, threads
   * included; the kernel ignores it for root. */
  if (j->nproc_limit > 0 && set_limit(RLIMIT_NPROC, (rlim_t)j->nproc_limit, (rlim_t)j->nproc_limit) != 0)
    child_fatal("RLIMIT_NPROC");
  if (lim->file_size >= 0 && set_limit(RLIMIT_FSIZE, (rlim_t)lim->file_size, (rlim_t)lim->file_size) != 0)
    child_fatal("RLIMIT_FSIZE");
  if (lim->cpu_seconds > 0) {
    rlim_t soft = (rlim_t)(lim->cpu_seconds + 0.999);
    if (set_limit(RLIMIT_CPU, soft, soft + 5) != 0) child_fatal("RLIMIT_CPU");
  }
  if (lim->address_space_headroom > 0 && !PRISM_JAIL_UNDER_ASAN) {
    uint64_t as = current_vm_bytes() + lim->address_space_headroom;
    if (set_limit(RLIMIT_AS, (rlim_t)as, (rlim_t)as) != 0) child_fatal("RLIMIT_AS");
  }
  /* Filesystem confinement, after every descriptor the child keeps is open. A rule that cannot be
   * applied on a kernel that has Landlock fails the child (closed, not open). */
  if (lim->landlock && kernel_layers_apply()) {
    prism_landlock_rule rules[PRISM_LANDLOCK_MAX_RULES + 2];
    int n = 0;
    for (int i = 0; i < lim->n_fs_rules && i < PRISM_LANDLOCK_MAX_RULES; i++) rules[n++] = lim->fs_rules[i];
    rules[n++] = (prism_landlock_rule){j->workdir, true};
    rules[n++] = (prism_landlock_rule){"/sys/devices/system/cpu", false}; /* thread-count probes */
    char why[512];
    if (prism_landlock_confine(rules, n, why, sizeof why) < 0) {
      dprintf(2, "prism: jail: Landlock filesystem confinement failed: %s\n", why);
      _exit(125);
    }
  }
  /* Last: nothing after this may need a denied call. Not under ASan, whose runtime forks a
   * symbolizer and whose leak checker uses ptrace and clone (seccomp_filter.h), nor under
   * valgrind (above). */
  if (lim->seccomp && kernel_layers_apply()) {
    int rc = prism_seccomp_install();
    if (rc != 0) {
      errno = -rc;
      child_fatal("installing the seccomp filter");
    }
  }
}

bool prism_jail_seccomp_active(void) { return kernel_layers_apply(); }

int prism_jail_landlock_abi(void) {
  return kernel_layers_apply() ? prism_landlock_abi() : 0;
}

/* ------------------------------------------------------------------ parent side */

static bool all_digits(const char *s) {
  if (!*s) return false;
  for (; *s; s++)
    if (*s < '0' || *s > '9') return false;
  return true;
}

/* The value after "\nKEY" in a /proc status text, or -1. */
static long status_field(const char *text, const char *key) {
  const char *p = strstr(text, key);
  return p ? strtol(p + strlen(key), NULL, 10) : -1;
}

/* Tasks (threads included) whose real uid is uid, as RLIMIT_NPROC counts them; -1 when /proc
 * cannot be read. A process that ends while we look is simply not counted. */
static long count_uid_tasks(uid_t uid) {
  DIR *d = opendir("/proc");
  if (!d) return -1;
  long total = 0;
  struct dirent *e;
  char path[64], buf[8192];
  while ((e = readdir(d))) {
    if (!all_digits(e->d_name) || strlen(e->d_name) > 20) continue;
    snprintf(path, sizeof path, "/proc/%s/status", e->d_name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) continue;
    buf[n] = '\0';
    long real_uid = status_field(buf, "\nUid:"); /* real, effective, saved, fs: the first */
    long threads = status_field(buf, "\nThreads:");
    if (real_uid == (long)uid && threads > 0) total += threads;
  }
  closedir(d);
  return total;
}

/* The calling process's children (of all its threads), at most cap; returns how many there are
 * (more than cap when they did not fit), or -1 when /proc cannot be read. Zombies are listed too. */
static int list_children(pid_t *out, int cap) {
  DIR *d = opendir("/proc/self/task");
  if (!d) return -1;
  int n = 0;
  struct dirent *e;
  char path[64], buf[4096];
  while ((e = readdir(d))) {
    if (!all_digits(e->d_name) || strlen(e->d_name) > 20) continue;
    snprintf(path, sizeof path, "/proc/self/task/%s/children", e->d_name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    /* Space-separated pids; a read may end inside a number, so carry the tail over. */
    size_t have = 0;
    for (;;) {
      ssize_t r = read(fd, buf + have, sizeof buf - 1 - have);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0 && have == 0) break;
      size_t len = have + (size_t)(r > 0 ? r : 0);
      buf[len] = '\0';
      char *p = buf, *end;
      for (;;) {
        while (*p == ' ' || *p == '\n') p++;
        if (!*p) break;
        long v = strtol(p, &end, 10);
        if (!*end && r > 0) break; /* the number may go on in the next read */
        if (end == p) break;
        if (n < cap) out[n] = (pid_t)v;
        n++;
        p = end;
      }
      have = strlen(p);
      memmove(buf, p, have);
      if (r <= 0) break;
    }
    close(fd);
  }
  closedir(d);
  return n;
}

static bool is_prior_child(const prism_jail *j, pid_t pid) {
  for (int i = 0; i < j->n_prior_children; i++)
    if (j->prior_children[i] == pid) return true;
  return false;
}

/* SIGKILLs and reaps every child of ours that was not there when the jail started: descendants of
 * the jail child, reparented to us (child subreaper) when their parents died. Killing one hands
 * its own children to us, so this goes round until none is left (bounded: each round empties one
 * generation, and a killed process cannot fork). */
static void sweep_strays(const prism_jail *j) {
  if (j->n_prior_children < 0) return;
  for (int round = 0; round < 1024; round++) {
    pid_t kids[256];
    int n = list_children(kids, 256);
    if (n > 256) n = 256;
    int strays = 0;
    for (int i = 0; i < n; i++) {
      if (is_prior_child(j, kids[i])) continue;
      kill(kids[i], SIGKILL);
      while (waitpid(kids[i], NULL, 0) < 0 && errno == EINTR) {
      }
      strays++;
    }
    if (!strays) return;
  }
}

int prism_jail_start(prism_jail *j, const prism_jail_limits *lim, prism_jail_fn fn, void *arg, prism_failure *err) {
  memset(j, 0, sizeof *j);
  /* Once per process: descendants the child leaves behind become our children, not init's, so
   * the sweep after the child ends can find them (also ones that left its process group). */
  static bool subreaper;
  if (!subreaper) {
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0)
      return prism_failure_set(err, "prism:internal", NULL, 0, "cannot become a child subreaper: %s", strerror(errno));
    subreaper = true;
  }
  int prior = list_children(j->prior_children, PRISM_JAIL_MAX_PRIOR_CHILDREN);
  if (prior < 0)
    return prism_failure_set(err, "prism:internal", NULL, 0, "cannot list child processes in /proc/self/task: %s",
                             strerror(errno));
  j->n_prior_children = prior <= PRISM_JAIL_MAX_PRIOR_CHILDREN ? prior : -1;
  if (lim->nproc_headroom > 0) {
    long tasks = count_uid_tasks(getuid());
    if (tasks < 0)
      return prism_failure_set(err, "prism:internal", NULL, 0, "cannot count this user's processes in /proc: %s",
                               strerror(errno));
    j->nproc_limit = (uint64_t)tasks + (uint64_t)lim->nproc_headroom;
  }
  const char *tmp = getenv("TMPDIR");
  if (!tmp || !*tmp || tmp[0] != '/') tmp = "/tmp";
  int n = snprintf(j->workdir, sizeof j->workdir, "%s/prism-jail-XXXXXX", tmp);
  if (n < 0 || (size_t)n >= sizeof j->workdir)
    return prism_failure_set(err, "prism:internal", NULL, 0, "TMPDIR is too long for the jail's working directory");
  if (!mkdtemp(j->workdir)) {
    int e = errno;
    j->workdir[0] = '\0';
    return prism_failure_set(err, "prism:internal", NULL, 0, "cannot create the jail's working directory in %s: %s", tmp,
                             strerror(e));
  }
  fflush(stdout);
  fflush(stderr);
  j->started = prism_now();
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    prism_jail_cleanup(j);
    return prism_failure_set(err, "prism:internal", NULL, 0, "fork failed: %s", strerror(e));
  }
  if (pid == 0) {
    child_setup(j, lim, parent);
    /* On a 1 GiB stack (cstack.h): deep C recursion through LuaJIT callbacks ends in a Lua
     * error, not SIGSEGV. */
    int status = prism_cstack_run(fn, arg, PRISM_CSTACK_BYTES);
    if (status < 0) child_fatal("starting the job thread");
    fflush(NULL);
    _exit(status & 0xff);
  }
  setpgid(pid, pid); /* also here: whichever runs first, the group exists before any kill */
  j->pid = pid;
  return 0;
}

static void kill_child(prism_jail *j) {
  if (j->pid <= 0) return;
  kill(-j->pid, SIGKILL);
  kill(j->pid, SIGKILL);
}

static void drain(int fd, const prism_jail_watch *w, bool *open_fd) {
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) {
      if (w->on_data) w->on_data(w->arg, buf, (size_t)n);
      continue;
    }
    if (n == 0) *open_fd = false;
    else if (errno == EINTR) continue;
    else if (errno != EAGAIN && errno != EWOULDBLOCK) *open_fd = false;
    return;
  }
}

int prism_jail_wait(prism_jail *j, const prism_jail_watch *w, prism_jail_result *res, prism_failure *err) {
  memset(res, 0, sizeof *res);
  int fd = w->read_fd;
  bool fd_open = fd >= 0;
  if (fd_open) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  double tick_s = w->tick_s > 0 ? w->tick_s : 0.5;
  double next_tick = j->started + tick_s;
  bool killed = false;
  int status = 0;
  struct rusage ru;
  memset(&ru, 0, sizeof ru);
  for (;;) {
    /* WNOWAIT: the child stays a zombie, so its pid (the process group id) cannot be reused
     * before the group is killed below. */
    siginfo_t si;
    memset(&si, 0, sizeof si);
    int r = waitid(P_PID, (id_t)j->pid, &si, WEXITED | WNOHANG | WNOWAIT);
    if (r == 0 && si.si_pid == j->pid) break;
    if (r < 0 && errno != EINTR) {
      int e = errno;
      kill_child(j);
      return prism_failure_set(err, "prism:internal", NULL, 0, "waiting for the child process failed: %s", strerror(e));
    }
    double now = prism_now();
    if (!killed) {
      if (prism_jail_interrupted()) {
        res->interrupted = true;
        killed = true;
        kill_child(j);
      } else if (w->timeout_s > 0 && now - j->started >= w->timeout_s) {
        res->timed_out = true;
        killed = true;
        kill_child(j);
      } else if (w->on_tick && now >= next_tick) {
        next_tick = now + tick_s;
        int code = w->on_tick(w->arg);
        if (code) {
          res->tick_code = code;
          killed = true;
          kill_child(j);
        }
      }
    }
    /* Wake for data, for the next tick, or at most every 50 ms to reap the child promptly. */
    double until = 0.05;
    if (!killed && w->timeout_s > 0) {
      double left = j->started + w->timeout_s - now;
      if (left < until) until = left > 0 ? left : 0;
    }
    int ms = (int)(until * 1000.0) + 1;
    if (fd_open) {
      struct pollfd p = {.fd = fd, .events = POLLIN};
      int pr = poll(&p, 1, ms);
      if (pr > 0) drain(fd, w, &fd_open);
    } else {
      struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)ms * 1000000L};
      nanosleep(&ts, NULL);
    }
  }
  /* What the child left in its process group, then the child itself, then the strays that left
   * the group (setsid) or were reparented to us. */
  kill(-j->pid, SIGKILL);
  while (wait4(j->pid, &status, 0, &ru) < 0 && errno == EINTR) {
  }
  sweep_strays(j);
  if (fd_open) drain(fd, w, &fd_open); /* whatever the child wrote just before it ended */
  res->wall_seconds = prism_now() - j->started;
  res->peak_rss_bytes = (int64_t)ru.ru_maxrss * 1024;
  if (WIFEXITED(status)) {
    res->exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    res->signal = WTERMSIG(status);
  }
  j->pid = 0;
  return 0;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)ftw;
  if (flag == FTW_DP || flag == FTW_D) rmdir(path);
  else unlink(path);
  return 0;
}

void prism_jail_cleanup(prism_jail *j) {
  if (j->pid > 0) {
    kill_child(j);
    while (waitpid(j->pid, NULL, 0) < 0 && errno == EINTR) {
    }
    j->pid = 0;
    sweep_strays(j);
  }
  if (j->workdir[0]) {
    nftw(j->workdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    j->workdir[0] = '\0';
  }
}
