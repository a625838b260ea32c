/* jail.c — fork a child into the evaluation jail and watch it (see jail.h). The child side runs
 * between fork and the job with only async-signal-safe-ish work (the parent is single-threaded
 * when it forks, so this is safe): process group, parent-death signal, descriptors, working
 * directory, rlimits. The parent side is one poll() loop that drains the report pipe, runs the
 * periodic check, enforces the hard wall-clock bound and reaps the child with wait4 so the peak
 * RSS comes from the kernel, not from anything the child claims. */
#define _GNU_SOURCE
#include "jail.h"
#include "seccomp_filter.h"

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

static double now_monotonic(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

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
  if (lim->nofile > 0 && set_limit(RLIMIT_NOFILE, (rlim_t)lim->nofile, (rlim_t)lim->nofile) != 0)
    child_fatal("RLIMIT_NOFILE");
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
  /* Last: nothing after this may need a denied call. Not under ASan, whose runtime forks a
   * symbolizer and whose leak checker uses ptrace and clone (seccomp_filter.h). */
  if (lim->seccomp && !PRISM_JAIL_UNDER_ASAN) {
    int rc = prism_seccomp_install();
    if (rc != 0) {
      errno = -rc;
      child_fatal("installing the seccomp filter");
    }
  }
}

/* ------------------------------------------------------------------ parent side */

int prism_jail_start(prism_jail *j, const prism_jail_limits *lim, prism_jail_fn fn, void *arg, prism_failure *err) {
  memset(j, 0, sizeof *j);
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
  j->started = now_monotonic();
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    prism_jail_cleanup(j);
    return prism_failure_set(err, "prism:internal", NULL, 0, "fork failed: %s", strerror(e));
  }
  if (pid == 0) {
    child_setup(j, lim, parent);
    int status = fn(arg);
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
    pid_t r = wait4(j->pid, &status, WNOHANG, &ru);
    if (r == j->pid) break;
    if (r < 0 && errno != EINTR) {
      int e = errno;
      kill_child(j);
      return prism_failure_set(err, "prism:internal", NULL, 0, "waiting for the child process failed: %s", strerror(e));
    }
    double now = now_monotonic();
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
  if (fd_open) drain(fd, w, &fd_open); /* whatever the child wrote just before it ended */
  res->wall_seconds = now_monotonic() - j->started;
  res->peak_rss_bytes = (int64_t)ru.ru_maxrss * 1024;
  if (WIFEXITED(status)) {
    res->exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    res->signal = WTERMSIG(status);
  }
  /* Anything left in the process group (none today; grandchildren once threads/forks change). */
  kill(-j->pid, SIGKILL);
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
    waitpid(j->pid, NULL, 0);
    j->pid = 0;
  }
  if (j->workdir[0]) {
    nftw(j->workdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    j->workdir[0] = '\0';
  }
}
