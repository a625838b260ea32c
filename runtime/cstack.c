/* cstack.c — see cstack.h. */
#define _GNU_SOURCE
#include "cstack.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>

static __thread char *stack_low;   /* lowest usable address of this thread's stack, or NULL */
static __thread size_t stack_size; /* its size */

typedef struct job {
  int (*fn)(void *);
  void *arg;
  size_t bytes;
  int result;
} job;

static void *trampoline(void *p) {
  job *j = (job *)p;
  /* For a thread glibc created, this reads the attributes it kept (no /proc access). */
  pthread_attr_t attr;
  void *addr;
  size_t size;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
      stack_low = (char *)addr;
      stack_size = size;
    }
    pthread_attr_destroy(&attr);
  }
  j->result = j->fn(j->arg);
  return NULL;
}

int prism_cstack_run(int (*fn)(void *), void *arg, size_t bytes) {
  pthread_attr_t attr;
  if (pthread_attr_init(&attr) != 0) return -1;
  int rc = pthread_attr_setstacksize(&attr, bytes);
  job j = {.fn = fn, .arg = arg, .bytes = bytes, .result = -1};
  pthread_t t;
  if (rc == 0) rc = pthread_create(&t, &attr, trampoline, &j);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    errno = rc;
    return -1;
  }
  pthread_join(t, NULL);
  return j.result;
}

size_t prism_cstack_remaining(void) {
  char here;
  if (!stack_low) return (size_t)-1;
  return &here > stack_low ? (size_t)(&here - stack_low) : 0;
}

size_t prism_cstack_size(void) { return stack_low ? stack_size : (size_t)-1; }
