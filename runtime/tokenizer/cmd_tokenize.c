/* cmd_tokenize.c — `prism tokenize`, the miner's view of a reference tokenizer (SPEC §1, §12):
 * the same encoder the instrument and the held-out use (tokenizer.h), on stdin, so a miner can
 * see how a text is cut, count the tokens a corpus costs, or check that ids decode back to the
 * text. It owns only the command line: reading stdin with a bound (PRISM_TOKENIZE_INPUT_CAP, so
 * a mistaken pipe cannot exhaust memory), the one-line JSON id array it prints and parses, and
 * the exit codes. The tokenizers themselves, their staged files and checksums are tokenizer.h's.
 *
 * Output: encode prints `[id, id, ...]` and a newline; --decode reads such an array and writes
 * the decoded bytes exactly (no newline added), so `prism tokenize ... | prism tokenize ...
 * --decode` reproduces stdin byte for byte; --count prints `tokens N bytes M`.
 * Exit codes: 0 ok, 1 failed (tokenizer missing/tampered/unloadable, input too large, malformed
 * id array, id out of range), 2 usage. Every failure is one `prism: <rule-id>: <message>` line. */
#include "cmd_tokenize.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer.h"

#define PRISM_TOKENIZE_INPUT_CAP ((size_t)256 << 20)

static void usage(FILE *f) {
  fprintf(f, "usage: prism tokenize --tokenizer NAME [--decode | --count] [--tokenizers DIR]\n"
             "\n"
             "Encodes stdin with a reference tokenizer and prints the ids as one JSON array.\n"
             "\n"
             "  --tokenizer NAME   bytes | gpt2 | llama (required)\n"
             "  --decode           read a JSON array of ids from stdin and print the text they decode to\n"
             "  --count            print `tokens N bytes M` instead of the ids\n"
             "  --tokenizers DIR   staged reference tokenizers (scripts/stage-tokenizers DIR)\n"
             "                     [env PRISM_REFERENCE_TOKENIZER_DIR, else the set-up default]\n"
             "  --help             this message\n"
             "\n"
             "stdin is read up to 256 MiB. exit: 0 ok, 1 failed, 2 usage\n");
}

static int fail(const char *rule, const char *msg) {
  fprintf(stderr, "prism: %s: %s\n", rule, msg);
  return 1;
}

/* Reads all of stdin (at most cap bytes) into a NUL-terminated buffer; -1 on error/over cap. */
static int read_stdin(char **out, size_t *len, size_t cap, prism_failure *err) {
  size_t n = 0, alloc = 1 << 16;
  char *buf = (char *)malloc(alloc + 1);
  if (!buf) return prism_failure_set(err, "prism:resource-oom", NULL, 0, "out of memory reading stdin");
  for (;;) {
    if (n == alloc) {
      if (alloc > cap) break;
      size_t na = alloc * 2 > cap + 1 ? cap + 1 : alloc * 2; /* one byte past the cap tells "too large" */
      char *p = (char *)realloc(buf, na + 1);
      if (!p) {
        free(buf);
        return prism_failure_set(err, "prism:resource-oom", NULL, 0, "out of memory reading stdin");
      }
      buf = p;
      alloc = na;
    }
    size_t got = fread(buf + n, 1, alloc - n, stdin);
    n += got;
    if (got == 0) {
      if (ferror(stdin)) {
        free(buf);
        return prism_failure_set(err, "prism:tokenize-input", NULL, 0, "reading stdin failed: %s", strerror(errno));
      }
      break;
    }
    if (n > cap) break;
  }
  if (n > cap) {
    free(buf);
    return prism_failure_set(err, "prism:tokenize-input", NULL, 0,
                             "stdin is larger than %zu MiB; tokenize the text in pieces", cap >> 20);
  }
  buf[n] = '\0';
  *out = buf;
  *len = n;
  return 0;
}

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* Parses `[int, int, ...]` (JSON whitespace allowed). Ids are non-negative integers. */
static int parse_ids(const char *s, size_t len, int64_t **ids, size_t *n, prism_failure *err) {
  size_t i = 0, cap = 0;
  *ids = NULL;
  *n = 0;
  while (i < len && is_ws(s[i])) i++;
  if (i >= len || s[i] != '[')
    return prism_failure_set(err, "prism:tokenize-input", NULL, 0,
                             "--decode expects a JSON array of ids on stdin, e.g. [15496, 995] (byte %zu)", i);
  i++;
  bool need_value = false;
  for (;;) {
    while (i < len && is_ws(s[i])) i++;
    if (i < len && s[i] == ']' && !need_value) {
      i++;
      break;
    }
    if (i >= len || s[i] < '0' || s[i] > '9') {
      free(*ids);
      *ids = NULL;
      return prism_failure_set(err, "prism:tokenize-input", NULL, 0,
                               "--decode: expected %s at byte %zu of stdin; ids are integers >= 0",
                               *n == 0 && !need_value ? "an id or ']'" : "an id", i);
    }
    size_t start = i;
    int64_t v = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9') {
      if (v > (INT64_MAX - 9) / 10) {
        free(*ids);
        *ids = NULL;
        return prism_failure_set(err, "prism:tokenize-input", NULL, 0, "--decode: the id at byte %zu is too large", start);
      }
      v = v * 10 + (s[i] - '0');
      i++;
    }
    if (i - start > 1 && s[start] == '0') {
      free(*ids);
      *ids = NULL;
      return prism_failure_set(err, "prism:tokenize-input", NULL, 0,
                               "--decode: the id at byte %zu has a leading zero (not JSON)", start);
    }
    if (*n == cap) {
      size_t nc = cap ? cap * 2 : 1024;
      int64_t *p = (int64_t *)realloc(*ids, nc * sizeof *p);
      if (!p) {
        free(*ids);
        *ids = NULL;
        return prism_failure_set(err, "prism:resource-oom", NULL, 0, "out of memory parsing the ids");
      }
      *ids = p;
      cap = nc;
    }
    (*ids)[(*n)++] = v;
    while (i < len && is_ws(s[i])) i++;
    if (i < len && s[i] == ',') {
      i++;
      need_value = true;
      continue;
    }
    need_value = false;
    if (i < len && s[i] == ']') {
      i++;
      break;
    }
    free(*ids);
    *ids = NULL;
    return prism_failure_set(err, "prism:tokenize-input", NULL, 0, "--decode: expected ',' or ']' at byte %zu of stdin", i);
  }
  while (i < len && is_ws(s[i])) i++;
  if (i != len) {
    free(*ids);
    *ids = NULL;
    return prism_failure_set(err, "prism:tokenize-input", NULL, 0,
                             "--decode: unexpected text after the id array at byte %zu of stdin", i);
  }
  return 0;
}

static int write_all(const char *p, size_t n) {
  if (n && fwrite(p, 1, n, stdout) != n) return -1;
  return fflush(stdout) == 0 ? 0 : -1;
}

static int print_ids(const int64_t *ids, size_t n) {
  char num[32];
  if (fputc('[', stdout) == EOF) return -1;
  for (size_t i = 0; i < n; i++) {
    int k = snprintf(num, sizeof num, i ? ", %lld" : "%lld", (long long)ids[i]);
    if (fwrite(num, 1, (size_t)k, stdout) != (size_t)k) return -1;
  }
  if (fputs("]\n", stdout) == EOF) return -1;
  return fflush(stdout) == 0 ? 0 : -1;
}

int prism_cmd_tokenize(int argc, char **argv) {
  const char *name = NULL, *dir = NULL;
  bool decode = false, count = false;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    const char *eq = strchr(a, '=');
    size_t klen = eq ? (size_t)(eq - a) : strlen(a);
    const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[i + 1] : NULL);
    bool takes = (klen == 11 && !strncmp(a, "--tokenizer", klen)) || (klen == 12 && !strncmp(a, "--tokenizers", klen));
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    } else if (!strcmp(a, "--decode")) {
      decode = true;
    } else if (!strcmp(a, "--count")) {
      count = true;
    } else if (takes) {
      if (!v || !*v) {
        fprintf(stderr, "prism: tokenize: %.*s needs a value\n", (int)klen, a);
        usage(stderr);
        return 2;
      }
      if (klen == 11) name = v;
      else dir = v;
      if (!eq) i++;
    } else {
      fprintf(stderr, "prism: tokenize: unknown option '%s'\n", a);
      usage(stderr);
      return 2;
    }
  }
  if (!name) {
    fprintf(stderr, "prism: tokenize: --tokenizer NAME is required (bytes, gpt2 or llama)\n");
    usage(stderr);
    return 2;
  }
  if (decode && count) {
    fprintf(stderr, "prism: tokenize: --decode and --count cannot be combined\n");
    usage(stderr);
    return 2;
  }

  prism_failure err;
  memset(&err, 0, sizeof err);
  prism_tokenizer *tok = prism_tokenizer_open(name, dir, &err);
  if (!tok) return fail(err.rule_id[0] ? err.rule_id : "prism:tokenizer-load", err.message);
  char *in = NULL;
  size_t in_len = 0;
  int rc = 0;
  if (read_stdin(&in, &in_len, PRISM_TOKENIZE_INPUT_CAP, &err) != 0) {
    rc = fail(err.rule_id, err.message);
  } else if (decode) {
    int64_t *ids = NULL;
    size_t n = 0;
    char *text = NULL;
    size_t text_len = 0;
    if (parse_ids(in, in_len, &ids, &n, &err) != 0 ||
        prism_tokenizer_decode(tok, ids, n, &text, &text_len, &err) != 0)
      rc = fail(err.rule_id[0] ? err.rule_id : "prism:tokenize-input", err.message);
    else if (write_all(text, text_len) != 0)
      rc = fail("prism:tokenize-output", "writing stdout failed");
    free(ids);
    free(text);
  } else {
    int64_t *ids = NULL;
    size_t n = 0, cap = 0;
    if (prism_tokenizer_encode(tok, in, in_len, &ids, &n, &cap, &err) != 0) {
      rc = fail(err.rule_id[0] ? err.rule_id : "prism:tokenizer-load", err.message);
    } else if (count) {
      if (printf("tokens %zu bytes %zu\n", n, in_len) < 0 || fflush(stdout) != 0)
        rc = fail("prism:tokenize-output", "writing stdout failed");
    } else if (print_ids(ids, n) != 0) {
      rc = fail("prism:tokenize-output", "writing stdout failed");
    }
    free(ids);
  }
  free(in);
  prism_tokenizer_free(tok);
  return rc;
}
