/* tensor.c — storage, views, data movement and the tensor-byte accounting (see tensor.h).
 *
 * The caching allocator keeps freed blocks per device in buckets keyed by their rounded size,
 * so a training loop that allocates the same activation shapes every step stops calling the
 * system allocator after the first step (llm.c: no allocation in the hot loop; THC's caching
 * allocator). Live bytes — bytes held by storages that tensors still reference — are what the
 * soft limit and the hard cap look at; cached blocks are free memory and are released to the
 * system before the hard cap is declared hit. Allocation happens on the Lua thread only; kernels
 * running on OpenMP workers never allocate tensors. */
#include "tensor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd.h"
#include "backend.h"
#include "error.h"

/* ------------------------------------------------------------------ dtypes, devices */

size_t prism_dtype_size(prism_dtype dtype) {
  switch (dtype) {
    case PRISM_FLOAT32: return 4;
    case PRISM_INT64: return 8;
    case PRISM_INT32: return 4;
    default: return 0;
  }
}

const char *prism_dtype_name(prism_dtype dtype) {
  switch (dtype) {
    case PRISM_FLOAT32: return "float32";
    case PRISM_INT64: return "int64";
    case PRISM_INT32: return "int32";
    default: return "unknown";
  }
}

const char *prism_device_name(prism_device device) {
  return device == PRISM_CPU ? "cpu" : device == PRISM_CUDA ? "cuda:0" : "unknown";
}

/* ------------------------------------------------------------------ caching allocator */

#define CACHE_BUCKETS 512
#define CACHE_MAX_BYTES ((size_t)1 << 30) /* cached (free) bytes kept per device at most */

typedef struct cache_block {
  void *ptr;
  size_t size;
  struct cache_block *next;
} cache_block;

static struct {
  cache_block *bucket[PRISM_DEVICE_COUNT][CACHE_BUCKETS];
  size_t cached_bytes[PRISM_DEVICE_COUNT];
  size_t live_bytes, peak_bytes, live_tensors;
  size_t soft_limit, hard_limit;
  prism_gc_hook gc_hook;
  void *gc_userdata;
  bool in_gc_hook;
} mem;

/* Small blocks round to 512 bytes, large ones to 1/16 of their power of two, so near sizes share
 * a bucket while waste stays under ~6%. */
static size_t round_size(size_t n) {
  if (n <= 512) return 512;
  if (n <= ((size_t)1 << 20)) return (n + 511) & ~(size_t)511;
  size_t p = (size_t)1 << (63 - __builtin_clzll((unsigned long long)n));
  size_t step = p / 16;
  return (n + step - 1) / step * step;
}

static size_t bucket_of(size_t size) { return (size / 512) % CACHE_BUCKETS; }

static void *cache_take(prism_device dev, size_t size) {
  cache_block **pp = &mem.bucket[dev][bucket_of(size)];
  for (; *pp; pp = &(*pp)->next) {
    if ((*pp)->size == size) {
      cache_block *b = *pp;
      void *ptr = b->ptr;
      *pp = b->next;
      mem.cached_bytes[dev] -= size;
      free(b);
      return ptr;
    }
  }
  return NULL;
}

static void cache_release_all(prism_device dev) {
  const prism_backend *be = prism_backend_get(dev);
  for (int i = 0; i < CACHE_BUCKETS; i++) {
    cache_block *b = mem.bucket[dev][i];
    while (b) {
      cache_block *next = b->next;
      if (be) be->free(b->ptr, b->size);
      free(b);
      b = next;
    }
    mem.bucket[dev][i] = NULL;
  }
  mem.cached_bytes[dev] = 0;
}

static void cache_give(prism_device dev, void *ptr, size_t size) {
  const prism_backend *be = prism_backend_get(dev);
  if (mem.cached_bytes[dev] + size > CACHE_MAX_BYTES) cache_release_all(dev);
  cache_block *b = malloc(sizeof *b);
  if (!b) {
    if (be) be->free(ptr, size);
    return;
  }
  b->ptr = ptr;
  b->size = size;
  b->next = mem.bucket[dev][bucket_of(size)];
  mem.bucket[dev][bucket_of(size)] = b;
  mem.cached_bytes[dev] += size;
}

void prism_mem_empty_cache(void) {
  for (int d = 0; d < PRISM_DEVICE_COUNT; d++) cache_release_all((prism_device)d);
}

void prism_mem_set_limits(size_t soft_bytes, size_t hard_bytes) {
  mem.soft_limit = soft_bytes;
  mem.hard_limit = hard_bytes;
}

void prism_mem_set_gc_hook(prism_gc_hook hook, void *userdata) {
  mem.gc_hook = hook;
  mem.gc_userdata = userdata;
}

size_t prism_mem_live_bytes(void) { return mem.live_bytes; }
size_t prism_mem_peak_bytes(void) { return mem.peak_bytes; }
size_t prism_mem_live_tensors(void) { return mem.live_tensors; }

static void *device_alloc(prism_device dev, size_t nbytes, size_t *rounded) {
  const prism_backend *be = prism_backend_get(dev);
  if (!be) return NULL;
  size_t size = round_size(nbytes);
  /* Past the soft limit, let the Lua GC free unreachable tensors first (Torch7's GC handler). */
  if (mem.gc_hook && !mem.in_gc_hook && mem.soft_limit && mem.live_bytes + size > mem.soft_limit) {
    mem.in_gc_hook = true;
    mem.gc_hook(mem.gc_userdata, size);
    mem.in_gc_hook = false;
  }
  if (mem.hard_limit && mem.live_bytes + size > mem.hard_limit)
    return prism_fail(PRISM_ERR_OOM,
                      "tensor-memory cap: allocating %zu bytes would exceed the cap of %zu bytes (%zu live); "
                      "the tensor-byte cap is set by PRISM_TENSOR_HARD_LIMIT",
                      size, mem.hard_limit, mem.live_bytes);
  void *ptr = cache_take(dev, size);
  if (!ptr) ptr = be->alloc(size);
  if (!ptr) { /* cached blocks of other sizes may be what stands between us and success */
    cache_release_all(dev);
    ptr = be->alloc(size);
  }
  /* Under the tensor-byte cap (or with none set), yet refused: the process memory limit (RLIMIT_AS)
   * or the device itself. Say so, so a miner does not go looking for the wrong cap. */
  if (!ptr)
    return prism_fail(PRISM_ERR_OOM,
                      "out of memory allocating %zu bytes on %s: the allocator refused it (process or device memory "
                      "limit; not the tensor-byte cap PRISM_TENSOR_HARD_LIMIT, which is %s)",
                      size, prism_device_name(dev), mem.hard_limit ? "not reached" : "unset");
  mem.live_bytes += size;
  if (mem.live_bytes > mem.peak_bytes) mem.peak_bytes = mem.live_bytes;
  *rounded = size;
  return ptr;
}

/* ------------------------------------------------------------------ storage */

static prism_storage *storage_new(prism_device dev, size_t nbytes) {
  prism_storage *s = calloc(1, sizeof *s);
  if (!s) return prism_fail(PRISM_ERR_OOM, "out of memory allocating a tensor header");
  s->device = dev;
  s->refcount = 1;
  if (nbytes > 0) {
    size_t rounded = 0;
    s->data = device_alloc(dev, nbytes, &rounded);
    if (!s->data) {
      free(s);
      return NULL;
    }
    s->nbytes = rounded;
  }
  return s;
}

static void storage_release(prism_storage *s) {
  if (!s || --s->refcount > 0) return;
  if (s->data) {
    mem.live_bytes -= s->nbytes;
    cache_give(s->device, s->data, s->nbytes);
  }
  free(s);
}

/* ------------------------------------------------------------------ shapes */

int64_t prism_shape_check(int ndim, const int64_t *shape) {
  if (ndim < 0 || ndim > PRISM_MAX_DIMS)
    return prism_fail_int(PRISM_ERR_ARG, "a tensor has at most %d dimensions, got %d", PRISM_MAX_DIMS, ndim);
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] < 0)
      return prism_fail_int(PRISM_ERR_ARG, "size %lld of dimension %d is negative", (long long)shape[i], i + 1);
    if (__builtin_mul_overflow(n, shape[i], &n) || n > ((int64_t)1 << 56))
      return prism_fail_int(PRISM_ERR_ARG, "shape has too many elements (dimension %d overflows)", i + 1);
  }
  return n;
}

const char *prism_shape_str(int ndim, const int64_t *shape, char *buf, size_t bufsize) {
  size_t used = 0;
  used += (size_t)snprintf(buf + used, bufsize - used, "[");
  for (int i = 0; i < ndim && used < bufsize; i++)
    used += (size_t)snprintf(buf + used, bufsize - used, i ? ", %lld" : "%lld", (long long)shape[i]);
  if (used < bufsize) snprintf(buf + used, bufsize - used, "]");
  return buf;
}

int prism_dim_normalize(int dim, int ndim, bool allow_end) {
  int range = ndim + (allow_end ? 1 : 0);
  int d = dim < 0 ? dim + range : dim;
  if (d < 0 || d >= range || range == 0)
    return prism_fail_int(PRISM_ERR_ARG, "dimension %d is out of range for a tensor with %d dimensions", dim, ndim);
  return d;
}

int prism_dim_normalize_op(const char *op, int dim, int ndim, bool allow_end) {
  int d = prism_dim_normalize(dim, ndim, allow_end);
  if (d < 0) {
    char msg[400];
    snprintf(msg, sizeof msg, "%s", prism_error_message());
    return prism_fail_int(PRISM_ERR_ARG, "%s: %s", op, msg);
  }
  return d;
}

int prism_broadcast_shape(const char *op, const prism_tensor *a, const prism_tensor *b, int64_t *out) {
  int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
  for (int i = 0; i < nd; i++) {
    int ia = a->ndim - nd + i, ib = b->ndim - nd + i;
    int64_t sa = ia >= 0 ? a->shape[ia] : 1, sb = ib >= 0 ? b->shape[ib] : 1;
    if (sa != sb && sa != 1 && sb != 1) {
      char ba[128], bb[128];
      return prism_fail_int(PRISM_ERR_ARG, "%s: shapes %s and %s cannot be broadcast (dimension %d: %lld vs %lld)", op,
                            prism_shape_str(a->ndim, a->shape, ba, sizeof ba),
                            prism_shape_str(b->ndim, b->shape, bb, sizeof bb), i + 1, (long long)sa, (long long)sb);
    }
    out[i] = sa == 1 ? sb : sa;
  }
  return nd;
}

static void contiguous_strides(int ndim, const int64_t *shape, int64_t *stride) {
  int64_t s = 1;
  for (int i = ndim - 1; i >= 0; i--) {
    stride[i] = s;
    s *= shape[i] > 0 ? shape[i] : 1;
  }
}

/* ------------------------------------------------------------------ creation */

static prism_tensor *header_new(void) {
  static uint64_t serial; /* Lua thread only (see the top), so a plain counter */
  prism_tensor *t = calloc(1, sizeof *t);
  if (!t) return prism_fail(PRISM_ERR_OOM, "out of memory allocating a tensor header");
  t->refcount = 1;
  t->serial = ++serial;
  mem.live_tensors++;
  return t;
}

prism_tensor *prism_tensor_empty(prism_dtype dtype, prism_device device, int ndim, const int64_t *shape) {
  if ((unsigned)dtype >= PRISM_DTYPE_COUNT) return prism_fail(PRISM_ERR_ARG, "unknown dtype %d", (int)dtype);
  int64_t n = prism_shape_check(ndim, shape);
  if (n < 0) return NULL;
  if (!prism_backend_get(device)) return NULL;
  prism_storage *s = storage_new(device, (size_t)n * prism_dtype_size(dtype));
  if (!s) return NULL;
  prism_tensor *t = header_new();
  if (!t) {
    storage_release(s);
    return NULL;
  }
  t->storage = s;
  t->ndim = ndim;
  t->dtype = dtype;
  for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
  contiguous_strides(ndim, shape, t->stride);
  return t;
}

prism_tensor *prism_tensor_full(prism_dtype dtype, prism_device device, int ndim, const int64_t *shape, double value) {
  prism_tensor *t = prism_tensor_empty(dtype, device, ndim, shape);
  if (t && prism_tensor_fill_(t, value) < 0) {
    prism_tensor_release(t);
    return NULL;
  }
  return t;
}

prism_tensor *prism_tensor_zeros(prism_dtype dtype, prism_device device, int ndim, const int64_t *shape) {
  return prism_tensor_full(dtype, device, ndim, shape, 0.0);
}

prism_tensor *prism_tensor_empty_like(const prism_tensor *t) {
  return prism_tensor_empty(t->dtype, t->storage->device, t->ndim, t->shape);
}

prism_tensor *prism_tensor_zeros_like(const prism_tensor *t) {
  return prism_tensor_zeros(t->dtype, t->storage->device, t->ndim, t->shape);
}

prism_tensor *prism_tensor_from_host(prism_dtype dtype, prism_device device, int ndim, const int64_t *shape,
                                     const void *host) {
  prism_tensor *t = prism_tensor_empty(dtype, device, ndim, shape);
  if (!t) return NULL;
  size_t nbytes = (size_t)prism_tensor_numel(t) * prism_dtype_size(dtype);
  if (nbytes && prism_backend_get(device)->upload(prism_tensor_data(t), host, nbytes) < 0) {
    prism_tensor_release(t);
    return NULL;
  }
  return t;
}

/* ------------------------------------------------------------------ refcounting */

prism_tensor *prism_tensor_retain(prism_tensor *t) {
  if (t) t->refcount++;
  return t;
}

void prism_tensor_release(prism_tensor *t) {
  if (!t || --t->refcount > 0) return;
  storage_release(t->storage);
  prism_tensor_release(t->grad);
  prism_node_release(t->grad_fn);
  mem.live_tensors--;
  free(t);
}

/* ------------------------------------------------------------------ metadata */

int64_t prism_tensor_numel(const prism_tensor *t) {
  int64_t n = 1;
  for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
  return n;
}

bool prism_tensor_is_contiguous(const prism_tensor *t) {
  int64_t s = 1;
  for (int i = t->ndim - 1; i >= 0; i--) {
    if (t->shape[i] == 1) continue; /* the stride of a size-1 dim never matters */
    if (t->stride[i] != s) return t->shape[i] == 0;
    s *= t->shape[i];
  }
  return true;
}

void *prism_tensor_data(const prism_tensor *t) {
  if (!t->storage->data) return NULL;
  return (char *)t->storage->data + t->offset * (int64_t)prism_dtype_size(t->dtype);
}

bool prism_shape_equal(const prism_tensor *a, const prism_tensor *b) {
  if (a->ndim != b->ndim) return false;
  for (int i = 0; i < a->ndim; i++)
    if (a->shape[i] != b->shape[i]) return false;
  return true;
}

void prism_tensor_bump_version(prism_tensor *t) { t->storage->version++; }

/* ------------------------------------------------------------------ views */

prism_tensor *prism_tensor_alias(const prism_tensor *t) {
  prism_tensor *v = header_new();
  if (!v) return NULL;
  v->storage = t->storage;
  v->storage->refcount++;
  v->offset = t->offset;
  v->ndim = t->ndim;
  v->dtype = t->dtype;
  memcpy(v->shape, t->shape, sizeof v->shape);
  memcpy(v->stride, t->stride, sizeof v->stride);
  return v;
}

/* PyTorch's computeStride: a view is possible when each group of new dims maps onto a run of old
 * dims that are contiguous with each other. */
prism_tensor *prism_tensor_view_raw(const prism_tensor *t, int ndim, const int64_t *shape) {
  int64_t n = prism_shape_check(ndim, shape);
  if (n < 0) return NULL;
  char b1[128], b2[128];
  if (n != prism_tensor_numel(t))
    return prism_fail(PRISM_ERR_ARG, "view: shape %s has %lld elements but the tensor %s has %lld",
                      prism_shape_str(ndim, shape, b1, sizeof b1), (long long)n,
                      prism_shape_str(t->ndim, t->shape, b2, sizeof b2), (long long)prism_tensor_numel(t));
  int64_t stride[PRISM_MAX_DIMS];
  if (n == 0 || t->ndim == 0) {
    contiguous_strides(ndim, shape, stride);
  } else {
    int view_d = ndim - 1;
    int64_t base = t->stride[t->ndim - 1], tensor_numel = 1, view_numel = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
      tensor_numel *= t->shape[d];
      if (d == 0 || (t->shape[d - 1] != 1 && t->stride[d - 1] != tensor_numel * base)) {
        while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
          stride[view_d] = view_numel * base;
          view_numel *= shape[view_d];
          view_d--;
        }
        if (view_numel != tensor_numel) break;
        if (d > 0) base = t->stride[d - 1], tensor_numel = 1, view_numel = 1;
      }
    }
    if (view_numel != tensor_numel || view_d != -1)
      return prism_fail(PRISM_ERR_ARG, "view: shape %s is not compatible with the strides of this %s tensor; call contiguous() first (reshape does)",
                        prism_shape_str(ndim, shape, b1, sizeof b1), prism_shape_str(t->ndim, t->shape, b2, sizeof b2));
  }
  prism_tensor *v = prism_tensor_alias(t);
  if (!v) return NULL;
  v->ndim = ndim;
  for (int i = 0; i < ndim; i++) {
    v->shape[i] = shape[i];
    v->stride[i] = stride[i];
  }
  return v;
}

prism_tensor *prism_tensor_transpose_raw(const prism_tensor *t, int d0, int d1) {
  if ((d0 = prism_dim_normalize(d0, t->ndim, false)) < 0 || (d1 = prism_dim_normalize(d1, t->ndim, false)) < 0)
    return NULL;
  prism_tensor *v = prism_tensor_alias(t);
  if (!v) return NULL;
  int64_t s = v->shape[d0], st = v->stride[d0];
  v->shape[d0] = v->shape[d1], v->stride[d0] = v->stride[d1];
  v->shape[d1] = s, v->stride[d1] = st;
  return v;
}

prism_tensor *prism_tensor_permute_raw(const prism_tensor *t, const int *dims) {
  bool seen[PRISM_MAX_DIMS] = {false};
  int nd[PRISM_MAX_DIMS];
  for (int i = 0; i < t->ndim; i++) {
    nd[i] = prism_dim_normalize(dims[i], t->ndim, false);
    if (nd[i] < 0) return NULL;
    if (seen[nd[i]]) return prism_fail(PRISM_ERR_ARG, "permute: dimension %d appears twice", nd[i] + 1);
    seen[nd[i]] = true;
  }
  prism_tensor *v = prism_tensor_alias(t);
  if (!v) return NULL;
  for (int i = 0; i < t->ndim; i++) {
    v->shape[i] = t->shape[nd[i]];
    v->stride[i] = t->stride[nd[i]];
  }
  return v;
}

prism_tensor *prism_tensor_narrow_raw(const prism_tensor *t, int dim, int64_t start, int64_t length) {
  if ((dim = prism_dim_normalize(dim, t->ndim, false)) < 0) return NULL;
  if (start < 0 || length < 0 || start > t->shape[dim] || length > t->shape[dim] - start)
    return prism_fail(PRISM_ERR_ARG, "narrow: range start %lld length %lld is outside dimension %d of size %lld",
                      (long long)start, (long long)length, dim + 1, (long long)t->shape[dim]);
  prism_tensor *v = prism_tensor_alias(t);
  if (!v) return NULL;
  v->offset += start * t->stride[dim];
  v->shape[dim] = length;
  return v;
}

prism_tensor *prism_tensor_expand_raw(const prism_tensor *t, int ndim, const int64_t *shape) {
  char b1[128], b2[128];
  if (ndim < t->ndim || ndim > PRISM_MAX_DIMS)
    return prism_fail(PRISM_ERR_ARG, "expand: cannot expand %s to %d dimensions",
                      prism_shape_str(t->ndim, t->shape, b1, sizeof b1), ndim);
  int64_t nshape[PRISM_MAX_DIMS], nstride[PRISM_MAX_DIMS];
  for (int i = 0; i < ndim; i++) {
    int j = i - (ndim - t->ndim);
    int64_t want = shape[i];
    if (j < 0) {
      if (want < 0) return prism_fail(PRISM_ERR_ARG, "expand: size -1 is not allowed for a new leading dimension");
      nshape[i] = want, nstride[i] = 0;
    } else if (want == -1 || want == t->shape[j]) {
      nshape[i] = t->shape[j], nstride[i] = t->stride[j];
    } else if (t->shape[j] == 1 && want >= 0) {
      nshape[i] = want, nstride[i] = 0;
    } else {
      return prism_fail(PRISM_ERR_ARG, "expand: cannot expand %s to %s (dimension %d has size %lld, not 1)",
                        prism_shape_str(t->ndim, t->shape, b1, sizeof b1), prism_shape_str(ndim, shape, b2, sizeof b2),
                        i + 1, (long long)t->shape[j]);
    }
  }
  if (prism_shape_check(ndim, nshape) < 0) return NULL;
  prism_tensor *v = prism_tensor_alias(t);
  if (!v) return NULL;
  v->ndim = ndim;
  memcpy(v->shape, nshape, sizeof(int64_t) * (size_t)ndim);
  memcpy(v->stride, nstride, sizeof(int64_t) * (size_t)ndim);
  return v;
}

prism_tensor *prism_tensor_unsqueeze_raw(const prism_tensor *t, int dim) {
  if (t->ndim >= PRISM_MAX_DIMS) return prism_fail(PRISM_ERR_ARG, "unsqueeze: a tensor has at most %d dimensions", PRISM_MAX_DIMS);
  if ((dim = prism_dim_normalize(dim, t->ndim, true)) < 0) return NULL;
  prism_tensor *v = prism_tensor_alias(t);
  if (!v) return NULL;
  for (int i = t->ndim; i > dim; i--) {
    v->shape[i] = t->shape[i - 1];
    v->stride[i] = t->stride[i - 1];
  }
  v->shape[dim] = 1;
  v->stride[dim] = dim < t->ndim ? t->shape[dim] * t->stride[dim] : 1;
  v->ndim = t->ndim + 1;
  return v;
}

prism_tensor *prism_tensor_squeeze_raw(const prism_tensor *t, int dim) {
  prism_tensor *v = prism_tensor_alias(t);
  if (!v) return NULL;
  int keep = 0;
  if (dim == PRISM_SQUEEZE_ALL) {
    for (int i = 0; i < t->ndim; i++)
      if (t->shape[i] != 1) v->shape[keep] = t->shape[i], v->stride[keep++] = t->stride[i];
  } else {
    int d = prism_dim_normalize(dim, t->ndim, false);
    if (d < 0) {
      prism_tensor_release(v);
      return NULL;
    }
    for (int i = 0; i < t->ndim; i++)
      if (i != d || t->shape[i] != 1) v->shape[keep] = t->shape[i], v->stride[keep++] = t->stride[i];
  }
  v->ndim = keep;
  return v;
}

/* ------------------------------------------------------------------ data movement */

int prism_tensor_copy_(prism_tensor *dst, const prism_tensor *src) {
  char b1[128], b2[128];
  if (!prism_shape_equal(dst, src))
    return prism_fail_int(PRISM_ERR_ARG, "copy_: shapes %s and %s differ", prism_shape_str(dst->ndim, dst->shape, b1, sizeof b1),
                          prism_shape_str(src->ndim, src->shape, b2, sizeof b2));
  if (dst->storage->device != src->storage->device)
    return prism_fail_int(PRISM_ERR_ARG, "copy_: tensors are on different devices (%s and %s)",
                          prism_device_name(dst->storage->device), prism_device_name(src->storage->device));
  const prism_backend *be = prism_backend_get(dst->storage->device);
  if (!be) return -1;
  prism_tensor_bump_version(dst);
  if (prism_tensor_numel(dst) == 0) return 0;
  prism_layout dl = prism_layout_of(dst), sl = prism_layout_of(src);
  return be->copy(prism_tensor_data(dst), &dl, dst->dtype, prism_tensor_data(src), &sl, src->dtype);
}

prism_tensor *prism_tensor_contiguous_raw(const prism_tensor *t) {
  if (prism_tensor_is_contiguous(t)) return prism_tensor_retain((prism_tensor *)t);
  prism_tensor *c = prism_tensor_empty_like(t);
  if (c && prism_tensor_copy_(c, t) < 0) {
    prism_tensor_release(c);
    return NULL;
  }
  return c;
}

prism_tensor *prism_tensor_to_dtype_raw(const prism_tensor *t, prism_dtype dtype) {
  if (t->dtype == dtype) return prism_tensor_retain((prism_tensor *)t);
  prism_tensor *c = prism_tensor_empty(dtype, t->storage->device, t->ndim, t->shape);
  if (c && prism_tensor_copy_(c, t) < 0) {
    prism_tensor_release(c);
    return NULL;
  }
  return c;
}

prism_tensor *prism_tensor_to_device_raw(const prism_tensor *t, prism_device device) {
  if (t->storage->device == device) return prism_tensor_retain((prism_tensor *)t);
  const prism_backend *src_be = prism_backend_get(t->storage->device), *dst_be = prism_backend_get(device);
  if (!src_be || !dst_be) return NULL;
  prism_tensor *c = prism_tensor_contiguous_raw(t);
  if (!c) return NULL;
  size_t nbytes = (size_t)prism_tensor_numel(c) * prism_dtype_size(c->dtype);
  void *host = malloc(nbytes ? nbytes : 1);
  prism_tensor *out = NULL;
  if (!host) {
    prism_fail(PRISM_ERR_OOM, "to: out of host memory (%zu bytes)", nbytes);
  } else if (nbytes == 0 || src_be->download(host, prism_tensor_data(c), nbytes) == 0) {
    out = prism_tensor_from_host(c->dtype, device, c->ndim, c->shape, host);
  }
  free(host);
  prism_tensor_release(c);
  return out;
}

int prism_tensor_fill_(prism_tensor *t, double value) {
  const prism_backend *be = prism_backend_get(t->storage->device);
  if (!be) return -1;
  if (prism_tensor_numel(t) == 0) return 0;
  if (prism_tensor_is_contiguous(t)) {
    prism_tensor_bump_version(t);
    return be->fill(prism_tensor_data(t), t->dtype, prism_tensor_numel(t), value);
  }
  prism_tensor *tmp = prism_tensor_empty_like(t);
  if (!tmp) return -1;
  int rc = be->fill(prism_tensor_data(tmp), tmp->dtype, prism_tensor_numel(tmp), value);
  if (rc == 0) rc = prism_tensor_copy_(t, tmp);
  prism_tensor_release(tmp);
  return rc;
}

int prism_tensor_to_host_f64(const prism_tensor *t, double *out) {
  const prism_backend *be = prism_backend_get(t->storage->device);
  if (!be) return -1;
  int64_t n = prism_tensor_numel(t);
  if (n == 0) return 0;
  prism_tensor *c = prism_tensor_contiguous_raw(t);
  if (!c) return -1;
  size_t nbytes = (size_t)n * prism_dtype_size(c->dtype);
  void *host = malloc(nbytes);
  int rc = -1;
  if (!host) {
    prism_fail(PRISM_ERR_OOM, "out of host memory (%zu bytes)", nbytes);
  } else if (be->download(host, prism_tensor_data(c), nbytes) == 0) {
    for (int64_t i = 0; i < n; i++) {
      switch (c->dtype) {
        case PRISM_FLOAT32: out[i] = ((const float *)host)[i]; break;
        case PRISM_INT64: out[i] = (double)((const int64_t *)host)[i]; break;
        case PRISM_INT32: out[i] = ((const int32_t *)host)[i]; break;
        default: break;
      }
    }
    rc = 0;
  }
  free(host);
  prism_tensor_release(c);
  return rc;
}
