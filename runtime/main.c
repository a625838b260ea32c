/* main.c — the `prism` command line: global options (--threads, --version, --help), then one
 * subcommand, dispatched to the code that owns it (lua/commands.c for exec and selftest).
 * Nothing else lives here. Exit codes (SPEC §1): 0 ok, 1 failed, 2 usage, 4 internal error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <luajit.h>

#include "backend.h"
#include "loader.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: prism [--threads N] COMMAND [ARGS...]\n"
          "       prism --version | --help\n"
          "\n"
          "commands:\n"
          "  exec SCRIPT.lua [ARGS...]    run a trusted Lua script (developer command)\n"
          "  selftest [--threads N] [--device cpu|cuda]\n"
          "                               gradcheck every op and check determinism\n"
          "\n"
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

int main(int argc, char **argv) {
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
  const char *cmd = argv[i];
  if (!strcmp(cmd, "exec")) return prism_cmd_exec(argv[0], argc - i - 1, argv + i + 1);
  if (!strcmp(cmd, "selftest")) return prism_cmd_selftest(argc - i - 1, argv + i + 1);
  fprintf(stderr, "prism: unknown command '%s'\n", cmd);
  usage(stderr);
  return PRISM_EXIT_USAGE;
}
