/* bundle.c — intake of a submission (SPEC §2): walks a directory bundle (or hands a .zip to
 * bundle_zip.c), applies the path, suffix, count and size rules to every file before its bytes
 * are kept, then resolves the two-script contract from prism.yaml (bundle_yaml.c) or the
 * defaults. The directory walk uses openat/fstatat with O_NOFOLLOW at every level, so a symlink
 * or a device file anywhere inside is rejected, never followed, and a file swapped for a link
 * between the stat and the open is caught by comparing inode numbers. Deliberate differences
 * from the reference (§5.2–5.3): a path that leaves the root is rejected instead of rewritten,
 * duplicates after normalization are rejected instead of overwritten, and declared entrypoints
 * are matched exactly (no same-basename fallback). */
#include "bundle_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

const char *prism_bundle_fmt_count(char buf[32], unsigned long long v) {
  char digits[24];
  int n = snprintf(digits, sizeof digits, "%llu", v), o = 0;
  for (int i = 0; i < n; i++) {
    if (i > 0 && (n - i) % 3 == 0) buf[o++] = ',';
    buf[o++] = digits[i];
  }
  buf[o] = '\0';
  return buf;
}

const char *prism_bundle_show(char out[160], const char *s) {
  size_t o = 0;
  for (const unsigned char *p = (const unsigned char *)s; *p && o < 150; p++) {
    if (*p < 0x20 || *p == 0x7f) o += (size_t)snprintf(out + o, 160 - o, "\\x%02x", *p);
    else out[o++] = (char)*p;
  }
  if (o >= 150) { memcpy(out + 150, "...", 3); o = 153; }
  out[o] = '\0';
  return out;
}

static int utf8_valid(const unsigned char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned c = s[i];
    if (c < 0x80) { i++; continue; }
    int len;
    unsigned cp;
    if (c >= 0xc2 && c <= 0xdf) { len = 2; cp = c & 0x1f; }
    else if (c >= 0xe0 && c <= 0xef) { len = 3; cp = c & 0x0f; }
    else if (c >= 0xf0 && c <= 0xf4) { len = 4; cp = c & 0x07; }
    else return 0;
    if (i + (size_t)len > n) return 0;
    for (int k = 1; k < len; k++) {
      if ((s[i + k] & 0xc0) != 0x80) return 0;
      cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
      return 0;
    i += (size_t)len;
  }
  return 1;
}

/* Raw names longer than this are rejected before normalization bounds its work. */
#define RAW_PATH_MAX 4096

int prism_bundle_normalize_path(const char *raw, char *out, const char **why) {
  size_t len = strlen(raw);
  if (len == 0) { *why = "the path is empty"; return -1; }
  if (len > RAW_PATH_MAX) { *why = "the path is longer than 4096 bytes"; return -1; }
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)raw[i];
    if (c < 0x20 || c == 0x7f) { *why = "the path contains a control character"; return -1; }
  }
  if (!utf8_valid((const unsigned char *)raw, len)) { *why = "the path is not valid UTF-8"; return -1; }
  if (raw[0] == '/' || raw[0] == '\\') { *why = "absolute paths are not allowed"; return -1; }
  if (((raw[0] | 0x20) >= 'a' && (raw[0] | 0x20) <= 'z') && raw[1] == ':') {
    *why = "absolute paths (drive letters) are not allowed";
    return -1;
  }
  char buf[RAW_PATH_MAX + 1];
  size_t starts[RAW_PATH_MAX / 2 + 1], o = 0;
  int depth = 0;
  size_t i = 0;
  while (i <= len) {
    size_t j = i;
    while (j < len && raw[j] != '/' && raw[j] != '\\') j++;
    size_t sl = j - i;
    const char *seg = raw + i;
    if (sl == 0 || (sl == 1 && seg[0] == '.')) {
      /* empty and "." segments vanish */
    } else if (sl == 2 && seg[0] == '.' && seg[1] == '.') {
      if (depth == 0) { *why = "the path leaves the bundle root ('..')"; return -1; }
      o = starts[--depth];
    } else {
      starts[depth++] = o;
      if (o > 0) buf[o++] = '/';
      memcpy(buf + o, seg, sl);
      o += sl;
    }
    i = j + 1;
  }
  if (o == 0) { *why = "the path names no file"; return -1; }
  if (o > PRISM_BUNDLE_MAX_PATH) { *why = "the normalized path is longer than 255 bytes"; return -1; }
  memcpy(out, buf, o);
  out[o] = '\0';
  return 0;
}

static const char *const allowed_suffixes[] = {".lua", ".yaml", ".yml", ".json", ".txt", ".md"};

int prism_bundle_suffix_allowed(const char *path) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  const char *dot = strrchr(base, '.');
  if (!dot || dot == base) return 0; /* ".lua" is a dotfile with no suffix, as in Python */
  for (size_t k = 0; k < sizeof allowed_suffixes / sizeof *allowed_suffixes; k++)
    if (strcasecmp(dot, allowed_suffixes[k]) == 0) return 1;
  return 0;
}

int prism_bundle_admit(const prism_bundle_set *s, const char *raw, char *norm, prism_failure *err) {
  char a[32], sh[160];
  if (s->n >= PRISM_BUNDLE_MAX_FILES)
    return prism_failure_set(err, "prism:bundle-files", "", 0,
                             "bundle has more than %s files (limit reached at '%s')",
                             prism_bundle_fmt_count(a, PRISM_BUNDLE_MAX_FILES), prism_bundle_show(sh, raw));
  const char *why = NULL;
  if (prism_bundle_normalize_path(raw, norm, &why) != 0)
    return prism_failure_set(err, "prism:bundle-path", "", 0, "unsafe path '%s': %s", prism_bundle_show(sh, raw), why);
  if (!prism_bundle_suffix_allowed(norm)) {
    const char *base = strrchr(norm, '/');
    base = base ? base + 1 : norm;
    const char *dot = strrchr(base, '.');
    /* Starts with the path: the CLI then prints it once (file and message agree). */
    return prism_failure_set(err, "prism:bundle-suffix", norm, 0,
                             "%s: %s%s%s; allowed suffixes: .lua .yaml .yml .json .txt .md", prism_bundle_show(sh, norm),
                             (dot && dot != base) ? "unsupported suffix '" : "no suffix",
                             (dot && dot != base) ? dot : "", (dot && dot != base) ? "'" : "");
  }
  return 0;
}

size_t prism_bundle_budget(const prism_bundle_set *s) {
  return s->total_bytes >= PRISM_BUNDLE_MAX_BYTES ? 0 : PRISM_BUNDLE_MAX_BYTES - s->total_bytes;
}

int prism_bundle_fail_size(prism_failure *err, const char *path) {
  char a[32], sh[160];
  return prism_failure_set(err, "prism:bundle-size", path, 0,
                           "%s: the bundle exceeds %s uncompressed bytes in total (passed while reading this file)",
                           prism_bundle_show(sh, path), prism_bundle_fmt_count(a, PRISM_BUNDLE_MAX_BYTES));
}

int prism_bundle_set_add(prism_bundle_set *s, const char *norm, const char *raw, unsigned char *data,
                         size_t size, prism_failure *err) {
  if (s->n == s->cap) {
    int cap = s->cap ? s->cap * 2 : 16;
    prism_bundle_entry *e = realloc(s->entries, (size_t)cap * sizeof *e);
    if (!e) { free(data); return prism_failure_set(err, "prism:bundle-size", "", 0, "out of memory"); }
    s->entries = e;
    s->cap = cap;
  }
  prism_bundle_entry *e = &s->entries[s->n];
  e->path = strdup(norm);
  e->raw = strdup(raw);
  e->data = data;
  e->size = size;
  if (!e->path || !e->raw) {
    free(e->path); free(e->raw); free(data);
    return prism_failure_set(err, "prism:bundle-size", "", 0, "out of memory");
  }
  s->n++;
  s->total_bytes += size;
  return 0;
}

void prism_bundle_set_clear(prism_bundle_set *s) {
  for (int i = 0; i < s->n; i++) {
    free(s->entries[i].path);
    free(s->entries[i].raw);
    free(s->entries[i].data);
  }
  free(s->entries);
  memset(s, 0, sizeof *s);
}

/* ---- directory bundles ---- */

typedef struct walk_state {
  prism_bundle_set *set;
  int entries;
  prism_failure *err;
} walk_state;

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static const char *file_kind(mode_t m) {
  if (S_ISFIFO(m)) return "a FIFO";
  if (S_ISSOCK(m)) return "a socket";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  return "not a regular file";
}

static int fail_link(prism_failure *err, const char *rel) {
  char sh[160];
  return prism_failure_set(err, "prism:bundle-symlink", rel, 0,
                           "'%s' is a symbolic link; links are never followed and not allowed in a bundle",
                           prism_bundle_show(sh, rel));
}

/* Reads one regular file (already fstatat'ed as st) within the byte budget. */
static int read_dir_file(walk_state *w, int dfd, const char *name, const char *rel, const struct stat *st) {
  char norm[PRISM_BUNDLE_MAX_PATH + 1], sh[160];
  prism_failure *err = w->err;
  if (prism_bundle_admit(w->set, rel, norm, err)) return -1;
  size_t budget = prism_bundle_budget(w->set);
  if ((unsigned long long)st->st_size > budget) return prism_bundle_fail_size(err, norm);
  int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ELOOP) return fail_link(err, rel);
    return prism_failure_set(err, "prism:bundle-path", norm, 0, "cannot open '%s': %s", prism_bundle_show(sh, rel), strerror(errno));
  }
  struct stat fst;
  if (fstat(fd, &fst) != 0 || !S_ISREG(fst.st_mode) || fst.st_ino != st->st_ino || fst.st_dev != st->st_dev) {
    close(fd);
    return prism_failure_set(err, "prism:bundle-path", norm, 0, "'%s' changed while the bundle was being read",
                             prism_bundle_show(sh, rel));
  }
  size_t cap = (size_t)st->st_size + 1, used = 0;
  unsigned char *buf = malloc(cap + 1);
  if (!buf) { close(fd); return prism_failure_set(err, "prism:bundle-size", norm, 0, "out of memory"); }
  for (;;) {
    if (used == cap) {
      /* The file grew since fstat: keep reading, but never past the budget. */
      size_t ncap = cap * 2 > budget + 1 ? budget + 1 : cap * 2;
      unsigned char *nb = ncap > cap ? realloc(buf, ncap + 1) : NULL;
      if (!nb) { free(buf); close(fd); return prism_bundle_fail_size(err, norm); }
      buf = nb;
      cap = ncap;
    }
    ssize_t r = read(fd, buf + used, cap - used);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      int e = errno;
      free(buf);
      close(fd);
      return prism_failure_set(err, "prism:bundle-path", norm, 0, "cannot read '%s': %s", prism_bundle_show(sh, rel), strerror(e));
    }
    if (r == 0) break;
    used += (size_t)r;
    if (used > budget) { free(buf); close(fd); return prism_bundle_fail_size(err, norm); }
  }
  close(fd);
  buf[used] = '\0';
  return prism_bundle_set_add(w->set, norm, rel, buf, used, err);
}

/* Walks one folder; takes ownership of dfd. Entries are visited in byte order so that the
 * first violation reported does not depend on the file system's readdir order. */
static int walk_dir(walk_state *w, int dfd, const char *prefix, int depth) {
  prism_failure *err = w->err;
  char sh[160], a[32];
  DIR *d = fdopendir(dfd);
  if (!d) {
    close(dfd);
    return prism_failure_set(err, "prism:bundle-path", "", 0, "cannot read folder '%s': %s",
                             prefix[0] ? prism_bundle_show(sh, prefix) : ".", strerror(errno));
  }
  char **names = NULL;
  int n = 0, cap = 0, rc = 0;
  struct dirent *de;
  while ((de = readdir(d))) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
    if (++w->entries > PRISM_BUNDLE_MAX_ENTRIES) {
      rc = prism_failure_set(err, "prism:bundle-files", "", 0,
                             "bundle folder holds more than %s files and folders (the file limit is %d)",
                             prism_bundle_fmt_count(a, PRISM_BUNDLE_MAX_ENTRIES), PRISM_BUNDLE_MAX_FILES);
      goto out;
    }
    if (n == cap) {
      cap = cap ? cap * 2 : 32;
      char **nn = realloc(names, (size_t)cap * sizeof *nn);
      if (!nn) { rc = prism_failure_set(err, "prism:bundle-files", "", 0, "out of memory"); goto out; }
      names = nn;
    }
    if (!(names[n] = strdup(de->d_name))) { rc = prism_failure_set(err, "prism:bundle-files", "", 0, "out of memory"); goto out; }
    n++;
  }
  if (n > 1) qsort(names, (size_t)n, sizeof *names, cmp_str);
  for (int i = 0; i < n && rc == 0; i++) {
    char rel[RAW_PATH_MAX + 1];
    int rl = prefix[0] ? snprintf(rel, sizeof rel, "%s/%s", prefix, names[i]) : snprintf(rel, sizeof rel, "%s", names[i]);
    if (rl < 0 || rl >= (int)sizeof rel) {
      rc = prism_failure_set(err, "prism:bundle-path", "", 0, "unsafe path under '%s': longer than 4096 bytes",
                             prism_bundle_show(sh, prefix));
      break;
    }
    struct stat st;
    if (fstatat(dirfd(d), names[i], &st, AT_SYMLINK_NOFOLLOW) != 0) {
      rc = prism_failure_set(err, "prism:bundle-path", "", 0, "cannot stat '%s': %s", prism_bundle_show(sh, rel), strerror(errno));
    } else if (S_ISLNK(st.st_mode)) {
      rc = fail_link(err, rel);
    } else if (S_ISDIR(st.st_mode)) {
      if (depth + 1 > PRISM_BUNDLE_MAX_DEPTH) {
        rc = prism_failure_set(err, "prism:bundle-path", "", 0, "'%s' is nested more than %d folders deep",
                               prism_bundle_show(sh, rel), PRISM_BUNDLE_MAX_DEPTH);
        break;
      }
      int cfd = openat(dirfd(d), names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      struct stat cst;
      if (cfd < 0) {
        rc = (errno == ELOOP || errno == ENOTDIR)
                 ? fail_link(err, rel)
                 : prism_failure_set(err, "prism:bundle-path", "", 0, "cannot open folder '%s': %s", prism_bundle_show(sh, rel), strerror(errno));
      } else if (fstat(cfd, &cst) != 0 || cst.st_ino != st.st_ino || cst.st_dev != st.st_dev) {
        close(cfd);
        rc = prism_failure_set(err, "prism:bundle-path", "", 0, "'%s' changed while the bundle was being read", prism_bundle_show(sh, rel));
      } else {
        rc = walk_dir(w, cfd, rel, depth + 1);
      }
    } else if (!S_ISREG(st.st_mode)) {
      rc = prism_failure_set(err, "prism:bundle-symlink", "", 0,
                             "'%s' is %s; only regular files and folders are allowed in a bundle",
                             prism_bundle_show(sh, rel), file_kind(st.st_mode));
    } else {
      rc = read_dir_file(w, dirfd(d), names[i], rel, &st);
    }
  }
out:
  for (int i = 0; i < n; i++) free(names[i]);
  free(names);
  closedir(d);
  return rc ? -1 : 0;
}

/* ---- finishing: layout rules and the contract ---- */

static int cmp_entry(const void *a, const void *b) {
  return strcmp(((const prism_bundle_entry *)a)->path, ((const prism_bundle_entry *)b)->path);
}

static const prism_bundle_entry *set_find(const prism_bundle_set *s, const char *path) {
  prism_bundle_entry key = {.path = (char *)path};
  if (s->n == 0) return NULL;
  return bsearch(&key, s->entries, (size_t)s->n, sizeof key, cmp_entry);
}

/* SPEC §2: when every file sits under one top-level folder, that folder is the root (a zip of
 * `project/` behaves like the folder itself). One level only. */
static void strip_top_folder(prism_bundle_set *s) {
  if (s->n == 0) return;
  const char *first = s->entries[0].path, *slash = strchr(first, '/');
  if (!slash) return;
  size_t k = (size_t)(slash - first) + 1;
  for (int i = 1; i < s->n; i++)
    if (strncmp(s->entries[i].path, first, k) != 0) return;
  for (int i = 0; i < s->n; i++) {
    char *p = s->entries[i].path;
    memmove(p, p + k, strlen(p + k) + 1);
  }
}

static int check_layout(const prism_bundle_set *s, prism_failure *err) {
  char s1[160], s2[160], s3[160];
  for (int i = 1; i < s->n; i++)
    if (strcmp(s->entries[i - 1].path, s->entries[i].path) == 0)
      return prism_failure_set(err, "prism:bundle-path", s->entries[i].path, 0,
                               "duplicate path '%s': '%s' and '%s' are the same file after normalization",
                               prism_bundle_show(s1, s->entries[i].path), prism_bundle_show(s2, s->entries[i - 1].raw), prism_bundle_show(s3, s->entries[i].raw));
  for (int i = 0; i < s->n; i++) {
    char prefix[PRISM_BUNDLE_MAX_PATH + 1];
    const char *p = s->entries[i].path;
    for (const char *q = strchr(p, '/'); q; q = strchr(q + 1, '/')) {
      memcpy(prefix, p, (size_t)(q - p));
      prefix[q - p] = '\0';
      if (set_find(s, prefix))
        return prism_failure_set(err, "prism:bundle-path", prefix, 0,
                                 "'%s' is both a file and a folder (it also holds '%s')", prism_bundle_show(s1, prefix), prism_bundle_show(s2, p));
    }
  }
  return 0;
}

static int ends_with_ci(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && strcasecmp(s + n - k, suffix) == 0;
}

static int lua_identifier(const char *s) {
  static const char *const keywords[] = {"and", "break", "do", "else", "elseif", "end", "false", "for",
                                         "function", "goto", "if", "in", "local", "nil", "not", "or",
                                         "repeat", "return", "then", "true", "until", "while"};
  if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_')) return 0;
  for (const char *p = s; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_')) return 0;
  for (size_t k = 0; k < sizeof keywords / sizeof *keywords; k++)
    if (strcmp(s, keywords[k]) == 0) return 0;
  return 1;
}

typedef struct entry_decl {
  const char *role;        /* "architecture" / "training" */
  const char *decl;        /* from prism.yaml, NULL when not declared */
  int line;
  const char *def_path, *def_symbol;
} entry_decl;

/* Resolves one entrypoint to a file of the bundle. Returns the entry or NULL with *err set. */
static const prism_bundle_entry *resolve_entry(const prism_bundle_set *s, const entry_decl *d, const char *yaml,
                                               char **path_out, char **symbol_out, prism_failure *err) {
  char sh[160], sh2[160], norm[PRISM_BUNDLE_MAX_PATH + 1];
  if (!d->decl) {
    const prism_bundle_entry *e = set_find(s, d->def_path);
    if (!e) {
      prism_failure_set(err, "prism:contract", d->def_path, 0,
                        "submission contract violation: missing %s (%s script is required%s)", d->def_path, d->role,
                        yaml ? "; prism.yaml declares no entrypoint for it" : "");
      return NULL;
    }
    *path_out = strdup(d->def_path);
    *symbol_out = strdup(d->def_symbol);
    return e;
  }
  const char *sep = strstr(d->decl, "::");
  size_t plen = sep ? (size_t)(sep - d->decl) : strlen(d->decl);
  const char *symbol = sep ? sep + 2 : d->def_symbol;
  char path[RAW_PATH_MAX + 1];
  const char *why = NULL;
  if (plen == 0) why = "it names no file";
  else if (plen > RAW_PATH_MAX) why = "the path is longer than 4096 bytes";
  else if (sep && !lua_identifier(symbol)) why = "the symbol after '::' is not a Lua identifier";
  if (!why) {
    memcpy(path, d->decl, plen);
    path[plen] = '\0';
    if (prism_bundle_normalize_path(path, norm, &why) == 0 && !ends_with_ci(norm, ".lua"))
      why = "an entrypoint must be a .lua file";
  }
  if (why) {
    prism_failure_set(err, "prism:bundle-yaml", yaml, d->line, "%s:%d: %s entrypoint '%s' is invalid: %s", yaml,
                      d->line, d->role, prism_bundle_show(sh, d->decl), why);
    return NULL;
  }
  const prism_bundle_entry *e = set_find(s, norm);
  if (!e) {
    prism_failure_set(err, "prism:contract", yaml, d->line,
                      "submission contract violation: declared %s entrypoint '%s' not found in the bundle "
                      "(declared entrypoints are honoured exactly, with no fallback; looked for '%s')",
                      d->role, prism_bundle_show(sh, d->decl), prism_bundle_show(sh2, norm));
    return NULL;
  }
  *path_out = strdup(norm);
  *symbol_out = strdup(symbol);
  return e;
}

static int blank(const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!(p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r' || p[i] == '\f' || p[i] == '\v')) return 0;
  return 1;
}

prism_bundle *prism_bundle_finish(prism_bundle_set *s, const char *name, prism_failure *err) {
  prism_bundle_manifest m;
  memset(&m, 0, sizeof m);
  prism_bundle *b = calloc(1, sizeof *b);
  const char *yaml = NULL;
  if (!b) { prism_failure_set(err, "prism:bundle-size", "", 0, "out of memory"); goto fail; }
  strip_top_folder(s);
  if (s->n > 1) qsort(s->entries, (size_t)s->n, sizeof *s->entries, cmp_entry);
  if (check_layout(s, err)) goto fail;

  const prism_bundle_entry *y1 = set_find(s, "prism.yaml"), *y2 = set_find(s, "prism.yml");
  if (y1 && y2) {
    prism_failure_set(err, "prism:bundle-yaml", "prism.yml", 0,
                      "bundle holds both prism.yaml and prism.yml; keep exactly one manifest");
    goto fail;
  }
  const prism_bundle_entry *ym = y1 ? y1 : y2;
  if (ym) {
    yaml = ym->path;
    if (prism_bundle_parse_manifest(yaml, ym->data, ym->size, &m, err)) goto fail;
  }

  entry_decl arch = {"architecture", m.arch_entry, m.arch_line, "architecture.lua", "build_model"};
  entry_decl train = {"training", m.train_entry, m.train_line, "training.lua", "train"};
  const prism_bundle_entry *ea = resolve_entry(s, &arch, yaml, &b->arch_path, &b->arch_symbol, err);
  if (!ea) goto fail;
  const prism_bundle_entry *et = resolve_entry(s, &train, yaml, &b->train_path, &b->train_symbol, err);
  if (!et) goto fail;
  if (!b->arch_path || !b->arch_symbol || !b->train_path || !b->train_symbol) {
    prism_failure_set(err, "prism:bundle-size", "", 0, "out of memory");
    goto fail;
  }
  if (ea == et) {
    prism_failure_set(err, "prism:contract", b->arch_path, 0,
                      "submission contract violation: architecture and training must be two distinct scripts "
                      "(both entrypoints resolve to '%s'; the single-module re-export idiom does not satisfy the contract)",
                      b->arch_path);
    goto fail;
  }
  if (blank(ea->data, ea->size)) {
    prism_failure_set(err, "prism:contract", ea->path, 0,
                      "submission contract violation: architecture script %s is empty", ea->path);
    goto fail;
  }
  if (blank(et->data, et->size)) {
    prism_failure_set(err, "prism:contract", et->path, 0,
                      "submission contract violation: training script %s is empty", et->path);
    goto fail;
  }

  b->name = strdup(name);
  b->files = calloc(s->n ? (size_t)s->n : 1, sizeof *b->files);
  if (!b->name || !b->files) { prism_failure_set(err, "prism:bundle-size", "", 0, "out of memory"); goto fail; }
  for (int i = 0; i < s->n; i++) {
    b->files[i].path = s->entries[i].path;
    b->files[i].data = s->entries[i].data;
    b->files[i].size = s->entries[i].size;
    free(s->entries[i].raw);
  }
  b->n_files = s->n;
  b->total_bytes = s->total_bytes;
  free(s->entries);
  memset(s, 0, sizeof *s);
  b->tokenizer = m.tokenizer;
  b->kind = m.kind;
  b->display_name = m.display_name;
  b->warnings = m.warnings;
  b->n_warnings = m.n_warnings;
  free(m.arch_entry);
  free(m.train_entry);
  return b;

fail:
  prism_bundle_set_clear(s);
  prism_bundle_manifest_clear(&m);
  prism_bundle_free(b);
  return NULL;
}

/* ---- public API ---- */

static char *bundle_name(const char *path, int is_zip) {
  char *real = realpath(path, NULL);
  const char *p = real ? real : path;
  size_t n = strlen(p);
  while (n > 1 && p[n - 1] == '/') n--;
  size_t start = n;
  while (start > 0 && p[start - 1] != '/') start--;
  size_t len = n - start;
  if (is_zip && len > 4 && strncasecmp(p + start + len - 4, ".zip", 4) == 0) len -= 4;
  char *name = len ? strndup(p + start, len) : strdup("bundle");
  free(real);
  return name;
}

prism_bundle *prism_bundle_load(const char *path, prism_failure *err) {
  char sh[160], a[32], l[32];
  memset(err, 0, sizeof *err);
  prism_bundle_set set;
  memset(&set, 0, sizeof set);
  /* The bundle argument itself is the operator's choice and may be a link; nothing inside is. */
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) {
    prism_failure_set(err, "prism:bundle-path", "", 0, "cannot open bundle '%s': %s", prism_bundle_show(sh, path), strerror(errno));
    return NULL;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    prism_failure_set(err, "prism:bundle-path", "", 0, "cannot stat bundle '%s': %s", prism_bundle_show(sh, path), strerror(errno));
    close(fd);
    return NULL;
  }
  if (S_ISDIR(st.st_mode)) {
    walk_state w = {&set, 0, err};
    if (walk_dir(&w, fd, "", 0)) { prism_bundle_set_clear(&set); return NULL; }
    char *name = bundle_name(path, 0);
    prism_bundle *b = name ? prism_bundle_finish(&set, name, err) : NULL;
    if (!name) { prism_bundle_set_clear(&set); prism_failure_set(err, "prism:bundle-size", "", 0, "out of memory"); }
    free(name);
    return b;
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    prism_failure_set(err, "prism:bundle-symlink", "", 0, "bundle '%s' is %s, not a folder or a .zip file",
                      prism_bundle_show(sh, path), file_kind(st.st_mode));
    return NULL;
  }
  if ((unsigned long long)st.st_size > PRISM_BUNDLE_MAX_ZIP_BYTES) {
    close(fd);
    prism_failure_set(err, "prism:bundle-size", "", 0, "zip archive '%s' is %s bytes; the limit is %s bytes",
                      prism_bundle_show(sh, path), prism_bundle_fmt_count(a, (unsigned long long)st.st_size),
                      prism_bundle_fmt_count(l, PRISM_BUNDLE_MAX_ZIP_BYTES));
    return NULL;
  }
  /* Read the whole archive once (bounded), so what is checked is exactly what is kept. */
  size_t cap = (size_t)st.st_size + 1, used = 0;
  unsigned char *buf = malloc(cap);
  if (!buf) { close(fd); prism_failure_set(err, "prism:bundle-size", "", 0, "out of memory"); return NULL; }
  for (;;) {
    if (used == cap) {
      if (cap > PRISM_BUNDLE_MAX_ZIP_BYTES) break;
      size_t ncap = cap * 2 > PRISM_BUNDLE_MAX_ZIP_BYTES + 1 ? PRISM_BUNDLE_MAX_ZIP_BYTES + 1 : cap * 2;
      unsigned char *nb = realloc(buf, ncap);
      if (!nb) {
        prism_failure_set(err, "prism:bundle-size", "", 0, "out of memory");
        free(buf);
        close(fd);
        return NULL;
      }
      buf = nb;
      cap = ncap;
    }
    ssize_t r = read(fd, buf + used, cap - used);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      prism_failure_set(err, "prism:bundle-zip", "", 0, "cannot read '%s': %s", prism_bundle_show(sh, path), strerror(errno));
      free(buf);
      close(fd);
      return NULL;
    }
    if (r == 0) break;
    used += (size_t)r;
  }
  close(fd);
  prism_bundle *b = NULL;
  char *name = bundle_name(path, 1);
  if (!name) {
    prism_failure_set(err, "prism:bundle-size", "", 0, "out of memory");
  } else if (used > PRISM_BUNDLE_MAX_ZIP_BYTES) {
    prism_failure_set(err, "prism:bundle-size", "", 0, "zip archive '%s' is more than %s bytes; the limit is %s bytes",
                      prism_bundle_show(sh, path), prism_bundle_fmt_count(l, PRISM_BUNDLE_MAX_ZIP_BYTES),
                      prism_bundle_fmt_count(a, PRISM_BUNDLE_MAX_ZIP_BYTES));
  } else {
    const char *base = strrchr(path, '/');
    if (prism_bundle_read_zip(&set, buf, used, base ? base + 1 : path, err) == 0)
      b = prism_bundle_finish(&set, name, err);
    else
      prism_bundle_set_clear(&set);
  }
  free(name);
  free(buf);
  return b;
}

prism_bundle *prism_bundle_load_zip_memory(const char *name, const void *data, size_t size, prism_failure *err) {
  memset(err, 0, sizeof *err);
  prism_bundle_set set;
  memset(&set, 0, sizeof set);
  if (!name || !*name) name = "bundle";
  if (prism_bundle_read_zip(&set, data, size, name, err)) {
    prism_bundle_set_clear(&set);
    return NULL;
  }
  return prism_bundle_finish(&set, name, err);
}

static int cmp_file(const void *a, const void *b) {
  return strcmp(((const prism_bundle_file *)a)->path, ((const prism_bundle_file *)b)->path);
}

const prism_bundle_file *prism_bundle_find(const prism_bundle *b, const char *path) {
  if (!b || !path || b->n_files == 0) return NULL;
  prism_bundle_file key = {.path = (char *)path};
  return bsearch(&key, b->files, (size_t)b->n_files, sizeof key, cmp_file);
}

void prism_bundle_free(prism_bundle *b) {
  if (!b) return;
  for (int i = 0; i < b->n_files; i++) {
    free(b->files[i].path);
    free(b->files[i].data);
  }
  free(b->files);
  for (int i = 0; i < b->n_warnings; i++) free(b->warnings[i]);
  free(b->warnings);
  free(b->name);
  free(b->arch_path);
  free(b->arch_symbol);
  free(b->train_path);
  free(b->train_symbol);
  free(b->tokenizer);
  free(b->kind);
  free(b->display_name);
  free(b);
}
