/* bundle.h — intake (SPEC §2): a directory or a .zip becomes an in-memory, validated file set
 * plus the resolved contract from prism.yaml. Nothing here runs Lua; nothing after intake reads
 * the bundle from disk again (the run child gets the same bytes the gates checked). */
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
  /* informational prism.yaml keys (NULL when absent) */
  char *tokenizer, *kind, *display_name;
  char **warnings;          /* e.g. unknown keys; n_warnings entries */
  int n_warnings;
} prism_bundle;

/* Loads and validates a bundle. On failure returns NULL and fills *err with the rule id
 * (prism:bundle-size, -files, -suffix, -symlink, -path, -zip, -yaml, prism:contract). */
prism_bundle *prism_bundle_load(const char *path, prism_failure *err);
/* Same, from zip bytes in memory (used by tests and fuzzing). */
prism_bundle *prism_bundle_load_zip_memory(const char *name, const void *data, size_t size, prism_failure *err);
const prism_bundle_file *prism_bundle_find(const prism_bundle *b, const char *path);
void prism_bundle_free(prism_bundle *b);

#endif
