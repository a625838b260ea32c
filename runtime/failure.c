/* failure.c — filling prism_failure records (see failure.h). */
#include "failure.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int prism_failure_set(prism_failure *f, const char *rule_id, const char *file, int line, const char *fmt, ...) {
  snprintf(f->rule_id, sizeof f->rule_id, "%s", rule_id);
  snprintf(f->file, sizeof f->file, "%s", file ? file : "");
  f->line = line;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(f->message, sizeof f->message, fmt, ap);
  va_end(ap);
  return -1;
}

/* Lua errors look like "training.lua:12: attempt to ..." (chunkname "@training.lua"). */
void prism_failure_from_lua(prism_failure *f, const char *rule_id, const char *msg) {
  if (!msg) msg = "(error object is not a string)";
  const char *colon = strchr(msg, ':');
  int line = 0;
  char file[256] = "";
  if (colon && (size_t)(colon - msg) < sizeof file && colon[1] >= '0' && colon[1] <= '9') {
    char *end;
    long l = strtol(colon + 1, &end, 10);
    if (*end == ':' && l > 0 && l < 100000000) {
      memcpy(file, msg, (size_t)(colon - msg));
      file[colon - msg] = '\0';
      line = (int)l;
    }
  }
  prism_failure_set(f, rule_id, file, line, "%s", msg);
}
