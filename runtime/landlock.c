/* landlock.c — see landlock.h. Debian 12's <linux/landlock.h> describes ABI 2 only, so the
 * newer rights and the larger ruleset attribute are spelled out here; which of them are used
 * follows the ABI the running kernel reports, so an older kernel gets a ruleset it accepts. */
#define _GNU_SOURCE
#include "landlock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#define __NR_landlock_add_rule 445
#define __NR_landlock_restrict_self 446
#endif

/* Rights (uapi/linux/landlock.h). */
enum {
  FS_EXECUTE = 1 << 0,
  FS_WRITE_FILE = 1 << 1,
  FS_READ_FILE = 1 << 2,
  FS_READ_DIR = 1 << 3,
  FS_REMOVE_DIR = 1 << 4,
  FS_REMOVE_FILE = 1 << 5,
  FS_MAKE_CHAR = 1 << 6,
  FS_MAKE_DIR = 1 << 7,
  FS_MAKE_REG = 1 << 8,
  FS_MAKE_SOCK = 1 << 9,
  FS_MAKE_FIFO = 1 << 10,
  FS_MAKE_BLOCK = 1 << 11,
  FS_MAKE_SYM = 1 << 12,
  FS_REFER = 1 << 13,     /* ABI 2 */
  FS_TRUNCATE = 1 << 14,  /* ABI 3 */
  FS_IOCTL_DEV = 1 << 15, /* ABI 5 */
  NET_BIND_TCP = 1 << 0,  /* ABI 4 */
  NET_CONNECT_TCP = 1 << 1,
  SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0, /* ABI 6 */
  SCOPE_SIGNAL = 1 << 1,
  RULE_PATH_BENEATH = 1,
  CREATE_RULESET_VERSION = 1,
};

struct ruleset_attr {
  uint64_t handled_access_fs;
  uint64_t handled_access_net; /* ABI 4 */
  uint64_t scoped;             /* ABI 6 */
};

struct __attribute__((packed)) path_beneath_attr {
  uint64_t allowed_access;
  int32_t parent_fd;
};

int prism_landlock_abi(void) {
  long v = syscall(__NR_landlock_create_ruleset, NULL, 0, CREATE_RULESET_VERSION);
  return v > 0 ? (int)v : 0;
}

/* Every filesystem right the kernel knows at this ABI: all of them are denied unless a rule
 * grants them. */
static uint64_t fs_rights(int abi) {
  uint64_t r = (uint64_t)FS_MAKE_SYM * 2 - 1; /* ABI 1: bits 0..12 */
  if (abi >= 2) r |= FS_REFER;
  if (abi >= 3) r |= FS_TRUNCATE;
  if (abi >= 5) r |= FS_IOCTL_DEV;
  return r;
}

static int fail(char *why, size_t cap, const char *what, const char *path) {
  int e = errno;
  snprintf(why, cap, "%s%s%s: %s", what, path ? " " : "", path ? path : "", strerror(e));
  errno = e;
  return -1;
}

int prism_landlock_confine(const prism_landlock_rule *rules, int n, char *why, size_t whycap) {
  int abi = prism_landlock_abi();
  if (abi <= 0) return 0;
  uint64_t handled = fs_rights(abi);
  struct ruleset_attr attr = {.handled_access_fs = handled};
  size_t attr_size = sizeof attr.handled_access_fs;
  if (abi >= 4) {
    /* No TCP at all (seccomp already refuses sockets; this holds even for an inherited one). */
    attr.handled_access_net = NET_BIND_TCP | NET_CONNECT_TCP;
    attr_size += sizeof attr.handled_access_net;
  }
  if (abi >= 6) {
    /* No signals to, and no abstract sockets of, processes outside this child's domain. */
    attr.scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL;
    attr_size += sizeof attr.scoped;
  }
  int rs = (int)syscall(__NR_landlock_create_ruleset, &attr, attr_size, 0);
  if (rs < 0) return fail(why, whycap, "landlock_create_ruleset", NULL);

  /* Reading: files and directory listings. Writing: also create, write, truncate, remove files
   * and directories (ctx:save, the atomic trained-state write, clearing the artifacts dir).
   * Never: execute, device/socket/fifo/symlink creation, cross-directory links or renames. */
  const uint64_t read = FS_READ_FILE | FS_READ_DIR;
  const uint64_t write = read | FS_WRITE_FILE | FS_REMOVE_FILE | FS_REMOVE_DIR | FS_MAKE_REG | FS_MAKE_DIR |
                         (abi >= 3 ? FS_TRUNCATE : 0);
  for (int i = 0; i < n; i++) {
    if (!rules[i].path || !rules[i].path[0]) continue;
    int fd = open(rules[i].path, O_PATH | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) continue; /* nothing there to grant (e.g. tokenizers not staged) */
      close(rs);
      return fail(why, whycap, "cannot open", rules[i].path);
    }
    struct path_beneath_attr pb = {.allowed_access = (rules[i].write ? write : read) & handled, .parent_fd = fd};
    long rc = syscall(__NR_landlock_add_rule, rs, RULE_PATH_BENEATH, &pb, 0);
    if (rc != 0 && errno == EINVAL) {
      /* A regular file takes only file rights: retry without the directory ones. */
      pb.allowed_access &= FS_READ_FILE | FS_WRITE_FILE | FS_TRUNCATE | FS_EXECUTE | FS_IOCTL_DEV;
      rc = syscall(__NR_landlock_add_rule, rs, RULE_PATH_BENEATH, &pb, 0);
    }
    int e = errno;
    close(fd);
    if (rc != 0) {
      errno = e;
      close(rs);
      return fail(why, whycap, "landlock_add_rule", rules[i].path);
    }
  }
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    close(rs);
    return fail(why, whycap, "PR_SET_NO_NEW_PRIVS", NULL);
  }
  if (syscall(__NR_landlock_restrict_self, rs, 0) != 0) {
    close(rs);
    return fail(why, whycap, "landlock_restrict_self", NULL);
  }
  close(rs);
  return abi;
}
