/* fuzz_gpt2.c — libFuzzer target for the GPT-2 tokenizer (runtime/tokenizer/gpt2*.c).
 * Every input is an arbitrary byte string (valid UTF-8 or not). Always: the pre-tokenizer
 * partitions it into non-empty pieces that cover it exactly. With the staged ranks (env
 * PRISM_REFERENCE_TOKENIZER_DIR, else the build default): encode succeeds, every id lies in
 * [0, 50256) (the text "<|endoftext|>" is never the special id), decode(encode(x)) == x byte
 * for byte, and the heap merge loop gives exactly the linear loop's ids. Any violation aborts.
 * Built only with -DPRISM_FUZZ=ON; see tests/fuzz/README.md. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/gpt2.h"
#include "tokenizer/tokenizer.h"

static prism_gpt2 *g_tok;

static void die(const char *what) {
  fprintf(stderr, "fuzz_gpt2: %s\n", what);
  abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  const char *dir = prism_tokenizer_resolve_dir(NULL);
  char path[4096], err[512];
  snprintf(path, sizeof path, "%s/%s", dir ? dir : "", PRISM_GPT2_TIKTOKEN_RELPATH);
  g_tok = prism_gpt2_load(path, err, sizeof err);
  if (!g_tok) fprintf(stderr, "fuzz_gpt2: ranks not loaded (%s); fuzzing the pre-tokenizer only\n", err);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *s = (const char *)data;
  for (size_t pos = 0; pos < size;) {
    size_t n = prism_gpt2_pretok_next(s, size, pos);
    if (n == 0 || n > size - pos) die("pre-tokenizer piece empty or past the end");
    pos += n;
  }
  if (!g_tok) return 0;
  int64_t *ids = NULL, *ids2 = NULL;
  size_t n = 0, cap = 0, n2 = 0, cap2 = 0, olen = 0;
  char err[256], *out = NULL;
  if (prism_gpt2_encode(g_tok, s, size, &ids, &n, &cap, err, sizeof err) != 0) die(err);
  for (size_t i = 0; i < n; i++)
    if (ids[i] < 0 || ids[i] >= PRISM_GPT2_EOT) die("id outside [0, 50256)");
  if (prism_gpt2_decode(g_tok, ids, n, &out, &olen, err, sizeof err) != 0) die(err);
  if (olen != size || memcmp(out, data, size) != 0) die("decode(encode(x)) != x");
  prism_gpt2_set_linear_max(g_tok, 0);
  int rc = prism_gpt2_encode(g_tok, s, size, &ids2, &n2, &cap2, err, sizeof err);
  prism_gpt2_set_linear_max(g_tok, 128);
  if (rc != 0) die(err);
  if (n2 != n || (n && memcmp(ids, ids2, n * sizeof *ids) != 0)) die("heap and linear merge loops disagree");
  free(ids);
  free(ids2);
  free(out);
  return 0;
}
