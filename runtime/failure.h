/* failure.h — how an evaluation failure is described everywhere (SPEC §9): a rule id, a message
 * a miner can act on, and where in the bundle it happened. The CLI prints
 * `prism: <rule_id>: <message>` and the manifest's `failure` block carries the same fields. */
#ifndef PRISM_FAILURE_H
#define PRISM_FAILURE_H

typedef struct prism_failure {
  char rule_id[64];   /* "prism:bundle-zip", "prism:syntax", ... ; "" = no failure */
  char message[1024];
  char file[256];     /* bundle-relative path, "" when not about a file */
  int line;           /* 1-based, 0 when unknown */
} prism_failure;

/* Fills f (printf-style message) and returns -1, so callers can `return prism_failure_set(...)`. */
int prism_failure_set(prism_failure *f, const char *rule_id, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Parses "file:line: message" from a Lua error string into file/line when it names a bundle file. */
void prism_failure_from_lua(prism_failure *f, const char *rule_id, const char *lua_message);

#endif
