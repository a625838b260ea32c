/* check.h — the pass/fail counting shared by the C unit tests (tests/unit/test_*.c).
 * Include it once, in the test's .c file; everything is static to that test.
 *
 *   check(ok, name, detail)  one line: name padded to CHECK_NAME_WIDTH, "ok" or "FAIL", then
 *                            detail (NULL or "" for none)
 *   report(ok, fmt, ...)     one line: "ok  " or "FAIL", then the printf-formatted text; with
 *                            CHECK_REPORT_LAST_ERROR defined, a failed line also shows the
 *                            runtime's last error message when there is one (needs error.h)
 *   check_summary()          prints "N passed, M failed"; returns the exit status (1 on any failure)
 *
 * Define CHECK_NAME_WIDTH before the include to change the name column (default 66). */
#ifndef PRISM_TESTS_CHECK_H
#define PRISM_TESTS_CHECK_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

#ifndef CHECK_NAME_WIDTH
#define CHECK_NAME_WIDTH 66
#endif

static int passed, failed;

static inline void check(int ok, const char *name, const char *detail) {
  printf("%-*s %s%s%s\n", CHECK_NAME_WIDTH, name, ok ? "ok" : "FAIL", detail && detail[0] ? "  " : "",
         detail ? detail : "");
  if (ok) passed++;
  else failed++;
}

static inline void report(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline void report(bool ok, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  printf("%s ", ok ? "ok  " : "FAIL");
  vprintf(fmt, ap);
  va_end(ap);
#ifdef CHECK_REPORT_LAST_ERROR
  if (!ok && prism_error_kind_last() != PRISM_OK) printf("  [last error: %s]", prism_error_message());
#endif
  printf("\n");
  if (ok) passed++;
  else failed++;
}

static inline int check_summary(void) {
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}

#endif
