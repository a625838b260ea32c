/* main.c — the `prism` command line: global options (--threads, --version, --help), then one
 * subcommand looked up in a table and handed the arguments after its name. Each command's
 * options, help and exit codes live with the code that owns it (cmd_run.c for run and check,
 * lua/commands.c for exec and selftest, ...). Nothing else lives here.
 * Exit codes (SPEC §1): 0 ok, 1 failed, 2 usage, 3 rejected, 4 internal error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cblas.h>
#include <luajit.h>

#include "backend.h"
#include "data.h"
#include "loader.h"
#include "run.h"
#include "score.h"
#include "tokenizer/cmd_tokenize.h"
#include "tokenizer/tokenizer.h"

static const char *prog_name = "prism";

static int cmd_exec(int argc, char **argv) { return prism_cmd_exec(prog_name, argc, argv); }

typedef struct command {
  const char *name;
  int (*run)(int argc, char **argv); /* argv: the arguments after the command name */
  const char *synopsis;
} command;

static const command commands[] = {
    {"run", prism_cmd_run, "run BUNDLE [options]         evaluate a submission; writes its manifest"},
    {"check", prism_cmd_check, "check BUNDLE [options]       intake + static gates + parameter count, no training"},
    {"data", prism_cmd_data, "data prepare IN.jsonl... --out DIR | data verify DIR\n"
                             "                               build / verify a locked dataset (MANIFEST.json)"},
    {"score", prism_cmd_score, "score MANIFEST [--json]      recompute a manifest's score block and verify it"},
    {"leaderboard", prism_cmd_leaderboard, "leaderboard MANIFEST...|DIR [--json]\n"
                                           "                               rank manifests, print normalized weights"},
    {"tokenize", prism_cmd_tokenize, "tokenize --tokenizer NAME [--decode|--count]\n"
                                     "                               encode stdin with a reference tokenizer, print ids"},
    {"tokenizers", prism_cmd_tokenizers, "tokenizers verify [DIR]      check staged reference tokenizer files against their pins"},
    {"exec", cmd_exec, "exec SCRIPT.lua [ARGS...]    run a trusted Lua script (developer command)"},
    {"selftest", prism_cmd_selftest, "selftest [--threads N] [--device cpu|cuda]\n"
                                     "                               gradcheck every op and check determinism"},
};

static void usage(FILE *f) {
  fprintf(f, "usage: prism [--threads N] COMMAND [ARGS...]\n"
             "       prism --version | --help\n"
             "\n"
             "commands:\n");
  for (size_t i = 0; i < sizeof commands / sizeof *commands; i++) fprintf(f, "  %s\n", commands[i].synopsis);
  fprintf(f, "\n"
             "options:\n"
             "  --threads N    kernel threads (also env PRISM_THREADS; default: all cores)\n"
             "  --version      print the version, LuaJIT and OpenBLAS in use, and the thread count\n"
             "  --help         this message; `prism COMMAND --help` describes a command\n"
             "\n"
             "environment: PRISM_TENSOR_SOFT_LIMIT, PRISM_TENSOR_HARD_LIMIT (tensor bytes)\n");
}

static int parse_threads(const char *s) {
  char *end;
  long v = strtol(s, &end, 10);
  return (*s && !*end && v >= 1 && v <= 4096) ? (int)v : 0;
}

/* OpenMP workers spin between parallel regions by default. On a machine shared with other
 * processes (a validator scoring several bundles, CI running tests in parallel) a spinning worker
 * steals the core its partner needs: a training step ran 1.5-2x slower with 2 threads than with
 * passive waiting (bench/tiny_decoder.lua, 2 cores, one other busy process). libgomp reads the
 * policy once, when it is loaded, so the only way to change it is to set it before the process
 * starts: re-exec once with OMP_WAIT_POLICY=PASSIVE unless the caller chose a policy. Results
 * do not depend on it (chunking is fixed), only wall time does. */
static void prefer_passive_openmp(char **argv) {
  if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT")) return;
  if (setenv("OMP_WAIT_POLICY", "PASSIVE", 1) != 0) return;
  execv("/proc/self/exe", argv);
  /* exec failed (no /proc): carry on with the default policy */
}

int main(int argc, char **argv) {
  prog_name = argv[0];
  prefer_passive_openmp(argv);
  const char *env = getenv("PRISM_THREADS");
  if (env && *env) {
    int n = parse_threads(env);
    if (!n) {
      fprintf(stderr, "prism: PRISM_THREADS must be a positive integer, got '%s'\n", env);
      return PRISM_EXIT_USAGE;
    }
    prism_backend_set_threads(n);
  }
  int i = 1;
  for (; i < argc && argv[i][0] == '-'; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return PRISM_EXIT_OK;
    } else if (!strcmp(a, "--version")) {
      printf("prism %s (%s, OpenBLAS %s, %d threads)\n", PRISM_VERSION, LUAJIT_VERSION, openblas_get_corename(),
             prism_backend_get_threads());
      return PRISM_EXIT_OK;
    } else if (!strcmp(a, "--threads") || !strncmp(a, "--threads=", 10)) {
      const char *v = a[9] == '=' ? a + 10 : (i + 1 < argc ? argv[++i] : "");
      int n = parse_threads(v);
      if (!n) {
        fprintf(stderr, "prism: --threads expects a positive integer, got '%s'\n", v);
        return PRISM_EXIT_USAGE;
      }
      /* Sets OpenMP's thread count only; no thread pool exists until a kernel runs (in a child). */
      prism_backend_set_threads(n);
    } else {
      fprintf(stderr, "prism: unknown option '%s'\n", a);
      usage(stderr);
      return PRISM_EXIT_USAGE;
    }
  }
  if (i >= argc) {
    usage(stderr);
    return PRISM_EXIT_USAGE;
  }
  for (size_t c = 0; c < sizeof commands / sizeof *commands; c++)
    if (!strcmp(argv[i], commands[c].name)) return commands[c].run(argc - i - 1, argv + i + 1);
  fprintf(stderr, "prism: unknown command '%s'\n", argv[i]);
  usage(stderr);
  return PRISM_EXIT_USAGE;
}
