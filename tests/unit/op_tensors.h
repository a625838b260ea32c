/* op_tensors.h — small tensor helpers shared by the op tests (test_ops_a.c, test_ops_b.c):
 * CPU tensors from host arrays and host copies of results as doubles. */
#ifndef PRISM_TESTS_OP_TENSORS_H
#define PRISM_TESTS_OP_TENSORS_H

#include <stdint.h>
#include <stdlib.h>

#include "tensor.h"

/* Elements of the shape (ndim, s). */
static inline int64_t numel_of(int ndim, const int64_t *s) {
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) n *= s[i];
  return n;
}

/* float32 / int64 CPU tensors holding v (row-major, numel_of(ndim, shape) values). */
static inline prism_tensor *tf(int ndim, const int64_t *shape, const float *v) {
  return prism_tensor_from_host(PRISM_FLOAT32, PRISM_CPU, ndim, shape, v);
}
static inline prism_tensor *ti64(int ndim, const int64_t *shape, const int64_t *v) {
  return prism_tensor_from_host(PRISM_INT64, PRISM_CPU, ndim, shape, v);
}

/* Host copy of a tensor as doubles (caller frees); NULL for a NULL tensor or a failed copy. */
static inline double *host(const prism_tensor *t) {
  if (!t) return NULL;
  int64_t n = prism_tensor_numel(t);
  double *h = calloc((size_t)(n ? n : 1), sizeof *h);
  if (h && prism_tensor_to_host_f64(t, h) < 0) {
    free(h);
    return NULL;
  }
  return h;
}

#endif
