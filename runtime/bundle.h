/* bundle.h — intake (SPEC §2): a directory or a .zip becomes an in-memory, validated file set
 * plus the resolved contract from prism.yaml. Nothing here runs Lua; nothing after intake reads
 * the bundle from disk again (the run child gets the same bytes the gates checked).
 *
 * Rules: a zip over 7,500,000 bytes → prism:bundle-size; foreign or truncated bytes →
 * prism:bundle-zip. Then each file, in order: links, FIFOs, sockets, devices (directory walk or
 * zip entry mode) → prism:bundle-symlink; encrypted entries → prism:bundle-zip; more than 200
 * files → prism:bundle-files; unsafe paths (absolute, leaving the root, empty, NUL or control
 * characters, invalid UTF-8, over 255 bytes normalized) → prism:bundle-path; suffix outside
 * .lua .yaml .yml .json .txt .md → prism:bundle-suffix; entries neither stored nor deflated, or
 * corrupt → prism:bundle-zip; more than 2,000,000 bytes in total, counted while inflating →
 * prism:bundle-size. Then: a single top-level folder becomes the root; duplicate paths after
 * normalization and file/folder clashes → prism:bundle-path; the root prism.yaml or prism.yml
 * (not both) in safe mode → prism:bundle-yaml; entrypoints resolved exactly → prism:contract
 * when missing, identical or blank. Messages name the path and the limit; failure.file/line
 * point into the bundle. */
#ifndef PRISM_BUNDLE_H
#define PRISM_BUNDLE_H

#include <stddef.h>

#include "failure.h"

#define PRISM_BUNDLE_MAX_FILES 200
#define PRISM_BUNDLE_MAX_BYTES 2000000    /* uncompressed, all files */
#define PRISM_BUNDLE_MAX_ZIP_BYTES 7500000
#define PRISM_BUNDLE_MAX_YAML_BYTES 65536

typedef struct prism_bundle_file {
  char *path;          /* normalized, relative to the bundle root, '/' separated */
  unsigned char *data; /* NUL-terminated copy (data[size] == 0) */
  size_t size;
} prism_bundle_file;

typedef struct prism_bundle {
  char *name;               /* bundle name: directory or zip base name without .zip */
  prism_bundle_file *files; /* sorted by path (byte order) */
  int n_files;
  size_t total_bytes;
  /* contract (defaults: architecture.lua::build_model, training.lua::train) */
  char *arch_path, *arch_symbol;
  char *train_path, *train_symbol;
  /* informational prism.yaml keys (NULL when absent; kind is full | architecture_only |
   * training_for_arch; display_name is `name` moderated, NULL when nothing survives) */
  char *tokenizer, *kind, *display_name;
  char **warnings;          /* "prism.yaml:LINE: ..." e.g. unknown keys; n_warnings entries */
  int n_warnings;
} prism_bundle;

/* Loads and validates a bundle (a folder, or a regular file read as a zip). On failure returns
 * NULL and fills *err with the rule id (prism:bundle-size, -files, -suffix, -symlink, -path,
 * -zip, -yaml, prism:contract); on success *err is cleared. Thread-safe; no global state. */
prism_bundle *prism_bundle_load(const char *path, prism_failure *err);
/* Same, from zip bytes in memory (used by tests and fuzzing). */
prism_bundle *prism_bundle_load_zip_memory(const char *name, const void *data, size_t size, prism_failure *err);
const prism_bundle_file *prism_bundle_find(const prism_bundle *b, const char *path);
void prism_bundle_free(prism_bundle *b);

#endif
