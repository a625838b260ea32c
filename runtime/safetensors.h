/* safetensors.h — a strict reader and writer of the safetensors format, for the runtime's
 * `trained_state.safetensors` (SPEC §5, §6) and for `ctx:save(name, table_of_tensors)`.
 *
 * The format: 8 bytes little-endian u64 N, N bytes of a UTF-8 JSON object (the header), then
 * the data section. Each header entry is `"name": {"dtype": "F32"|"I64"|"I32", "shape": [..],
 * "data_offsets": [begin, end]}` with offsets relative to the data section; the optional
 * `"__metadata__"` entry maps strings to strings. The writer produces what the Python
 * `safetensors` library produces for the same tensors (compact JSON, header padded with spaces to
 * a multiple of 8 bytes, `{"format":"pt"}` metadata) except that entries keep the caller's order
 * (the model's registration order) instead of being sorted by dtype and name.
 *
 * The reader trusts nothing: the file may come from a miner-influenced directory, so every field
 * is validated before any tensor is touched, and every failure is an error string (never a crash)
 * that names the entry and what is wrong with it. Host byte order must be little-endian (checked
 * at compile time). Errors go to `err` (NUL-terminated, truncated to errcap); tensor functions'
 * own failures (error.h) are folded into that string too. */
#ifndef PRISM_SAFETENSORS_H
#define PRISM_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "tensor.h"

/* The reader refuses header lengths above this (the Python library's own limit). */
#define PRISM_ST_MAX_HEADER 100000000

/* Return codes of prism_safetensors_write_at (and of load_into: 0 / PRISM_ST_ERR). */
#define PRISM_ST_OK 0
#define PRISM_ST_ERR (-1)   /* bad argument, I/O error, symlink at the target, ... */
#define PRISM_ST_QUOTA (-2) /* the file would exceed max_bytes: nothing was written */

/* One tensor to write: `name` a non-empty UTF-8 string, unique, not "__metadata__"; `tensor`
 * any view on any device (views are written in logical row-major order, devices copied to host). */
typedef struct prism_st_entry {
  const char *name;
  const prism_tensor *tensor;
} prism_st_entry;

/* One existing tensor to fill from a file (load_into). */
typedef struct prism_st_target {
  const char *name;
  prism_tensor *tensor;
} prism_st_target;

/* Writes the entries in the given order (header keys in that order, data offsets increasing in
 * that order) to `name` relative to dir_fd (AT_FDCWD allowed). `name` is a bare file name (no
 * '/', not "." or ".."). Atomic: the bytes go to a fresh temp file in the same directory (opened
 * O_CREAT|O_EXCL|O_NOFOLLOW), are fsynced, then renamed over `name`; on any failure the temp file
 * is removed and an existing `name` is left untouched. An existing symlink (or any non-regular
 * file) at `name` is refused. max_bytes < 0 means no limit; otherwise a file larger than
 * max_bytes is refused with PRISM_ST_QUOTA before anything is created. On success *bytes_written
 * (if not NULL) receives the final file size. Returns PRISM_ST_OK, PRISM_ST_ERR or PRISM_ST_QUOTA. */
int prism_safetensors_write_at(int dir_fd, const char *name, const prism_st_entry *entries, int n, int64_t max_bytes,
                               int64_t *bytes_written, char *err, size_t errcap);

typedef struct prism_st_file prism_st_file;

/* Opens `name` relative to dir_fd (O_NOFOLLOW: a symlink is refused; must be a regular file),
 * reads and validates the header strictly: header length <= the file size and
 * PRISM_ST_MAX_HEADER; the header a JSON object starting with '{' (trailing spaces allowed);
 * each tensor entry has exactly dtype (F32/I64/I32), shape (at most PRISM_MAX_DIMS non-negative
 * integers whose product does not overflow) and data_offsets [begin, end] with end - begin ==
 * numel * itemsize; the entries tile the data section exactly (no overlap, no gap, no trailing
 * bytes); names are non-empty, unique, without NUL; besides tensors only "__metadata__" (an
 * object of strings) is allowed. The data stays on disk until loaded. NULL + err on failure
 * (messages start with `name: `). */
prism_st_file *prism_safetensors_open_at(int dir_fd, const char *name, char *err, size_t errcap);
/* Same validation over an in-memory file (copied; `data` may be freed after the call). For tests
 * and the libFuzzer target. */
prism_st_file *prism_safetensors_parse(const void *data, size_t size, char *err, size_t errcap);

int prism_safetensors_count(const prism_st_file *f);
/* Name of the i-th tensor in header order (0-based); NULL when out of range. Borrowed from f. */
const char *prism_safetensors_name(const prism_st_file *f, int i);
/* dtype / shape of the named tensor without loading it: returns ndim (0..PRISM_MAX_DIMS) and
 * fills shape (PRISM_MAX_DIMS entries) and *dtype, or -1 when absent. Either pointer may be NULL. */
int prism_safetensors_info(const prism_st_file *f, const char *name, prism_dtype *dtype, int64_t *shape);

/* A new contiguous CPU tensor (refcount 1) holding the named entry; NULL + err when the name is
 * absent or the data cannot be read. */
prism_tensor *prism_safetensors_load(const prism_st_file *f, const char *name, char *err, size_t errcap);

/* Strict load into existing tensors (a model's parameters): every target name must exist in the
 * file with the same dtype and shape, target names must be unique, and the file must hold no
 * tensor that is not a target. Everything is checked before any target is written, so a rejected
 * file changes no target (only an I/O error mid-way, e.g. the file shrinking after open, can leave
 * earlier targets written). Values are copied into the targets' storage (any device, any view) without
 * autograd; each target's version is bumped. Returns PRISM_ST_OK or PRISM_ST_ERR + err. */
int prism_safetensors_load_into(const prism_st_file *f, const prism_st_target *targets, int n, char *err,
                                size_t errcap);

void prism_safetensors_close(prism_st_file *f); /* NULL is a no-op */

#endif
