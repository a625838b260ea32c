/* fuzz_manifest.c — libFuzzer target for the manifest reader of `prism score` / `prism
 * leaderboard` (runtime/cmd_score.c: prism_score_parse_manifest, the same envelope check the
 * commands apply after reading the file) and the one scoring routine behind it (runtime/score.c:
 * prism_score_recompute). A validator runs this on files a peer produced, so every byte is
 * hostile. Properties checked beyond "no crash, no sanitizer report, no leak":
 *   - a rejected input has a reason naming the file;
 *   - an accepted manifest is an object with schema_version "prism_run_manifest.v2", and it
 *     either scores (a score block whose final_score is a finite number) or is a defined failure
 *     (a reason, and the unscored block with final_score null); never out of memory;
 *   - scoring is deterministic (a clone scores to an equal block);
 *   - the manifest `prism run` would store (the input with its score replaced by the recomputed
 *     block), written the way manifests are written and read back, verifies: recomputing it gives
 *     exactly the stored block, which is what `prism score` checks (skipped when the writer itself
 *     cannot round-trip the input, e.g. a number outside double range).
 *
 * Built only with -DPRISM_FUZZ=ON; see tests/fuzz/README.md. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "score.h"

#define LABEL "fuzz.json"

static void die(const char *what, const char *detail) {
  fprintf(stderr, "fuzz_manifest: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
  abort();
}

/* Recomputes the block and checks the scored / not-scored contract; returns the block. */
static prism_json *score(const prism_json *m, int *scored) {
  char why[1024] = "";
  prism_json *block = NULL;
  int rc = prism_score_recompute(m, &block, why, sizeof why);
  if (rc < 0) die("recompute ran out of memory on a small manifest", why);
  if (prism_json_kind_of(block) != PRISM_JSON_OBJECT) die("the score block is not an object", NULL);
  const prism_json *fs = prism_json_get(block, "final_score");
  if (rc == 0) {
    if (prism_json_kind_of(fs) != PRISM_JSON_DOUBLE || !isfinite(prism_json_number(fs)))
      die("a scored manifest has no finite final_score", NULL);
  } else {
    if (!why[0]) die("an unscored manifest has no reason", NULL);
    if (prism_json_kind_of(fs) != PRISM_JSON_NULL) die("an unscored block has a final_score", why);
  }
  *scored = rc == 0;
  return block;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char why[1024] = "";
  prism_json *m = prism_score_parse_manifest(LABEL, (const char *)data, size, why, sizeof why);
  if (!m) {
    if (strncmp(why, LABEL, strlen(LABEL)) != 0) die("a rejection does not name the file", why);
    return 0;
  }
  const char *schema = prism_json_string_value(prism_json_get(m, "schema_version"));
  if (prism_json_kind_of(m) != PRISM_JSON_OBJECT || !schema || strcmp(schema, "prism_run_manifest.v2"))
    die("accepted a manifest without the v2 envelope", NULL);

  int scored = 0, scored2 = 0;
  prism_json *block = score(m, &scored);
  prism_json *clone = prism_json_clone(m);
  if (!clone) die("clone failed", NULL);
  prism_json *again = score(clone, &scored2);
  if (scored != scored2 || !prism_json_equal(block, again)) die("scoring is not deterministic", NULL);
  prism_json_free(again);
  prism_json_free(clone);

  /* what `prism run` stores, then what `prism score` reads back */
  prism_json *plain = prism_json_clone(m);
  char *plain_text = plain ? prism_json_write(plain, 2) : NULL;
  if (!plain_text) die("write failed", NULL);
  prism_json *plain_back = prism_score_parse_manifest(LABEL, plain_text, strlen(plain_text), why, sizeof why);
  int round_trips = plain_back && prism_json_equal(plain_back, m);
  prism_json_free(plain_back);
  free(plain_text);
  prism_json_free(plain);
  if (round_trips) {
    if (prism_json_set(m, "score", block) != 0) die("set failed", NULL);
    block = NULL; /* owned by m now */
    char *text = prism_json_write(m, 2);
    if (!text) die("write failed", NULL);
    prism_json *back = prism_score_parse_manifest(LABEL, text, strlen(text), why, sizeof why);
    free(text);
    if (!back) die("a written manifest does not read back", why);
    int scored3 = 0;
    prism_json *fresh = score(back, &scored3);
    if (scored3 != scored) die("the stored manifest scores differently", NULL);
    if (!prism_json_equal(fresh, prism_json_get(back, "score")))
      die("the stored score block does not verify (prism score would report it as differing)", NULL);
    prism_json_free(fresh);
    prism_json_free(back);
  }
  prism_json_free(block);
  prism_json_free(m);
  return 0;
}
