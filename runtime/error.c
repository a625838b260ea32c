/* error.c — thread-local last-error record (see error.h). */
#include "error.h"
#include <stdarg.h>
#include <stdio.h>

static _Thread_local prism_error_kind last_kind = PRISM_OK;
static _Thread_local char last_message[512];

static void record(prism_error_kind kind, const char *fmt, va_list ap) {
  last_kind = kind;
  vsnprintf(last_message, sizeof last_message, fmt, ap);
}

void *prism_fail(prism_error_kind kind, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  record(kind, fmt, ap);
  va_end(ap);
  return NULL;
}

int prism_fail_int(prism_error_kind kind, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  record(kind, fmt, ap);
  va_end(ap);
  return -1;
}

prism_error_kind prism_error_kind_last(void) { return last_kind; }
const char *prism_error_message(void) { return last_kind == PRISM_OK ? "" : last_message; }
void prism_error_clear(void) { last_kind = PRISM_OK; last_message[0] = '\0'; }
