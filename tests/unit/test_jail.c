/* test_jail.c — the process jail (runtime/jail.c): exit codes and signals come back as they
 * happened, the watchdog kills a hanging child at its bound, a child writing far more than a pipe
 * buffer is drained without deadlock, the periodic check can kill, descriptors and the working
 * directory are what the jail promises, RLIMIT_FSIZE stops a runaway writer, and the working
 * directory is removed afterwards. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jail.h"

static int passed, failed;

static void check(int ok, const char *what) {
  printf("%s %s\n", ok ? "ok  " : "FAIL", what);
  if (ok) passed++;
  else failed++;
}

typedef struct sink {
  size_t bytes;
  char first[64];
} sink;

static void on_data(void *arg, const char *buf, size_t n) {
  sink *s = arg;
  if (s->bytes < sizeof s->first - 1) {
    size_t k = n < sizeof s->first - 1 - s->bytes ? n : sizeof s->first - 1 - s->bytes;
    memcpy(s->first + s->bytes, buf, k);
  }
  s->bytes += n;
}

typedef struct job {
  int kind;
  int fd;
} job;

static int job_main(void *arg) {
  job *jb = arg;
  switch (jb->kind) {
  case 0: return 7;
  case 1: for (;;) pause();
  case 2: raise(SIGSEGV); return 0;
  case 3: { /* 4 MiB through the pipe: far past the 64 KiB pipe buffer */
    char block[4096];
    memset(block, 'x', sizeof block);
    for (int i = 0; i < 1024; i++)
      if (write(jb->fd, block, sizeof block) != (ssize_t)sizeof block) return 3;
    return 0;
  }
  case 4: { /* what the jail promises: empty cwd, stdin at EOF, only the report fd open */
    DIR *d = opendir(".");
    int entries = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
      if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) entries++;
    if (d) closedir(d);
    char c;
    ssize_t r = read(0, &c, 1);
    int open_high = 0;
    for (int fd = 3; fd < 1024; fd++)
      if (fd != jb->fd && fcntl(fd, F_GETFD) >= 0) open_high++;
    dprintf(jb->fd, "%d %d %d", entries, (int)r, open_high);
    return 0;
  }
  case 5: { /* write past RLIMIT_FSIZE */
    int fd = open("big", O_WRONLY | O_CREAT | O_TRUNC, 0600);
    char block[4096];
    memset(block, 'y', sizeof block);
    for (int i = 0; i < 1024; i++)
      if (write(fd, block, sizeof block) < 0) return 9;
    return 0;
  }
  }
  return 99;
}

static int tick_kill(void *arg) {
  (void)arg;
  return 42;
}

static prism_jail_result run(int kind, double timeout, int (*tick)(void *), sink *s, char *workdir_out) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) abort();
  prism_jail_limits lim = {.nofile = 64, .file_size = 1 << 20, .cpu_seconds = 60, .address_space_headroom = 8ull << 30};
  lim.keep_fds[lim.n_keep_fds++] = p[1];
  lim.silence_output = kind == 2; /* the deliberate crash's sanitizer report is noise here */
  job jb = {.kind = kind, .fd = p[1]};
  prism_jail j;
  prism_failure f;
  prism_jail_result res;
  memset(&res, 0, sizeof res);
  if (prism_jail_start(&j, &lim, job_main, &jb, &f) != 0) {
    printf("start failed: %s\n", f.message);
    exit(1);
  }
  close(p[1]);
  if (workdir_out) snprintf(workdir_out, 4096, "%s", j.workdir);
  prism_jail_watch w = {.read_fd = p[0], .timeout_s = timeout, .on_data = on_data, .on_tick = tick, .tick_s = 0.1, .arg = s};
  if (prism_jail_wait(&j, &w, &res, &f) != 0) {
    printf("wait failed: %s\n", f.message);
    exit(1);
  }
  close(p[0]);
  prism_jail_cleanup(&j);
  return res;
}

int main(void) {
  sink s;
  memset(&s, 0, sizeof s);
  char wd[4096];
  prism_jail_result r = run(0, 10, NULL, &s, wd);
  check(r.signal == 0 && r.exit_code == 7 && !r.timed_out, "exit status comes back");
  struct stat st;
  check(stat(wd, &st) != 0 && errno == ENOENT, "working directory removed after cleanup");
  check(r.peak_rss_bytes > 0, "peak RSS measured by the kernel");

  memset(&s, 0, sizeof s);
  r = run(1, 0.5, NULL, &s, NULL);
  check(r.timed_out && r.signal == SIGKILL, "watchdog SIGKILLs a hanging child");
  check(r.wall_seconds >= 0.5 && r.wall_seconds < 3.0, "watchdog fires at its bound");

  memset(&s, 0, sizeof s);
  r = run(2, 10, NULL, &s, NULL);
  /* under AddressSanitizer the SEGV handler aborts: SIGABRT */
  check((r.signal == SIGSEGV || r.signal == SIGABRT) && !r.timed_out, "a crash is reported as its signal");

  memset(&s, 0, sizeof s);
  r = run(3, 30, NULL, &s, NULL);
  check(r.exit_code == 0 && s.bytes == 4u << 20, "4 MiB of records drained without deadlock");

  memset(&s, 0, sizeof s);
  r = run(1, 10, tick_kill, &s, NULL);
  check(r.tick_code == 42 && r.signal == SIGKILL && !r.timed_out, "the periodic check can kill the child");

  memset(&s, 0, sizeof s);
  r = run(4, 10, NULL, &s, NULL);
  check(r.exit_code == 0 && strcmp(s.first, "0 0 0") == 0, "empty cwd, stdin at EOF, no stray descriptors");
  if (strcmp(s.first, "0 0 0")) printf("     got '%s'\n", s.first);

  memset(&s, 0, sizeof s);
  r = run(5, 10, NULL, &s, NULL);
  check(r.signal == SIGXFSZ, "RLIMIT_FSIZE stops a runaway writer (SIGXFSZ)");

  check(strcmp(prism_jail_signal_name(SIGXCPU), "SIGXCPU") == 0, "signal names");
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
