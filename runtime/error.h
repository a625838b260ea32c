/* error.h — the runtime's error channel. C code never aborts on bad input: a function that
 * fails returns NULL (or -1), after recording a kind and a message here. The Lua bridge turns
 * the record into a Lua error; the CLI turns it into a rule id. Thread-local so OpenMP workers
 * and future rank threads cannot clobber each other's message. */
#ifndef PRISM_ERROR_H
#define PRISM_ERROR_H

typedef enum {
  PRISM_OK = 0,
  PRISM_ERR_ARG,        /* bad argument: shape, dtype, dimension, size (a miner's mistake) */
  PRISM_ERR_OOM,        /* tensor-byte hard cap reached, or the system allocator failed */
  PRISM_ERR_AUTOGRAD,   /* backward misuse: saved tensor modified in place, non-scalar root */
  PRISM_ERR_INTERNAL    /* a runtime bug: never caused by input */
} prism_error_kind;

/* Records an error (printf-style) and returns NULL so callers can write `return prism_fail(...)`. */
void *prism_fail(prism_error_kind kind, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Same, for functions returning int: returns -1. */
int prism_fail_int(prism_error_kind kind, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
prism_error_kind prism_error_kind_last(void);
const char *prism_error_message(void);
void prism_error_clear(void);

#endif
