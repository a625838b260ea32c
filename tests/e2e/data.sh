#!/usr/bin/env bash
# tests/e2e/data.sh — `prism data prepare` / `prism data verify` through the real binary: the
# committed sample (examples/data/sample) verifies clean, with and without its pin; re-preparing
# its own documents — in reverse order — with the parameters of scripts/make-sample-data gives
# the committed files byte for byte; tampering is reported (exit 1); bad input is refused with
# file:line; usage errors exit 2; the reference's golden id lands in train.
# With PRISM_E2E_NETWORK=1 it also re-runs scripts/make-sample-data from npm and diffs the result.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.bash"

SAMPLE=examples/data/sample
# The script's constants (name, licence, pin, shard size) are the parameters to reproduce with.
eval "$(grep -E '^(SOTU|MOBY|SOTU_INTEGRITY|MOBY_INTEGRITY|NAME|LICENSE|PIN|DOCS_PER_SHARD)=' scripts/make-sample-data)"

# ---- the committed sample ----
run_prism verify_sample data verify "$SAMPLE"
expect_rc verify_sample 0 "prism data verify examples/data/sample"
check "verify reports 41 documents in 5 shards" grep -q "3 splits, 5 shards, 41 documents" "$TMP/verify_sample.out"
run_prism verify_pin data verify "$SAMPLE" --pin "$PIN"
expect_rc verify_pin 0 "the sample carries the npm pin of scripts/make-sample-data"
run_prism verify_wrong_pin data verify "$SAMPLE" --pin "npm:something-else@1.0.0"
expect_rc verify_wrong_pin 1 "a different expected pin is a problem"
check "the pin problem is printed" grep -q '^dataset.pin_sha: ' "$TMP/verify_wrong_pin.out"
check "sample has train, val and test shards" test -s "$SAMPLE/train/train-00000.jsonl" -a -s "$SAMPLE/val/val-00000.jsonl" \
  -a -s "$SAMPLE/test/test-00000.jsonl"

# ---- re-prepare the committed documents, in reverse order: byte-identical ----
cat "$SAMPLE"/train/*.jsonl "$SAMPLE"/val/*.jsonl "$SAMPLE"/test/*.jsonl | tac > "$TMP/docs_reversed.jsonl"
run_prism reprepare data prepare "$TMP/docs_reversed.jsonl" --out "$TMP/again" --docs-per-shard "$DOCS_PER_SHARD" \
  --name "$NAME" --license "$LICENSE" --pin "$PIN"
expect_rc reprepare 0 "prepare the sample's documents again"
check "re-prepared output equals the committed sample byte for byte" \
  diff -r -x README.md "$SAMPLE" "$TMP/again"
run_prism reprepare2 data prepare "$TMP/docs_reversed.jsonl" --out "$TMP/again" --docs-per-shard "$DOCS_PER_SHARD" \
  --name "$NAME" --license "$LICENSE" --pin "$PIN"
check "a second prepare into the same directory changes nothing" diff -r -x README.md "$SAMPLE" "$TMP/again"

# ---- tampering ----
cp -r "$SAMPLE" "$TMP/tampered"
sed -i 's/Call me Ishmael/Call me Ishmaex/' "$TMP"/tampered/train/train-00000.jsonl
cp "$TMP/tampered/val/val-00000.jsonl" "$TMP/tampered/val/val-00001.jsonl"
run_prism verify_tampered data verify "$TMP/tampered"
expect_rc verify_tampered 1 "verify on a tampered copy"
check "the edited shard's sha256 mismatch is printed" grep -q '^train/train-00000.jsonl: sha256 mismatch' "$TMP/verify_tampered.out"
check "the unlisted shard is printed" grep -q '^val/val-00001.jsonl: shard file not listed' "$TMP/verify_tampered.out"
expect_stderr verify_tampered '^prism: prism:data-invalid: .*tampered: [0-9]+ problems found by data verify' \
  "a one-line summary with the rule id on stderr"
run_prism verify_missing data verify "$TMP/nowhere"
expect_rc verify_missing 1 "verify on a missing directory"

# ---- prepare: golden bucket, bad input ----
printf '{"id":"doc-000123","text":"the reference example: bucket 835"}\n' > "$TMP/one.jsonl"
run_prism golden data prepare "$TMP/one.jsonl" --out "$TMP/golden"
expect_rc golden 0 "prepare one document"
check "doc-000123 (bucket 835) lands in train/train-00000.jsonl" \
  grep -q '^{"id":"doc-000123","text":"the reference example: bucket 835"}$' "$TMP/golden/train/train-00000.jsonl"
check "its val and test splits are empty directories" test -d "$TMP/golden/val" -a ! -e "$TMP/golden/val/val-00000.jsonl"
run_prism golden_verify data verify "$TMP/golden"
expect_rc golden_verify 0 "verify the one-document dataset"
printf '{"id":"a","text":"fine"}\n{"id":"b"}\n' > "$TMP/bad.jsonl"
run_prism bad_input data prepare "$TMP/bad.jsonl" --out "$TMP/bad_out"
expect_rc bad_input 1 "prepare refuses a record without text"
expect_stderr bad_input '^prism: prism:data-invalid: .*bad.jsonl:2: record needs a non-empty string "text"' \
  "the refusal names file:line"

# ---- usage ----
run_prism help data --help
expect_rc help 0 "prism data --help"
check "help names both subcommands" grep -q 'prism data verify DIR' "$TMP/help.out"
run_prism no_sub data
expect_rc no_sub 2 "prism data without a subcommand"
run_prism bogus data frobnicate
expect_rc bogus 2 "an unknown data subcommand"
run_prism no_out data prepare "$TMP/one.jsonl"
expect_rc no_out 2 "prepare without --out"
run_prism no_in data prepare --out "$TMP/x"
expect_rc no_in 2 "prepare without inputs"
run_prism bad_flag data prepare "$TMP/one.jsonl" --out "$TMP/x" --shuffle
expect_rc bad_flag 2 "an unknown prepare option"
run_prism bad_n data prepare "$TMP/one.jsonl" --out "$TMP/x" --docs-per-shard 0
expect_rc bad_n 2 "--docs-per-shard 0"
run_prism no_dir data verify
expect_rc no_dir 2 "verify without DIR"

# ---- optional: rebuild from npm ----
if [ "${PRISM_E2E_NETWORK:-0}" = 1 ]; then
  if scripts/make-sample-data --prism "$PRISM" "$TMP/rebuilt" > "$TMP/rebuild.log" 2>&1; then
    check "scripts/make-sample-data reproduces the committed sample" diff -r -x README.md "$SAMPLE" "$TMP/rebuilt"
  else
    not_ok "scripts/make-sample-data failed"
    sed 's/^/       | /' "$TMP/rebuild.log" | tail -n 20
  fi
fi

finish
