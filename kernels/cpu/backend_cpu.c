/* backend_cpu.c — the CPU backend's op table and its thread control. The table is built from
 * one list of kernel names (CPU_KERNELS): each entry initializes the field of that name with
 * prism_cpu_<name>, so a name that is misspelled or lacks a kernel fails to compile, a repeated
 * one trips -Woverride-init, and the list length is checked against the number of kernels in
 * prism_backend: together, a table with a missing entry cannot be built.
 *
 * Threads: our OpenMP loops do all the partitioning (fixed chunks, see cpu_kernels.h), so
 * OpenBLAS is pinned to one thread and never runs threads of its own inside ours. The default
 * thread count is $PRISM_THREADS when it holds a positive integer, else the number of cores.
 * OpenMP keeps the count per calling thread, so it applies to kernels launched from the thread
 * that set it (the runtime's main thread). */
#include "cpu_kernels.h"
#include "../../runtime/error.h"

#include <cblas.h>
#include <omp.h>
#include <pthread.h>
#include <stdlib.h>

#define CPU_KERNELS(X)                                                                             \
  X(alloc) X(free) X(upload) X(download) X(copy) X(fill) X(arange) X(unary) X(unary_backward)     \
  X(binary) X(masked_fill) X(reduce) X(gemm) X(softmax) X(softmax_backward) X(log_softmax)        \
  X(log_softmax_backward) X(cross_entropy) X(cross_entropy_backward) X(sum_f64) X(attention)      \
  X(attention_backward) X(rmsnorm) X(rmsnorm_backward) X(layernorm) X(layernorm_backward)         \
  X(index_select) X(index_add) X(gather) X(scatter_add) X(triangle) X(rand_uniform)               \
  X(rand_normal) X(dropout) X(adamw) X(sgd) X(sum_squares_f64)

#define CPU_TABLE_ENTRY(k) .k = prism_cpu_##k,
#define CPU_COUNT_ONE(k) +1

PRISM_BACKEND_STATIC_CHECK(prism_backend);
_Static_assert(0 CPU_KERNELS(CPU_COUNT_ONE) == PRISM_BACKEND_KERNEL_COUNT,
               "CPU_KERNELS does not list every kernel of prism_backend");

static const prism_backend cpu_backend = {
  .name = "cpu",
  .device = PRISM_CPU,
  CPU_KERNELS(CPU_TABLE_ENTRY)
};

static pthread_once_t threads_once = PTHREAD_ONCE_INIT;
static int threads_default = 1;
static int threads_current = 1;

static void threads_init(void) {
  openblas_set_num_threads(1);
  int n = omp_get_num_procs();
  const char *env = getenv("PRISM_THREADS");
  if (env && *env) {
    char *end;
    long v = strtol(env, &end, 10);
    if (*end == '\0' && v > 0 && v <= 4096) n = (int)v;
  }
  threads_default = n > 0 ? n : 1;
  threads_current = threads_default;
  omp_set_num_threads(threads_current);
}

const prism_backend *prism_backend_get(prism_device device) {
  switch (device) {
  case PRISM_CPU:
    pthread_once(&threads_once, threads_init);
    return &cpu_backend;
  case PRISM_CUDA:
    return prism_fail(PRISM_ERR_ARG, "device cuda: this build has no CUDA backend");
  default:
    return prism_fail(PRISM_ERR_ARG, "prism_backend_get: unknown device %d", (int)device);
  }
}

/* n < 1 restores the default. */
void prism_backend_set_threads(int n) {
  pthread_once(&threads_once, threads_init);
  threads_current = n >= 1 ? n : threads_default;
  omp_set_num_threads(threads_current);
}

int prism_backend_get_threads(void) {
  pthread_once(&threads_once, threads_init);
  return threads_current;
}
