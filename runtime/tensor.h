/* tensor.h — storage, views and dtypes: the one data structure every layer shares.
 *
 * A tensor is a strided view (offset, shape, stride — all in elements) over a refcounted,
 * device-tagged storage. Views (view/transpose/permute/narrow/expand) share storage; an
 * in-place write bumps the storage's version so autograd can detect a tensor it saved being
 * modified. Nothing here knows about Lua; nothing here touches data through anything but the
 * backend table of the storage's device (kernels/backend.h), so no code assumes the CPU.
 *
 * Ownership: every function returning `prism_tensor *` returns a NEW reference (refcount 1 for
 * fresh tensors); arguments are borrowed. Release with prism_tensor_release(). On failure the
 * functions return NULL after prism_fail() (error.h). */
#ifndef PRISM_TENSOR_H
#define PRISM_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PRISM_MAX_DIMS 8

typedef enum { PRISM_FLOAT32 = 0, PRISM_INT64, PRISM_INT32, PRISM_DTYPE_COUNT } prism_dtype;
typedef enum { PRISM_CPU = 0, PRISM_CUDA, PRISM_DEVICE_COUNT } prism_device;

typedef struct prism_storage {
  void *data;
  size_t nbytes;
  prism_device device;
  int refcount;
  uint32_t version; /* bumped by every in-place write (prism_tensor_bump_version) */
} prism_storage;

struct prism_node;

typedef struct prism_tensor {
  int refcount;
  prism_storage *storage;
  int64_t offset; /* elements from storage->data */
  int ndim;       /* 0 = scalar */
  int64_t shape[PRISM_MAX_DIMS];
  int64_t stride[PRISM_MAX_DIMS]; /* elements; 0 for expanded (broadcast) dims */
  prism_dtype dtype;
  bool requires_grad;        /* leaves: the user's flag; non-leaves: true iff grad_fn != NULL */
  struct prism_tensor *grad; /* leaves only: accumulated gradient (owned) */
  struct prism_node *grad_fn;/* producer on the tape (owned reference); NULL for leaves */
  uint64_t serial;           /* creation order in this process (1, 2, ...): orders tensor keys in
                                the sandbox's pairs (sandbox/ordered.c) */
} prism_tensor;

size_t prism_dtype_size(prism_dtype dtype);
const char *prism_dtype_name(prism_dtype dtype);
const char *prism_device_name(prism_device device);

/* ---- creation (contiguous, row-major) ---- */
prism_tensor *prism_tensor_empty(prism_dtype dtype, prism_device device, int ndim, const int64_t *shape);
prism_tensor *prism_tensor_zeros(prism_dtype dtype, prism_device device, int ndim, const int64_t *shape);
prism_tensor *prism_tensor_full(prism_dtype dtype, prism_device device, int ndim, const int64_t *shape, double value);
prism_tensor *prism_tensor_empty_like(const prism_tensor *t);  /* same dtype/device/shape, contiguous */
prism_tensor *prism_tensor_zeros_like(const prism_tensor *t);
/* Copies `n` host values (dtype-typed array) into a new tensor of the given shape. */
prism_tensor *prism_tensor_from_host(prism_dtype dtype, prism_device device, int ndim, const int64_t *shape, const void *host);

/* ---- refcounting ---- */
prism_tensor *prism_tensor_retain(prism_tensor *t);
void prism_tensor_release(prism_tensor *t);

/* ---- metadata ---- */
int64_t prism_tensor_numel(const prism_tensor *t);
bool prism_tensor_is_contiguous(const prism_tensor *t);
void *prism_tensor_data(const prism_tensor *t); /* storage->data + offset*elemsize */
bool prism_shape_equal(const prism_tensor *a, const prism_tensor *b);
/* Validates a user shape (0..PRISM_MAX_DIMS dims, each >= 0, product fits in int64 and the byte
 * size in size_t). Returns the element count, or -1 after prism_fail(PRISM_ERR_ARG). */
int64_t prism_shape_check(int ndim, const int64_t *shape);
/* Formats "[2, 3, 4]" into buf (for error messages and __tostring). */
const char *prism_shape_str(int ndim, const int64_t *shape, char *buf, size_t bufsize);
/* Normalizes a 0-based dim that may be negative (-1 = last) for a tensor of `ndim` dims
 * (`ndim + 1` allowed when `allow_end`, for unsqueeze). Returns -1 after prism_fail on error. */
int prism_dim_normalize(int dim, int ndim, bool allow_end);
/* prism_dim_normalize for an op: the error message is prefixed by the op's name ("op: ..."). */
int prism_dim_normalize_op(const char *op, int dim, int ndim, bool allow_end);
/* Broadcast result shape of a and b (NumPy rules). Returns ndim, or -1 after prism_fail with a
 * message that starts with `op` and names the 1-based dimension that disagrees. */
int prism_broadcast_shape(const char *op, const prism_tensor *a, const prism_tensor *b, int64_t *out_shape);

/* ---- views: no copy, share storage; no autograd here (ops/shape.c wraps these) ---- */
prism_tensor *prism_tensor_alias(const prism_tensor *t);  /* new header, same view, no grad_fn */
prism_tensor *prism_tensor_view_raw(const prism_tensor *t, int ndim, const int64_t *shape); /* needs contiguous-compatible strides */
prism_tensor *prism_tensor_transpose_raw(const prism_tensor *t, int d0, int d1);
prism_tensor *prism_tensor_permute_raw(const prism_tensor *t, const int *dims);
prism_tensor *prism_tensor_narrow_raw(const prism_tensor *t, int dim, int64_t start, int64_t length);
prism_tensor *prism_tensor_expand_raw(const prism_tensor *t, int ndim, const int64_t *shape);
prism_tensor *prism_tensor_unsqueeze_raw(const prism_tensor *t, int dim);
#define PRISM_SQUEEZE_ALL (-(PRISM_MAX_DIMS + 1)) /* squeeze every size-1 dim */
prism_tensor *prism_tensor_squeeze_raw(const prism_tensor *t, int dim);

/* ---- data movement (through the backend table) ---- */
/* dst and src have the same shape (dst may be any view); converts dtype. Bumps dst's version. */
int prism_tensor_copy_(prism_tensor *dst, const prism_tensor *src);
/* Returns t itself (retained) if contiguous, else a contiguous copy. */
prism_tensor *prism_tensor_contiguous_raw(const prism_tensor *t);
prism_tensor *prism_tensor_to_dtype_raw(const prism_tensor *t, prism_dtype dtype);
prism_tensor *prism_tensor_to_device_raw(const prism_tensor *t, prism_device device);
int prism_tensor_fill_(prism_tensor *t, double value);
/* Copies the tensor's elements, in row-major logical order, to host memory as doubles
 * (n = numel). Used by item(), tolist, gradcheck and tests. */
int prism_tensor_to_host_f64(const prism_tensor *t, double *out);
void prism_tensor_bump_version(prism_tensor *t);

/* ---- tensor-byte accounting and the caching allocator (tensor.c) ----
 * Live bytes are counted per process. Past the soft limit the GC hook is called (the Lua
 * bridge runs a GC step, which frees unreachable tensors) before allocating; past the hard cap
 * the allocation fails with PRISM_ERR_OOM ("tensor-memory cap"). 0 = no limit. */
typedef void (*prism_gc_hook)(void *userdata, size_t bytes_needed);
void prism_mem_set_limits(size_t soft_bytes, size_t hard_bytes);
void prism_mem_set_gc_hook(prism_gc_hook hook, void *userdata);
size_t prism_mem_live_bytes(void);
size_t prism_mem_peak_bytes(void);
size_t prism_mem_live_tensors(void);
void prism_mem_empty_cache(void); /* return cached blocks to the system */

#endif
