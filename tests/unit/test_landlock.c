/* test_landlock.c — filesystem confinement of jail children (runtime/landlock.c). Each case
 * forks a process that confines itself and then tries one thing; the exit status says what
 * happened (0 = the expected outcome). Covered: reading inside a read rule; reading, listing,
 * creating and truncating outside every rule is refused; a read rule does not allow writing;
 * a write rule allows create, write, truncate, rename within the directory and unlink, but not
 * symlinks; a missing rule path is skipped; a descriptor opened before confinement still works;
 * and (ABI 6+) a confined process cannot signal a process outside its domain. Without Landlock
 * in the kernel the cases print "skipped" and are not counted. Through the jail: a child started
 * with limits.landlock gets the rules plus its working directory, and nothing else. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "jail.h"
#include "landlock.h"

static char root[256], rdir[300], wdir[300], outside[300];

static void put(const char *dir, const char *name, const char *text) {
  char p[400];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  FILE *f = fopen(p, "w");
  if (f) {
    fputs(text, f);
    fclose(f);
  }
}

/* 0 when path opens with flags, else errno. */
static int try_open(const char *dir, const char *name, int flags) {
  char p[400];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  int fd = open(p, flags | O_CLOEXEC, 0644);
  if (fd < 0) return errno;
  close(fd);
  return 0;
}

typedef int (*case_fn)(void);

/* Runs fn in a confined child (rules: rdir read, wdir write, and a missing path); returns its
 * exit status, or -1 when it did not exit normally, or 99 when confinement itself failed. */
static int confined(case_fn fn) {
  pid_t pid = fork();
  if (pid == 0) {
    prism_landlock_rule rules[] = {{rdir, false}, {wdir, true}, {"/nonexistent/prism-landlock", false}};
    char why[256];
    if (prism_landlock_confine(rules, 3, why, sizeof why) <= 0) {
      fprintf(stderr, "confine: %s\n", why);
      _exit(99);
    }
    _exit(fn());
  }
  int st;
  if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st)) return -1;
  return WEXITSTATUS(st);
}

static int read_inside(void) { return try_open(rdir, "data.txt", O_RDONLY); }
static int list_inside(void) { return try_open(rdir, ".", O_RDONLY | O_DIRECTORY); }
static int read_outside(void) { return try_open(outside, "secret.txt", O_RDONLY) == EACCES ? 0 : 1; }
static int list_outside(void) { return try_open(outside, ".", O_RDONLY | O_DIRECTORY) == EACCES ? 0 : 1; }
static int read_etc(void) { return try_open("/etc", "passwd", O_RDONLY) == EACCES ? 0 : 1; }
static int create_outside(void) { return try_open(outside, "planted.txt", O_WRONLY | O_CREAT) == EACCES ? 0 : 1; }
static int write_readonly(void) { return try_open(rdir, "data.txt", O_WRONLY) == EACCES ? 0 : 1; }
static int create_readonly(void) { return try_open(rdir, "new.txt", O_WRONLY | O_CREAT) == EACCES ? 0 : 1; }

static int write_inside(void) {
  char a[400], b[400];
  snprintf(a, sizeof a, "%s/a.tmp", wdir);
  snprintf(b, sizeof b, "%s/a.json", wdir);
  int fd = open(a, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) return 1;
  if (write(fd, "{}", 2) != 2) return 2;
  close(fd);
  if (truncate(a, 1) != 0) return 3;
  if (rename(a, b) != 0) return 4; /* the atomic trained-state write renames within the dir */
  if (unlink(b) != 0) return 5;
  return 0;
}

static int symlink_inside(void) {
  char l[400];
  snprintf(l, sizeof l, "%s/link", wdir);
  return symlink("/etc/passwd", l) != 0 && errno == EACCES ? 0 : 1;
}

static int early_fd = -1;
static int use_early_fd(void) {
  char c;
  return pread(early_fd, &c, 1, 0) == 1 && c == 's' ? 0 : 1;
}

static pid_t victim;
static int signal_outside(void) { return kill(victim, SIGTERM) != 0 && errno == EPERM ? 0 : 1; }

/* A jailed job: reads inside the read rule, writes inside the write rule and its working
 * directory; the exit status is a bitmask of what was refused (0 = all allowed). Bit 4: a file
 * outside every rule was readable. */
static int jailed_job(void *arg) {
  (void)arg;
  int bad = 0;
  if (try_open(rdir, "data.txt", O_RDONLY) != 0) bad |= 1;
  if (try_open(wdir, "saved.json", O_WRONLY | O_CREAT) != 0) bad |= 2;
  if (try_open(".", "scratch.txt", O_WRONLY | O_CREAT) != 0) bad |= 4;
  if (try_open(outside, "secret.txt", O_RDONLY) != EACCES) bad |= 8;
  return bad;
}

static void test_jail(void) {
  prism_jail_limits lim = {.file_size = -1, .landlock = true};
  lim.fs_rules[lim.n_fs_rules++] = (prism_landlock_rule){rdir, false};
  lim.fs_rules[lim.n_fs_rules++] = (prism_landlock_rule){wdir, true};
  prism_jail j;
  prism_failure f;
  prism_jail_result res;
  prism_jail_watch w = {.read_fd = -1, .timeout_s = 30};
  int rc = prism_jail_start(&j, &lim, jailed_job, NULL, &f);
  if (rc == 0) rc = prism_jail_wait(&j, &w, &res, &f);
  prism_jail_cleanup(&j);
  char detail[64];
  snprintf(detail, sizeof detail, "exit %d signal %d", res.exit_code, res.signal);
  check(rc == 0 && res.signal == 0 && res.exit_code == 0,
        "jail: the rules and the working directory are usable, the rest is refused", detail);
}

int main(void) {
  const char *tmp = getenv("TMPDIR") && getenv("TMPDIR")[0] == '/' ? getenv("TMPDIR") : "/tmp";
  snprintf(root, sizeof root, "%s/prism-test-landlock.XXXXXX", tmp);
  if (!mkdtemp(root)) {
    perror("mkdtemp");
    return 2;
  }
  snprintf(rdir, sizeof rdir, "%s/read", root);
  snprintf(wdir, sizeof wdir, "%s/write", root);
  snprintf(outside, sizeof outside, "%s/outside", root);
  mkdir(rdir, 0755);
  mkdir(wdir, 0755);
  mkdir(outside, 0755);
  put(rdir, "data.txt", "train text\n");
  put(outside, "secret.txt", "secret val text\n");

  int abi = prism_landlock_abi();
  if (abi <= 0) {
    printf("skipped: this kernel has no Landlock (or it is disabled): the confinement checks did not run\n");
  } else {
    printf("kernel Landlock ABI %d\n", abi);
    check(confined(read_inside) == 0, "a read rule: files inside can be read", NULL);
    check(confined(list_inside) == 0, "a read rule: the directory can be listed", NULL);
    check(confined(read_outside) == 0, "a file outside every rule cannot be read (EACCES)", NULL);
    check(confined(list_outside) == 0, "a directory outside every rule cannot be listed", NULL);
    check(confined(read_etc) == 0, "/etc/passwd cannot be read", NULL);
    check(confined(create_outside) == 0, "no file can be created outside the write rule", NULL);
    check(confined(write_readonly) == 0, "a read rule does not allow writing", NULL);
    check(confined(create_readonly) == 0, "a read rule does not allow creating", NULL);
    int w = confined(write_inside);
    char detail[64];
    snprintf(detail, sizeof detail, "step %d failed", w);
    check(w == 0, "a write rule: create, write, truncate, rename, unlink", w ? detail : NULL);
    check(confined(symlink_inside) == 0, "a write rule still refuses symlinks", NULL);
    char p[400];
    snprintf(p, sizeof p, "%s/secret.txt", outside);
    early_fd = open(p, O_RDONLY | O_CLOEXEC);
    check(early_fd >= 0 && confined(use_early_fd) == 0, "a descriptor opened before confinement keeps working", NULL);
    if (early_fd >= 0) close(early_fd);
    if (abi >= 6) {
      victim = fork();
      if (victim == 0) {
        pause();
        _exit(0);
      }
      int r = confined(signal_outside);
      int alive = kill(victim, 0) == 0;
      kill(victim, SIGKILL);
      waitpid(victim, NULL, 0);
      check(r == 0 && alive, "ABI 6+: no signals to a process outside the domain", NULL);
    } else {
      printf("skipped: signal scoping needs Landlock ABI 6 (this kernel has %d)\n", abi);
    }
    char why[128];
    prism_landlock_rule bad = {"/proc/self/fd/999999", false};
    pid_t pid = fork();
    if (pid == 0) _exit(prism_landlock_confine(&bad, 1, why, sizeof why) > 0 ? 0 : 1); /* ENOENT: skipped */
    int st;
    waitpid(pid, &st, 0);
    check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a missing rule path is skipped, confinement still applies", NULL);
    if (prism_jail_landlock_abi() > 0) test_jail();
    else printf("skipped: the jail applies no Landlock in this build (ASan or valgrind)\n");
  }
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", root);
  return check_summary();
}
