/* cmd_tokenizers.c — `prism tokenizers verify [DIR]`: are the staged reference tokenizer files in
 * DIR (default: env PRISM_REFERENCE_TOKENIZER_DIR, else the build's default dir) the pinned ones?
 * One line per file on stdout, then on a problem one line `prism: <rule id>: <message>` on stderr
 * naming the staging command, exit 1. Nothing is fetched or repaired: scripts/stage-tokenizers
 * does that, with network, at set-up. */
#include <stdio.h>
#include <string.h>

#include "loader.h"
#include "tokenizer.h"

static void usage(FILE *f) {
  fprintf(f, "usage: prism tokenizers verify [DIR]\n"
             "\n"
             "Checks the staged reference tokenizer files (gpt2/gpt2.tiktoken, gpt2/encoder.json,\n"
             "gpt2/vocab.bpe, llama/tokenizer.model, reference_manifest.json) against the sha256s\n"
             "pinned in this build. DIR defaults to env PRISM_REFERENCE_TOKENIZER_DIR, else\n"
             "%s.\n"
             "Stage or repair a dir with: scripts/stage-tokenizers DIR\n"
             "Exit: 0 clean, 1 a file missing or changed, 2 usage.\n",
          prism_tokenizer_default_dir());
}

int prism_cmd_tokenizers(int argc, char **argv) {
  if (argc < 1) {
    usage(stderr);
    return PRISM_EXIT_USAGE;
  }
  if (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h") || !strcmp(argv[0], "help")) {
    usage(stdout);
    return PRISM_EXIT_OK;
  }
  if (strcmp(argv[0], "verify") != 0) {
    fprintf(stderr, "prism: tokenizers: unknown command '%s' (verify)\n(see `prism tokenizers --help`)\n", argv[0]);
    return PRISM_EXIT_USAGE;
  }
  const char *dir = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      usage(stdout);
      return PRISM_EXIT_OK;
    }
    if (argv[i][0] == '-' || dir) {
      fprintf(stderr, "prism: tokenizers: unexpected argument '%s'\n(see `prism tokenizers --help`)\n", argv[i]);
      return PRISM_EXIT_USAGE;
    }
    dir = argv[i];
  }
  const char *root = prism_tokenizer_resolve_dir(dir);
  printf("reference tokenizers: %s\n", root);
  prism_failure err = {0};
  int problems = prism_tokenizers_verify(root, stdout, &err);
  fflush(stdout);
  if (problems == 0) {
    printf("ok: all pinned files verify\n");
    return PRISM_EXIT_OK;
  }
  fprintf(stderr, "prism: %s: %s (%d problem%s in %s)\n", err.rule_id, err.message, problems, problems == 1 ? "" : "s",
          root);
  return PRISM_EXIT_FAILED;
}
