/* test_tensor.c — the tensor core (views, shape checks, allocator accounting, memory caps) and
 * the autograd tape (accumulation order, in-place detection, single use, release, deep chains). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "autograd.h"
#include "error.h"
#include "ops.h"
#include "tensor.h"

static int passed, failed;

#define CHECK(cond, ...)                          \
  do {                                            \
    if (cond) {                                   \
      passed++;                                   \
    } else {                                      \
      failed++;                                   \
      printf("FAIL %s:%d: ", __FILE__, __LINE__); \
      printf(__VA_ARGS__);                        \
      printf("\n");                               \
    }                                             \
  } while (0)

static prism_tensor *arange_f32(int ndim, const int64_t *shape) {
  prism_tensor *t = prism_tensor_empty(PRISM_FLOAT32, PRISM_CPU, ndim, shape);
  float *d = prism_tensor_data(t);
  for (int64_t i = 0; i < prism_tensor_numel(t); i++) d[i] = (float)i;
  return t;
}

static double at(const prism_tensor *t, int64_t i) {
  double buf[4096];
  prism_tensor_to_host_f64(t, buf);
  return buf[i];
}

static void test_views(void) {
  int64_t s23[] = {2, 3};
  prism_tensor *a = arange_f32(2, s23);
  prism_tensor *t = prism_tensor_transpose_raw(a, 0, 1);
  CHECK(t->shape[0] == 3 && t->shape[1] == 2 && !prism_tensor_is_contiguous(t), "transpose shape");
  CHECK(at(t, 1) == 3.0 && at(t, 2) == 1.0, "transpose values read in logical order");
  int64_t s6[] = {6};
  prism_tensor *bad = prism_tensor_view_raw(t, 1, s6);
  CHECK(bad == NULL && strstr(prism_error_message(), "contiguous"), "view of a transposed tensor refused: %s",
        prism_error_message());
  prism_tensor *c = prism_tensor_contiguous_raw(t);
  prism_tensor *flat = prism_tensor_view_raw(c, 1, s6);
  CHECK(flat && at(flat, 1) == 3.0, "view after contiguous");
  int64_t s321[] = {3, 2, 1};
  prism_tensor *v3 = prism_tensor_view_raw(t, 3, s321); /* adding a size-1 dim is always a view */
  CHECK(v3 && v3->storage == a->storage, "view adding a unit dim shares storage");
  prism_tensor *n = prism_tensor_narrow_raw(a, 1, 1, 2);
  CHECK(n && n->shape[1] == 2 && at(n, 0) == 1.0 && at(n, 3) == 5.0, "narrow");
  CHECK(prism_tensor_narrow_raw(a, 1, 2, 2) == NULL, "narrow out of range refused");
  int64_t s1_3[] = {1, 3}, s43[] = {4, 3};
  prism_tensor *row = prism_tensor_narrow_raw(a, 0, 1, 1);
  prism_tensor *row2 = prism_tensor_view_raw(row, 2, s1_3);
  prism_tensor *e = prism_tensor_expand_raw(row2, 2, s43);
  CHECK(e && e->stride[0] == 0 && at(e, 10) == 4.0, "expand broadcasts with stride 0");
  CHECK(prism_tensor_expand_raw(a, 2, s43) == NULL, "expand of a non-1 dim refused");
  prism_tensor *u = prism_tensor_unsqueeze_raw(a, 1);
  CHECK(u && u->ndim == 3 && u->shape[1] == 1, "unsqueeze");
  prism_tensor *sq = prism_tensor_squeeze_raw(u, PRISM_SQUEEZE_ALL);
  CHECK(sq && sq->ndim == 2 && sq->shape[0] == 2, "squeeze all");
  int perm[] = {1, 0}, dup[] = {0, 0};
  prism_tensor *p = prism_tensor_permute_raw(a, perm);
  CHECK(p && at(p, 1) == 3.0, "permute");
  CHECK(prism_tensor_permute_raw(a, dup) == NULL, "permute with a repeated dim refused");
  prism_tensor *ts[] = {t, c, flat, v3, n, row, row2, e, u, sq, p, a};
  for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) prism_tensor_release(ts[i]);
}

static void test_shape_checks(void) {
  int64_t huge[] = {(int64_t)1 << 40, (int64_t)1 << 40};
  CHECK(prism_tensor_empty(PRISM_FLOAT32, PRISM_CPU, 2, huge) == NULL && prism_error_kind_last() == PRISM_ERR_ARG,
        "overflowing shape refused: %s", prism_error_message());
  int64_t neg[] = {2, -1};
  CHECK(prism_tensor_empty(PRISM_FLOAT32, PRISM_CPU, 2, neg) == NULL, "negative size refused");
  int64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
  CHECK(prism_tensor_empty(PRISM_FLOAT32, PRISM_CPU, 9, nine) == NULL, "more than 8 dims refused");
  int64_t zero[] = {0, 5};
  prism_tensor *z = prism_tensor_zeros(PRISM_FLOAT32, PRISM_CPU, 2, zero);
  CHECK(z && prism_tensor_numel(z) == 0, "zero-size tensors are fine");
  prism_tensor_release(z);
  CHECK(prism_dim_normalize(-1, 3, false) == 2 && prism_dim_normalize(3, 3, false) == -1, "dim normalization");
}

static int gc_calls;
static void count_gc(void *ud, size_t need) { gc_calls++; }

static void test_memory(void) {
  size_t live0 = prism_mem_live_bytes(), tensors0 = prism_mem_live_tensors();
  int64_t s[] = {1000};
  prism_tensor *t = prism_tensor_zeros(PRISM_FLOAT32, PRISM_CPU, 1, s);
  CHECK(prism_mem_live_bytes() >= live0 + 4000, "live bytes count the storage");
  prism_tensor_release(t);
  CHECK(prism_mem_live_bytes() == live0 && prism_mem_live_tensors() == tensors0, "released storage leaves the live count");
  prism_mem_set_gc_hook(count_gc, NULL);
  prism_mem_set_limits(live0 + 8192, live0 + 65536);
  int64_t big[] = {4096};
  t = prism_tensor_zeros(PRISM_FLOAT32, PRISM_CPU, 1, big);
  prism_tensor *t2 = prism_tensor_zeros(PRISM_FLOAT32, PRISM_CPU, 1, big);
  CHECK(t && t2 && gc_calls >= 1, "GC hook runs past the soft limit (%d calls)", gc_calls);
  int64_t over[] = {1 << 16};
  prism_tensor *t3 = prism_tensor_zeros(PRISM_FLOAT32, PRISM_CPU, 1, over);
  CHECK(t3 == NULL && prism_error_kind_last() == PRISM_ERR_OOM && strstr(prism_error_message(), "cap"),
        "hard cap gives an OOM error: %s", prism_error_message());
  prism_tensor_release(t);
  prism_tensor_release(t2);
  prism_mem_set_limits(0, 0);
  prism_mem_set_gc_hook(NULL, NULL);
}

static prism_tensor *leaf(double v) {
  int64_t s[] = {1};
  prism_tensor *t = prism_tensor_full(PRISM_FLOAT32, PRISM_CPU, 1, s, v);
  t->requires_grad = true;
  return t;
}

static void test_autograd(void) {
  size_t nodes0 = prism_autograd_live_nodes();
  /* y = x*x + x  => dy/dx = 2x + 1 = 7 at x = 3; x is used twice: accumulation */
  prism_tensor *x = leaf(3.0);
  prism_tensor *xx = prism_op_mul(x, x);
  prism_tensor *y = prism_op_add(xx, x);
  CHECK(prism_backward(y, NULL) == 0, "backward runs: %s", prism_error_message());
  CHECK(x->grad && at(x->grad, 0) == 7.0, "gradient accumulates over uses (got %g)", x->grad ? at(x->grad, 0) : -1);
  CHECK(prism_backward(y, NULL) < 0 && strstr(prism_error_message(), "already"), "second backward refused: %s",
        prism_error_message());
  prism_tensor_release(xx);
  prism_tensor_release(y);
  /* a second forward/backward accumulates into the leaf's grad */
  xx = prism_op_mul(x, x);
  CHECK(prism_backward(xx, NULL) == 0 && at(x->grad, 0) == 13.0, "grad accumulates across backward calls");
  prism_tensor_release(xx);
  /* in-place modification of a saved tensor is detected */
  prism_tensor *e = prism_op_unary(PRISM_UNARY_EXP, x, 0, 0);
  bool prev = prism_grad_set_enabled(false);
  prism_tensor_fill_(e, 1.0); /* exp saved its output */
  prism_grad_set_enabled(prev);
  CHECK(prism_backward(e, NULL) < 0 && prism_error_kind_last() == PRISM_ERR_AUTOGRAD &&
            strstr(prism_error_message(), "modified in place"),
        "in-place modification detected: %s", prism_error_message());
  prism_tensor_release(e);
  /* no-grad scope records nothing */
  prev = prism_grad_set_enabled(false);
  prism_tensor *ng = prism_op_mul(x, x);
  prism_grad_set_enabled(prev);
  CHECK(ng && ng->grad_fn == NULL && !ng->requires_grad, "no_grad records no node");
  CHECK(prism_backward(ng, NULL) < 0, "backward of a no-grad result refused");
  prism_tensor_release(ng);
  /* non-scalar root needs a gradient */
  int64_t s3[] = {3};
  prism_tensor *v = prism_tensor_full(PRISM_FLOAT32, PRISM_CPU, 1, s3, 2.0);
  v->requires_grad = true;
  prism_tensor *v2 = prism_op_mul(v, v);
  CHECK(prism_backward(v2, NULL) < 0 && strstr(prism_error_message(), "single element"), "non-scalar root refused");
  prism_tensor_release(v2);
  prism_tensor_release(v);
  prism_tensor_release(x);
  CHECK(prism_autograd_live_nodes() == nodes0, "all nodes released (%zu live, %zu at start)", prism_autograd_live_nodes(),
        nodes0);
}

/* 200,000 chained ops: freeing the graph must not recurse (no stack overflow), and backward
 * through it must work and release everything. */
static void test_deep_chain(void) {
  size_t nodes0 = prism_autograd_live_nodes();
  prism_tensor *x = leaf(1.0);
  prism_tensor *cur = prism_tensor_retain(x);
  for (int i = 0; i < 200000; i++) {
    prism_tensor *next = prism_op_unary(PRISM_UNARY_MUL_SCALAR, cur, 1.0, 0);
    prism_tensor_release(cur);
    cur = next;
  }
  CHECK(prism_autograd_live_nodes() == nodes0 + 200000, "chain recorded");
  prism_tensor_release(cur); /* frees 200k nodes iteratively */
  CHECK(prism_autograd_live_nodes() == nodes0, "deep chain freed without recursion");
  cur = prism_tensor_retain(x);
  for (int i = 0; i < 200000; i++) {
    prism_tensor *next = prism_op_unary(PRISM_UNARY_MUL_SCALAR, cur, 1.0, 0);
    prism_tensor_release(cur);
    cur = next;
  }
  CHECK(prism_backward(cur, NULL) == 0 && at(x->grad, 0) == 1.0, "backward through a deep chain");
  prism_tensor_release(cur);
  prism_tensor_release(x);
  CHECK(prism_autograd_live_nodes() == nodes0, "deep chain released after backward");
}

int main(void) {
  size_t tensors0 = prism_mem_live_tensors();
  test_views();
  test_shape_checks();
  test_memory();
  test_autograd();
  test_deep_chain();
  CHECK(prism_mem_live_tensors() == tensors0, "no tensor leaked (%zu live, %zu at start)", prism_mem_live_tensors(),
        tensors0);
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
