/* clock.h — the one clock every timer in prism reads: the watchdog, the Lua deadline the count
 * hook enforces, the time budget and the wall-time figures. CLOCK_MONOTONIC, in seconds; one
 * definition, so a deadline computed in the parent means the same instant in a child. */
#ifndef PRISM_CLOCK_H
#define PRISM_CLOCK_H

#include <time.h>

static inline double prism_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#endif
