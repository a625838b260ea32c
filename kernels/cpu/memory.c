/* memory.c — the CPU backend's raw memory: 64-byte aligned blocks (one cache line, the widest
 * AVX-512 vector) so every kernel may use aligned vector loads on a tensor's base, and
 * host<->device transfers, which on the CPU are plain copies. The caching allocator and the byte
 * accounting live above this, in runtime/tensor.c; this file only talks to the C library. */
#include "cpu_kernels.h"

#include <stdlib.h>
#include <string.h>

#define PRISM_CPU_ALIGN 64

void *prism_cpu_alloc(size_t nbytes) {
  void *p = NULL;
  /* posix_memalign(0) may return NULL, which callers would read as failure: ask for one line. */
  if (posix_memalign(&p, PRISM_CPU_ALIGN, nbytes ? nbytes : PRISM_CPU_ALIGN) != 0) return NULL;
  return p;
}

void prism_cpu_free(void *ptr, size_t nbytes) {
  (void)nbytes;
  free(ptr);
}

int prism_cpu_upload(void *dst_dev, const void *src_host, size_t nbytes) {
  if (nbytes) memcpy(dst_dev, src_host, nbytes);
  return 0;
}

int prism_cpu_download(void *dst_host, const void *src_dev, size_t nbytes) {
  if (nbytes) memcpy(dst_host, src_dev, nbytes);
  return 0;
}
