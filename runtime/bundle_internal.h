/* bundle_internal.h — what the three intake files share (bundle.c: directories, path rules,
 * contract resolution; bundle_zip.c: archives; bundle_yaml.c: prism.yaml). Not part of the
 * public API: everything outside intake uses bundle.h only. Both readers feed the same
 * collector through the same admission checks, so a directory and a zip of it are judged by
 * identical rules in an identical order (type → count → path → suffix → bytes). */
#ifndef PRISM_BUNDLE_INTERNAL_H
#define PRISM_BUNDLE_INTERNAL_H

#include <stddef.h>

#include "bundle.h"

/* Longest normalized path: it must fit prism_failure.file. */
#define PRISM_BUNDLE_MAX_PATH 255
/* Directory walks stop here (a bundle never needs deep trees; recursion stays bounded). */
#define PRISM_BUNDLE_MAX_DEPTH 32
/* Files and folders seen while walking a directory, a bound on work before the file limit. */
#define PRISM_BUNDLE_MAX_ENTRIES 1000

typedef struct prism_bundle_entry {
  char *path;  /* normalized */
  char *raw;   /* as found (zip entry name or walked path), for duplicate messages */
  unsigned char *data;
  size_t size;
} prism_bundle_entry;

typedef struct prism_bundle_set {
  prism_bundle_entry *entries;
  int n, cap;
  size_t total_bytes;
} prism_bundle_set;

/* Normalizes a raw bundle path into out (PRISM_BUNDLE_MAX_PATH + 1 bytes): backslashes become
 * '/', `.` and empty segments vanish, `..` pops a segment. Returns 0, or -1 with *why set to a
 * static reason (absolute, leaves the root, empty, control character, not UTF-8, too long). */
int prism_bundle_normalize_path(const char *raw, char *out, const char **why);
/* A path or entry name as messages quote it: any byte a zip can carry, so the unprintable ones
 * are escaped (\xNN) to keep the message one readable line, and names past 150 bytes are cut
 * with "...". Writes into out and returns it. */
const char *prism_bundle_show(char out[160], const char *s);
/* 1 when the path ends in an allowed suffix (.lua .yaml .yml .json .txt .md, any case). */
int prism_bundle_suffix_allowed(const char *path);
/* The admission checks every file passes before its bytes are read: the file count, the path
 * rules, the suffix. Writes the normalized path into norm. Returns 0 or -1 with *err filled. */
int prism_bundle_admit(const prism_bundle_set *s, const char *raw, char *norm, prism_failure *err);
/* Bytes a file may still add without passing PRISM_BUNDLE_MAX_BYTES. */
size_t prism_bundle_budget(const prism_bundle_set *s);
/* Fills *err with the prism:bundle-size failure for a file that crossed the byte budget. */
int prism_bundle_fail_size(prism_failure *err, const char *path);
/* Appends a file; takes ownership of data (size bytes + a NUL the caller already wrote). */
int prism_bundle_set_add(prism_bundle_set *s, const char *norm, const char *raw, unsigned char *data,
                         size_t size, prism_failure *err);
void prism_bundle_set_clear(prism_bundle_set *s);
/* Reads every entry of an in-memory zip into s. label names the archive in messages. */
int prism_bundle_read_zip(prism_bundle_set *s, const void *data, size_t size, const char *label,
                          prism_failure *err);
/* Turns the collected set into a bundle: single top folder stripped, sorted, duplicates and
 * file/folder clashes rejected, prism.yaml parsed, entrypoints resolved. Consumes s. */
prism_bundle *prism_bundle_finish(prism_bundle_set *s, const char *name, prism_failure *err);

/* prism.yaml as declared (all strings owned; NULL when absent). */
typedef struct prism_bundle_manifest {
  char *arch_entry, *train_entry; /* "path" or "path::symbol", unvalidated */
  int arch_line, train_line;      /* 1-based lines of those values */
  char *tokenizer, *kind, *display_name;
  char **warnings;
  int n_warnings;
} prism_bundle_manifest;

/* Parses prism.yaml in safe mode (see bundle_yaml.c). file is its bundle path for messages. */
int prism_bundle_parse_manifest(const char *file, const unsigned char *text, size_t size,
                                prism_bundle_manifest *m, prism_failure *err);
void prism_bundle_manifest_clear(prism_bundle_manifest *m);
/* The reference's ARCHITECTURE_NAME moderation; returns a malloc'd string or NULL when empty. */
char *prism_bundle_moderate_name(const char *name);

/* "2,000,000": numbers in messages carry thousands separators. */
const char *prism_bundle_fmt_count(char buf[32], unsigned long long v);

#endif
