/* cmd_score.c — `prism score` and `prism leaderboard` (SPEC §1, §7.5): what a validator runs on
 * manifests it did not produce. Both recompute the score block with the one scoring routine and
 * trust nothing stored in the file: `score` reports whether the stored block is exactly what the
 * manifest's own stream gives; `leaderboard` ranks only manifests that scored and whose stored
 * block verifies, and lists every other file with the reason it was left out.
 *
 * argv holds the arguments after the subcommand name (main.c's convention). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "json.h"
#include "manifest.h"
#include "score.h"

enum { EXIT_OK = 0, EXIT_DIFFERS = 1, EXIT_USAGE = 2, EXIT_INVALID = 3 };

/* A manifest holds two per-batch arrays; 256 MiB is ~5M batches, far past a 20-minute run. */
#define MANIFEST_MAX_BYTES ((size_t)256 << 20)

static void score_usage(FILE *f) {
  fprintf(f,
          "usage: prism score MANIFEST [--json]\n"
          "\n"
          "Recomputes the score block of a prism_run_manifest.v2.json from its captured stream and\n"
          "checks that the stored block is exactly that (every key, every bit).\n"
          "\n"
          "  --json    print the result as JSON\n"
          "\n"
          "exit: 0 matches, 1 differs (differing keys are listed), 2 usage, 3 unreadable/invalid manifest\n");
}

static void leaderboard_usage(FILE *f) {
  fprintf(f,
          "usage: prism leaderboard MANIFEST...|DIR... [--json]\n"
          "\n"
          "Ranks run manifests by final score (ties within 1e-9: earlier accepted_at, then\n"
          "submission_id), keeps each miner's best entry, and prints normalized weights.\n"
          "A DIR contributes every *.json file in it and DIR/*/prism_run_manifest.v2.json.\n"
          "Each manifest is re-scored; failed runs and manifests whose stored score block does not\n"
          "verify are listed as excluded. Miner = the manifest's \"miner\" (else its submission_id);\n"
          "accepted_at = the manifest's \"accepted_at\" (else the file's modification time, UTC).\n"
          "\n"
          "  --json    print the ranking as JSON\n"
          "\n"
          "exit: 0 printed, 2 usage, 3 no manifest could be read\n");
}

/* The envelope both commands accept: a JSON object whose schema_version is ours. Takes m (may be
 * NULL, why already filled) and returns it, or frees it and returns NULL with why set. */
static prism_json *check_envelope(prism_json *m, const char *label, char *why, size_t cap) {
  if (!m) return NULL;
  const char *schema = prism_json_string_value(prism_json_get(m, "schema_version"));
  if (prism_json_kind_of(m) != PRISM_JSON_OBJECT) {
    snprintf(why, cap, "%s: not a JSON object", label);
  } else if (!schema || strcmp(schema, PRISM_MANIFEST_SCHEMA) != 0) {
    snprintf(why, cap, "%s: schema_version is not \"%s\"", label, PRISM_MANIFEST_SCHEMA);
  } else {
    return m;
  }
  prism_json_free(m);
  return NULL;
}

prism_json *prism_score_parse_manifest(const char *label, const char *text, size_t len, char *why, size_t cap) {
  char perr[512];
  if (len > MANIFEST_MAX_BYTES) {
    snprintf(why, cap, "%s is %zu bytes, over the %zu-byte limit", label, len, MANIFEST_MAX_BYTES);
    return NULL;
  }
  prism_json *m = prism_json_parse(text, len, perr, sizeof perr);
  if (!m) snprintf(why, cap, "%s: invalid JSON: %s", label, perr);
  return check_envelope(m, label, why, cap);
}

/* Reads and checks the manifest envelope; prints `prism: prism:manifest-invalid: ...` on error. */
static prism_json *load_manifest(const char *path, char *why, size_t cap) {
  return check_envelope(prism_json_read_file(path, MANIFEST_MAX_BYTES, why, cap), path, why, cap);
}

static void print_number(FILE *f, const prism_json *v) {
  if (prism_json_kind_of(v) == PRISM_JSON_DOUBLE) {
    char b[64];
    prism_json_format_double(prism_json_number(v), b, sizeof b);
    fputs(b, f);
  } else if (prism_json_kind_of(v) == PRISM_JSON_INT) {
    fprintf(f, "%lld", (long long)prism_json_int_value(v));
  } else {
    fputs("null", f);
  }
}

/* Keys whose values differ between two score blocks (sorted, as the writer would order them). */
static prism_json *differing_keys(const prism_json *stored, const prism_json *fresh) {
  prism_json *keys = prism_json_array(), *seen = prism_json_object();
  if (!keys || !seen) {
    prism_json_free(keys);
    prism_json_free(seen);
    return NULL;
  }
  if (prism_json_kind_of(stored) != PRISM_JSON_OBJECT) {
    prism_json_append(keys, prism_json_string("score"));
    prism_json_free(seen);
    return keys;
  }
  const prism_json *sides[2] = {stored, fresh};
  for (int s = 0; s < 2; s++) {
    for (size_t i = 0; i < prism_json_length(sides[s]); i++) {
      const char *k = prism_json_key_at(sides[s], i);
      if (prism_json_get(seen, k)) continue;
      prism_json_set(seen, k, prism_json_null());
      if (!prism_json_equal(prism_json_get(stored, k), prism_json_get(fresh, k))) prism_json_set(seen, k, prism_json_bool(true));
    }
  }
  /* sort through the writer's order: collect flagged keys, then insertion-sort by strcmp */
  size_t n = prism_json_length(seen);
  const char **flagged = calloc(n ? n : 1, sizeof *flagged);
  size_t k = 0;
  for (size_t i = 0; flagged && i < n; i++)
    if (prism_json_kind_of(prism_json_value_at(seen, i)) == PRISM_JSON_BOOL) flagged[k++] = prism_json_key_at(seen, i);
  for (size_t i = 1; i < k; i++)
    for (size_t j = i; j > 0 && strcmp(flagged[j - 1], flagged[j]) > 0; j--) {
      const char *t = flagged[j];
      flagged[j] = flagged[j - 1];
      flagged[j - 1] = t;
    }
  for (size_t i = 0; i < k; i++) prism_json_append(keys, prism_json_string(flagged[i]));
  free(flagged);
  prism_json_free(seen);
  return keys;
}

int prism_cmd_score(int argc, char **argv) {
  const char *path = NULL;
  bool json = false;
  for (int i = 0; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      score_usage(stdout);
      return EXIT_OK;
    } else if (!strcmp(argv[i], "--json")) {
      json = true;
    } else if (argv[i][0] == '-' && argv[i][1]) {
      fprintf(stderr, "prism: score: unknown option '%s'\n", argv[i]);
      score_usage(stderr);
      return EXIT_USAGE;
    } else if (path) {
      fprintf(stderr, "prism: score: one manifest at a time (got '%s' and '%s')\n", path, argv[i]);
      return EXIT_USAGE;
    } else {
      path = argv[i];
    }
  }
  if (!path) {
    score_usage(stderr);
    return EXIT_USAGE;
  }
  char why[1024];
  prism_json *m = load_manifest(path, why, sizeof why);
  if (!m) {
    fprintf(stderr, "prism: prism:manifest-invalid: %s\n", why);
    return EXIT_INVALID;
  }
  prism_json *fresh = NULL;
  int sr = prism_score_recompute(m, &fresh, why, sizeof why);
  if (sr < 0) {
    fprintf(stderr, "prism: prism:internal: out of memory while scoring %s\n", path);
    prism_json_free(m);
    return 4;
  }
  const prism_json *stored = prism_json_get(m, "score");
  prism_json *diff = differing_keys(stored, fresh);
  bool matches = diff && prism_json_length(diff) == 0;
  const char *rule = prism_manifest_failure_rule(m);
  if (json) {
    prism_json *out = prism_json_object();
    prism_json_set(out, "manifest", prism_json_string(path));
    prism_json_set(out, "submission_id", prism_json_clone(prism_json_get(m, "submission_id")));
    prism_json_set(out, "scored", prism_json_bool(sr == 0));
    prism_json_set(out, "reasons", sr == 0 ? prism_json_null() : prism_json_string(why));
    prism_json_set(out, "failure_rule_id", prism_json_string(rule));
    prism_json_set(out, "matches", prism_json_bool(matches));
    prism_json_set(out, "differing_keys", diff ? diff : prism_json_array());
    diff = NULL;
    prism_json_set(out, "score", fresh);
    fresh = NULL;
    char *text = prism_json_write(out, 2);
    if (text) printf("%s\n", text);
    free(text);
    prism_json_free(out);
  } else {
    printf("manifest        %s\n", path);
    const char *sid = prism_json_string_value(prism_json_get(m, "submission_id"));
    printf("submission      %s\n", sid ? sid : "(none)");
    printf("prequential_bpb ");
    print_number(stdout, prism_json_get(fresh, "prequential_bpb"));
    printf("\nfinal_score     ");
    print_number(stdout, prism_json_get(fresh, "final_score"));
    printf("\n");
    if (sr == 0) {
      const prism_json *flags = prism_json_get(fresh, "flags");
      printf("flags           ");
      for (size_t i = 0; i < prism_json_length(flags); i++)
        printf("%s%s", i ? ", " : "", prism_json_string_value(prism_json_at(flags, i)));
      printf("%s\n", prism_json_length(flags) ? "" : "none");
    } else {
      printf("not scored      %s\n", why);
    }
    if (matches) {
      printf("verified        the stored score block is exactly the recomputed one\n");
    } else {
      printf("MISMATCH        stored score block differs from the recomputation in:");
      for (size_t i = 0; i < prism_json_length(diff); i++) printf(" %s", prism_json_string_value(prism_json_at(diff, i)));
      printf("\n");
    }
  }
  if (!matches) fprintf(stderr, "prism: prism:score-mismatch: %s: the stored score block does not match its stream\n", path);
  prism_json_free(diff);
  prism_json_free(fresh);
  prism_json_free(m);
  return matches ? EXIT_OK : EXIT_DIFFERS;
}

/* ------------------------------------------------------------------ leaderboard */

typedef struct {
  char *path;
  prism_json *manifest;
  char miner[256], submission_id[256], accepted_at[64];
  bool accepted_from_file;
  double final_score, bpb;
  char reason[512]; /* non-empty = excluded */
} lb_item;

typedef struct {
  lb_item *v;
  size_t n, cap;
} lb_list;

static int add_path(lb_list *l, const char *path) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 16;
    lb_item *v = realloc(l->v, cap * sizeof *v);
    if (!v) return -1;
    l->v = v;
    l->cap = cap;
  }
  memset(&l->v[l->n], 0, sizeof l->v[l->n]);
  l->v[l->n].path = strdup(path);
  if (!l->v[l->n].path) return -1;
  l->n++;
  return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* DIR/NAME.json and DIR/SUB/prism_run_manifest.v2.json, sorted by path so output never depends on
 * readdir order. */
static int expand_dir(lb_list *l, const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return -1;
  char **found = NULL;
  size_t n = 0, cap = 0;
  struct dirent *e;
  int rc = 0;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    char p[4096];
    struct stat st;
    size_t len = strlen(e->d_name);
    if (len > 5 && strcmp(e->d_name + len - 5, ".json") == 0) {
      snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    } else {
      snprintf(p, sizeof p, "%s/%s/%s", dir, e->d_name, PRISM_MANIFEST_NAME);
    }
    if (stat(p, &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 16;
      char **f = realloc(found, cap * sizeof *f);
      if (!f) {
        rc = -1;
        break;
      }
      found = f;
    }
    found[n] = strdup(p);
    if (!found[n]) {
      rc = -1;
      break;
    }
    n++;
  }
  closedir(d);
  if (found) qsort(found, n, sizeof *found, cmp_str);
  for (size_t i = 0; i < n; i++) {
    if (rc == 0 && add_path(l, found[i]) != 0) rc = -1;
    free(found[i]);
  }
  free(found);
  return rc;
}

static void copy_str(char *dst, size_t cap, const char *s) {
  size_t n = s ? strnlen(s, cap - 1) : 0;
  if (n) memcpy(dst, s, n);
  dst[n] = '\0';
}

static void evaluate_item(lb_item *it) {
  char why[1024];
  it->manifest = load_manifest(it->path, why, sizeof why);
  if (!it->manifest) {
    copy_str(it->reason, sizeof it->reason, why);
    return;
  }
  const prism_json *m = it->manifest;
  copy_str(it->submission_id, sizeof it->submission_id, prism_json_string_value(prism_json_get(m, "submission_id")));
  const char *miner = prism_json_string_value(prism_json_get(m, "miner"));
  copy_str(it->miner, sizeof it->miner, miner && *miner ? miner : it->submission_id);
  const char *acc = prism_json_string_value(prism_json_get(m, "accepted_at"));
  if (acc && *acc) {
    copy_str(it->accepted_at, sizeof it->accepted_at, acc);
  } else {
    struct stat st;
    struct tm tm;
    if (stat(it->path, &st) == 0 && gmtime_r(&st.st_mtim.tv_sec, &tm)) {
      strftime(it->accepted_at, sizeof it->accepted_at, "%Y-%m-%dT%H:%M:%SZ", &tm);
      it->accepted_from_file = true;
    }
  }
  prism_json *fresh = NULL;
  int sr = prism_score_recompute(m, &fresh, why, sizeof why);
  const char *rule = prism_manifest_failure_rule(m);
  if (sr < 0) {
    copy_str(it->reason, sizeof it->reason, "out of memory while scoring");
  } else if (sr == 1) {
    snprintf(it->reason, sizeof it->reason, "not scored%s%.64s: %.400s", rule ? " " : "", rule ? rule : "", why);
  } else if (!prism_json_equal(fresh, prism_json_get(m, "score"))) {
    copy_str(it->reason, sizeof it->reason, "stored score block does not match its stream (see `prism score`)");
  } else {
    it->final_score = prism_json_number(prism_json_get(fresh, "final_score"));
    it->bpb = prism_json_number(prism_json_get(fresh, "prequential_bpb"));
  }
  prism_json_free(fresh);
}

static prism_json *row_json(const prism_lb_entry *e, size_t rank) {
  const lb_item *it = e->user;
  prism_json *r = prism_json_object();
  if (rank) prism_json_set(r, "rank", prism_json_int((int64_t)rank));
  prism_json_set(r, "miner", prism_json_string(it->miner));
  prism_json_set(r, "submission_id", prism_json_string(it->submission_id));
  prism_json_set(r, "accepted_at", prism_json_string(it->accepted_at));
  prism_json_set(r, "accepted_at_source", prism_json_string(it->accepted_from_file ? "file_mtime" : "manifest"));
  prism_json_set(r, "final_score", prism_json_double(it->final_score));
  prism_json_set(r, "prequential_bpb", prism_json_double(it->bpb));
  if (rank) prism_json_set(r, "weight", prism_json_double(e->weight));
  prism_json_set(r, "manifest", prism_json_string(it->path));
  return r;
}

int prism_cmd_leaderboard(int argc, char **argv) {
  bool json = false;
  lb_list l = {0};
  int rc = EXIT_OK;
  for (int i = 0; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      leaderboard_usage(stdout);
      goto done;
    }
    if (!strcmp(argv[i], "--json")) {
      json = true;
      continue;
    }
    if (argv[i][0] == '-' && argv[i][1]) {
      fprintf(stderr, "prism: leaderboard: unknown option '%s'\n", argv[i]);
      leaderboard_usage(stderr);
      rc = EXIT_USAGE;
      goto done;
    }
    struct stat st;
    if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode) ? expand_dir(&l, argv[i]) : add_path(&l, argv[i])) {
      fprintf(stderr, "prism: leaderboard: cannot list %s: %s\n", argv[i], strerror(errno));
      rc = EXIT_INVALID;
      goto done;
    }
  }
  if (!l.n) {
    if (argc) fprintf(stderr, "prism: leaderboard: no manifest found in the given paths\n");
    else leaderboard_usage(stderr);
    rc = argc ? EXIT_INVALID : EXIT_USAGE;
    goto done;
  }
  size_t readable = 0, ok = 0;
  for (size_t i = 0; i < l.n; i++) {
    evaluate_item(&l.v[i]);
    if (l.v[i].manifest) readable++;
    if (!l.v[i].reason[0]) ok++;
  }
  prism_lb_entry *e = calloc(ok ? ok : 1, sizeof *e);
  if (!e) {
    rc = 4;
    goto done;
  }
  size_t k = 0;
  for (size_t i = 0, j = 0; i < l.n; i++) {
    lb_item *it = &l.v[i];
    if (it->reason[0]) continue;
    e[j] = (prism_lb_entry){it->miner, it->submission_id, it->accepted_at, it->final_score, 0, false, it};
    j++;
  }
  k = prism_leaderboard_rank(e, ok);
  if (json) {
    prism_json *out = prism_json_object(), *ranking = prism_json_array(), *sup = prism_json_array();
    prism_json *excl = prism_json_array(), *weights = prism_json_object();
    for (size_t i = 0; i < ok; i++) {
      if (i < k) {
        prism_json_append(ranking, row_json(&e[i], i + 1));
        prism_json_set(weights, e[i].miner, prism_json_double(e[i].weight));
      } else {
        prism_json_append(sup, row_json(&e[i], 0));
      }
    }
    for (size_t i = 0; i < l.n; i++) {
      if (!l.v[i].reason[0]) continue;
      prism_json *x = prism_json_object();
      prism_json_set(x, "manifest", prism_json_string(l.v[i].path));
      prism_json_set(x, "reason", prism_json_string(l.v[i].reason));
      prism_json_append(excl, x);
    }
    prism_json_set(out, "ranking", ranking);
    prism_json_set(out, "superseded", sup);
    prism_json_set(out, "excluded", excl);
    prism_json_set(out, "weights", weights);
    char *text = prism_json_write(out, 2);
    if (text) printf("%s\n", text);
    free(text);
    prism_json_free(out);
  } else {
    printf("%-4s  %-20s  %-24s  %-20s  %-20s  %-9s  %s\n", "rank", "miner", "submission", "final_score", "bpb",
           "weight", "accepted_at");
    for (size_t i = 0; i < k; i++) {
      const lb_item *it = e[i].user;
      char fs[64], bpb[64];
      prism_json_format_double(it->final_score, fs, sizeof fs);
      prism_json_format_double(it->bpb, bpb, sizeof bpb);
      printf("%-4zu  %-20s  %-24s  %-20s  %-20s  %-9.6f  %s%s\n", i + 1, it->miner, it->submission_id, fs, bpb,
             e[i].weight, it->accepted_at, it->accepted_from_file ? " (file time)" : "");
    }
    if (k == 0) printf("(no scored manifest)\n");
    for (size_t i = k; i < ok; i++) {
      const lb_item *it = e[i].user;
      printf("superseded: %s (%s, %s): not %s's best entry\n", it->path, it->submission_id, it->accepted_at, it->miner);
    }
    for (size_t i = 0; i < l.n; i++)
      if (l.v[i].reason[0]) printf("excluded: %s: %s\n", l.v[i].path, l.v[i].reason);
  }
  free(e);
  if (!readable) rc = EXIT_INVALID;
done:
  for (size_t i = 0; i < l.n; i++) {
    free(l.v[i].path);
    prism_json_free(l.v[i].manifest);
  }
  free(l.v);
  return rc;
}
