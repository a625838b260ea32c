/* bundle_yaml.c — prism.yaml in safe mode (SPEC §2). We read libyaml's event stream ourselves
 * instead of building a document tree, so nothing a manifest says can make us expand or
 * allocate more than its text: any anchor, alias or tag is rejected the moment it appears (the
 * billion-laughs file fails at its first `&`), only one document is read, the top level must be
 * a mapping, and the text is capped at 64 KiB before parsing. Values are type-checked the way
 * PyYAML's resolver would type them (a plain `2024` is an integer, not a name), so a manifest
 * means the same thing here as it would to the reference. Unknown keys are kept as warnings that
 * list the known ones. */
#include "bundle_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* Unknown-key warnings past this are summarized in one line. */
#define MAX_WARNINGS 16
/* Nesting the skipper follows inside an unknown key's value. */
#define MAX_DEPTH 64

static const char *const top_keys[] = {"architecture", "training", "tokenizer", "kind", "name"};
enum { K_ARCH, K_TRAIN, K_TOKENIZER, K_KIND, K_NAME, K_COUNT };

typedef struct ystate {
  yaml_parser_t parser;
  yaml_event_t ev;
  int have_ev;
  const char *file;
  prism_failure *err;
  prism_bundle_manifest *m;
} ystate;

static const char *show(char out[160], const char *s, size_t n) {
  size_t o = 0, i;
  for (i = 0; i < n && o < 150; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c == 0x7f) o += (size_t)snprintf(out + o, 160 - o, "\\x%02x", c);
    else out[o++] = (char)c;
  }
  if (i < n) { memcpy(out + o, "...", 3); o += 3; }
  out[o] = '\0';
  return out;
}

static int yfail(ystate *y, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int yfail(ystate *y, int line, const char *fmt, ...) {
  char msg[800];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return prism_failure_set(y->err, "prism:bundle-yaml", y->file, line, "%s:%d: %s", y->file, line, msg);
}

static int ev_line(const ystate *y) { return (int)y->ev.start_mark.line + 1; }

static int add_warning(ystate *y, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int add_warning(ystate *y, const char *fmt, ...) {
  prism_bundle_manifest *m = y->m;
  if (m->n_warnings > MAX_WARNINGS) return 0;
  char msg[600];
  if (m->n_warnings == MAX_WARNINGS) {
    snprintf(msg, sizeof msg, "%s: more unknown keys are ignored; further warnings suppressed", y->file);
  } else {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
  }
  char **w = realloc(m->warnings, (size_t)(m->n_warnings + 1) * sizeof *w);
  if (!w) return yfail(y, 0, "out of memory");
  m->warnings = w;
  if (!(w[m->n_warnings] = strdup(msg))) return yfail(y, 0, "out of memory");
  m->n_warnings++;
  return 0;
}

/* Advances to the next event, rejecting every construct safe mode forbids as it arrives. */
static int next(ystate *y) {
  char sh[160];
  if (y->have_ev) { yaml_event_delete(&y->ev); y->have_ev = 0; }
  if (!yaml_parser_parse(&y->parser, &y->ev)) {
    const char *problem = y->parser.problem ? y->parser.problem : "malformed YAML";
    const char *context = y->parser.context;
    return yfail(y, (int)y->parser.problem_mark.line + 1, "not valid YAML: %s%s%s", problem,
                 context ? " " : "", context ? context : "");
  }
  y->have_ev = 1;
  const yaml_event_t *e = &y->ev;
  const yaml_char_t *anchor = NULL, *tag = NULL;
  switch (e->type) {
  case YAML_ALIAS_EVENT:
    return yfail(y, ev_line(y), "aliases (*%s) are not allowed in prism.yaml",
                 show(sh, (const char *)e->data.alias.anchor, strlen((const char *)e->data.alias.anchor)));
  case YAML_SCALAR_EVENT: anchor = e->data.scalar.anchor; tag = e->data.scalar.tag; break;
  case YAML_SEQUENCE_START_EVENT: anchor = e->data.sequence_start.anchor; tag = e->data.sequence_start.tag; break;
  case YAML_MAPPING_START_EVENT: anchor = e->data.mapping_start.anchor; tag = e->data.mapping_start.tag; break;
  case YAML_DOCUMENT_START_EVENT:
    if (e->data.document_start.tag_directives.start != e->data.document_start.tag_directives.end)
      return yfail(y, ev_line(y), "%%TAG directives are not allowed in prism.yaml");
    break;
  default: break;
  }
  if (anchor)
    return yfail(y, ev_line(y), "anchors (&%s) are not allowed in prism.yaml",
                 show(sh, (const char *)anchor, strlen((const char *)anchor)));
  if (tag)
    return yfail(y, ev_line(y), "tags (%s) are not allowed in prism.yaml",
                 show(sh, (const char *)tag, strlen((const char *)tag)));
  return 0;
}

/* ---- PyYAML's implicit resolution of plain scalars (YAML 1.1) ---- */

static int is_null(const char *s) {
  return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

static int is_bool(const char *s) {
  static const char *const words[] = {"yes", "Yes", "YES", "no", "No", "NO", "true", "True", "TRUE",
                                      "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF"};
  for (size_t k = 0; k < sizeof words / sizeof *words; k++)
    if (!strcmp(s, words[k])) return 1;
  return 0;
}

static int all_of(const char *s, const char *set) { return *s && s[strspn(s, set)] == '\0'; }

static int is_int(const char *s) {
  if (*s == '-' || *s == '+') s++;
  if (!strncmp(s, "0b", 2)) return all_of(s + 2, "01_");
  if (!strncmp(s, "0x", 2)) return all_of(s + 2, "0123456789abcdefABCDEF_");
  if (s[0] == '0' && s[1]) return all_of(s + 1, "01234567_");
  if (!strcmp(s, "0")) return 1;
  if (*s < '1' || *s > '9') return 0;
  /* decimal, or sexagesimal (1:30) */
  return all_of(s, "0123456789_:") && s[strlen(s) - 1] != ':';
}

static int is_float(const char *s) {
  if (!strcmp(s, ".nan") || !strcmp(s, ".NaN") || !strcmp(s, ".NAN")) return 1;
  if (*s == '-' || *s == '+') s++;
  if (!strcmp(s, ".inf") || !strcmp(s, ".Inf") || !strcmp(s, ".INF")) return 1;
  const char *p = s;
  int digits = 0;
  while ((*p >= '0' && *p <= '9') || *p == '_' || *p == ':') { digits += *p != '_' && *p != ':'; p++; }
  if (*p != '.') return 0;
  p++;
  while ((*p >= '0' && *p <= '9') || *p == '_') { digits++; p++; }
  if (!digits) return 0;
  if (*p == 'e' || *p == 'E') {
    p++;
    if (*p != '-' && *p != '+') return 0;
    p++;
    if (!(*p >= '0' && *p <= '9')) return 0;
    while (*p >= '0' && *p <= '9') p++;
  }
  return *p == '\0';
}

static const char *scalar_type(const yaml_event_t *e) {
  const char *v = (const char *)e->data.scalar.value;
  if (e->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return "string";
  if (is_null(v)) return "null";
  if (is_bool(v)) return "boolean";
  if (is_int(v)) return "integer";
  if (is_float(v)) return "float";
  return "string";
}

static const char *node_kind(const yaml_event_t *e) {
  switch (e->type) {
  case YAML_MAPPING_START_EVENT: return "mapping";
  case YAML_SEQUENCE_START_EVENT: return "sequence";
  case YAML_SCALAR_EVENT: return scalar_type(e);
  default: return "node";
  }
}

/* Skips the value whose first event is current. */
static int skip_value(ystate *y) {
  if (y->ev.type == YAML_SCALAR_EVENT) return 0;
  int depth = 1;
  while (depth > 0) {
    if (next(y)) return -1;
    if (y->ev.type == YAML_MAPPING_START_EVENT || y->ev.type == YAML_SEQUENCE_START_EVENT) {
      if (++depth > MAX_DEPTH) return yfail(y, ev_line(y), "values nested more than %d levels deep", MAX_DEPTH);
    } else if (y->ev.type == YAML_MAPPING_END_EVENT || y->ev.type == YAML_SEQUENCE_END_EVENT) {
      depth--;
    }
  }
  return 0;
}

/* Reads a mapping key (current event must be a scalar) into a NUL-terminated copy. */
static int read_key(ystate *y, char **key, int *line) {
  if (y->ev.type != YAML_SCALAR_EVENT)
    return yfail(y, ev_line(y), "keys must be plain strings, found a %s used as a key", node_kind(&y->ev));
  *line = ev_line(y);
  *key = strndup((const char *)y->ev.data.scalar.value, y->ev.data.scalar.length);
  if (!*key) return yfail(y, *line, "out of memory");
  return 0;
}

/* A string value; null leaves *out NULL (treated as absent). */
static int read_string(ystate *y, const char *what, char **out, int *line) {
  char sh[160];
  if (next(y)) return -1;
  const yaml_event_t *e = &y->ev;
  if (e->type != YAML_SCALAR_EVENT)
    return yfail(y, ev_line(y), "'%s' must be a string, found a %s", what, node_kind(e));
  const char *type = scalar_type(e);
  if (!strcmp(type, "null")) return 0;
  const char *v = (const char *)e->data.scalar.value;
  size_t n = e->data.scalar.length;
  if (strcmp(type, "string"))
    return yfail(y, ev_line(y), "'%s' must be a string, found the %s %s (quote it if you mean text)", what, type,
                 show(sh, v, n));
  if (memchr(v, '\0', n)) return yfail(y, ev_line(y), "'%s' must not contain a NUL character", what);
  free(*out);
  if (!(*out = strndup(v, n))) return yfail(y, ev_line(y), "out of memory");
  if (line) *line = ev_line(y);
  return 0;
}

/* `architecture:` / `training:` — a mapping whose only known key is `entrypoint`. */
static int read_section(ystate *y, const char *role, char **entry, int *entry_line) {
  char sh[160];
  if (next(y)) return -1;
  if (y->ev.type == YAML_SCALAR_EVENT && !strcmp(scalar_type(&y->ev), "null")) return 0;
  if (y->ev.type != YAML_MAPPING_START_EVENT)
    return yfail(y, ev_line(y), "'%s' must be a mapping with an 'entrypoint' key, found a %s", role, node_kind(&y->ev));
  int seen = 0;
  for (;;) {
    if (next(y)) return -1;
    if (y->ev.type == YAML_MAPPING_END_EVENT) return 0;
    char *key;
    int line = 0;
    if (read_key(y, &key, &line)) return -1;
    int rc;
    if (!strcmp(key, "entrypoint")) {
      char what[64];
      snprintf(what, sizeof what, "%s.entrypoint", role);
      rc = seen ? yfail(y, line, "duplicate key '%s'", what) : read_string(y, what, entry, entry_line);
      seen = 1;
    } else {
      rc = add_warning(y, "%s:%d: unknown key '%s.%s' ignored (known keys under %s: entrypoint)", y->file, line, role,
                       show(sh, key, strlen(key)), role);
      if (!rc) rc = next(y) || skip_value(y);
    }
    free(key);
    if (rc) return -1;
  }
}

static int read_top(ystate *y) {
  char sh[160];
  prism_bundle_manifest *m = y->m;
  unsigned seen = 0;
  int kind_line = 0, name_line = 0, tok_line = 0;
  char *name = NULL;
  for (;;) {
    if (next(y)) goto fail;
    if (y->ev.type == YAML_MAPPING_END_EVENT) break;
    char *key;
    int line = 0, k, rc;
    if (read_key(y, &key, &line)) goto fail;
    for (k = 0; k < K_COUNT && strcmp(key, top_keys[k]); k++) {}
    if (k < K_COUNT && (seen & (1u << k))) {
      rc = yfail(y, line, "duplicate key '%s'", key);
    } else {
      if (k < K_COUNT) seen |= 1u << k;
      switch (k) {
      case K_ARCH: rc = read_section(y, "architecture", &m->arch_entry, &m->arch_line); break;
      case K_TRAIN: rc = read_section(y, "training", &m->train_entry, &m->train_line); break;
      case K_TOKENIZER: rc = read_string(y, "tokenizer", &m->tokenizer, &tok_line); break;
      case K_KIND: rc = read_string(y, "kind", &m->kind, &kind_line); break;
      case K_NAME: rc = read_string(y, "name", &name, &name_line); break;
      default:
        rc = add_warning(y, "%s:%d: unknown key '%s' ignored (known keys: architecture, training, tokenizer, kind, name)",
                         y->file, line, show(sh, key, strlen(key)));
        if (!rc) rc = next(y) || skip_value(y);
      }
    }
    free(key);
    if (rc) goto fail;
  }
  if (m->kind && strcmp(m->kind, "full") && strcmp(m->kind, "architecture_only") && strcmp(m->kind, "training_for_arch")) {
    yfail(y, kind_line, "unsupported kind '%s' (one of: full, architecture_only, training_for_arch)",
          show(sh, m->kind, strlen(m->kind)));
    goto fail;
  }
  if (m->tokenizer && strcmp(m->tokenizer, "bytes") && strcmp(m->tokenizer, "gpt2") && strcmp(m->tokenizer, "llama") &&
      add_warning(y, "%s:%d: tokenizer '%s' is not a reference tokenizer (bytes, gpt2, llama); recorded as given",
                  y->file, tok_line, show(sh, m->tokenizer, strlen(m->tokenizer))))
    goto fail;
  if (name) m->display_name = prism_bundle_moderate_name(name);
  free(name);
  return 0;
fail:
  free(name);
  return -1;
}

static int read_stream(ystate *y) {
  if (next(y)) return -1; /* STREAM_START */
  if (next(y)) return -1;
  if (y->ev.type == YAML_STREAM_END_EVENT) return 0; /* empty file: {} */
  if (next(y)) return -1; /* past DOCUMENT_START */
  if (y->ev.type == YAML_MAPPING_START_EVENT) {
    if (read_top(y)) return -1;
  } else if (!(y->ev.type == YAML_SCALAR_EVENT && !strcmp(scalar_type(&y->ev), "null"))) {
    return yfail(y, ev_line(y), "prism.yaml must contain a mapping, found a %s", node_kind(&y->ev));
  }
  if (next(y)) return -1; /* DOCUMENT_END */
  if (next(y)) return -1;
  if (y->ev.type != YAML_STREAM_END_EVENT)
    return yfail(y, ev_line(y), "prism.yaml holds more than one document; only one is allowed");
  return 0;
}

int prism_bundle_parse_manifest(const char *file, const unsigned char *text, size_t size, prism_bundle_manifest *m,
                                prism_failure *err) {
  char a[32], l[32];
  memset(m, 0, sizeof *m);
  if (size > PRISM_BUNDLE_MAX_YAML_BYTES)
    return prism_failure_set(err, "prism:bundle-yaml", file, 0, "%s is %s bytes; the limit is %s bytes", file,
                             prism_bundle_fmt_count(a, size), prism_bundle_fmt_count(l, PRISM_BUNDLE_MAX_YAML_BYTES));
  ystate y;
  memset(&y, 0, sizeof y);
  y.file = file;
  y.err = err;
  y.m = m;
  if (!yaml_parser_initialize(&y.parser)) return prism_failure_set(err, "prism:bundle-yaml", file, 0, "out of memory");
  yaml_parser_set_input_string(&y.parser, text, size);
  int rc = read_stream(&y);
  if (y.have_ev) yaml_event_delete(&y.ev);
  yaml_parser_delete(&y.parser);
  if (rc) prism_bundle_manifest_clear(m);
  return rc ? -1 : 0;
}

void prism_bundle_manifest_clear(prism_bundle_manifest *m) {
  free(m->arch_entry);
  free(m->train_entry);
  free(m->tokenizer);
  free(m->kind);
  free(m->display_name);
  for (int i = 0; i < m->n_warnings; i++) free(m->warnings[i]);
  free(m->warnings);
  memset(m, 0, sizeof *m);
}

/* Whitespace runs become one space; only ASCII letters, digits, space and -_.()[]/+& survive;
 * at most 48 characters; nothing left → no name. */
char *prism_bundle_moderate_name(const char *name) {
  size_t n = strlen(name), o = 0;
  char *out = malloc(n + 1);
  if (!out) return NULL;
  int space = 0;
  for (size_t i = 0; i < n && o < 48; i++) {
    unsigned char c = (unsigned char)name[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') { space = o > 0; continue; }
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || (c && strchr("-_.()[]/+&", c));
    if (!ok) continue;
    if (space) {
      out[o++] = ' ';
      space = 0;
      if (o == 48) break;
    }
    out[o++] = (char)c;
  }
  while (o > 0 && out[o - 1] == ' ') o--;
  if (o == 0) { free(out); return NULL; }
  out[o] = '\0';
  return out;
}
